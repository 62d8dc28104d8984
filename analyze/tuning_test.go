package analyze

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

var tuningNow = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

const tenantsYAML = `
defaults:
  timezone: America/New_York
  practice_hours: mon-fri 08:00-18:00
  rules:
    email_mass_mailbox_access: {disabled: true}
    bulk_export:
      thresholds: {min_patients: 25}
tenants:
  riverside:
    timezone: America/Chicago
    rules:
      volume_distinct_patients:
        thresholds: {min_patients: 30, z: 4, min_ratio: 3}
        allow:
          - roles: [him]
            reason: release of information is their job
            until: 2027-06-30
            approved_by: J. Park
      bulk_export:
        thresholds: {min_history_days: 5}
      ehr_during_unusual_vpn:
        thresholds: {max_session: 8h}
      no_clinical_relationship:
        thresholds: {clinical_roles: [physician, dentist]}
      email_mass_mailbox_access: {disabled: false}
      "*":
        allow:
          - users: [scanner-svc]
            reason: the document scanner's service account
            until: 2027-01-31
`

func TestTenantsFileResolve(t *testing.T) {
	f, err := LoadTenantsFile([]byte(tenantsYAML), tuningNow)
	if err != nil {
		t.Fatal(err)
	}
	base := Tenant{Location: time.UTC, Hours: DefaultPracticeHours()}
	rules := func(ds []Detector) map[string]Detector {
		m := map[string]Detector{}
		for _, d := range ds {
			m[d.Rule()] = d
		}
		return m
	}
	rt, ds, err := f.Resolve("riverside", base, BatchDetectors())
	if err != nil {
		t.Fatal(err)
	}
	got := rules(ds)
	if rt.ID != "riverside" || rt.Location.String() != "America/Chicago" || rt.Hours.String() != "mon-fri 08:00-18:00" {
		t.Fatalf("tenant %+v", rt)
	}
	if v := got["volume_distinct_patients"].(VolumeDistinctPatients); v.MinPatients != 30 || v.Z != 4 || v.MinRatio != 3 {
		t.Fatalf("volume thresholds %+v", v)
	}
	if b := got["bulk_export"].(BulkExport); b.MinPatients != 25 || b.MinHistoryDays != 5 {
		t.Fatalf("bulk thresholds merged from defaults and tenant: %+v", b)
	}
	if v := got["ehr_during_unusual_vpn"].(EHRDuringUnusualVPN); v.MaxSession != 8*time.Hour {
		t.Fatalf("duration threshold %+v", v)
	}
	if n := got["no_clinical_relationship"].(NoClinicalRelationship); strings.Join(n.ClinicalRoles, ",") != "physician,dentist" {
		t.Fatalf("list threshold %+v", n)
	}
	if _, ok := got["email_mass_mailbox_access"]; !ok || len(ds) != len(BatchDetectors()) {
		t.Fatal("riverside turns the rule the defaults disabled back on")
	}

	ot, ds, err := f.Resolve("other", base, BatchDetectors())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rules(ds)["email_mass_mailbox_access"]; ok || len(ds) != len(BatchDetectors())-1 || ot.Location.String() != "America/New_York" {
		t.Fatalf("defaults: %d detectors, %v", len(ds), ot.Location)
	}
	if v := rules(ds)["volume_distinct_patients"].(VolumeDistinctPatients); v.MinPatients != 0 {
		t.Fatalf("another tenant's thresholds leaked: %+v", v)
	}
	var nf *TenantsFile // no file: the flags' tenant, every detector untouched
	if nt, ds, err := nf.Resolve("x", base, BatchDetectors()); err != nil || len(ds) != len(BatchDetectors()) || nt.Location != time.UTC {
		t.Fatalf("no file: %v %d", err, len(ds))
	}

	allow := f.AllowList("riverside")
	if len(allow) != 2 || allow[0].Rule != "" || allow[1].Rule != "volume_distinct_patients" {
		t.Fatalf("allow list %+v", allow)
	}
	if !allow[1].covers("volume_distinct_patients", "rmedina", "HIM") || allow[1].covers("bulk_export", "rmedina", "him") ||
		allow[1].covers("volume_distinct_patients", "dortiz", "front_desk") || !allow[0].covers("bulk_export", "scanner-svc", "") {
		t.Fatal("covers")
	}
}

func TestTenantsFileErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"tenants: {a: {rules: {no_such_rule: {disabled: true}}}}", `unknown rule "no_such_rule"`},
		{"tenants: {a: {rules: {bulk_export: {thresholds: {min_patiens: 3}}}}}", `rule bulk_export has no threshold "min_patiens" (it has: baseline_days, min_history_days, min_patients, min_ratio, z)`},
		{"tenants: {a: {rules: {bulk_export: {thresholds: {min_patients: -3}}}}}", "want a positive whole number"},
		{"tenants: {a: {rules: {bulk_export: {thresholds: {z: high}}}}}", "want a number"},
		{"tenants: {a: {timezone: Mars/Olympus}}", `timezone "Mars/Olympus"`},
		{"tenants: {a: {practice_hours: always}}", "practice hours"},
		{"tenants: {a: {colour: blue}}", "field colour not found"},
		{"tenants: {a: {rules: {bulk_export: {allow: [{roles: [him], until: 2027-01-01}]}}}}", "needs a reason"},
		{"tenants: {a: {rules: {bulk_export: {allow: [{roles: [him], reason: roi}]}}}}", "needs an expiry"},
		{"tenants: {a: {rules: {bulk_export: {allow: [{roles: [him], reason: roi, until: 2028-01-01}]}}}}", "more than a year away"},
		{"tenants: {a: {rules: {bulk_export: {allow: [{reason: roi, until: 2027-01-01}]}}}}", "name users or roles"},
		{`tenants: {a: {rules: {"*": {thresholds: {z: 3}}}}}`, `rule "*" takes only an allow list`},
	}
	for _, tc := range tests {
		_, err := LoadTenantsFile([]byte(tc.yaml), tuningNow)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if f, err := LoadTenantsFile(nil, tuningNow); err != nil || len(f.AllowList("x")) != 0 {
		t.Fatalf("an empty file: %v", err)
	}
}

func TestSyncAllowList(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	tenant := "allow-list"
	at := time.Date(2026, 10, 20, 10, 0, 0, 0, time.UTC)
	alert := func(rule, actor, role string) store.AlertRow {
		return store.AlertRow{TenantID: tenant, AlertID: alertID(tenant, rule, actor), Rule: rule, Severity: SeverityMedium, Score: 55,
			ActorID: actor, ActorRole: role, PatientIDs: []string{"P1"}, FirstSeen: at, LastSeen: at, Reason: "test",
			DetectedAt: at, RetainUntil: at.AddDate(7, 0, 0)}
	}
	if err := s.InsertAlerts(ctx, []store.AlertRow{
		alert("volume_distinct_patients", "rmedina", "him"),
		alert("bulk_export", "rmedina", "him"),
		alert("volume_distinct_patients", "dortiz", "front_desk"),
		alert("after_hours_access", "scanner-svc", ""),
	}); err != nil {
		t.Fatal(err)
	}
	f, err := LoadTenantsFile([]byte(tenantsYAML), tuningNow)
	if err != nil {
		t.Fatal(err)
	}
	w := octoberUTC()
	n, err := SyncAllowList(ctx, s, tenant, f.AllowList("riverside"), w, tuningNow, 0)
	if err != nil || n != 2 {
		t.Fatalf("first sync: %d suppressions, %v; want 2 (rmedina's volume alert, the scanner)", n, err)
	}
	if n, err := SyncAllowList(ctx, s, tenant, f.AllowList("riverside"), w, tuningNow.Add(time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("a re-run writes nothing new: %d, %v", n, err)
	}
	if n, err := ApplySuppressions(ctx, s, tenant, w, tuningNow); err != nil || n != 2 {
		t.Fatalf("recorded %d suppressed alerts, %v; want 2", n, err)
	}
	sps, err := ListSuppressions(ctx, s, tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range sps {
		if !strings.HasPrefix(sp.CreatedBy, "tenants file") || !strings.HasPrefix(sp.Reason, "allow-list: ") || sp.Revoked {
			t.Fatalf("suppression %+v", sp)
		}
		if sp.ActorID == "rmedina" && (sp.Rule != "volume_distinct_patients" || sp.CreatedBy != "tenants file (approved by J. Park)" ||
			!sp.ExpiresAt.Equal(time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC))) {
			t.Fatalf("rmedina's suppression %+v", sp)
		}
	}
	// The entry leaves the file: its suppression is revoked, the other stays.
	f.Tenants["riverside"].Rules["volume_distinct_patients"] = RuleConfig{}
	if n, err := SyncAllowList(ctx, s, tenant, f.AllowList("riverside"), w, tuningNow.Add(2*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("revocation: %d, %v", n, err)
	}
	sps, _ = ListSuppressions(ctx, s, tenant)
	revoked := 0
	for _, sp := range sps {
		if sp.Revoked {
			revoked++
			if sp.ActorID != "rmedina" || sp.RevokedBy != "tenants file" {
				t.Fatalf("revoked %+v", sp)
			}
		}
	}
	if revoked != 1 || len(sps) != 2 {
		t.Fatalf("%d suppressions, %d revoked", len(sps), revoked)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"MinHistoryDays": "min_history_days", "Z": "z", "HIMRoles": "him_roles", "MaxSpeedKmh": "max_speed_kmh"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%s) = %s, want %s", in, got, want)
		}
	}
}
