package cronstream

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Payload converts a map into the Struct that jobs, events and results
// carry. It goes through encoding/json, so any value json.Marshal accepts
// works (a []string, a struct with json tags) and what JSON cannot hold (a
// NaN, a channel) is an error here rather than on the server. A nil map
// gives an empty Struct.
func Payload(m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return &structpb.Struct{}, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("cronstream: payload is not JSON: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("cronstream: payload is not a JSON object: %w", err)
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
