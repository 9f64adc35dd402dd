package dev.cronstream;

/** The severity of a log line a handler stores with its execution. */
public enum LogLevel {
  DEBUG(dev.cronstream.v1.LogLevel.LOG_LEVEL_DEBUG),
  INFO(dev.cronstream.v1.LogLevel.LOG_LEVEL_INFO),
  WARN(dev.cronstream.v1.LogLevel.LOG_LEVEL_WARN),
  ERROR(dev.cronstream.v1.LogLevel.LOG_LEVEL_ERROR);

  private final dev.cronstream.v1.LogLevel proto;

  LogLevel(dev.cronstream.v1.LogLevel proto) {
    this.proto = proto;
  }

  /** The wire value. */
  public dev.cronstream.v1.LogLevel proto() {
    return proto;
  }
}
