package dev.cronstream;

/**
 * An alert opened or resolved, from {@link CronstreamClient#watchAlerts} or a webhook ({@link
 * Webhooks#verify}).
 *
 * @param cursor increases with every event of the platform: a watch resumes after it, a webhook
 *     receiver deduplicates on it
 * @param alert the alert as it stood after the change
 */
public record AlertEvent(long cursor, AlertEventType type, Alert alert) {}
