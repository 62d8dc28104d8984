package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bulkServer is a FHIR Bulk Data server: $export kick-off (filtering on
// meta.lastUpdated > _since), a status URL answering 202 with Retry-After
// and X-Progress a few times before the manifest, NDJSON files of up to 5
// resources behind the bearer token, and DELETE of a finished export.
type bulkServer struct {
	srv *httptest.Server
	mu  sync.Mutex

	lines       [][]byte // the recorded resources, one NDJSON line each
	jobs        map[string]*bulkJob
	kickoffs    []url.Values
	polls       int
	deleted     []string
	pollsBefore int    // 202 answers before the manifest
	token       string // required bearer
	fileBase    string // where files are served ("" = this server)
	noToken     bool   // manifest says requiresAccessToken false
	hook        func(w http.ResponseWriter, r *http.Request) bool
}

type bulkJob struct {
	polls int
	files [][]byte
}

const bulkTransactionTime = "2026-10-01T23:59:58.512Z"

func newBulkServer(t *testing.T) *bulkServer {
	s := &bulkServer{jobs: map[string]*bulkJob{}, pollsBefore: 2, token: "bulk-token"}
	for _, f := range []string{"fhir-bulk/AuditEvent-1.ndjson", "fhir-bulk/AuditEvent-2.ndjson"} {
		s.lines = append(s.lines, bytes.Split(bytes.TrimSpace(readTestdata(t, f)), []byte("\n"))...)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bulkServer) base() *url.URL { u, _ := url.Parse(s.srv.URL + "/fhir"); return u }

func (s *bulkServer) ids() []string {
	var out []string
	for _, l := range s.lines {
		out = append(out, fhirID(l))
	}
	return out
}

func (s *bulkServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.hook != nil && s.hook(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.token && !(s.noToken && strings.HasPrefix(r.URL.Path, "/fhir/bulkfiles/")) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch p := r.URL.Path; {
	case p == "/fhir/$export":
		q := r.URL.Query()
		s.kickoffs = append(s.kickoffs, q)
		if r.Header.Get("Prefer") != "respond-async" || q.Get("_type") != "AuditEvent" {
			http.Error(w, "bad kick-off", http.StatusBadRequest)
			return
		}
		since, _ := time.Parse(time.RFC3339Nano, q.Get("_since"))
		job := &bulkJob{}
		var cur []byte
		n := 0
		for _, l := range s.lines {
			var res struct {
				Meta struct {
					LastUpdated time.Time `json:"lastUpdated"`
				} `json:"meta"`
			}
			json.Unmarshal(l, &res)
			if !res.Meta.LastUpdated.After(since) {
				continue
			}
			cur = append(append(cur, l...), '\n')
			if n++; n == 5 {
				job.files, cur, n = append(job.files, cur), nil, 0
			}
		}
		if cur != nil {
			job.files = append(job.files, cur)
		}
		id := fmt.Sprintf("job%d", len(s.jobs)+1)
		s.jobs[id] = job
		w.Header().Set("Content-Location", s.srv.URL+"/fhir/bulkstatus/"+id)
		w.WriteHeader(http.StatusAccepted)
	case strings.HasPrefix(p, "/fhir/bulkstatus/"):
		id := strings.TrimPrefix(p, "/fhir/bulkstatus/")
		job := s.jobs[id]
		if job == nil {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"export expired"}]}`))
			return
		}
		if r.Method == http.MethodDelete {
			s.deleted = append(s.deleted, id)
			delete(s.jobs, id)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		s.polls++
		if job.polls < s.pollsBefore {
			job.polls++
			w.Header().Set("Retry-After", "2")
			w.Header().Set("X-Progress", fmt.Sprintf("exporting (%d%%)", 100*job.polls/(s.pollsBefore+1)))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var tmpl map[string]any
		json.Unmarshal([]byte(strings.ReplaceAll(string(readTestdataNoT("fhir-bulk/manifest.json")), "{{BASE}}", s.srv.URL+"/fhir")), &tmpl)
		var out []map[string]any
		fb := s.fileBase
		if fb == "" {
			fb = s.srv.URL
		}
		for i, f := range job.files {
			out = append(out, map[string]any{"type": "AuditEvent", "url": fmt.Sprintf("%s/fhir/bulkfiles/%s/%d.ndjson", fb, id, i+1), "count": bytes.Count(f, []byte("\n"))})
		}
		tmpl["output"] = out
		tmpl["requiresAccessToken"] = !s.noToken
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(tmpl)
	case strings.HasPrefix(p, "/fhir/bulkfiles/"):
		id, file, _ := strings.Cut(strings.TrimPrefix(p, "/fhir/bulkfiles/"), "/")
		n, _ := strconv.Atoi(strings.TrimSuffix(file, ".ndjson"))
		job := s.jobs[id]
		if job == nil || n < 1 || n > len(job.files) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+ndjson")
		w.Write(job.files[n-1])
	default:
		http.NotFound(w, r)
	}
}

// readTestdataNoT reads testdata from a handler goroutine.
func readTestdataNoT(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return b
}

func newTestBulk(c *clock, ck Checkpoints, sink Sink, base *url.URL, token string) *FHIRBulk {
	p := NewFHIRBulk(SourceID{Tenant: "riverside-family", Name: "ehr-bulk", Type: TypeFHIRBulk}, base,
		testClient(c, &StaticToken{Secret: Secret{Env: "T", Getenv: func(string) string { return token }}}),
		Deps{Sink: sink, Checkpoints: ck, Log: quietLog(), Now: c.Now, Sleep: c.Sleep})
	p.InitialLookback = 48 * time.Hour
	p.FlushEvery = 2
	return p
}

// TestFHIRBulkExport runs the whole flow against recorded files: kick-off
// with _type and _since, polling that honours Retry-After, download with
// the token, checkpoint at the manifest's transactionTime, DELETE of the
// export; the next pass exports _since that time and finds nothing.
func TestFHIRBulkExport(t *testing.T) {
	srv := newBulkServer(t)
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	p := newTestBulk(c, store, &testSink{log: log}, srv.base(), srv.token)
	pos, err := p.Pull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, srv.ids(), fhirID)
	if got := log.flushed[6].Origin; got != "fhir-bulk riverside-family/ehr-bulk file 2 line 2" {
		t.Errorf("origin %q", got)
	}
	if len(srv.kickoffs) != 1 || srv.kickoffs[0].Get("_since") != "2026-09-30T00:00:00.000Z" {
		t.Errorf("kick-offs %v", srv.kickoffs)
	}
	if w := c.Sleeps(); !slices.Equal(w, []time.Duration{2 * time.Second, 2 * time.Second}) {
		t.Errorf("poll waits %v, want the server's Retry-After twice", w)
	}
	var st bulkState
	store.Load(p.id, &st)
	if st.Since != bulkTransactionTime || st.Export != nil || pos.Format(time.RFC3339Nano) != bulkTransactionTime {
		t.Errorf("checkpoint %+v, position %v", st, pos)
	}
	if !slices.Equal(srv.deleted, []string{"job1"}) {
		t.Errorf("deleted %v", srv.deleted)
	}
	log2 := &flushLog{}
	if _, err := newTestBulk(c, store, &testSink{log: log2}, srv.base(), srv.token).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(srv.kickoffs) != 2 || srv.kickoffs[1].Get("_since") != bulkTransactionTime || len(log2.handled) != 0 {
		t.Errorf("second pass: kick-offs %v, handed %d", srv.kickoffs, len(log2.handled))
	}
}

// TestFHIRBulkRestartNeitherLosesNorRepeats: every failure point (in
// polling's aftermath, mid-file, between files), then a restart from the
// same state directory: each resource flushed exactly once.
func TestFHIRBulkRestartNeitherLosesNorRepeats(t *testing.T) {
	srv := newBulkServer(t)
	checkRestarts(t, srv.ids(), fhirID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
		return newTestBulk(newClock(), ck, sink, srv.base(), srv.token)
	})
}

// TestFHIRBulkResumesExport: a process stopped mid-way through the second
// file does not start another export: the next one polls the stored status
// URL, skips file 1 and the flushed lines of file 2.
func TestFHIRBulkResumesExport(t *testing.T) {
	srv := newBulkServer(t)
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	ctx, cancel := context.WithCancel(context.Background())
	first := &testSink{log: log, cancelAt: 8, cancel: cancel}
	if _, err := newTestBulk(c, store, first, srv.base(), srv.token).Pull(ctx); err == nil {
		t.Fatal("stopped process did not fail")
	}
	first.crash()
	var st bulkState
	store.Load(SourceID{Tenant: "riverside-family", Name: "ehr-bulk", Type: TypeFHIRBulk}, &st)
	if st.Export == nil || !st.Export.Files[0].Done || st.Export.Files[1].Lines != 2 {
		t.Fatalf("mid-export checkpoint %+v", st.Export)
	}
	second := &testSink{log: log}
	if _, err := newTestBulk(c, store, second, srv.base(), srv.token).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(srv.kickoffs) != 1 {
		t.Errorf("%d kick-offs, want 1: the restart must resume the export", len(srv.kickoffs))
	}
	if second.handles != 1 {
		t.Errorf("the restart handed %d records, want the 1 lost unflushed", second.handles)
	}
	assertExactlyOnce(t, log, srv.ids(), fhirID)
}

// TestFHIRBulkExpiredExport: the stored status URL answers 404 (the export
// expired while phiwatch was down): the pass fails, forgets the export, and
// the next pass starts a new one from the same _since.
func TestFHIRBulkExpiredExport(t *testing.T) {
	srv := newBulkServer(t)
	c := newClock()
	store := mustStore(t)
	id := SourceID{Tenant: "riverside-family", Name: "ehr-bulk", Type: TypeFHIRBulk}
	store.Save(id, bulkState{Since: "2026-09-30T00:00:00.000Z", Export: &bulkExport{StatusURL: srv.srv.URL + "/fhir/bulkstatus/gone", StartedAt: testNow}})
	log := &flushLog{}
	_, err := newTestBulk(c, store, &testSink{log: log}, srv.base(), srv.token).Pull(context.Background())
	if err == nil || !strings.Contains(err.Error(), "a new export starts at the next pass") {
		t.Fatalf("err %v", err)
	}
	var st bulkState
	store.Load(id, &st)
	if st.Export != nil || st.Since != "2026-09-30T00:00:00.000Z" {
		t.Fatalf("checkpoint %+v", st)
	}
	if _, err := newTestBulk(c, store, &testSink{log: log}, srv.base(), srv.token).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, srv.ids(), fhirID)
}

// TestFHIRBulkInvalidManifest: a manifest that is not JSON fails the pass
// and leaves the checkpoint as it was (the export still in progress).
func TestFHIRBulkInvalidManifest(t *testing.T) {
	srv := newBulkServer(t)
	srv.pollsBefore = 0
	broken := true
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if broken && strings.HasPrefix(r.URL.Path, "/fhir/bulkstatus/") && r.Method == http.MethodGet {
			w.Write([]byte(`{"transactionTime":"2026-10-01T23:59:58.512Z","output":[{"type":"AuditEvent","url":`))
			return true
		}
		return false
	}
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	_, err := newTestBulk(c, store, &testSink{log: log}, srv.base(), srv.token).Pull(context.Background())
	if err == nil || Reason(err) != "invalid_response" {
		t.Fatalf("err %v", err)
	}
	var st bulkState
	store.Load(SourceID{Tenant: "riverside-family", Name: "ehr-bulk", Type: TypeFHIRBulk}, &st)
	if st.Export == nil || st.Export.TransactionTime != "" || st.Since != "2026-09-30T00:00:00.000Z" || len(log.handled) != 0 {
		t.Fatalf("checkpoint %+v", st)
	}
	broken = false
	if _, err := newTestBulk(c, store, &testSink{log: log}, srv.base(), srv.token).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, srv.ids(), fhirID)
}

// TestFHIRBulkFilesElsewhere: files on another origin are fetched without
// the token when the manifest does not require it, and refused when it does.
func TestFHIRBulkFilesElsewhere(t *testing.T) {
	srv := newBulkServer(t)
	var sawAuth []string
	var mu sync.Mutex
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		srv.serve(w, r) // the same files, from another origin
	}))
	defer files.Close()
	srv.fileBase, srv.noToken = files.URL, true
	c := newClock()
	log := &flushLog{}
	if _, err := newTestBulk(c, mustStore(t), &testSink{log: log}, srv.base(), srv.token).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, srv.ids(), fhirID)
	if len(sawAuth) != 2 || sawAuth[0] != "" || sawAuth[1] != "" {
		t.Errorf("file requests carried Authorization %q", sawAuth)
	}
	srv.noToken = false
	_, err := newTestBulk(c, mustStore(t), &testSink{log: &flushLog{}}, srv.base(), srv.token).Pull(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to send the token there") {
		t.Fatalf("err %v", err)
	}
}
