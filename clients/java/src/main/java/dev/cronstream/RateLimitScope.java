package dev.cronstream;

import java.util.Objects;

/**
 * What a rate limit limits: every execution whose job or event handler names {@code key} as its
 * rate-limit key (a template gives each key it expands to its own bucket), or every execution of
 * the handler {@code handlerName}. Exactly one is not empty.
 */
public record RateLimitScope(String key, String handlerName) {
  public RateLimitScope {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(handlerName, "handlerName");
    if (key.isEmpty() == handlerName.isEmpty()) {
      throw new IllegalArgumentException("cronstream: a rate limit's scope needs exactly one of a key and a handler");
    }
  }

  /** The scope of a rate-limit key, as jobs name it ({@link JobSpec#rateLimitKey}). */
  public static RateLimitScope key(String key) {
    return new RateLimitScope(key, "");
  }

  /** The scope of every execution of a handler. */
  public static RateLimitScope handler(String handlerName) {
    return new RateLimitScope("", handlerName);
  }
}
