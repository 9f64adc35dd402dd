package dev.cronstream;

/**
 * A handler that takes its payload as a {@code P} (a record or bean, converted from the JSON
 * payload by Jackson) and returns a result object converted back to JSON; register it with
 * {@link Worker#handler(String, Class, TypedHandler)}.
 *
 * <p>A payload that does not convert fails the attempt for good ({@link NonRetryableException}):
 * a retry would get the same payload. The result must convert to a JSON object (a record, bean
 * or map; {@code null} is an empty one), else the attempt fails for good too. What the handler
 * throws is treated as in {@link Handler}.
 */
@FunctionalInterface
public interface TypedHandler<P, R> {
  R handle(JobContext ctx, P payload) throws Exception;
}
