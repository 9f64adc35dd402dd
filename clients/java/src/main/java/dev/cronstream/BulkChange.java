package dev.cronstream;

/**
 * What one {@code pauseJobs} or {@code resumeJobs} call did.
 *
 * @param changed jobs changed by the call
 * @param remaining matching jobs left for the next call
 */
public record BulkChange(int changed, int remaining) {}
