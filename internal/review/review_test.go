package review

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/review/smtptest"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ev-%04d", i)
	}
	return out
}

func TestSampleReproducible(t *testing.T) {
	all := ids(500)
	a := DrawSample("seed-1", all, 20)
	if len(a) != 20 {
		t.Fatalf("sample of %d, want 20", len(a))
	}
	shuffled := slices.Clone(all)
	slices.Reverse(shuffled)
	if b := DrawSample("seed-1", shuffled, 20); !slices.Equal(a, b) {
		t.Fatalf("same seed, other input order gave another sample:\n%v\n%v", a, b)
	}
	if c := DrawSample("seed-2", all, 20); slices.Equal(a, c) {
		t.Fatalf("different seeds gave the same sample %v", a)
	}
	// The sample is the n lowest keys: no unsampled id sorts before the
	// last sampled one.
	last := SampleKey("seed-1", a[len(a)-1])
	for _, id := range all {
		if !slices.Contains(a, id) && SampleKey("seed-1", id) < last {
			t.Fatalf("%s has a lower key than the sample's last but was not drawn", id)
		}
	}
	if got := DrawSample("s", ids(3), 10); len(got) != 3 {
		t.Fatalf("sample larger than the population: %v", got)
	}
	if got := DrawSample("s", []string{"x", "x", "y"}, 10); len(got) != 2 {
		t.Fatalf("duplicates drawn twice: %v", got)
	}
	s1, _ := NewSeed()
	s2, _ := NewSeed()
	if len(s1) != 32 || s1 == s2 {
		t.Fatalf("seeds %q %q: want 32 hex characters, fresh each time", s1, s2)
	}
}

func TestBalance(t *testing.T) {
	var items []Item
	for i := range 10 {
		items = append(items, Item{ItemID: fmt.Sprintf("i%d", i), ActorID: fmt.Sprintf("u%d", i%4)})
	}
	cases := []struct {
		name      string
		reviewers []Reviewer
		load      map[string]int
		want      map[string]int
		unassign  int
	}{
		{"even split", []Reviewer{{ID: "a"}, {ID: "b"}}, nil, map[string]int{"a": 5, "b": 5}, 0},
		{"existing load counts", []Reviewer{{ID: "a"}, {ID: "b"}}, map[string]int{"a": 4}, map[string]int{"a": 3, "b": 7}, 0},
		{"three reviewers", []Reviewer{{ID: "a"}, {ID: "b"}, {ID: "c"}}, nil, map[string]int{"a": 4, "b": 3, "c": 3}, 0},
		// u0 has items 0, 4, 8: reviewer a is u0, so they go to b.
		{"self excluded", []Reviewer{{ID: "a", WorkforceID: "u0"}, {ID: "b"}}, nil, map[string]int{"a": 5, "b": 5}, 0},
		{"nobody eligible", []Reviewer{{ID: "a", WorkforceID: "u1"}}, nil, map[string]int{"a": 7}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as, un := Balance(items, c.reviewers, c.load)
			got := map[string]int{}
			byItem := map[string]string{}
			for _, a := range as {
				got[a.Reviewer.ID]++
				byItem[a.ItemID] = a.Reviewer.ID
			}
			for _, it := range items {
				for _, r := range c.reviewers {
					if byItem[it.ItemID] == r.ID && r.WorkforceID == it.ActorID {
						t.Fatalf("item %s about %s assigned to %s, who is %s", it.ItemID, it.ActorID, r.ID, r.WorkforceID)
					}
				}
			}
			for id, n := range c.want {
				if got[id] != n {
					t.Fatalf("assigned %v, want %v", got, c.want)
				}
			}
			if len(un) != c.unassign {
				t.Fatalf("unassigned %v, want %d", un, c.unassign)
			}
		})
	}
}

func TestRules(t *testing.T) {
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	open := Period{Period: "2026-10", State: PeriodOpen}
	locked := Period{Period: "2026-10", State: PeriodSignedOff, SignedOffBy: "po"}
	it := Item{ItemID: "i1", ActorID: "u1", State: StateAssigned, VersionAt: at}
	alice := Reviewer{ID: "alice", WorkforceID: "u9"}
	self := Reviewer{ID: "sam", WorkforceID: "u1"}
	ok := Decision{Decision: DecideAppropriate, Reason: "treating physician"}
	cases := []struct {
		name string
		p    Period
		it   Item
		d    Decision
		ch   Change
		want error
		st   string
	}{
		{"appropriate", open, it, ok, Change{By: alice, At: at}, nil, StateAppropriate},
		{"reason required", open, it, Decision{Decision: DecideAppropriate}, Change{By: alice, At: at}, ErrInvalid, ""},
		{"unknown decision", open, it, Decision{Decision: "fine", Reason: "x"}, Change{By: alice, At: at}, ErrInvalid, ""},
		{"own activity", open, it, ok, Change{By: self, At: at}, ErrSelf, ""},
		{"needs info", open, it, Decision{Decision: DecideNeedsInfo, Question: "why?", QuestionTo: "manager"}, Change{By: alice, At: at}, nil, StateNeedsInfo},
		{"needs info without question", open, it, Decision{Decision: DecideNeedsInfo, QuestionTo: "user"}, Change{By: alice, At: at}, ErrInvalid, ""},
		{"decided is not edited", open, Item{ItemID: "i1", State: StateAppropriate}, ok, Change{By: alice, At: at}, ErrConflict, ""},
		{"locked refuses", locked, it, ok, Change{By: alice, At: at}, ErrLocked, ""},
		{"amendment needs reason", locked, it, ok, Change{By: alice, At: at, Amendment: true}, ErrInvalid, ""},
		{"amendment on open period", open, it, ok, Change{By: alice, At: at, Amendment: true, Reason: "x"}, ErrConflict, ""},
		{"amendment", locked, Item{ItemID: "i1", State: StateAppropriate}, Decision{Decision: DecideInappropriate, Reason: "new facts"},
			Change{By: alice, At: at, Amendment: true, Reason: "employee admitted"}, nil, StateInappropriate},
		{"opening refuses", Period{State: PeriodOpening}, it, ok, Change{By: alice, At: at}, ErrConflict, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Decide(c.p, c.it, c.d, c.ch)
			if !errors.Is(err, c.want) || (err != nil) != (c.want != nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err != nil {
				return
			}
			if n.State != c.st || n.DecidedBy != "alice" || !n.VersionAt.After(c.it.VersionAt) {
				t.Fatalf("decided %+v", n)
			}
			if c.ch.Amendment && (!n.Amendment || n.Action != "amended_decided" || n.Reason != "employee admitted") {
				t.Fatalf("amendment not recorded as such: %+v", n)
			}
		})
	}
	if _, err := Assign(open, it, self, Change{By: alice, At: at}); !errors.Is(err, ErrSelf) {
		t.Fatalf("assigning an item to its own actor: %v", err)
	}
	if _, err := SignOff(open, []Item{{State: StateAppropriate}, {State: StateAnswered}}, alice, "", at); !errors.Is(err, ErrConflict) {
		t.Fatalf("sign-off with an undecided item: %v", err)
	}
	p, err := SignOff(open, []Item{{State: StateAppropriate}}, alice, "all done", at)
	if err != nil || !p.Locked() || p.SignedOffBy != "alice" {
		t.Fatalf("sign-off: %+v %v", p, err)
	}
}

func TestMonth(t *testing.T) {
	m, err := ParseMonth("2026-12")
	if err != nil {
		t.Fatal(err)
	}
	if m.DueDate(15) != "2027-01-15" || m.DueDate(31) != "2027-01-31" || MonthOf(m.Start()).Prev().String() != "2026-11" {
		t.Fatalf("due %s %s prev %s", m.DueDate(15), m.DueDate(31), m.Prev())
	}
	if (Month{2027, 1}).DueDate(31) != "2027-02-28" {
		t.Fatalf("due day not clamped: %s", (Month{2027, 1}).DueDate(31))
	}
	if _, err := ParseMonth("2026-13"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad month: %v", err)
	}
	p := Period{State: PeriodOpen, DueDate: "2026-11-15"}
	if p.Overdue(time.Date(2026, 11, 15, 23, 0, 0, 0, time.UTC)) || !p.Overdue(time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("overdue starts the day after the due date")
	}
}

func TestSMTPMailer(t *testing.T) {
	srv := smtptest.Start(t)
	m, err := NewSMTPMailer(SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "phiwatch <review@msp.example>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), "po@clinic.example", "Review due\r\nBcc: evil@example.com", "line one\n.dot line\nÜmlaut")
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "review@msp.example" || len(got.To) != 1 || got.To[0] != "po@clinic.example" {
		t.Fatalf("envelope %s → %v", got.From, got.To)
	}
	if !strings.Contains(got.Data, "Subject: Review due  Bcc: evil@example.com\r\n") || strings.Contains(got.Data, "\r\nBcc:") {
		t.Fatalf("subject header not kept on one line:\n%s", got.Data)
	}
	if !strings.Contains(got.Data, "\r\n.dot line\r\n") || !strings.Contains(got.Data, "Ümlaut") {
		t.Fatalf("body not delivered intact:\n%s", got.Data)
	}
	if err := m.Send(context.Background(), "not an address", "s", "b"); err == nil {
		t.Fatal("a bad recipient was accepted")
	}

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []SMTPConfig{{From: "a@b.c"}, {Host: "h", From: "nope"}, {Host: "h", From: "a@b.c", Username: "u"},
		{Host: "h", From: "a@b.c", Username: "u", PasswordFile: filepath.Join(t.TempDir(), "missing")}}
	for _, c := range bad {
		if _, err := NewSMTPMailer(c); err == nil {
			t.Fatalf("config %+v accepted", c)
		}
	}
	if m, err := NewSMTPMailer(SMTPConfig{Host: "h", From: "a@b.c", Username: "u", PasswordFile: pw}); err != nil || m.password != "s3cret" {
		t.Fatalf("password file: %v", err)
	}
}
