package cronstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const hookSecret = "whsec_test_secret"

var hookNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// hookBody is a body as the server writes it: the alert in protobuf's JSON
// mapping (camelCase, enum names, RFC 3339 times).
func hookBody(eventType string, cursor int64) []byte {
	return fmt.Appendf(nil, `{"type":%q,"cursor":%d,"alert":{"id":"a1","jobId":"j1","jobName":"nightly",`+
		`"kind":"HEALTH_STATE_FAILING","state":"ALERT_STATE_OPEN","openedAt":"2030-05-06T07:08:09.250Z",`+
		`"reason":"1 failed attempt in a row","executionId":"e1","pausedJob":true}}`, eventType, cursor)
}

func hookHeader(t int64, body []byte, secrets ...string) string {
	parts := []string{fmt.Sprint("t=", t)}
	for _, s := range secrets {
		parts = append(parts, "v1="+webhookSignature(s, t, body))
	}
	return strings.Join(parts, ",")
}

func TestVerifyWebhookReturnsTheEvent(t *testing.T) {
	body := hookBody("alert.opened", 12)
	e, err := verifyWebhookAt(hookSecret, hookHeader(hookNow.Unix(), body, hookSecret), body, 0, hookNow)
	if err != nil {
		t.Fatal(err)
	}
	a := e.Alert
	if e.Cursor != 12 || e.Type != AlertEventOpened || a.ID != "a1" || a.Kind != HealthFailing || a.State != AlertOpen ||
		!a.OpenedAt.Equal(time.Date(2030, 5, 6, 7, 8, 9, 250e6, time.UTC)) || !a.PausedJob || a.ExecutionID != "e1" {
		t.Errorf("event %+v, alert %+v", e, a)
	}
}

func TestWebhookSignatureIsStripesScheme(t *testing.T) {
	mac := hmac.New(sha256.New, []byte("whsec_k"))
	mac.Write([]byte(`1700000000.{"a":1}`))
	if got, want := webhookSignature("whsec_k", 1700000000, []byte(`{"a":1}`)), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

func TestVerifyWebhookWithSeveralSignatures(t *testing.T) {
	body := hookBody("alert.resolved", 3)
	header := hookHeader(hookNow.Unix(), body, "whsec_old", hookSecret)
	for _, secret := range []string{"whsec_old", hookSecret} {
		if e, err := verifyWebhookAt(secret, header, body, 0, hookNow); err != nil || e.Type != AlertEventResolved {
			t.Errorf("secret %s: %v, %v", secret, e.Type, err)
		}
	}
	spaced := fmt.Sprintf("t=%d, v0=abc, v1=%s", hookNow.Unix(), webhookSignature(hookSecret, hookNow.Unix(), body))
	if _, err := verifyWebhookAt(hookSecret, spaced, body, 0, hookNow); err != nil {
		t.Errorf("spaces and an unknown scheme: %v", err)
	}
}

func TestVerifyWebhookRefuses(t *testing.T) {
	body := hookBody("alert.opened", 12)
	now := hookNow.Unix()
	for name, tc := range map[string]struct {
		header string
		body   []byte
		want   error
		says   string
	}{
		"another secret":      {hookHeader(now, body, "whsec_other"), body, ErrInvalidWebhook, "no v1 signature matches"},
		"a changed body":      {hookHeader(now, body, hookSecret), hookBody("alert.opened", 13), ErrInvalidWebhook, "no v1 signature matches"},
		"too old":             {hookHeader(now-301, body, hookSecret), body, ErrWebhookExpired, "5m1s from now"},
		"too far ahead":       {hookHeader(now+301, body, hookSecret), body, ErrWebhookExpired, "5m1s from now"},
		"no header":           {"", body, ErrInvalidWebhook, "no Cronstream-Signature header"},
		"no t":                {"v1=abc", body, ErrInvalidWebhook, "exactly one t="},
		"two t":               {fmt.Sprintf("t=%d,t=%d,v1=abc", now, now), body, ErrInvalidWebhook, "exactly one t="},
		"a t not a number":    {"t=yesterday,v1=abc", body, ErrInvalidWebhook, "exactly one t="},
		"a signed t":          {"t=+12,v1=abc", body, ErrInvalidWebhook, "exactly one t="},
		"no v1":               {fmt.Sprint("t=", now), body, ErrInvalidWebhook, "no v1 signature"},
		"an empty v1":         {fmt.Sprintf("t=%d,v1=", now), body, ErrInvalidWebhook, "no v1 signature"},
		"a body not JSON":     {hookHeader(now, []byte("nope"), hookSecret), []byte("nope"), ErrInvalidWebhook, "not a Cronstream event"},
		"a body not an event": {hookHeader(now, []byte(`{"cursor":1,"alert":{}}`), hookSecret), []byte(`{"cursor":1,"alert":{}}`), ErrInvalidWebhook, "needs a type"},
		"an alert not an alert": {hookHeader(now, []byte(`{"type":"alert.opened","cursor":1,"alert":[]}`), hookSecret),
			[]byte(`{"type":"alert.opened","cursor":1,"alert":[]}`), ErrInvalidWebhook, "not a Cronstream event"},
	} {
		_, err := verifyWebhookAt(hookSecret, tc.header, tc.body, 0, hookNow)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidWebhook) || !strings.Contains(fmt.Sprint(err), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, tc.want, tc.says)
		}
	}
	// The edge of the tolerance holds; a wider tolerance lets an older one through.
	if _, err := verifyWebhookAt(hookSecret, hookHeader(now-300, body, hookSecret), body, 0, hookNow); err != nil {
		t.Errorf("at the tolerance: %v", err)
	}
	if _, err := verifyWebhookAt(hookSecret, hookHeader(now-301, body, hookSecret), body, 6*time.Minute, hookNow); err != nil {
		t.Errorf("within a tolerance of 6 min: %v", err)
	}
}

func TestVerifyWebhookUsesTheClock(t *testing.T) {
	body := hookBody("alert.opened", 1)
	if _, err := VerifyWebhook(hookSecret, hookHeader(time.Now().Unix(), body, hookSecret), body, 0); err != nil {
		t.Errorf("signed now: %v", err)
	}
	if _, err := VerifyWebhook(hookSecret, hookHeader(hookNow.Unix(), body, hookSecret), body, 0); !errors.Is(err, ErrWebhookExpired) {
		t.Errorf("signed in 2030: %v, want ErrWebhookExpired", err)
	}
}

func TestVerifyWebhookReadsOtherForms(t *testing.T) {
	// protobuf's JSON mapping of an AlertEvent (enum names, the int64 cursor a
	// string), unknown fields, and an unknown type.
	for body, want := range map[string]AlertEvent{
		`{"type":"ALERT_EVENT_TYPE_RESOLVED","cursor":"42","alert":{"id":"a1"}}`:     {Cursor: 42, Type: AlertEventResolved},
		`{"type":"alert.snoozed","cursor":7,"alert":{"id":"a1","snoozedUntil":"x"}}`: {Cursor: 7, Type: 0},
	} {
		e, err := verifyWebhookAt(hookSecret, hookHeader(hookNow.Unix(), []byte(body), hookSecret), []byte(body), 0, hookNow)
		if err != nil || e.Cursor != want.Cursor || e.Type != want.Type || e.Alert.ID != "a1" {
			t.Errorf("%s: %+v, %v; want cursor %d, type %v", body, e, err, want.Cursor, want.Type)
		}
	}
}
