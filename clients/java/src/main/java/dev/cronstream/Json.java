package dev.cronstream;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.Iterator;
import java.util.Map;

/**
 * Typed payloads and results: Java objects (records, beans, maps) to and from the {@code
 * google.protobuf.Struct}s on the wire, through Jackson's tree model.
 *
 * <p>JSON numbers travel as doubles; an integral one comes back as a long, so it fills an
 * {@code int} or {@code long} field, while {@code 2.5} refuses to fill one (no silent
 * truncation). Unknown properties are ignored, so a producer can add fields before its
 * workers know them. {@code java.time} values are ISO-8601 strings.
 */
final class Json {
  private Json() {}

  /** Shared and thread-safe once configured. */
  static final ObjectMapper MAPPER = JsonMapper.builder()
      .addModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .disable(SerializationFeature.WRITE_DURATIONS_AS_TIMESTAMPS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
      .build();

  /** The {@code type} a Struct holds; an {@link IllegalArgumentException} saying why not. */
  static <T> T fromStruct(Struct struct, Class<T> type) {
    JsonNode tree = node(Value.newBuilder().setStructValue(struct).build());
    try {
      return MAPPER.treeToValue(tree, type);
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "cronstream: the payload does not convert to " + type.getName() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The Struct of {@code value}, which must convert to a JSON object ({@code null} is an empty
   * one); an {@link IllegalArgumentException} otherwise.
   */
  static Struct toStruct(Object value) {
    if (value == null) {
      return Struct.getDefaultInstance();
    }
    if (value instanceof Struct s) {
      return s;
    }
    if (value instanceof Map<?, ?> m) {
      try {
        return Payloads.toStruct(castMap(m)); // plain maps keep Payloads' rules
      } catch (IllegalArgumentException e) {
        // a map holding records or beans: Jackson below
      }
    }
    JsonNode tree;
    try {
      tree = MAPPER.valueToTree(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "cronstream: a " + value.getClass().getName() + " does not convert to JSON: " + e.getMessage(), e);
    }
    if (!(tree instanceof ObjectNode)) {
      throw new IllegalArgumentException("cronstream: a " + value.getClass().getName()
          + " converts to JSON " + tree.getNodeType().name().toLowerCase() + ", not an object");
    }
    return value(tree).getStructValue();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, ?> castMap(Map<?, ?> m) {
    return (Map<String, ?>) m;
  }

  static JsonNode node(Value v) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    return switch (v.getKindCase()) {
      case NULL_VALUE, KIND_NOT_SET -> f.nullNode();
      case BOOL_VALUE -> f.booleanNode(v.getBoolValue());
      case STRING_VALUE -> f.textNode(v.getStringValue());
      case NUMBER_VALUE -> number(v.getNumberValue());
      case STRUCT_VALUE -> {
        ObjectNode o = f.objectNode();
        v.getStructValue().getFieldsMap().forEach((k, item) -> o.set(k, node(item)));
        yield o;
      }
      case LIST_VALUE -> {
        ArrayNode a = f.arrayNode();
        v.getListValue().getValuesList().forEach(item -> a.add(node(item)));
        yield a;
      }
    };
  }

  private static final double EXACT_LONG = 9.007199254740992E15; // 2^53

  private static JsonNode number(double d) {
    if (d == Math.rint(d) && Math.abs(d) <= EXACT_LONG) {
      return JsonNodeFactory.instance.numberNode((long) d);
    }
    return JsonNodeFactory.instance.numberNode(d);
  }

  static Value value(JsonNode n) {
    Value.Builder v = Value.newBuilder();
    if (n == null || n.isNull() || n.isMissingNode()) {
      return v.setNullValue(NullValue.NULL_VALUE).build();
    }
    if (n.isBoolean()) {
      return v.setBoolValue(n.booleanValue()).build();
    }
    if (n.isNumber()) {
      double d = n.doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new IllegalArgumentException("cronstream: " + n + " is not a JSON number");
      }
      return v.setNumberValue(d).build();
    }
    if (n.isObject()) {
      Struct.Builder s = Struct.newBuilder();
      for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        s.putFields(e.getKey(), value(e.getValue()));
      }
      return v.setStructValue(s).build();
    }
    if (n.isArray()) {
      ListValue.Builder l = ListValue.newBuilder();
      n.forEach(item -> l.addValues(value(item)));
      return v.setListValue(l).build();
    }
    return v.setStringValue(n.asText()).build(); // text, and binary as base64
  }
}
