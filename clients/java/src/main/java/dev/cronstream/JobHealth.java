package dev.cronstream;

import java.time.Instant;

/**
 * How a job stands against its health policy.
 *
 * @param state the worst of the job's open alerts (FAILING, OVERRUNNING, MISSED, LATE), or
 *     {@link HealthState#HEALTHY}
 * @param since the opening of that alert, or the resolution of the last one; {@code null} when
 *     the server sent none
 * @param reason why, in words; empty when healthy
 */
public record JobHealth(HealthState state, Instant since, String reason) {}
