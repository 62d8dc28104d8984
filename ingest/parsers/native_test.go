package parsers

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// caseOnlyUnknown reports an "unknown field" error about a name that is a
// known field in another case.
func caseOnlyUnknown(err error) bool {
	_, name, ok := strings.Cut(err.Error(), `unknown field "`)
	if !ok {
		return false
	}
	name, _, _ = strings.Cut(name, `"`)
	known := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeOf(event.Event{}), reflect.TypeOf(event.Actor{}), reflect.TypeOf(event.Email{}), reflect.TypeOf(event.VPN{})} {
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			known[tag] = true
			known[strings.ToLower(tag)] = true
		}
	}
	return !known[name] && known[strings.ToLower(name)]
}

var errInvalid = stdjson.Unmarshal([]byte("{"), new(int))

func FuzzNative(f *testing.F) {
	f.Add([]byte(`{"tenant_id":"c","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u"},"action":"view"}`))
	f.Add([]byte(`{"email":{"recipients":["a@b"]},"vpn":{"bytes_in":1},"attrs":{"k":"v"}}`))
	f.Add([]byte(`{"time":"not a time"}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		evs, err := Native{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: at})
		// Differential check: the fast decoder agrees with encoding/json on
		// what is an event and what it says.
		var std event.Event
		trimmed := bytes.TrimSpace(data)
		stdErr := errInvalid
		if len(trimmed) > 0 && stdjson.Valid(trimmed) {
			dec := stdjson.NewDecoder(bytes.NewReader(trimmed))
			dec.DisallowUnknownFields()
			stdErr = dec.Decode(&std)
		}
		// Field names are matched exactly; encoding/json also accepts other
		// cases ("emAil"). That is the one difference allowed.
		if err != nil && stdErr == nil && caseOnlyUnknown(err) {
			return
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("goccy err %v, encoding/json err %v for %q", err, stdErr, data)
		}
		if err != nil {
			return
		}
		got := evs[0]
		got.TenantID, got.EventID, got.ReceivedAt, got.Raw, got.SourceName = std.TenantID, std.EventID, std.ReceivedAt, std.Raw, std.SourceName
		std.Normalize()
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("decoders disagree on %q:\n goccy %+v\n std   %+v", data, got, std)
		}
		if len(evs) != 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
		e := evs[0]
		if e.EventID == "" || e.TenantID == "" {
			t.Fatalf("parsed event without id or tenant: %+v", e)
		}
		_ = e.Validate(time.Now()) // must not panic
	})
}
