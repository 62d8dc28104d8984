package records

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// demoDay is the day the demo's records are seeded and the binder cut.
var demoDay = d("2026-11-27")

func seededDemo(t *testing.T, tenant string) *testDB {
	t.Helper()
	db := &testDB{tenantDB(t, tenant)}
	ctx := context.Background()
	if err := SeedDemo(ctx, db, demoDay); err != nil {
		t.Fatal(err)
	}
	// Seeding again adds nothing.
	before, _ := List[CalendarTask](ctx, db)
	if err := SeedDemo(ctx, db, demoDay); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	after, _ := List[CalendarTask](ctx, db)
	if len(before) != len(after) || len(after) != 12+8+4 {
		t.Fatalf("calendar tasks: %d then %d, want 24", len(before), len(after))
	}
	return db
}

func TestEvidenceBinderDemo(t *testing.T) {
	ctx := context.Background()
	db := seededDemo(t, "riverside-family")
	var zbuf bytes.Buffer
	gen := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	files, err := WriteBinder(ctx, db, &zbuf, BinderPeriod{From: d("2026-01-01"), To: demoDay, Generated: gen})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	content := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		content[f.Name] = string(b)
	}
	if len(content) != len(files) {
		t.Fatalf("zip has %d files, WriteBinder reported %d", len(content), len(files))
	}
	for _, k := range Kinds() {
		for _, dir := range []string{"records/", "history/"} {
			if _, ok := content[dir+string(k.Kind)+".csv"]; !ok {
				t.Errorf("binder lacks %s%s.csv", dir, k.Kind)
			}
		}
	}
	csvRows := func(name string) [][]string {
		t.Helper()
		rows, err := csv.NewReader(strings.NewReader(content[name])).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rows
	}
	if n := len(csvRows("records/vendor.csv")); n != 4 {
		t.Errorf("records/vendor.csv has %d lines, want a header and 3 vendors", n)
	}
	if n := len(csvRows("records/calendar_task.csv")); n != 25 {
		t.Errorf("records/calendar_task.csv has %d lines, want 24 tasks", n)
	}
	// The calendar tasks were created and then completed: two versions each in the history.
	// 9 monthly reviews, 3 recertifications and 3 BAA reviews were due before the day.
	if n := len(csvRows("history/calendar_task.csv")); n != 1+24+15 {
		t.Errorf("history/calendar_task.csv has %d lines, want the 24 creations and 15 completions", n)
	}
	log := csvRows("breach/hhs-annual-log-2026.csv")
	if len(log) != 2 || log[1][0] != "inc-case-demo-1" || log[1][4] != "30" || log[1][8] != "2026-10-28" {
		t.Errorf("HHS annual log 2026 = %v, want the demo breach of 30 with its letters of 28 Oct", log)
	}
	inc := content["incidents/inc-case-demo-1.md"]
	for _, want := range []string{"164.402(2)", "| actually acquired or viewed | high |", "breach, by", "| individual | 2026-12-07 | met | 2026-10-28 | 45 CFR 164.404(b) |",
		"| hhs_annual_log | 2027-03-01 | due |", "interviewed the clerk"} {
		if !strings.Contains(inc, want) {
			t.Errorf("incident document lacks %q:\n%s", want, inc)
		}
	}
	if lost := content["incidents/inc-review-demo-2.md"]; !strings.Contains(lost, "Not assessed yet") || !strings.Contains(lost, "| individual | 2027-01-21 | due |") {
		t.Errorf("the lost phone's document does not show its running clock:\n%s", lost)
	}
	cal := content["calendar/calendar.md"]
	if !strings.Contains(cal, "| 2026-04-30 | Monthly log review 2026-03 |") || !strings.Contains(cal, "done late") {
		t.Errorf("calendar lacks the late March review:\n%s", cal)
	}
	if !strings.Contains(content["policies/pol-access-review-v1.md"], "164.308(a)(1)") {
		t.Error("policy document lacks its rule")
	}
	tr := csvRows("training/status.csv")
	if len(tr) != 3 || !strings.Contains(content["training/status.csv"], "overdue") || !strings.Contains(content["training/status.csv"], "complete") {
		t.Errorf("training status = %v, want dortiz complete and mchen overdue", tr)
	}
	var st Status
	if err := json.Unmarshal([]byte(content["status.json"]), &st); err != nil {
		t.Fatal(err)
	}
	// Reviews Jan–Sep were due by 31 Oct; March was late. Recertification Q3 done.
	if st.ReviewsDue != 9 || st.ReviewsOnTime != 8 || st.RecertPeriod != "2026-Q3" || !st.RecertDone ||
		st.TrainingPercent != 50 || st.Vendors != 2 || st.VendorsCurrent != 2 || st.OpenIncidents != 2 || st.RisksOverdue != 1 {
		t.Errorf("status = %+v", st)
	}
	idx := content["index.md"]
	for _, want := range []string{"riverside-family", "2026-01-01 to 2026-11-27", "Monthly log reviews on time (12 months): 8 of 9",
		"BAA renewal: Prairie Billing LLC", "| records/incident.csv |", "| summary.pdf |"} {
		if !strings.Contains(idx, want) {
			t.Errorf("index lacks %q:\n%s", want, idx)
		}
	}
	if pdf := content["summary.pdf"]; !strings.HasPrefix(pdf, "%PDF-") || len(pdf) < 1000 {
		t.Errorf("summary.pdf is not a PDF (%d bytes)", len(pdf))
	}
}

func TestCSVRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := seededDemo(t, "csv-roundtrip")
	roundTrip[Incident](t, ctx, db)
	roundTrip[Vendor](t, ctx, db)
	roundTrip[Risk](t, ctx, db)
	roundTrip[CalendarTask](t, ctx, db)
	roundTrip[Finding](t, ctx, db)
	roundTrip[RiskAnalysis](t, ctx, db)
	roundTrip[PatientRequest](t, ctx, db)
}

func roundTrip[T Body](t *testing.T, ctx context.Context, db DB) {
	t.Helper()
	recs, err := List[T](ctx, db)
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %d records, %v", kindOf[T](), len(recs), err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV[T](&buf)
	if err != nil {
		t.Fatalf("%s: read back: %v", kindOf[T](), err)
	}
	if len(back) != len(recs) {
		t.Fatalf("%s: %d records back, want %d", kindOf[T](), len(back), len(recs))
	}
	for i := range recs {
		a, _ := json.Marshal(recs[i].Body)
		b, _ := json.Marshal(back[i].Body)
		if back[i].ID != recs[i].ID || back[i].Version != recs[i].Version || !reflect.DeepEqual(a, b) {
			t.Errorf("%s %s did not round-trip:\n%s\n%s", kindOf[T](), recs[i].ID, a, b)
		}
	}
}

func TestReadCSVReportsLines(t *testing.T) {
	in := "record_id,name,services,phi,baa_status,baa_signed\n" +
		"v1,Acme,hosting,charts,signed,2026-01-01\n" +
		"v2,Beta,billing,claims,signed,\n" +
		"v3,Gamma,x,y,signed,01/02/2026\n" +
		"v4,'=HYPERLINK(1),x,y,none,\n"
	got, err := ReadCSV[Vendor](strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v, want lines 3 and 4 reported", err)
	}
	if len(got) != 2 || got[0].ID != "v1" || got[1].Body.Name != "=HYPERLINK(1)" {
		t.Fatalf("good rows = %+v", got)
	}
}

func TestFleet(t *testing.T) {
	ctx := context.Background()
	seededDemo(t, "fleet-busy")
	quiet := tenantDB(t, "fleet-quiet")
	if _, err := Put(ctx, quiet, "ra-1", RiskAnalysis{Title: "RA", PerformedOn: d("2026-06-01"), Scope: "all", Assets: []Asset{{Name: "ehr", Kind: "ehr"}},
		NextDue: d("2027-06-01")}, Change{Actor: "po", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	st, err := Fleet(ctx, shared.Store(t), []string{"fleet-quiet", "fleet-busy"}, demoDay, Workflows{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Tenant != "fleet-busy" || st[0].Attention <= st[1].Attention || st[1].OpenIncidents != 0 {
		t.Fatalf("fleet = %+v, want the busy practice first", st)
	}
}

// testDB is a TenantStore seen only through the DB interface.
type testDB struct{ DB }
