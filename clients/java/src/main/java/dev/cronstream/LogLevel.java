package dev.cronstream;

/**
 * The severity of a log line a handler stores with its execution. {@link #UNKNOWN} stands for a
 * value this client does not know (a newer server's), read back in a {@link LogLine}; a line a
 * handler logs at it is stored at {@link #INFO}, the server's default.
 */
public enum LogLevel {
  DEBUG(dev.cronstream.v1.LogLevel.LOG_LEVEL_DEBUG),
  INFO(dev.cronstream.v1.LogLevel.LOG_LEVEL_INFO),
  WARN(dev.cronstream.v1.LogLevel.LOG_LEVEL_WARN),
  ERROR(dev.cronstream.v1.LogLevel.LOG_LEVEL_ERROR),
  UNKNOWN(dev.cronstream.v1.LogLevel.LOG_LEVEL_UNSPECIFIED);

  private final dev.cronstream.v1.LogLevel proto;

  LogLevel(dev.cronstream.v1.LogLevel proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.LogLevel proto() {
    return proto;
  }

  /** The Java value of a wire value. */
  public static LogLevel of(dev.cronstream.v1.LogLevel proto) {
    for (LogLevel v : values()) {
      if (v.proto == proto) {
        return v;
      }
    }
    return UNKNOWN;
  }
}
