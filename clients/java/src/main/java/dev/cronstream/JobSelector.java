package dev.cronstream;

import java.util.List;

/**
 * Which of the platform's jobs a bulk call ({@link CronstreamClient#pauseJobs}, {@link
 * CronstreamClient#resumeJobs}) acts on. The filters combine with AND; the server refuses one
 * with no filter unless {@code all}, so a forgotten filter never pauses the whole platform.
 *
 * <pre>{@code
 * JobSelector.tagged("etl").withHandler("load")
 * }</pre>
 *
 * @param tags jobs carrying all of these
 * @param handlerName jobs with this handler name; empty for any
 * @param namePrefix jobs whose name starts with this (case-sensitive); empty for any
 * @param all every job of the platform (the other filters must be empty)
 */
public record JobSelector(List<String> tags, String handlerName, String namePrefix, boolean all) {
  public JobSelector {
    tags = List.copyOf(tags);
  }

  /** Jobs carrying all of {@code tags}. */
  public static JobSelector tagged(String... tags) {
    return new JobSelector(List.of(tags), "", "", false);
  }

  /** Jobs with this handler name. */
  public static JobSelector handler(String handlerName) {
    return new JobSelector(List.of(), handlerName, "", false);
  }

  /** Jobs whose name starts with {@code prefix}. */
  public static JobSelector namePrefix(String prefix) {
    return new JobSelector(List.of(), "", prefix, false);
  }

  /** Every job of the platform. */
  public static JobSelector allJobs() {
    return new JobSelector(List.of(), "", "", true);
  }

  public JobSelector withHandler(String handlerName) {
    return new JobSelector(tags, handlerName, namePrefix, all);
  }

  public JobSelector withNamePrefix(String prefix) {
    return new JobSelector(tags, handlerName, prefix, all);
  }

  public dev.cronstream.v1.JobSelector proto() {
    return dev.cronstream.v1.JobSelector.newBuilder()
        .addAllTags(tags)
        .setHandlerName(handlerName)
        .setNamePrefix(namePrefix)
        .setAll(all)
        .build();
  }
}
