package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// streamClinic is clinic() plus what every streaming rule needs, and a
// month's worth of accesses with a positive and a hard negative per rule.
// It returns the events, not yet stored.
func streamClinic(t *testing.T, tenant string) (*fixture, []event.Event) {
	f := clinic(t, tenant)
	bd := time.Date(1980, 3, 4, 0, 0, 0, 0, time.UTC)
	cbd := time.Date(1975, 6, 7, 0, 0, 0, 0, time.UTC)
	died := relDay.AddDate(0, 0, -5)
	term := time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)
	f.workforce(
		store.WorkforceRow{UserID: "sam", Name: "Sam Lee", FirstName: "Sam", LastName: "Lee", Role: "nurse", Department: "pediatrics",
			BirthDate: &bd, Phone: "+1 (555) 010-2030", HomeStreet: "12 Oak Street", HomePostalCode: "02139-1234"},
		store.WorkforceRow{UserID: "cora", Name: "Cora Diaz", FirstName: "Cora", LastName: "Diaz", Role: "medical_assistant", BirthDate: &cbd},
		store.WorkforceRow{UserID: "jlee", Name: "Jamie Lee", Role: "nurse", Aliases: []string{"JLEE-VPN"}, TerminationDate: &term},
	)
	f.patients(
		store.PatientRow{PatientID: "self", MRN: "MRN1", FamilyName: "Lee", GivenNames: "Sam", BirthDate: &bd},
		store.PatientRow{PatientID: "kin", MRN: "MRN2", FamilyName: "Lee", GivenNames: "Ann", AddressLine: "12 oak st", PostalCode: "02139"},
		store.PatientRow{PatientID: "namesake", MRN: "MRN3", FamilyName: "Lee", GivenNames: "Bo", AddressLine: "9 Elm St", PostalCode: "02140"},
		store.PatientRow{PatientID: "cow", MRN: "MRN4", FamilyName: "Diaz", GivenNames: "Cora", BirthDate: &cbd},
		store.PatientRow{PatientID: "vip", MRN: "MRN5", SecurityLabels: []string{"http://terminology.hl7.org/CodeSystem/v3-ActCode|VIP"}, Restricted: true},
		store.PatientRow{PatientID: "dead", MRN: "MRN6", Deceased: true, DeceasedAt: &died},
	)
	f.appointment("a-cow", "cow", relDay, "77")
	f.encounter("e-vip", "vip", relDay, "77")

	var evs []event.Event
	n := 0
	add := func(actor string, kind event.SourceKind, action event.Action, at time.Time, patient string, mod func(*event.Event)) {
		n++
		e := event.Event{TenantID: tenant, SourceKind: kind, SourceSystem: "test", Time: at, ReceivedAt: time.Now().UTC(),
			Actor: event.Actor{ID: actor}, Action: action, Outcome: event.OutcomeSuccess, PatientID: patient,
			Raw: fmt.Sprint(actor, patient, at.UnixNano(), n)}
		if mod != nil {
			mod(&e)
		}
		e.EventID = event.ID(tenant, "test", e.Raw)
		evs = append(evs, e)
	}
	view := func(actor, patient string, at time.Time) {
		add(actor, event.KindEHR, event.ActionView, at, patient, nil)
	}
	etreat := func(e *event.Event) { e.PurposeOfUse = "ETREAT" }
	view("sam", "self", relDay)                                                                                    // self_lookup; no_clinical_relationship
	view("sam", "kin", relDay.Add(time.Minute))                                                                    // family_member_lookup; no_clinical_relationship
	view("sam", "namesake", relDay.Add(2*time.Minute))                                                             // last name alone: no family alert; no_clinical_relationship
	view("sam", "kin", relDay.Add(3*time.Minute))                                                                  // a second access of the same group: evidence, not another alert
	view("omar", "cow", relDay)                                                                                    // coworker_lookup; no_clinical_relationship
	view("priya", "cow", relDay)                                                                                   // coworker, explained by her department: nothing
	view("omar", "vip", relDay.Add(time.Hour))                                                                     // restricted_patient_access; no_clinical_relationship
	view("kim", "vip", relDay.Add(time.Hour))                                                                      // VIP, explained by the encounter: nothing
	view("omar", "dead", relDay.Add(2*time.Hour))                                                                  // deceased_patient_access; no_clinical_relationship
	view("bill", "dead", relDay.Add(2*time.Hour))                                                                  // billing after death: nothing
	view("priya", "p1", relDay)                                                                                    // explained by the department: nothing
	add("kim", event.KindEHR, event.ActionView, relDay.Add(3*time.Hour), "p2", etreat)                             // break_glass_unexplained; no_clinical_relationship
	add("kim", event.KindEHR, event.ActionView, relDay.Add(3*time.Hour), "p1", etreat)                             // break-glass with the encounter: nothing
	add("jlee", event.KindEHR, event.ActionView, time.Date(2026, 10, 12, 15, 0, 0, 0, time.UTC), "p1", nil)        // termination day: nothing
	add("JLEE-VPN", event.KindVPN, event.ActionVPNConnect, time.Date(2026, 10, 15, 1, 0, 0, 0, time.UTC), "", nil) // terminated_user_activity
	add("jlee", event.KindEHR, event.ActionView, time.Date(2026, 10, 15, 1, 10, 0, 0, time.UTC), "p2", nil)        // …the same day
	add("kim", event.KindEmail, event.ActionMailboxAccess, time.Date(2026, 10, 15, 1, 0, 0, 0, time.UTC), "", nil) // not terminated: nothing
	return f, evs
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestStream(s store.Store, f *fixture) *Stream {
	return &Stream{Store: s, Detectors: BatchDetectors(), Log: quiet(),
		Tenant: func(_ string, ds []Detector) (Tenant, []Detector, error) { return f.tenantOf(), ds, nil }}
}

// batchAlerts runs the scheduled detectors of the streaming rules over the
// stored events, without storing their alerts.
func batchAlerts(t *testing.T, f *fixture) map[string]store.AlertRow {
	t.Helper()
	streaming := StreamingRules(BatchDetectors())
	out := map[string]store.AlertRow{}
	for _, d := range BatchDetectors() {
		if !slices.Contains(streaming, d.Rule()) {
			continue
		}
		got, err := d.Detect(context.Background(), f.s, f.tenantOf(), october2026())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			out[a.AlertID] = a
		}
	}
	return out
}

func storeEvents(t *testing.T, f *fixture, evs []event.Event) {
	t.Helper()
	for i := range evs {
		f.events = append(f.events, store.NewEventRow(&evs[i], 0))
	}
	f.flush()
}

func keyOf(a store.AlertRow) string {
	return a.Rule + " " + a.ActorID + " " + strings.Join(a.PatientIDs, ",")
}

// Every streaming rule, on events that were never stored: the positives
// alert, the hard negatives do not, and the latest version of each alert is
// the scheduled run's alert over the same events, id, severity, reason and
// evidence alike — in whatever batches the events arrive.
func TestStreamRulesMatchBatch(t *testing.T) {
	f, evs := streamClinic(t, "stream-rules")
	ctx := context.Background()
	st := newTestStream(f.s, f)
	latest := map[string]store.AlertRow{}
	versions := 0
	// In three batches, the later ones changing earlier alerts (Sam's
	// no_clinical_relationship count grows from 1 to 3 patients).
	for _, part := range [][]event.Event{evs[:1], evs[1:5], evs[5:]} {
		res, err := st.Process(ctx, part)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Alerts {
			latest[a.AlertID] = a
			versions++
		}
		if len(res.Alerts) > 0 && len(res.Latencies) == 0 {
			t.Errorf("alerts written but no latency measured")
		}
	}
	want := []string{
		"self_lookup sam self", "family_member_lookup sam kin",
		"no_clinical_relationship sam self", "no_clinical_relationship sam kin", "no_clinical_relationship sam namesake",
		"coworker_lookup omar cow", "no_clinical_relationship omar cow",
		"restricted_patient_access omar vip", "no_clinical_relationship omar vip",
		"deceased_patient_access omar dead", "no_clinical_relationship omar dead",
		"break_glass_unexplained kim p2", "no_clinical_relationship kim p2",
		"terminated_user_activity jlee p2",
		// Jamie Lee's accesses match no visit either.
		"no_clinical_relationship jlee p1", "no_clinical_relationship jlee p2",
	}
	var got []string
	for _, a := range latest {
		got = append(got, keyOf(a))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("streamed alerts\n got %q\nwant %q", got, want)
	}
	if versions <= len(latest) {
		t.Errorf("%d versions for %d alerts: the growing count should have rewritten Sam's", versions, len(latest))
	}

	// Redelivered events change nothing.
	res, err := st.Process(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alerts) != 0 {
		t.Errorf("redelivery wrote %d alert versions", len(res.Alerts))
	}

	storeEvents(t, f, evs)
	batch := batchAlerts(t, f)
	if len(batch) != len(latest) {
		t.Errorf("batch raised %d alerts, the stream %d", len(batch), len(latest))
	}
	for id, b := range batch {
		s, ok := latest[id]
		if !ok {
			t.Errorf("batch alert %s (%s) has no streamed alert with its id", id, keyOf(b))
			continue
		}
		if s.Severity != b.Severity || s.Score != b.Score || s.Reason != b.Reason || !slices.Equal(s.EvidenceEventIDs, b.EvidenceEventIDs) ||
			!slices.Equal(s.Explanations, b.Explanations) || !s.FirstSeen.Equal(b.FirstSeen) || !s.LastSeen.Equal(b.LastSeen) || s.ActorName != b.ActorName {
			t.Errorf("%s differs:\nstream %+v\nbatch  %+v", keyOf(b), s, b)
		}
	}
	if a := latest[alertID(f.tenant, "no_clinical_relationship", "sam", "self", relDay.Format(time.DateOnly))]; a.Severity != SeverityMedium ||
		!strings.Contains(a.Reason, "that day they opened 3 charts") {
		t.Errorf("Sam's count: %+v", a)
	}
}

// The stream and the scheduled run over the same events leave one row per
// alert in alerts_current.
func TestStreamAndBatchDoNotDuplicate(t *testing.T) {
	f, evs := streamClinic(t, "stream-nodup")
	ctx := context.Background()
	if _, err := newTestStream(f.s, f).Process(ctx, evs); err != nil {
		t.Fatal(err)
	}
	storeEvents(t, f, evs)
	r := &Runner{Store: f.s, Detectors: BatchDetectors(), Log: quiet()}
	if _, err := r.Run(ctx, []Tenant{f.tenantOf()}, october2026()); err != nil {
		t.Fatal(err)
	}
	// And the stream once more after the batch (a redelivery after a restart).
	if _, err := newTestStream(f.s, f).Process(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		N        uint64 `json:"n"`
		Distinct uint64 `json:"distinct"`
	}
	if err := f.s.Select(ctx, &rows, "SELECT count() AS n, uniqExact(alert_id) AS distinct FROM "+f.s.Database()+".alerts_current WHERE tenant_id = {t:String}",
		store.Params{"t": f.tenant}); err != nil {
		t.Fatal(err)
	}
	batch := batchAlerts(t, f)
	if len(rows) != 1 || rows[0].N != rows[0].Distinct || rows[0].N < uint64(len(batch)) {
		t.Fatalf("alerts_current: %+v, %d alerts of streaming rules from the batch", rows, len(batch))
	}
	var ids []struct {
		AlertID string `json:"alert_id"`
	}
	if err := f.s.Select(ctx, &ids, "SELECT alert_id FROM "+f.s.Database()+".alerts_current WHERE tenant_id = {t:String} AND rule IN {rules:Array(String)}",
		store.Params{"t": f.tenant, "rules": chStrings(StreamingRules(BatchDetectors()))}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(batch) {
		t.Errorf("%d stored alerts of streaming rules, the batch raises %d", len(ids), len(batch))
	}
	for _, id := range ids {
		if _, ok := batch[id.AlertID]; !ok {
			t.Errorf("stored alert %s is not one the batch raises", id.AlertID)
		}
	}
}

// Without schedule data the rules that need it stay silent in the stream
// too, and a deceased patient's chart still alerts.
func TestStreamWithoutSchedule(t *testing.T) {
	f := newFixture(t, "stream-nosched")
	died := relDay.AddDate(0, 0, -1)
	f.workforce(store.WorkforceRow{UserID: "omar", Name: "Omar Reyes", Role: "nurse"})
	f.patients(store.PatientRow{PatientID: "dead", MRN: "MRN9", Deceased: true, DeceasedAt: &died})
	mk := func(patient string) event.Event {
		e := event.Event{TenantID: f.tenant, SourceKind: event.KindEHR, Time: relDay, ReceivedAt: time.Now(), Actor: event.Actor{ID: "omar"},
			Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: patient, PurposeOfUse: "ETREAT", Raw: patient}
		e.EventID = event.ID(f.tenant, "test", e.Raw)
		return e
	}
	res, err := newTestStream(f.s, f).Process(context.Background(), []event.Event{mk("dead"), mk("other")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range res.Alerts {
		got = append(got, keyOf(a))
	}
	if !slices.Equal(got, []string{"deceased_patient_access omar dead"}) {
		t.Fatalf("alerts %q", got)
	}
}

// Through the real broker into the embedded engine: events published to
// Kafka become alerts in alerts_current, with the ids the scheduled run
// gives the same findings, within a bounded wait.
func TestStreamThroughKafka(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	f, evs := streamClinic(t, "stream-kafka")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := bus.KafkaConfig{Brokers: brokers, Partitions: 2}
	topic := fmt.Sprintf("test-stream-%d", time.Now().UnixNano())
	if err := bus.EnsureTopics(ctx, cfg, topic); err != nil {
		t.Fatal(err)
	}
	// The expected alerts: the scheduled detectors over the same events,
	// computed without storing them.
	storeEvents(t, f, evs)
	want := batchAlerts(t, f)
	if len(want) == 0 {
		t.Fatal("the scenario raises no batch alerts")
	}

	c := bus.NewKafkaConsumer(cfg, topic, topic+"-analyze")
	defer c.Close()
	st := newTestStream(f.s, f)
	var lat []time.Duration
	batches := make(chan StreamBatch, 100)
	st.OnBatch = func(b StreamBatch) { batches <- b }
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Consume(sctx, c) }()

	p := bus.NewKafkaProducer(cfg)
	defer p.Close()
	var msgs []bus.Message
	for _, e := range evs {
		e.ReceivedAt = time.Now().UTC()
		v, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topic, Key: []byte(e.PartitionKey()), Value: v})
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// Plus one message that is not an event: skipped, not fatal.
	if err := p.Publish(ctx, bus.Message{Topic: topic, Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(60 * time.Second)
	consumed := 0
	for {
		var stored []struct {
			AlertID string `json:"alert_id"`
		}
		if err := f.s.Select(ctx, &stored, "SELECT alert_id FROM "+f.s.Database()+".alerts_current WHERE tenant_id = {t:String}",
			store.Params{"t": f.tenant}); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, s := range stored {
			have[s.AlertID] = true
		}
		missing := 0
		for id := range want {
			if !have[id] {
				missing++
			}
		}
		if missing == 0 && len(have) == len(want) && consumed >= len(msgs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d of %d expected alerts stored, %d stored in all, %d of %d messages consumed", len(want)-missing, len(want), len(have), consumed, len(msgs))
		}
	drain:
		for {
			select {
			case b := <-batches:
				consumed += b.Events
				lat = append(lat, b.Latencies...)
			default:
				break drain
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(lat) == 0 {
		t.Error("no arrival→alert latency measured")
	}
	t.Logf("%d alerts through Kafka; arrival→alert latencies %v", len(want), lat)
}

// Events older than the hold behind the newest: a person-day the stream
// forgot is judged again, but writes only alerts not stored yet, never a
// partial version over a complete one.
func TestStreamLateEvents(t *testing.T) {
	f, _ := streamClinic(t, "stream-late")
	ctx := context.Background()
	st := newTestStream(f.s, f)
	n := 0
	ev := func(actor, patient string, at time.Time) event.Event {
		n++
		e := event.Event{TenantID: f.tenant, SourceKind: event.KindEHR, Time: at, ReceivedAt: time.Now(), Actor: event.Actor{ID: actor},
			Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: patient, Raw: fmt.Sprint("late", n)}
		e.EventID = event.ID(f.tenant, "test", e.Raw)
		return e
	}
	process := func(evs ...event.Event) []string {
		t.Helper()
		res, err := st.Process(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range res.Alerts {
			got = append(got, keyOf(a))
		}
		sort.Strings(got)
		return got
	}
	if got := process(ev("sam", "self", relDay)); !slices.Contains(got, "self_lookup sam self") {
		t.Fatalf("first access: %q", got)
	}
	// Five days later: the first day is forgotten.
	process(ev("priya", "p1", relDay.AddDate(0, 0, 5)))
	if got := process(ev("sam", "self", relDay.Add(time.Minute))); len(got) != 0 {
		t.Errorf("a late access of a stored alert's day rewrote %q", got)
	}
	if got := process(ev("omar", "vip", relDay)); !slices.Equal(got, []string{"no_clinical_relationship omar vip", "restricted_patient_access omar vip"}) {
		t.Errorf("a late access with a new finding: %q", got)
	}
}

// The stream runs the tenant's tuned detectors, as the scheduled run does:
// here no_clinical_relationship judges billing staff instead of clinicians,
// and classifies with a one-day window.
func TestStreamUsesTunedDetectors(t *testing.T) {
	f, evs := streamClinic(t, "stream-tuned")
	ctx := context.Background()
	tuned := []Detector{NoClinicalRelationship{Explainer: Explainer{Days: 1}, ClinicalRoles: []string{"billing"}}}
	st := &Stream{Store: f.s, Detectors: BatchDetectors(), Log: quiet(),
		Tenant: func(string, []Detector) (Tenant, []Detector, error) { return f.tenantOf(), tuned, nil }}
	res, err := st.Process(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	storeEvents(t, f, evs)
	want, err := tuned[0].Detect(ctx, f.s, f.tenantOf(), october2026())
	if err != nil {
		t.Fatal(err)
	}
	var got, exp []string
	for _, a := range res.Alerts {
		got = append(got, a.AlertID+" "+keyOf(a)+" "+a.Reason)
	}
	for _, a := range want {
		exp = append(exp, a.AlertID+" "+keyOf(a)+" "+a.Reason)
	}
	sort.Strings(got)
	sort.Strings(exp)
	if len(exp) == 0 || !slices.Equal(got, exp) {
		t.Fatalf("stream %q\nbatch %q", got, exp)
	}
	if !strings.Contains(exp[0], "no_clinical_relationship bill dead") {
		t.Errorf("the tuned rule should flag the billing clerk: %q", exp)
	}
}

// Streamed alerts are suppressed and grouped into cases at once, as the
// scheduled run would do after its detectors.
func TestStreamSuppressesAndBuildsCases(t *testing.T) {
	f, evs := streamClinic(t, "stream-cases")
	ctx := context.Background()
	now := time.Now()
	sp, err := NewSuppression(SuppressionRequest{Tenant: f.tenant, Rule: "self_lookup", ActorID: "sam", Reason: "reads her own chart with consent",
		CreatedBy: "privacy-officer", ExpiresAt: now.AddDate(0, 1, 0)}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.InsertSuppressions(ctx, []store.SuppressionRow{sp}); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestStream(f.s, f).Process(ctx, evs); err != nil {
		t.Fatal(err)
	}
	self := alertID(f.tenant, "self_lookup", "sam", "self", relDay.Format(time.DateOnly))
	var sup []struct {
		AlertID string `json:"alert_id"`
	}
	if err := f.s.Select(ctx, &sup, "SELECT DISTINCT alert_id FROM "+f.s.Database()+".alert_suppressions WHERE tenant_id = {t:String}",
		store.Params{"t": f.tenant}); err != nil {
		t.Fatal(err)
	}
	if len(sup) != 1 || sup[0].AlertID != self {
		t.Errorf("suppressed %+v, want only the self_lookup alert %s", sup, self)
	}
	var cases []struct {
		ActorID  string   `json:"actor_id"`
		AlertIDs []string `json:"alert_ids"`
	}
	if err := f.s.Select(ctx, &cases, "SELECT actor_id, alert_ids FROM "+f.s.Database()+".cases_current WHERE tenant_id = {t:String} ORDER BY actor_id",
		store.Params{"t": f.tenant}); err != nil {
		t.Fatal(err)
	}
	byActor := map[string][]string{}
	for _, c := range cases {
		byActor[c.ActorID] = c.AlertIDs
	}
	if len(byActor["omar"]) != 6 || slices.Contains(byActor["sam"], self) || len(byActor["sam"]) != 4 {
		t.Errorf("cases %+v: want omar's 6 alerts, and sam's 4 without the suppressed one", cases)
	}
}

// BenchmarkStreamProcess measures the stream's throughput on a clinic's
// ordinary day: 500-event batches of explained chart opens, one in fifty
// unexplained (an alert to write).
func BenchmarkStreamProcess(b *testing.B) {
	s := shared.Store(b)
	ctx := context.Background()
	tenant := fmt.Sprintf("stream-bench-%d", time.Now().UnixNano())
	keep := time.Now().AddDate(7, 0, 0)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{{TenantID: tenant, UserID: "kim", Name: "Kim Park", Role: "physician",
		NPI: "1234567893", ImportedAt: time.Now(), RetainUntil: keep}}); err != nil {
		b.Fatal(err)
	}
	if err := s.InsertPractitioners(ctx, []store.PractitionerRow{{TenantID: tenant, PractitionerID: "77", NPI: "1234567893",
		Identifiers: []string{"http://hl7.org/fhir/sid/us-npi|1234567893"}, Active: true, ImportedAt: time.Now(), RetainUntil: keep}}); err != nil {
		b.Fatal(err)
	}
	var appts []store.AppointmentRow
	for i := range 200 {
		at := relDay
		appts = append(appts, store.AppointmentRow{TenantID: tenant, AppointmentID: fmt.Sprint("a", i), Status: "booked", StartTime: &at,
			PatientIDs: []string{fmt.Sprint("P", i)}, PractitionerIDs: []string{"77"}, ImportedAt: time.Now(), RetainUntil: keep})
	}
	if err := s.InsertAppointments(ctx, appts); err != nil {
		b.Fatal(err)
	}
	st := &Stream{Store: s, Detectors: BatchDetectors(), Log: quiet()}
	batch := make([]event.Event, 500)
	b.ResetTimer()
	for n := range b.N {
		for i := range batch {
			k := n*len(batch) + i
			patient := fmt.Sprint("P", k%200)
			if k%50 == 0 {
				patient = fmt.Sprint("X", k)
			}
			e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, Time: relDay.Add(time.Duration(k%36000) * time.Second),
				ReceivedAt: time.Now(), Actor: event.Actor{ID: "kim"}, Action: event.ActionView, Outcome: event.OutcomeSuccess,
				PatientID: patient, Raw: fmt.Sprint(k)}
			e.EventID = event.ID(tenant, "bench", e.Raw)
			batch[i] = e
		}
		if _, err := st.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
