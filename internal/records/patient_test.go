package records

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

func TestPatientRequestDue(t *testing.T) {
	tests := []struct {
		name string
		r    PatientRequest
		due  string
		err  string
	}{
		{"access: 30 days", PatientRequest{Type: RequestAccess, PatientID: "p", Received: d("2026-12-15"), Status: "open"}, "2027-01-14", ""},
		{"access extended once: 60", PatientRequest{Type: RequestAccess, PatientID: "p", Received: d("2026-12-15"), Status: "open",
			Extended: true, ExtensionReason: "records off site", ExtensionNotified: d("2027-01-10")}, "2027-02-13", ""},
		{"amendment: 60 days across February of a leap year", PatientRequest{Type: RequestAmendment, PatientID: "p", Received: d("2028-01-15"), Status: "open"}, "2028-03-15", ""},
		{"amendment extended: 90", PatientRequest{Type: RequestAmendment, PatientID: "p", Received: d("2026-01-01"), Status: "open",
			Extended: true, ExtensionReason: "x", ExtensionNotified: d("2026-02-01")}, "2026-04-01", ""},
		{"restriction: practice policy", PatientRequest{Type: RequestRestriction, PatientID: "p", Received: d("2026-01-01"), Status: "open", PolicyDays: 10}, "2026-01-11", ""},
		{"extension notified too late", PatientRequest{Type: RequestAccess, PatientID: "p", Received: d("2026-01-01"), Status: "open",
			Extended: true, ExtensionReason: "x", ExtensionNotified: d("2026-02-01")}, "", "within the first period"},
		{"restriction cannot be extended", PatientRequest{Type: RequestRestriction, PatientID: "p", Received: d("2026-01-01"), Status: "open",
			Extended: true, ExtensionReason: "x", ExtensionNotified: d("2026-01-02")}, "", "only access and amendment"},
		{"denial without basis", PatientRequest{Type: RequestAccess, PatientID: "p", Received: d("2026-01-01"), Status: "denied", DecidedOn: d("2026-01-05")}, "", "basis"},
		{"self-pay restriction denied", PatientRequest{Type: RequestRestriction, PatientID: "p", Received: d("2026-01-01"), SelfPayToHealthPlan: true,
			Status: "denied", DecidedOn: d("2026-01-05"), Outcome: "no"}, "", "must be agreed"},
		{"decided without a day", PatientRequest{Type: RequestAccess, PatientID: "p", Received: d("2026-01-01"), Status: "granted"}, "", "decided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.r.Due().String(); got != tt.due {
				t.Fatalf("due = %s, want %s", got, tt.due)
			}
		})
	}
}

func TestAccountingAndAccessReport(t *testing.T) {
	ctx := context.Background()
	const tenant = "pt-rights"
	s := shared.Store(t)
	db := tenantDB(t, tenant)
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	ev := func(id, when, action, patient, purpose string, external bool, kind string) store.EventRow {
		return store.EventRow{TenantID: tenant, EventID: id, SourceKind: kind, SourceSystem: "fhir-auditevent", SourceName: "ehr", Time: at(when),
			ReceivedAt: at(when), ActorID: "dortiz", ActorName: "Dana Ortiz", ActorRole: "front_desk", Action: action, Outcome: "success",
			PatientID: patient, ResourceType: "Patient", PurposeOfUse: purpose, EmailExternal: external, Attrs: map[string]string{},
			RetainUntil: at("2035-01-01T00:00:00Z")}
	}
	rows := []store.EventRow{
		ev("e1", "2026-03-01T10:00:00Z", "view", "p1", "TREAT", false, "ehr"),
		ev("e2", "2026-03-02T10:00:00Z", "export", "p1", "", false, "ehr"),
		ev("e3", "2026-03-03T10:00:00Z", "view", "p1", "PUBHLTH", false, "ehr"),
		ev("e4", "2026-03-04T10:00:00Z", "send", "p1", "", true, "email"),
		ev("e5", "2026-03-05T10:00:00Z", "view", "p2", "", false, "ehr"),
		ev("e6", "2019-01-01T10:00:00Z", "export", "p1", "", false, "ehr"), // more than 6 years before
		ev("e7", "2026-03-06T10:00:00Z", "view", "p1", "HPAYMT", false, "ehr"),
	}
	rows[3].EmailRecipients = []string{"someone@lawfirm.example"}
	// Another tenant's export of the same patient id must not show.
	other := ev("x1", "2026-03-02T11:00:00Z", "export", "p1", "", false, "ehr")
	other.TenantID = "pt-rights-other"
	if err := s.InsertEvents(ctx, append(rows, other), "pt-rights-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := Put(ctx, db, "disc-1", Disclosure{PatientID: "p1", DisclosedOn: d("2025-07-01"), Recipient: "County health department",
		Description: "immunization record", Purpose: "public health reporting", Accountable: true}, Change{Actor: "po", Reason: "recorded"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Put(ctx, db, "disc-2", Disclosure{PatientID: "p1", DisclosedOn: d("2025-08-01"), Recipient: "Patient",
		Description: "copy of chart", Purpose: "patient's request", Accountable: false}, Change{Actor: "po", Reason: "recorded"}); err != nil {
		t.Fatal(err)
	}
	acc, err := Accounting(ctx, db, "p1", d("2026-11-27"), 6)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acc {
		got = append(got, a.Source+":"+a.RecordID+a.EventID)
	}
	if want := "recorded:disc-1 log:e2 log:e3 log:e4"; strings.Join(got, " ") != want {
		t.Fatalf("accounting = %v, want %s", got, want)
	}
	if acc[3].Recipient != "someone@lawfirm.example" {
		t.Fatalf("mail disclosure recipient = %q", acc[3].Recipient)
	}
	if _, err := Accounting(ctx, db, "p1", d("2026-11-27"), 7); err == nil {
		t.Fatal("a 7-year accounting was accepted")
	}

	rep, err := AccessReport(ctx, db, "p1", at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, r := range rep {
		got = append(got, r.EventID)
	}
	// EHR events only (not the mail), this tenant only, in the period.
	if want := "e1 e2 e3 e7"; strings.Join(got, " ") != want {
		t.Fatalf("access report = %v, want %s", got, want)
	}
	if rep[0].ActorName != "Dana Ortiz" || rep[0].Time.IsZero() {
		t.Fatalf("access entry = %+v", rep[0])
	}
}
