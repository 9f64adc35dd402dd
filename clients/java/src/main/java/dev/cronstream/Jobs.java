package dev.cronstream;

import dev.cronstream.v1.CronTrigger;
import dev.cronstream.v1.EventTrigger;
import dev.cronstream.v1.IntervalTrigger;
import dev.cronstream.v1.OnceTrigger;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * Where a job starts: its trigger, from plain Java values. Each returns a {@link JobSpec} to
 * name and pass to {@link CronstreamClient#createJob(JobSpec)}.
 *
 * <pre>{@code
 * client.createJob(Jobs.cron("30 2 * * *", ZoneId.of("Europe/Berlin"))
 *     .name("nightly report").handler("send_report").payload(new Report("ops@example.com")));
 * }</pre>
 */
public final class Jobs {
  private Jobs() {}

  /**
   * On a cron schedule (five fields, or six with leading seconds) in {@code zone}, with Debian
   * cron's DST rules. Region ids only ({@code Europe/Berlin}, {@code UTC}): the server takes IANA
   * names.
   */
  public static JobSpec cron(String expression, ZoneId zone) {
    Objects.requireNonNull(expression, "expression");
    String tz = zone == null || zone.equals(ZoneOffset.UTC) ? "UTC" : zone.getId();
    return new JobSpec(b -> b.setCron(CronTrigger.newBuilder().setExpression(expression).setTimezone(tz)));
  }

  /** On a cron schedule in UTC. */
  public static JobSpec cron(String expression) {
    return cron(expression, ZoneOffset.UTC);
  }

  /** Once, at {@code at} (an instant in the past fires at once). */
  public static JobSpec once(Instant at) {
    Objects.requireNonNull(at, "at");
    return new JobSpec(b -> b.setOnce(OnceTrigger.newBuilder().setRunAt(Convert.timestamp(at))));
  }

  /** Once, {@code delay} from now. */
  public static JobSpec in(Duration delay) {
    return once(Instant.now().plus(delay));
  }

  /** Every {@code every}, from now; bound it with {@link JobSpec#startingAt}, {@link JobSpec#until}, {@link JobSpec#maxRuns}. */
  public static JobSpec every(Duration every) {
    Objects.requireNonNull(every, "every");
    return new JobSpec(b -> b.setInterval(IntervalTrigger.newBuilder().setEvery(Convert.duration(every))));
  }

  /** Whenever {@code TriggerEvent} is called with {@code eventName}. */
  public static JobSpec onEvent(String eventName) {
    Objects.requireNonNull(eventName, "eventName");
    return new JobSpec(b -> b.setEvent(EventTrigger.newBuilder().setEventName(eventName)));
  }
}
