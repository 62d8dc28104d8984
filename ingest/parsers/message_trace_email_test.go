package parsers

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/phiwatch/phiwatch/internal/event"
)

// Test helpers shared by the email formats' tests (m365-audit-csv,
// message-trace, google-reports, postfix).

// checkEmailEvent holds an event of these formats to what every one must
// be, valid or not: identified, of its parser, in the vocabulary, with a
// time, an attrs.source_action and its raw record, and with recipient
// domains that match its recipients. The actor may be empty: Postfix does
// not know it on every line.
func checkEmailEvent(p Parser, e event.Event) error {
	switch {
	case len(e.EventID) != 32:
		return fmt.Errorf("event id %q", e.EventID)
	case e.SourceSystem != p.Name() || e.SourceKind != event.KindEmail:
		return fmt.Errorf("source %s/%s", e.SourceSystem, e.SourceKind)
	case !e.Action.Valid():
		return fmt.Errorf("action %q not in the vocabulary", e.Action)
	case e.Outcome != event.OutcomeSuccess && e.Outcome != event.OutcomeFailure && e.Outcome != event.OutcomeUnknown:
		return fmt.Errorf("outcome %q", e.Outcome)
	case e.Time.IsZero():
		return fmt.Errorf("no time")
	case e.Attrs["source_action"] == "":
		return fmt.Errorf("no attrs.source_action")
	case e.Raw == "":
		return fmt.Errorf("no raw record")
	case len(e.Actor.ID) > maxIdentLen:
		return fmt.Errorf("actor id of %d bytes", len(e.Actor.ID))
	}
	if e.Email != nil && !slices.Equal(e.Email.RecipientDomains, emailDomains(e.Email.Recipients)) {
		return fmt.Errorf("recipient domains %v do not match recipients %v", e.Email.RecipientDomains, e.Email.Recipients)
	}
	return nil
}

// fuzzFramed checks what must hold for any input of a framed email format:
// no panic; every event well-formed; the same input parsing the same way
// twice; framing that never fails on in-memory input; and the framed
// records together yielding exactly the events of parsing the whole input
// at once, so framing neither drops nor invents a record.
func fuzzFramed(t *testing.T, p Parser, data []byte, extra func(e event.Event) error) {
	t.Helper()
	parse := func(b []byte) ([]event.Event, error) {
		evs, err := p.Parse(Record{Data: b, Tenant: "fuzz", ReceivedAt: receivedAt})
		for _, e := range evs {
			if err := checkEmailEvent(p, e); err != nil {
				t.Fatalf("bad event from %q: %v", b, err)
			}
			if extra != nil {
				if err := extra(e); err != nil {
					t.Fatalf("bad event from %q: %v", b, err)
				}
			}
			_ = e.Validate(receivedAt)
		}
		return evs, err
	}
	ids := func(evs []event.Event) []string {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.EventID
		}
		sort.Strings(out)
		return out
	}
	whole, err1 := parse(data)
	again, err2 := parse(data)
	if !slices.Equal(ids(whole), ids(again)) || (err1 == nil) != (err2 == nil) {
		t.Fatalf("two parses differ: %d events, %v; then %d, %v", len(whole), err1, len(again), err2)
	}
	var framed []event.Event
	err := p.(Framer).Frame(bytes.NewReader(data), func(b []byte, pos string) error {
		evs, _ := parse(b)
		framed = append(framed, evs...)
		return nil
	})
	if err != nil {
		t.Fatalf("framing in-memory input failed: %v", err)
	}
	if !slices.Equal(ids(whole), ids(framed)) {
		t.Fatalf("framed records yield %d events, the whole input %d, from %q", len(framed), len(whole), data)
	}
}

func TestInternalDomains(t *testing.T) {
	in := normalizeDomains([]string{" Riverside.example. ", "@clinic.example", "*.riverside.example", "", "riverside.example"})
	if want := []string{"clinic.example", "riverside.example"}; !slices.Equal(in, want) {
		t.Fatalf("normalizeDomains = %v, want %v", in, want)
	}
	cases := []struct {
		addr string
		want bool
	}{
		{"jlee@riverside.example", true},
		{"JLee@RIVERSIDE.EXAMPLE", true},
		{"<jlee@riverside.example>", true},
		{"a@mx1.riverside.example", true}, // a subdomain
		{"a@notriverside.example", false}, // not a subdomain, a longer name
		{"a@riverside.example.evil.example", false},
		{"a@clinic.example", true},
		{"someone@gmail.com", false},
		{"jlee", true}, // a local user has no domain
		{"", true},
	}
	for _, c := range cases {
		if got := isInternal(in, c.addr); got != c.want {
			t.Errorf("isInternal(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
	// A list set without WithInternalDomains is normalized as it is used.
	if !isInternal([]string{" @Riverside.Example "}, "a@riverside.example") {
		t.Error("an unnormalized list does not match")
	}
	if anyExternal(nil, []string{"someone@gmail.com"}) {
		t.Error("external without configured domains")
	}
	if !anyExternal(in, []string{"jlee@riverside.example", "someone@gmail.com"}) || anyExternal(in, []string{"jlee@riverside.example"}) {
		t.Error("anyExternal")
	}
	if allInternal(nil, []string{"jlee@riverside.example"}) || allInternal(in, nil) || !allInternal(in, []string{"jlee@riverside.example", "x@clinic.example"}) {
		t.Error("allInternal")
	}
}

func TestInternalDomainsSetters(t *testing.T) {
	for _, name := range []string{"message-trace", "postfix", "google-reports"} {
		p, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := p.(InternalDomainsSetter)
		if !ok {
			t.Fatalf("%s does not take internal domains", name)
		}
		list := []string{"Riverside.example"}
		q := s.WithInternalDomains(list)
		list[0] = "changed.example" // the parser must not share the caller's slice
		var got []string
		switch v := q.(type) {
		case MessageTrace:
			got = v.InternalDomains
		case Postfix:
			got = v.InternalDomains
		case GoogleReports:
			got = v.InternalDomains
		default:
			t.Fatalf("%s: WithInternalDomains returned %T", name, q)
		}
		if !slices.Equal(got, []string{"riverside.example"}) || q.Name() != name {
			t.Errorf("%s: internal domains %v", name, got)
		}
	}
	if _, ok := Parser(M365AuditCSV{}).(InternalDomainsSetter); ok {
		t.Error("m365-audit-csv takes internal domains, but its events must stay m365-audit's")
	}
}

func TestPutSubject(t *testing.T) {
	a, b := map[string]string{}, map[string]string{}
	putSubject(a, "clinic-a", " Lab results for Jane Doe ")
	putSubject(b, "clinic-b", "Lab results for Jane Doe")
	if a["subject_len"] != "24" || len(a["subject_sha256"]) != 16 {
		t.Fatalf("attrs %v", a)
	}
	if a["subject_sha256"] == b["subject_sha256"] {
		t.Error("the subject hash does not depend on the tenant")
	}
	for _, v := range a {
		if strings.Contains(v, "Jane") {
			t.Errorf("subject text kept: %v", a)
		}
	}
	empty := map[string]string{}
	putSubject(empty, "t", "  ")
	if len(empty) != 0 {
		t.Errorf("empty subject gave %v", empty)
	}
	c := map[string]string{}
	putSubject(c, "t", "Résultats")
	if c["subject_len"] != "9" {
		t.Errorf("length counts bytes, not characters: %v", c)
	}
}
