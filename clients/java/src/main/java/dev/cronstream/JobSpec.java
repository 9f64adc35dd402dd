package dev.cronstream;

import dev.cronstream.v1.Job;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A job to create, made by {@link Jobs} and filled in with plain Java values. Not thread-safe;
 * {@link #proto()} builds the generated message, for fields this class does not cover.
 * Validation is the server's: a bad value comes back as an {@link InvalidArgumentException}
 * naming the field.
 */
public final class JobSpec {
  private final Job.Builder b = Job.newBuilder();

  JobSpec(Consumer<Job.Builder> trigger) {
    trigger.accept(b);
  }

  /** Required. A human-readable name, 1 to 200 characters. */
  public JobSpec name(String name) {
    b.setName(name);
    return this;
  }

  /** Required. The handler name a worker registered. */
  public JobSpec handler(String handlerName) {
    b.setHandlerName(handlerName);
    return this;
  }

  /**
   * What the handler gets: a map, a record or a bean, converted to a JSON object by Jackson
   * (an {@link IllegalArgumentException} if it does not convert to an object).
   */
  public JobSpec payload(Object payload) {
    b.setPayload(Json.toStruct(payload));
    return this;
  }

  /** Retries after a failed attempt, 0 to 100 (server default 3). */
  public JobSpec maxRetries(int maxRetries) {
    b.setMaxRetries(maxRetries);
    return this;
  }

  /** The delay before the first retry, doubling after (server default 60 s). */
  public JobSpec retryDelay(Duration delay) {
    b.setRetryDelay(Convert.duration(delay));
    return this;
  }

  /** How long one attempt may run (server default 300 s). */
  public JobSpec timeout(Duration timeout) {
    b.setTimeout(Convert.duration(timeout));
    return this;
  }

  /** Higher priorities are assigned to workers first (server default {@link Priority#MEDIUM}). */
  public JobSpec priority(Priority priority) {
    b.setPriority(priority.proto());
    return this;
  }

  /**
   * What happens when a slot comes due while an earlier execution still runs (server default
   * {@link OverlapPolicy#ALLOW}: both run).
   */
  public JobSpec overlapPolicy(OverlapPolicy policy) {
    b.setOverlapPolicy(policy.proto());
    return this;
  }

  /**
   * What happens to slots missed while no server replica was running (server default {@link
   * MisfirePolicy#RUN_ONCE}: one execution for all of them).
   */
  public JobSpec misfirePolicy(MisfirePolicy policy) {
    b.setMisfirePolicy(policy.proto());
    return this;
  }

  /** With {@link MisfirePolicy#RUN_ALL}: how far back missed slots are still run (server default 1 h). */
  public JobSpec catchupWindow(Duration window) {
    b.setCatchupWindow(Convert.duration(window));
    return this;
  }

  /**
   * Spreads each slot's dispatch over {@code [slot, slot + jitter)}, so jobs that share a schedule
   * do not all start at once (server default zero: none). The delay comes from the job id and the
   * slot, the same on every server replica.
   */
  public JobSpec jitter(Duration jitter) {
    b.setJitter(Convert.duration(jitter));
    return this;
  }

  /**
   * When Cronstream opens an alert for the job ({@link HealthPolicy#builder()}); what the policy
   * leaves unset takes the platform's defaults.
   */
  public JobSpec healthPolicy(HealthPolicy policy) {
    b.setHealthPolicy(policy.proto());
    return this;
  }

  /**
   * At most {@code limit} executions carrying {@code key} (a fixed string, or a template such as
   * {@code "customer:{payload.customer_id}"}) run at once across the cluster; see {@link
   * ConcurrencyLimit}.
   */
  public JobSpec concurrency(String key, int limit) {
    b.setConcurrency(new ConcurrencyLimit(key, limit).proto());
    return this;
  }

  /**
   * The rate limit its executions draw from (a fixed string or a template over the payload); it
   * limits nothing until {@link CronstreamClient#setRateLimit} sets that key.
   */
  public JobSpec rateLimitKey(String key) {
    b.setRateLimitKey(key);
    return this;
  }

  /** Ids of jobs whose slot must have succeeded first: each slot waits for theirs (at most 16). */
  public JobSpec dependsOn(Collection<String> jobIds) {
    b.clearDependsOn().addAllDependsOn(jobIds);
    return this;
  }

  /** How long a slot waits for its dependencies before it is skipped as missed (server default 1 h). */
  public JobSpec maxWait(Duration maxWait) {
    b.setMaxWait(Convert.duration(maxWait));
    return this;
  }

  public JobSpec tags(Collection<String> tags) {
    b.clearTags().addAllTags(tags);
    return this;
  }

  public JobSpec metadata(Map<String, String> metadata) {
    b.clearMetadata().putAllMetadata(metadata);
    return this;
  }

  /** The first firing of an {@link Jobs#every} job (default: its creation). */
  public JobSpec startingAt(Instant start) {
    requireInterval("startingAt").setStartAt(Convert.timestamp(start));
    return this;
  }

  /** No firing of an {@link Jobs#every} job after {@code end}. */
  public JobSpec until(Instant end) {
    requireInterval("until").setEndAt(Convert.timestamp(end));
    return this;
  }

  /** An {@link Jobs#every} job stops after {@code n} firings. */
  public JobSpec maxRuns(int n) {
    requireInterval("maxRuns").setMaxRuns(n);
    return this;
  }

  private dev.cronstream.v1.IntervalTrigger.Builder requireInterval(String what) {
    if (!b.hasInterval()) {
      throw new IllegalStateException("cronstream: " + what + " is for Jobs.every jobs");
    }
    return b.getIntervalBuilder();
  }

  /** The generated message this spec stands for. */
  public Job proto() {
    return b.build();
  }
}
