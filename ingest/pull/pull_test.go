package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
)

type scriptedPuller struct {
	results []error
	pos     time.Time
	calls   int
}

func (p *scriptedPuller) Pull(ctx context.Context) (time.Time, error) {
	err := p.results[min(p.calls, len(p.results)-1)]
	p.calls++
	return p.pos, err
}

// TestRunner: a failed pass is counted by reason, its unflushed records
// discarded, and it is retried sooner than the interval (10s, then 20s);
// a good one sets the last-success time and the next pass waits the
// interval; the lag follows the checkpoint; Run returns nil when stopped.
func TestRunner(t *testing.T) {
	c := newClock()
	m := newMetrics()
	id := SourceID{Tenant: "riverside-family", Name: "ehr-prod", Type: TypeFHIRREST}
	p := &scriptedPuller{pos: testNow.Add(-90 * time.Second), results: []error{
		fmt.Errorf("search page 2: %w", &HTTPError{Status: 429}),
		&AuthError{Op: "get a token", Err: errors.New("invalid_client")},
		nil,
	}}
	ctx, cancel := context.WithCancel(context.Background())
	sleeps := 0
	sink := &discardSink{}
	r := &Runner{ID: id, Interval: time.Minute, Puller: p, Sink: countingSink{Sink: sink, m: m, typ: id.Type}, Metrics: m, Log: quietLog(), Now: c.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if sleeps++; sleeps == 4 {
				cancel()
				return ctx.Err()
			}
			return c.Sleep(ctx, d)
		}}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if p.calls != 4 || !slices.Equal(c.Sleeps(), []time.Duration{10 * time.Second, 20 * time.Second, time.Minute}) {
		t.Fatalf("%d passes, sleeps %v", p.calls, c.Sleeps())
	}
	if sink.discards != 2 {
		t.Errorf("discarded %d times, want after each failed pass", sink.discards)
	}
	if v := counterValue(t, m.PullErrors.WithLabelValues(TypeFHIRREST, "rate_limited")); v != 1 {
		t.Errorf("rate_limited errors %v", v)
	}
	if v := counterValue(t, m.PullErrors.WithLabelValues(TypeFHIRREST, "auth")); v != 1 {
		t.Errorf("auth errors %v", v)
	}
	// The last pass ran at testNow + 10s + 20s + 1m.
	if v := counterValue(t, m.PullLastSuccess.WithLabelValues(id.Tenant, id.Name)); v != float64(testNow.Add(90*time.Second).Unix()) {
		t.Errorf("last success %v", v)
	}
	if v := counterValue(t, m.PullLag.WithLabelValues(id.Tenant, id.Name)); v != (90*time.Second + 90*time.Second).Seconds() {
		t.Errorf("lag %v", v)
	}
	long := &Runner{Interval: 5 * time.Minute}
	var waits []time.Duration
	for n := 1; n <= 7; n++ {
		waits = append(waits, long.retryWait(n))
	}
	if !slices.Equal(waits, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}) {
		t.Errorf("retry waits %v", waits)
	}
}

type discardSink struct {
	testSink
	discards int
}

func (d *discardSink) Discard() { d.discards++ }

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&HTTPError{Status: 503}, "server_error"},
		{&HTTPError{Status: 403}, "auth"},
		{&HTTPError{Status: 404}, "not_found"},
		{&HTTPError{Status: 400}, "client_error"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{invalidResponse("bad"), "invalid_response"},
		{sinkErr(errors.New("kafka")), "sink"},
		{errors.New("?"), "other"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestRecordedRecordsParse: what each puller hands on from the recorded
// responses is read by the parser the source type is wired to, as events
// (no dead letters), so the pullers and parsers agree on what a record is.
func TestRecordedRecordsParse(t *testing.T) {
	check := func(sourceType string, recs [][]byte) {
		t.Helper()
		p, err := parsers.Lookup(ParserFor(sourceType))
		if err != nil {
			t.Skipf("parser of %s not in this build: %v", sourceType, err)
		}
		for i, r := range recs {
			evs, err := p.Parse(parsers.Record{Data: r, Tenant: "riverside-family", SourceName: "x", Origin: "test"})
			if err != nil || len(evs) == 0 {
				t.Errorf("%s record %d: %d events, %v", sourceType, i, len(evs), err)
			}
			for _, e := range evs {
				if err := e.Validate(testNow); err != nil {
					t.Errorf("%s record %d: %v", sourceType, i, err)
				}
			}
		}
	}
	var fhir [][]byte
	for _, page := range []string{"page1.json", "page2.json", "page3.json"} {
		var b fhirBundle
		json.Unmarshal(readTestdata(t, "fhir-rest/"+page), &b)
		for _, e := range b.Entry {
			if fhirProbeType(e.Resource) == "AuditEvent" {
				fhir = append(fhir, e.Resource)
			}
		}
	}
	for _, f := range []string{"fhir-bulk/AuditEvent-1.ndjson", "fhir-bulk/AuditEvent-2.ndjson"} {
		fhir = append(fhir, bytes.Split(bytes.TrimSpace(readTestdata(t, f)), []byte("\n"))...)
	}
	check(TypeFHIRREST, fhir)
	var m365 [][]byte
	for _, b := range []string{"ex-1", "ex-2", "ex-3", "aad-1", "aad-2"} {
		var recs []json.RawMessage
		json.Unmarshal(readTestdata(t, "m365/content-"+b+".json"), &recs)
		for _, r := range recs {
			m365 = append(m365, r)
		}
	}
	check(TypeM365Activity, m365)
	var acts []json.RawMessage
	json.Unmarshal(readTestdata(t, "google/login-activities.json"), &acts)
	var google [][]byte
	for _, a := range acts {
		google = append(google, a)
	}
	check(TypeGoogleReports, google)
}

func fhirProbeType(raw []byte) string {
	var r fhirResourceProbe
	json.Unmarshal(raw, &r)
	return r.ResourceType
}
