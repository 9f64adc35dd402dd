package dev.cronstream;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Converts between {@code google.protobuf.Struct} (job payloads, execution results) and plain
 * Java maps, with JSON's types.
 *
 * <p>To a Struct: {@code null}, {@link Boolean}, {@link Number} (as a double; NaN and infinities
 * are refused, as JSON has no such numbers), {@link CharSequence} and {@link Character}, enums (by
 * name), {@link UUID} and {@code java.time} values (by {@code toString()}), {@link Optional},
 * maps (keys by {@code String.valueOf}), {@link Iterable}s and arrays, and protobuf {@link
 * Value}, {@link Struct} and {@link ListValue}. Anything else is an {@link
 * IllegalArgumentException}.
 *
 * <p>From a Struct: numbers are {@link Double}s, lists {@link List}s, objects {@code Map<String,
 * Object>}, JSON null {@code null}; the maps and lists are mutable and keep the Struct's order.
 */
public final class Payloads {
  private Payloads() {}

  /** The Struct holding {@code map}; an empty Struct for {@code null}. */
  public static Struct toStruct(Map<String, ?> map) {
    if (map == null) {
      return Struct.getDefaultInstance();
    }
    return structOf(map, 0);
  }

  /** The map a Struct holds; an empty map for {@code null}. */
  public static Map<String, Object> toMap(Struct struct) {
    Map<String, Object> out = new LinkedHashMap<>();
    if (struct != null) {
      struct.getFieldsMap().forEach((k, v) -> out.put(k, toJava(v)));
    }
    return out;
  }

  /** The Java value of a protobuf Value, by the rules above. */
  public static Object toJava(Value v) {
    return switch (v.getKindCase()) {
      case NULL_VALUE, KIND_NOT_SET -> null;
      case BOOL_VALUE -> v.getBoolValue();
      case NUMBER_VALUE -> v.getNumberValue();
      case STRING_VALUE -> v.getStringValue();
      case STRUCT_VALUE -> toMap(v.getStructValue());
      case LIST_VALUE -> {
        List<Object> list = new ArrayList<>(v.getListValue().getValuesCount());
        for (Value item : v.getListValue().getValuesList()) {
          list.add(toJava(item));
        }
        yield list;
      }
    };
  }

  /** The protobuf Value of a Java value, by the rules above. */
  public static Value toValue(Object o) {
    return valueOf(o, 0);
  }

  private static final int MAX_DEPTH = 100;

  private static Struct structOf(Map<?, ?> map, int depth) {
    Struct.Builder b = Struct.newBuilder();
    for (Map.Entry<?, ?> e : map.entrySet()) {
      b.putFields(String.valueOf(e.getKey()), valueOf(e.getValue(), depth + 1));
    }
    return b.build();
  }

  private static Value valueOf(Object o, int depth) {
    if (depth > MAX_DEPTH) {
      throw new IllegalArgumentException("cronstream: payload nested deeper than " + MAX_DEPTH + " levels (a cycle?)");
    }
    if (o == null) {
      return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
    }
    if (o instanceof Value v) {
      return v;
    }
    if (o instanceof Struct s) {
      return Value.newBuilder().setStructValue(s).build();
    }
    if (o instanceof ListValue l) {
      return Value.newBuilder().setListValue(l).build();
    }
    if (o instanceof Boolean b) {
      return Value.newBuilder().setBoolValue(b).build();
    }
    if (o instanceof Number n) {
      double d = n instanceof BigDecimal bd ? bd.doubleValue() : n instanceof BigInteger bi ? bi.doubleValue() : n.doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new IllegalArgumentException("cronstream: " + o + " is not a JSON number");
      }
      return Value.newBuilder().setNumberValue(d).build();
    }
    if (o instanceof CharSequence || o instanceof Character || o instanceof UUID || o instanceof TemporalAccessor) {
      return Value.newBuilder().setStringValue(o.toString()).build();
    }
    if (o instanceof Enum<?> e) {
      return Value.newBuilder().setStringValue(e.name()).build();
    }
    if (o instanceof Optional<?> opt) {
      return valueOf(opt.orElse(null), depth);
    }
    if (o instanceof Map<?, ?> m) {
      return Value.newBuilder().setStructValue(structOf(m, depth)).build();
    }
    if (o instanceof Iterable<?> it) {
      ListValue.Builder l = ListValue.newBuilder();
      for (Object item : it) {
        l.addValues(valueOf(item, depth + 1));
      }
      return Value.newBuilder().setListValue(l).build();
    }
    if (o.getClass().isArray()) {
      ListValue.Builder l = ListValue.newBuilder();
      int n = Array.getLength(o);
      for (int i = 0; i < n; i++) {
        l.addValues(valueOf(Array.get(o, i), depth + 1));
      }
      return Value.newBuilder().setListValue(l).build();
    }
    throw new IllegalArgumentException(
        "cronstream: a " + o.getClass().getName() + " is not a JSON value (use maps, lists, strings, numbers, booleans)");
  }
}
