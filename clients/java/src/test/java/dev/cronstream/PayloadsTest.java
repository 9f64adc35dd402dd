package dev.cronstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PayloadsTest {
  enum Color { RED }

  @Test
  void mapToStructAndBack() {
    Map<String, Object> in = new LinkedHashMap<>();
    in.put("s", "text");
    in.put("i", 42);
    in.put("l", 7L);
    in.put("d", 1.5);
    in.put("b", true);
    in.put("nil", null);
    in.put("list", List.of(1, "two", false));
    in.put("array", new int[] {1, 2});
    in.put("nested", Map.of("k", List.of(Map.of("deep", "yes"))));
    in.put("enum", Color.RED);
    in.put("when", Instant.parse("2026-01-02T03:04:05Z"));
    in.put("opt", Optional.of("x"));

    Struct s = Payloads.toStruct(in);
    assertEquals("text", s.getFieldsOrThrow("s").getStringValue());
    assertEquals(42.0, s.getFieldsOrThrow("i").getNumberValue());
    assertEquals(Value.KindCase.NULL_VALUE, s.getFieldsOrThrow("nil").getKindCase());
    assertEquals(3, s.getFieldsOrThrow("list").getListValue().getValuesCount());
    assertEquals("RED", s.getFieldsOrThrow("enum").getStringValue());
    assertEquals("2026-01-02T03:04:05Z", s.getFieldsOrThrow("when").getStringValue());

    Map<String, Object> out = Payloads.toMap(s);
    Map<String, Object> want = new HashMap<>();
    want.put("s", "text");
    want.put("i", 42.0); // JSON numbers come back as doubles
    want.put("l", 7.0);
    want.put("d", 1.5);
    want.put("b", true);
    want.put("nil", null);
    want.put("list", Arrays.asList(1.0, "two", false));
    want.put("array", List.of(1.0, 2.0));
    want.put("nested", Map.of("k", List.of(Map.of("deep", "yes"))));
    want.put("enum", "RED");
    want.put("when", "2026-01-02T03:04:05Z");
    want.put("opt", "x");
    assertEquals(want, out);
    assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(out.keySet()), "order kept");
    assertEquals(s, Payloads.toStruct(out), "round trip");
  }

  @Test
  void structFromTheWireToMap() {
    Struct s = Struct.newBuilder()
        .putFields("n", Value.newBuilder().setNumberValue(3).build())
        .putFields("z", Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build())
        .putFields("l", Value.newBuilder().setListValue(ListValue.newBuilder()
            .addValues(Value.newBuilder().setStringValue("a"))).build())
        .build();
    Map<String, Object> m = Payloads.toMap(s);
    assertEquals(3.0, m.get("n"));
    assertTrue(m.containsKey("z") && m.get("z") == null);
    assertEquals(List.of("a"), m.get("l"));
    m.put("added", 1); // mutable
  }

  @Test
  void nullAndEmpty() {
    assertEquals(Struct.getDefaultInstance(), Payloads.toStruct(null));
    assertEquals(Map.of(), Payloads.toMap(null));
    assertEquals(Map.of(), Payloads.toMap(Struct.getDefaultInstance()));
  }

  @Test
  void refusesWhatJsonCannotHold() {
    assertThrows(IllegalArgumentException.class, () -> Payloads.toStruct(Map.of("x", Double.NaN)));
    assertThrows(IllegalArgumentException.class, () -> Payloads.toStruct(Map.of("x", Double.POSITIVE_INFINITY)));
    assertThrows(IllegalArgumentException.class, () -> Payloads.toStruct(Map.of("x", new Object())));
    Map<String, Object> cycle = new HashMap<>();
    cycle.put("self", cycle);
    assertThrows(IllegalArgumentException.class, () -> Payloads.toStruct(cycle));
  }
}
