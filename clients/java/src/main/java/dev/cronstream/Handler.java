package dev.cronstream;

import java.util.Map;

/**
 * Runs one attempt of an execution. What it returns is the execution's result (a JSON object,
 * converted by {@link Payloads}; {@code null} is an empty one). What it throws is a failure:
 * retried under the job's policy, unless it is (or is caused by) a {@link
 * NonRetryableException}. The handler's thread is interrupted when the server cancels the
 * execution and at the attempt's deadline.
 */
@FunctionalInterface
public interface Handler {
  Map<String, ?> handle(JobContext ctx) throws Exception;
}
