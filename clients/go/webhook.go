package cronstream

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// SignatureHeader is the header that signs each webhook request:
// "t=<unix seconds>,v1=<hex>", the hex being HMAC-SHA256, keyed with the
// webhook's secret ("whsec_...", as CreateWebhook returned it), of
// "<t>.<raw body>" (Stripe's scheme). A header holding several v1 entries
// (Stripe's way to roll a secret) verifies when any one matches.
const SignatureHeader = "Cronstream-Signature"

// DefaultWebhookTolerance is how far a webhook's timestamp may be from now
// (Stripe's default).
const DefaultWebhookTolerance = 5 * time.Minute

// Errors of VerifyWebhook; match them with errors.Is.
var (
	// ErrInvalidWebhook: the request is not a genuine Cronstream webhook
	// delivery (a missing or malformed signature header, a signature that
	// matches none, a body that is not an event). Answer it 400.
	ErrInvalidWebhook = errors.New("cronstream: invalid webhook")
	// ErrWebhookExpired: a correctly formed request whose timestamp is
	// further from now than the tolerance, possibly a replay. It matches
	// ErrInvalidWebhook too.
	ErrWebhookExpired = fmt.Errorf("%w: timestamp outside the tolerance", ErrInvalidWebhook)
)

// VerifyWebhook checks a webhook request's signature and returns the event
// it carries. header is the request's SignatureHeader, body the request body
// exactly as received; tolerance bounds how far the signed timestamp may be
// from now (0: DefaultWebhookTolerance). Signatures are compared in constant
// time. An event type this client does not know comes back as
// AlertEventType(0).
//
//	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//	...
//	event, err := cronstream.VerifyWebhook(secret, r.Header.Get(cronstream.SignatureHeader), body, 0)
func VerifyWebhook(secret, header string, body []byte, tolerance time.Duration) (AlertEvent, error) {
	return verifyWebhookAt(secret, header, body, tolerance, time.Now())
}

func verifyWebhookAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) (AlertEvent, error) {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	t, candidates, err := parseSignatureHeader(header)
	if err != nil {
		return AlertEvent{}, err
	}
	if off := now.Sub(time.Unix(t, 0)).Abs(); off > tolerance {
		return AlertEvent{}, fmt.Errorf("%w: signed %v from now, tolerance %v", ErrWebhookExpired, off.Truncate(time.Second), tolerance)
	}
	expected := []byte(webhookSignature(secret, t, body))
	matched := false
	for _, c := range candidates {
		// Every candidate is compared, so the time taken says nothing of which matched.
		matched = hmac.Equal(expected, []byte(c)) || matched
	}
	if !matched {
		return AlertEvent{}, fmt.Errorf("%w: no v1 signature matches the body and the secret", ErrInvalidWebhook)
	}
	return webhookEvent(body)
}

// webhookSignature is the hex HMAC-SHA256 of "<t>.<body>" keyed with secret.
func webhookSignature(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10) + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// parseSignatureHeader returns the header's timestamp and its v1
// signatures; other schemes are ignored.
func parseSignatureHeader(header string) (int64, []string, error) {
	if header == "" {
		return 0, nil, fmt.Errorf("%w: no %s header", ErrInvalidWebhook, SignatureHeader)
	}
	var stamps, candidates []string
	for item := range strings.SplitSeq(header, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch {
		case key == "t":
			stamps = append(stamps, value)
		case key == "v1" && value != "":
			candidates = append(candidates, value)
		}
	}
	if len(stamps) != 1 || stamps[0] == "" || strings.Trim(stamps[0], "0123456789") != "" {
		return 0, nil, fmt.Errorf("%w: %s needs exactly one t=<unix seconds>", ErrInvalidWebhook, SignatureHeader)
	}
	t, err := strconv.ParseInt(stamps[0], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s has a t out of range", ErrInvalidWebhook, SignatureHeader)
	}
	if len(candidates) == 0 {
		return 0, nil, fmt.Errorf("%w: %s holds no v1 signature", ErrInvalidWebhook, SignatureHeader)
	}
	return t, candidates, nil
}

// webhookEvents maps the type a webhook body names to the enum; the enum's
// own names (protobuf's JSON mapping) are read too.
var webhookEvents = map[string]cronstreamv1.AlertEventType{
	"alert.opened":   cronstreamv1.AlertEventType_ALERT_EVENT_TYPE_OPENED,
	"alert.resolved": cronstreamv1.AlertEventType_ALERT_EVENT_TYPE_RESOLVED,
}

// webhookEvent reads {"type": "alert.opened", "cursor": 12, "alert": {...}},
// the alert in protobuf's JSON mapping; unknown fields are ignored.
func webhookEvent(body []byte) (AlertEvent, error) {
	var doc struct {
		Type   string          `json:"type"`
		Cursor json.RawMessage `json:"cursor"` // a number, or a string as protobuf writes an int64
		Alert  json.RawMessage `json:"alert"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return AlertEvent{}, fmt.Errorf("%w: the body is not a Cronstream event: %v", ErrInvalidWebhook, err)
	}
	cursor, err := strconv.ParseInt(string(bytes.Trim(doc.Cursor, `"`)), 10, 64)
	if err != nil || doc.Type == "" || len(doc.Alert) == 0 {
		return AlertEvent{}, fmt.Errorf("%w: the body is not a Cronstream event: it needs a type, a cursor and an alert", ErrInvalidWebhook)
	}
	alert := &cronstreamv1.Alert{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(doc.Alert, alert); err != nil {
		return AlertEvent{}, fmt.Errorf("%w: the body is not a Cronstream event: %v", ErrInvalidWebhook, err)
	}
	kind, ok := webhookEvents[doc.Type]
	if !ok {
		kind = cronstreamv1.AlertEventType(cronstreamv1.AlertEventType_value[doc.Type]) // 0 when unknown
	}
	return AlertEvent{Cursor: cursor, Type: AlertEventType(kind), Alert: alertFromProto(alert)}, nil
}
