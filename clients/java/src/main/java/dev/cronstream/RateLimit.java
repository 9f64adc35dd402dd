package dev.cronstream;

import java.time.Duration;
import java.time.Instant;

/**
 * A rate limit as stored: at most {@code limit} executions of its {@code scope} start per {@code
 * per}, with bursts up to {@code burst} (a token bucket refilled continuously). {@link #proto()} is
 * the generated message.
 *
 * @param createdAt {@code null} when the server sent none, as {@code updatedAt}
 */
public record RateLimit(
    RateLimitScope scope,
    int limit,
    Duration per,
    int burst,
    String platformId,
    Instant createdAt,
    Instant updatedAt,
    dev.cronstream.v1.RateLimit proto) {}
