package dev.cronstream;

/**
 * At most {@code limit} executions carrying {@code key} run at once, across the cluster and every
 * job and event handler of the platform that names the same (expanded) key. The key is a fixed
 * string or a template over the payload: {@code "customer:{payload.customer_id}"} limits each
 * customer separately.
 */
public record ConcurrencyLimit(String key, int limit) {
  dev.cronstream.v1.ConcurrencyLimit proto() {
    return dev.cronstream.v1.ConcurrencyLimit.newBuilder().setKey(key).setLimit(limit).build();
  }
}
