package identity

import (
	"slices"
	"strings"
	"testing"
)

// riverside is a small practice's reference data: a roster with per-system
// user names, a recycled EHR user name (asmith), account inventories and
// practitioners.
func riverside() Sources {
	return Sources{
		People: []Person{
			{UserID: "mkhan", Name: "Morgan Khan", Role: "physician", Email: "morgan.khan@riverside.example", NPI: "1234567893",
				EHRUsername: "mkhan", M365UPN: "morgan.khan@riverside.example"},
			{UserID: "dortiz", Name: "Dana Ortiz", Email: "dana.ortiz@riverside.example", EmployeeID: "E1001", EHRUsername: "dortiz",
				M365UPN: "dortiz@riverside.example", Aliases: []string{"DORTIZ"}},
			{UserID: "jlee", Name: "Jamie Lee", Email: "jamie.lee@riverside.example", VPNUsername: "vpn-jlee", TerminationDate: "2026-10-12"},
			{UserID: "asmith", Name: "Alex Smith", EHRUsername: "asmith", TerminationDate: "2024-03-31"},
			{UserID: "asmith2", Name: "Avery Smith", EHRUsername: "asmith", Email: "avery.smith@riverside.example"},
			{UserID: "sreyes", Name: "Sam Reyes", GoogleEmail: "sam@riverside-billing.example"},
		},
		Accounts: []Account{
			{System: "vpn", AccountID: "vpn-dortiz", OwnerUserID: "dortiz"},
			{System: "vpn", AccountID: "vpn-ghost", OwnerUserID: "nobody"},
			{System: "m365", AccountID: "0f8f-guid", Email: "Avery.Smith@riverside.example"},
			{System: "vpn", AccountID: "shared-frontdesk"},
		},
		Practitioners: []Practitioner{
			{PractitionerID: "77", Identifiers: []string{"https://riverside.example/fhir/sid/employee|E1001"}},
			{PractitionerID: "88", Identifiers: []string{"http://hl7.org/fhir/sid/us-npi|1234567893"}},
			{PractitionerID: "99", Emails: []string{"jamie.lee@riverside.example"}},
			{PractitionerID: "100"},
			// An NPI-system identifier must match an NPI, not a user name.
			{PractitionerID: "101", Identifiers: []string{"http://hl7.org/fhir/sid/us-npi|dortiz"}},
		},
		Roles: []PractitionerRole{{RoleID: "r1", PractitionerID: "88"}},
	}
}

func TestResolve(t *testing.T) {
	x := NewIndex("riverside-family", riverside())
	cases := []struct {
		actor  string
		user   string
		method Method
		conf   float32
		why    string // in the evidence
	}{
		{"dortiz", "dortiz", RosterUserID, 1, "dortiz is the roster user_id of Dana Ortiz"},
		{"  DORTIZ ", "dortiz", RosterUserID, 1, ""}, // an alias too, but user_id ranks first
		{"Dana.Ortiz@Riverside.example", "dortiz", RosterEmail, 1, "roster email"},
		{"dortiz@riverside.example", "dortiz", RosterM365UPN, 1, ""},
		{"E1001", "dortiz", RosterEmployeeID, 1, ""},
		{"vpn-jlee", "jlee", RosterVPNUsername, 1, ""},
		{"sam@riverside-billing.example", "sreyes", RosterGoogleEmail, 1, ""},
		{"1234567893", "mkhan", RosterNPI, 1, ""},
		{"vpn-dortiz", "dortiz", AccountOwner, 1, "the vpn inventory names Dana Ortiz (dortiz) as the owner of vpn-dortiz"},
		{"0f8f-guid", "asmith2", AccountEmail, 0.95, "the m365 account 0f8f-guid has email Avery.Smith@riverside.example, the roster email of Avery Smith"},
		{"Practitioner/77", "dortiz", PractitionerIdentifier, 0.9, "Practitioner/77 carries identifier E1001, the roster employee_id of Dana Ortiz"},
		{"https://ehr.riverside.example/fhir/Practitioner/88/_history/4", "mkhan", PractitionerIdentifier, 0.9, "roster npi"},
		{"Practitioner/99", "jlee", PractitionerEmail, 0.85, "has email jamie.lee@riverside.example"},
		{"PractitionerRole/r1", "mkhan", PractitionerIdentifier, 0.9, "PractitionerRole/r1 is a role of Practitioner/88"},
		{`RIVERSIDE\dortiz`, "dortiz", DomainUser, 0.9, `RIVERSIDE\dortiz without its domain is dortiz`},
		{`riverside\VPN-DORTIZ`, "dortiz", DomainUser, 0.9, "owner of vpn-dortiz"},
		{"dortiz@RIVERSIDE.LOCAL", "dortiz", UserRealm, 0.9, "is user dortiz of realm RIVERSIDE.LOCAL"},
		{"jlee@riverside.example", "jlee", EmailLocalPart, 0.8, "in the practice's domain riverside.example"},
		{`RIVERSIDE\0f8f-guid`, "asmith2", DomainUser, 0.85, ""}, // 0.9 × 0.95, rounded
		// Not linked.
		{"mallory", "", Unlinked, 0, "no roster entry"},
		{"jlee@gmail.com", "", Unlinked, 0, ""}, // not the practice's domain
		{"vpn-ghost", "", Unlinked, 0, ""},      // its owner is not on the roster
		{"shared-frontdesk", "", Unlinked, 0, ""},
		{"Practitioner/100", "", Unlinked, 0, "no identifier or email the roster holds"},
		{"Practitioner/101", "", Unlinked, 0, ""},
		{"Practitioner/555", "", Unlinked, 0, "not in the practitioners feed"},
		{`RIVERSIDE\mallory`, "", Unlinked, 0, "which no roster entry or account names"},
		{"", "", Unlinked, 0, "no actor id"},
		// Ambiguous: a recycled EHR user name.
		{"asmith", "", Ambiguous, 0, "it could be any of asmith, asmith2"},
		{`RIVERSIDE\asmith`, "", Ambiguous, 0, "not guessed"},
	}
	for _, c := range cases {
		t.Run(c.actor, func(t *testing.T) {
			l := x.Resolve(c.actor)
			if l.UserID != c.user || l.Method != c.method || l.Confidence != c.conf || !strings.Contains(l.Evidence, c.why) || l.Actor != c.actor {
				t.Fatalf("Resolve(%q) = %+v\nwant user %q, method %s, confidence %v, evidence with %q", c.actor, l, c.user, c.method, c.conf, c.why)
			}
			if l.Method == Ambiguous && !slices.Equal(l.Candidates, []string{"asmith", "asmith2"}) {
				t.Fatalf("candidates %v", l.Candidates)
			}
		})
	}
	if p := x.Problems(); len(p) != 1 || !strings.Contains(p[0], `owner_user_id "nobody", who is not on the roster`) {
		t.Fatalf("problems %v", p)
	}
	if p, ok := x.Person("JLEE"); !ok || p.TerminationDate != "2026-10-12" {
		t.Fatalf("Person(JLEE) = %+v, %v", p, ok)
	}
}

// The same key claimed for two people by explicit mappings is ambiguous
// whatever the fields: an alias must not win over another person's user
// name, nor the other way round.
func TestExplicitConflictsAreAmbiguous(t *testing.T) {
	x := NewIndex("t", Sources{People: []Person{
		{UserID: "kim", Aliases: []string{"kp"}},
		{UserID: "kp", Name: "Kai Park"},
	}})
	if l := x.Resolve("kp"); l.Method != Ambiguous || !slices.Equal(l.Candidates, []string{"kim", "kp"}) {
		t.Fatalf("kp: %+v", l)
	}
	if l := x.Resolve("kim"); l.UserID != "kim" {
		t.Fatalf("kim: %+v", l)
	}
}

func TestMethodConfidenceOrder(t *testing.T) {
	prev := float32(1)
	for _, m := range []Method{RosterUserID, AccountOwner, AccountEmail, PractitionerIdentifier, DomainUser, UserRealm, PractitionerEmail, EmailLocalPart} {
		if c := m.Confidence(); c > prev || c <= 0 {
			t.Errorf("%s confidence %v after %v", m, c, prev)
		} else {
			prev = c
		}
	}
	if Ambiguous.Confidence() != 0 || Unlinked.Confidence() != 0 {
		t.Error("ambiguous and unlinked have no confidence")
	}
}
