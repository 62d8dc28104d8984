package parsers

import (
	"testing"
	"time"
)

func FuzzNative(f *testing.F) {
	f.Add([]byte(`{"tenant_id":"c","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u"},"action":"view"}`))
	f.Add([]byte(`{"email":{"recipients":["a@b"]},"vpn":{"bytes_in":1},"attrs":{"k":"v"}}`))
	f.Add([]byte(`{"time":"not a time"}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Native{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: time.Now()})
		if err != nil {
			return
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
