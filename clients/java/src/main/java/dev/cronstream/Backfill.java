package dev.cronstream;

/**
 * What a backfill did.
 *
 * @param instants instants of the schedule in the range
 * @param created executions the call created
 * @param existing instants that already had an execution (from the ticker or an earlier backfill)
 */
public record Backfill(int instants, int created, int existing) {}
