package dev.cronstream;

/**
 * A request field the server refused, from the {@code google.rpc.BadRequest} details of an
 * {@code INVALID_ARGUMENT} status.
 *
 * @param field the field's path, such as {@code job.cron.expression}
 * @param description why it was refused
 */
public record FieldViolation(String field, String description) {
  @Override
  public String toString() {
    return field + ": " + description;
  }
}
