package event

import (
	"strings"
	"testing"
	"time"
)

func valid() Event {
	e := Event{TenantID: "clinic-a", SourceKind: KindEHR, SourceSystem: "s", Time: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC),
		Actor: Actor{ID: "u1"}, Action: ActionView, Outcome: OutcomeSuccess, ClientIP: "10.0.0.1"}
	e.EventID = ID(e.TenantID, e.SourceSystem, "raw")
	return e
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		mutate func(*Event)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Event) {}, ""},
		{"ipv6", func(e *Event) { e.ClientIP = "2001:db8::1" }, ""},
		{"no tenant", func(e *Event) { e.TenantID = "" }, "tenant_id is empty"},
		{"bad tenant", func(e *Event) { e.TenantID = "Clinic A" }, "tenant_id"},
		{"bad id", func(e *Event) { e.EventID = "x" }, "event_id"},
		{"bad kind", func(e *Event) { e.SourceKind = "fax" }, "source_kind"},
		{"no system", func(e *Event) { e.SourceSystem = "" }, "source_system"},
		{"no time", func(e *Event) { e.Time = time.Time{} }, "time is missing"},
		{"epoch", func(e *Event) { e.Time = time.Unix(0, 0) }, "outside"},
		{"future", func(e *Event) { e.Time = now.Add(48 * time.Hour) }, "outside"},
		{"skew ok", func(e *Event) { e.Time = now.Add(2 * time.Hour) }, ""},
		{"bad action", func(e *Event) { e.Action = "peek" }, "vocabulary"},
		{"bad outcome", func(e *Event) { e.Outcome = "maybe" }, "outcome"},
		{"bad ip", func(e *Event) { e.ClientIP = "10.0.0.300" }, "client_ip"},
		{"bad vpn ip", func(e *Event) { e.VPN = &VPN{AssignedIP: "x"} }, "vpn.assigned_ip"},
		{"huge raw", func(e *Event) { e.Raw = strings.Repeat("x", MaxRawBytes+1) }, "raw record"},
		{"huge actor", func(e *Event) { e.Actor.ID = strings.Repeat("x", 5000) }, "actor.id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := valid()
			c.mutate(&e)
			err := e.Validate(now)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := (&Event{}).Validate(time.Now())
	for _, want := range []string{"tenant_id", "event_id", "source_kind", "source_system", "time", "action", "outcome"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestIDIsStableAndSeparatesFields(t *testing.T) {
	a := ID("t", "s", "record")
	if a != ID("t", "s", "record") || len(a) != 32 {
		t.Fatalf("ID not stable or not 32 hex chars: %s", a)
	}
	// Field boundaries matter: ("ab","c") and ("a","bc") differ.
	if ID("ab", "c", "x") == ID("a", "bc", "x") || ID("t", "s", "r1") == a || ID("t2", "s", "record") == a {
		t.Fatal("different inputs share an id")
	}
}

func TestNormalize(t *testing.T) {
	loc := time.FixedZone("EST", -5*3600)
	e := Event{Time: time.Date(2026, 10, 1, 9, 0, 0, 123456789, loc)}
	e.Normalize()
	if e.Time.Location() != time.UTC || e.Time.Nanosecond() != 123000000 || e.Time.Hour() != 14 || e.Outcome != OutcomeUnknown {
		t.Fatalf("normalized to %v outcome %q", e.Time, e.Outcome)
	}
}

func TestActionVocabulary(t *testing.T) {
	for _, required := range []string{"view", "search", "create", "update", "delete", "print", "export", "login", "login_failed", "logout", "send", "mailbox_access", "rule_change", "vpn_connect", "vpn_disconnect"} {
		if _, err := ParseAction(required); err != nil {
			t.Errorf("vocabulary lacks %s", required)
		}
		if Action(required).Describe() == "" {
			t.Errorf("%s has no description", required)
		}
	}
	if _, err := ParseAction("peek"); err == nil {
		t.Error("peek accepted")
	}
}
