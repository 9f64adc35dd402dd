package cronstream

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Payload converts a map into the Struct that jobs, events and results
// carry, for calls made through the generated clients; see [toStruct]. A
// nil map gives an empty Struct.
func Payload(m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return &structpb.Struct{}, nil
	}
	return toStruct(m)
}

// toStruct converts v into a Struct through encoding/json, so any value
// json.Marshal turns into an object works (a map, a struct with json tags)
// and what JSON cannot hold (a NaN, a channel) is an error here rather than
// on the server. nil (or a nil map or pointer) gives an empty Struct.
func toStruct(v any) (*structpb.Struct, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cronstream: payload is not JSON: %w", err)
	}
	s := &structpb.Struct{}
	if string(raw) == "null" {
		return s, nil
	}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("cronstream: %T is not a JSON object: %w", v, err)
	}
	return s, nil
}

// payloadMap is the handler's view of a Struct: JSON numbers become float64,
// as with encoding/json. A nil Struct gives an empty, non-nil map.
func payloadMap(s *structpb.Struct) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	return s.AsMap()
}
