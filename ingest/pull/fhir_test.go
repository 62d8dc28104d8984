package pull

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fhirServer is a FHIR server's AuditEvent search: date=ge/lt filters,
// _sort=date, _count, and paging through stored result sets with
// _getpages links (as HAPI FHIR does).
type fhirServer struct {
	srv *httptest.Server
	mu  sync.Mutex

	events   []fhirEv
	maxCount int
	sets     map[string][]json.RawMessage
	queries  []url.Values
	// hook, when set, may answer a request itself (injected faults).
	hook func(w http.ResponseWriter, r *http.Request) bool
	// token, when set, is the bearer token required.
	token string
	// noSelf leaves out the self link (which lists the parameters used).
	noSelf bool
}

type fhirEv struct {
	id  string
	t   time.Time
	raw json.RawMessage
}

func newFHIRServer(t *testing.T, events []fhirEv) *fhirServer {
	s := &fhirServer{events: events, maxCount: 1000, sets: map[string][]json.RawMessage{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fhirServer) base() *url.URL {
	u, _ := url.Parse(s.srv.URL + "/fhir")
	return u
}

func (s *fhirServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.hook != nil && s.hook(w, r) {
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	s.queries = append(s.queries, q)
	var page []json.RawMessage
	var next string
	switch {
	case r.URL.Path == "/fhir/AuditEvent":
		var ge, lt time.Time
		for _, v := range q["date"] {
			t, err := time.Parse(time.RFC3339Nano, v[2:])
			if err != nil {
				http.Error(w, "bad date "+v, http.StatusBadRequest)
				return
			}
			switch v[:2] {
			case "ge":
				ge = t
			case "lt":
				lt = t
			}
		}
		var match []fhirEv
		for _, e := range s.events {
			if (ge.IsZero() || !e.t.Before(ge)) && (lt.IsZero() || e.t.Before(lt)) {
				match = append(match, e)
			}
		}
		if q.Get("_sort") == "date" {
			sort.SliceStable(match, func(i, j int) bool { return match[i].t.Before(match[j].t) })
		}
		set := make([]json.RawMessage, len(match))
		for i, e := range match {
			set[i] = e.raw
		}
		id := fmt.Sprintf("set-%d", len(s.sets))
		s.sets[id] = set
		page, next = s.page(id, 0, q.Get("_count"))
	case r.URL.Path == "/fhir" && q.Get("_getpages") != "":
		off, _ := strconv.Atoi(q.Get("_getpagesoffset"))
		page, next = s.page(q.Get("_getpages"), off, q.Get("_count"))
	default:
		http.NotFound(w, r)
		return
	}
	b := map[string]any{"resourceType": "Bundle", "type": "searchset", "link": []map[string]string{}}
	if !s.noSelf {
		// The parameters applied, as servers echo them.
		b["link"] = []map[string]string{{"relation": "self", "url": s.srv.URL + r.URL.RequestURI()}}
	}
	var entries []map[string]any
	for _, p := range page {
		entries = append(entries, map[string]any{"resource": p, "search": map[string]string{"mode": "match"}})
	}
	b["entry"] = entries
	if next != "" {
		b["link"] = append(b["link"].([]map[string]string), map[string]string{"relation": "next", "url": next})
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	json.NewEncoder(w).Encode(b)
}

func (s *fhirServer) page(set string, off int, count string) ([]json.RawMessage, string) {
	n, _ := strconv.Atoi(count)
	if n <= 0 || n > s.maxCount {
		n = s.maxCount
	}
	all := s.sets[set]
	end := min(off+n, len(all))
	next := ""
	if end < len(all) {
		next = fmt.Sprintf("%s/fhir?_getpages=%s&_getpagesoffset=%d&_count=%d", s.srv.URL, set, end, n)
	}
	return all[off:end], next
}

// makeEvents builds AuditEvents from the recorded template, one per time.
func makeEvents(t *testing.T, times []string) []fhirEv {
	t.Helper()
	var tmpl map[string]any
	if err := json.Unmarshal(readTestdata(t, "fhir-rest/auditevent-template.json"), &tmpl); err != nil {
		t.Fatal(err)
	}
	var evs []fhirEv
	for i, ts := range times {
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		tmpl["id"] = fmt.Sprintf("ae-%03d", i+1)
		tmpl["recorded"] = ts
		raw, _ := json.Marshal(tmpl)
		evs = append(evs, fhirEv{id: tmpl["id"].(string), t: tm, raw: raw})
	}
	return evs
}

func ids(evs []fhirEv) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.id)
	}
	return out
}

// tieTimes has runs of events at the same millisecond that straddle
// pages of 3.
var tieTimes = []string{
	"2026-10-01T08:00:00.000Z",
	"2026-10-01T08:00:01.500Z", "2026-10-01T08:00:01.500Z", "2026-10-01T08:00:01.500Z", "2026-10-01T08:00:01.500Z",
	"2026-10-01T09:30:00.250Z",
	"2026-10-01T09:30:00.251Z", "2026-10-01T09:30:00.251Z",
	"2026-10-01T12:00:00Z",
	"2026-10-01T23:57:59.999Z",
}

func newTestFHIRREST(c *clock, ck Checkpoints, sink Sink, base *url.URL, auth TokenSource) *FHIRREST {
	p := NewFHIRREST(SourceID{Tenant: "riverside-family", Name: "ehr-prod", Type: TypeFHIRREST}, base, testClient(c, auth),
		Deps{Sink: sink, Checkpoints: ck, Log: quietLog(), Now: c.Now, Sleep: c.Sleep})
	p.PageSize = 3
	p.InitialLookback = 48 * time.Hour
	return p
}

// TestFHIRRESTRecordedPages replays three recorded searchset pages: an
// absolute next link, then a relative one, an _include'd Patient and an
// OperationOutcome warning that are not audit records, and a tie at one
// millisecond across the page boundary.
func TestFHIRRESTRecordedPages(t *testing.T) {
	var srv *httptest.Server
	var mu sync.Mutex
	var got []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RequestURI())
		mu.Unlock()
		var name string
		switch {
		case r.URL.Path == "/fhir/AuditEvent":
			name = "page1.json"
		case r.URL.Query().Get("_getpagesoffset") == "3":
			name = "page2.json"
		case r.URL.Query().Get("_getpagesoffset") == "6":
			name = "page3.json"
		default:
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(strings.ReplaceAll(string(readTestdata(t, "fhir-rest/"+name)), "{{BASE}}", srv.URL+"/fhir")))
	}))
	defer srv.Close()
	c := newClock()
	store := mustStore(t)
	sink := &testSink{log: &flushLog{}}
	base, _ := url.Parse(srv.URL + "/fhir")
	p := newTestFHIRREST(c, store, sink, base, nil)
	pos, err := p.Pull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var handed, origins []string
	for _, r := range sink.log.flushed {
		handed = append(handed, fhirID(r.Data))
		origins = append(origins, r.Origin)
		if r.Tenant != "riverside-family" || r.SourceName != "ehr-prod" {
			t.Errorf("record %s: tenant %q source %q", r.Origin, r.Tenant, r.SourceName)
		}
	}
	want := []string{"ae-0101", "ae-0102", "ae-0103", "ae-0104", "ae-0105", "ae-0106", "ae-0107", "ae-0108"}
	if !slices.Equal(handed, want) {
		t.Fatalf("handed %v, want %v", handed, want)
	}
	if origins[0] != "fhir-rest riverside-family/ehr-prod page 1 entry 0" || origins[7] != "fhir-rest riverside-family/ehr-prod page 3 entry 1" {
		t.Errorf("origins %q", origins)
	}
	first, _ := url.ParseQuery(strings.SplitN(got[0], "?", 2)[1])
	if d := first["date"]; len(d) != 2 || d[0] != "ge2026-09-30T00:00:00.000Z" || d[1] != "lt2026-10-01T23:58:00.000Z" ||
		first.Get("_sort") != "date" || first.Get("_count") != "3" {
		t.Errorf("first query %s", got[0])
	}
	if len(got) != 3 {
		t.Errorf("requests %q", got)
	}
	var st fhirRESTState
	if ok, err := store.Load(p.id, &st); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if !st.Since.Equal(time.Date(2026, 10, 1, 23, 58, 0, 0, time.UTC)) || len(st.SeenAtSince) != 0 || !pos.Equal(st.Since) {
		t.Errorf("checkpoint %+v, position %s", st, pos)
	}
}

// TestFHIRRESTRestartNeitherLosesNorRepeats fails the first process at
// every handle and flush (and stops it at every handle), restarts on the
// same state directory, and checks every AuditEvent was flushed exactly
// once, re-handed only when lost unflushed; ties at one millisecond straddle
// the page boundaries.
func TestFHIRRESTRestartNeitherLosesNorRepeats(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	srv := newFHIRServer(t, evs)
	checkRestarts(t, ids(evs), fhirID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
		return newTestFHIRREST(newClock(), ck, sink, srv.base(), nil)
	})
}

// TestFHIRRESTIncrementalPasses adds events between passes, including late
// ones at the millisecond the previous pass stopped at, and ones inside the
// lag, and checks each is handed exactly once over all passes.
func TestFHIRRESTIncrementalPasses(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	srv := newFHIRServer(t, evs[:5])
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	pass := func() {
		t.Helper()
		if _, err := newTestFHIRREST(c, store, &testSink{log: log}, srv.base(), nil).Pull(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	c.t = time.Date(2026, 10, 1, 8, 2, 1, 500e6, time.UTC) // window end: 08:00:01 (lag 2m, whole seconds)
	pass()
	if n := len(log.flushed); n != 1 {
		t.Fatalf("first pass flushed %d, want 1 (the others are at or after the window end)", n)
	}
	srv.mu.Lock()
	srv.events = evs
	srv.mu.Unlock()
	c.t = testNow
	pass()
	pass()
	assertExactlyOnce(t, log, ids(evs), fhirID)
	// The events of one millisecond as the boundary: stop a pass right
	// after the first of the tie (a page of 1) and check the rest follow.
	store2 := mustStore(t)
	log2 := &flushLog{}
	p := newTestFHIRREST(c, store2, &testSink{log: log2}, srv.base(), nil)
	p.PageSize = 1
	ctx, cancel := context.WithCancel(context.Background())
	sink := &testSink{log: log2, cancelAt: 3, cancel: cancel}
	p.sink = sink
	if _, err := p.Pull(ctx); err == nil {
		t.Fatal("stopped pass did not fail")
	}
	sink.crash()
	var st fhirRESTState
	store2.Load(p.id, &st)
	if st.Since.Format(time.RFC3339Nano) != "2026-10-01T08:00:01.5Z" || !slices.Equal(st.SeenAtSince, []string{"ae-002"}) {
		t.Fatalf("mid-tie checkpoint %+v", st)
	}
	p2 := newTestFHIRREST(c, store2, &testSink{log: log2}, srv.base(), nil)
	p2.PageSize = 1
	if _, err := p2.Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log2, ids(evs), fhirID)
}

// TestFHIRRESTInvalidJSONPage: a page that is not JSON fails the pass, the
// checkpoint stays where the last good page left it, and the next pass
// (the server healthy again) completes without repeats.
func TestFHIRRESTInvalidJSONPage(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	srv := newFHIRServer(t, evs)
	broken := true
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if broken && r.URL.Query().Get("_getpagesoffset") == "6" {
			w.Write([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"AuditEvent","id":"ae-0`))
			return true
		}
		return false
	}
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	p := newTestFHIRREST(c, store, &testSink{log: log}, srv.base(), nil)
	_, err := p.Pull(context.Background())
	if err == nil || Reason(err) != "invalid_response" || !strings.Contains(err.Error(), "search page 3") {
		t.Fatalf("err %v (reason %s)", err, Reason(err))
	}
	var st fhirRESTState
	store.Load(p.id, &st)
	lastGood := evs[5]
	if !st.Since.Equal(lastGood.t) || !slices.Equal(st.SeenAtSince, []string{lastGood.id}) {
		t.Fatalf("checkpoint %+v, want the end of page 2 (%s at %s)", st, lastGood.id, lastGood.t)
	}
	if len(log.flushed) != 6 {
		t.Fatalf("flushed %d, want the 6 of pages 1-2", len(log.flushed))
	}
	broken = false
	if _, err := newTestFHIRREST(c, store, &testSink{log: log}, srv.base(), nil).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, ids(evs), fhirID)
}

func TestFHIRRESTRefusesForeignNextLink(t *testing.T) {
	evs := makeEvents(t, tieTimes[:2])
	srv := newFHIRServer(t, evs)
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"https://evil.example/fhir?_getpages=x"}],"entry":[]}`))
		return true
	}
	_, err := newTestFHIRREST(newClock(), mustStore(t), &testSink{log: &flushLog{}}, srv.base(), nil).Pull(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to follow the next link to https://evil.example") {
		t.Fatalf("err %v", err)
	}
}

// TestFHIRRESTUnsortedServer: a server that ignores _sort is detected; the
// pass still hands everything, and checkpoints only at the window's end.
func TestFHIRRESTUnsortedServer(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	rev := slices.Clone(evs)
	slices.Reverse(rev)
	srv := newFHIRServer(t, rev)
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		if q.Get("_sort") != "" {
			q.Del("_sort") // ignored, as some servers do
			r.URL.RawQuery = q.Encode()
		}
		return false
	}
	store := mustStore(t)
	log := &flushLog{}
	saves := &countingStore{Checkpoints: store}
	if _, err := newTestFHIRREST(newClock(), saves, &testSink{log: log}, srv.base(), nil).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, ids(evs), fhirID)
	if saves.n != 1 {
		t.Fatalf("saved %d checkpoints, want only the window's end", saves.n)
	}
}

type countingStore struct {
	Checkpoints
	n int
}

func (c *countingStore) Save(id SourceID, st any) error {
	c.n++
	return c.Checkpoints.Save(id, st)
}

// smartServer is a FHIR server's SMART Backend Services token endpoint: it
// verifies the client assertion as a server must (signature with the
// registered public key, alg, kid, iss = sub = client id, aud = the token
// URL, exp at most 5 minutes ahead, jti never reused) and issues tokens.
type smartServer struct {
	t       *testing.T
	fhir    *fhirServer
	pub     crypto.PublicKey
	alg     string
	mu      sync.Mutex
	jtis    map[string]bool
	issued  int
	expired map[string]bool // tokens the API will refuse once
}

func (s *smartServer) hook(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/fhir/.well-known/smart-configuration":
		w.Write([]byte(strings.ReplaceAll(string(readTestdata(s.t, "fhir-rest/smart-configuration.json")), "{{BASE}}", s.fhir.srv.URL+"/fhir")))
		return true
	case "/fhir/auth/token":
		s.token(w, r)
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if s.expired[tok] {
		delete(s.expired, tok)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	if !strings.HasPrefix(tok, "at-") {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	return false
}

func (s *smartServer) token(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		s.t.Errorf("token endpoint: "+format, args...)
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_client","error_description":"assertion rejected"}`))
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		fail("%s, %v", r.Method, err)
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		f.Get("scope") != "system/AuditEvent.rs" {
		fail("form %v", f)
		return
	}
	h, c, err := verifyJWT(f.Get("client_assertion"), s.pub)
	if err != nil {
		fail("assertion: %v", err)
		return
	}
	now := testNow.Unix()
	aud := s.fhir.srv.URL + "/fhir/auth/token"
	switch {
	case h["alg"] != s.alg || h["kid"] != "k1" || h["typ"] != "JWT":
		fail("header %v", h)
	case c["iss"] != "phiwatch" || c["sub"] != "phiwatch" || c["aud"] != aud:
		fail("claims %v", c)
	case claimInt(c, "exp") <= now || claimInt(c, "exp") > now+300:
		fail("exp %d is not within 5 minutes of %d", claimInt(c, "exp"), now)
	default:
		s.mu.Lock()
		defer s.mu.Unlock()
		jti, _ := c["jti"].(string)
		if jti == "" || s.jtis[jti] {
			fail("jti %q missing or reused", jti)
			return
		}
		s.jtis[jti] = true
		s.issued++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"bearer","expires_in":300,"scope":"system/AuditEvent.rs"}`, s.issued)
	}
}

// TestFHIRRESTSMARTBackend pulls with SMART Backend Services (RS384 and
// ES384): the token endpoint comes from .well-known/smart-configuration,
// the server verifies every assertion, the token is reused across pages,
// and when the API refuses it once (expired early) it is refreshed and the
// page retried.
func TestFHIRRESTSMARTBackend(t *testing.T) {
	for _, alg := range []string{"RS384", "ES384"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			var pub crypto.PublicKey
			var keyFile string
			if alg == "RS384" {
				k, f := rsaKeyFile(t, dir)
				pub, keyFile = &k.PublicKey, f
			} else {
				k, f := ecKeyFile(t, dir)
				pub, keyFile = &k.PublicKey, f
			}
			evs := makeEvents(t, tieTimes)
			srv := newFHIRServer(t, evs)
			ss := &smartServer{t: t, fhir: srv, pub: pub, alg: alg, jtis: map[string]bool{}, expired: map[string]bool{"at-1": true}}
			srv.hook = ss.hook
			c := newClock()
			yaml := fmt.Sprintf(`sources:
  - tenant: riverside-family
    name: ehr-prod
    type: fhir-rest
    base_url: %s/fhir
    page_size: 3
    initial_lookback: 48h
    auth: {type: smart-backend, client_id: phiwatch, private_key_file: %s, key_id: k1, algorithm: %s}
`, srv.srv.URL, keyFile, alg)
			cfg, err := ParseConfig([]byte(yaml), "sources.yaml", func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			log := &flushLog{}
			m := newMetrics()
			r, err := Build(cfg.Sources[0], BuildOptions{Deps: Deps{Sink: &testSink{log: log}, Checkpoints: mustStore(t), Log: quietLog(), Now: c.Now, Sleep: c.Sleep}, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Once(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertExactlyOnce(t, log, ids(evs), fhirID)
			if ss.issued != 2 {
				t.Errorf("issued %d tokens, want 2 (one, refused once, then one for all pages)", ss.issued)
			}
			if got := counterValue(t, m.PullRetries.WithLabelValues(TypeFHIRREST, "auth_refresh")); got != 1 {
				t.Errorf("auth_refresh retries %v", got)
			}
			if got := counterValue(t, m.PullRecords.WithLabelValues(TypeFHIRREST)); got != float64(len(evs)) {
				t.Errorf("records pulled %v, want %d", got, len(evs))
			}
			if got := counterValue(t, m.PullLastSuccess.WithLabelValues("riverside-family", "ehr-prod")); got != float64(testNow.Unix()) {
				t.Errorf("last success %v", got)
			}
		})
	}
}

// TestFHIRRESTBearerRefusedTwice: a static token the API refuses after a
// re-read is an auth error, not a retry loop.
func TestFHIRRESTBearerRefusedTwice(t *testing.T) {
	evs := makeEvents(t, tieTimes[:2])
	srv := newFHIRServer(t, evs)
	srv.token = "good"
	f := t.TempDir() + "/token"
	writeFile(t, f, "stale\n")
	c := newClock()
	_, err := newTestFHIRREST(c, mustStore(t), &testSink{log: &flushLog{}}, srv.base(), &StaticToken{Secret: Secret{File: f}}).Pull(context.Background())
	var ae *AuthError
	if !errors.As(err, &ae) || Reason(err) != "auth" || strings.Contains(err.Error(), "stale") {
		t.Fatalf("err %v", err)
	}
	// The file is rotated: the next pass reads it again after a 401.
	writeFile(t, f, "good\n")
	log := &flushLog{}
	if _, err := newTestFHIRREST(c, mustStore(t), &testSink{log: log}, srv.base(), &StaticToken{Secret: Secret{File: f}}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, ids(evs), fhirID)
}

// TestFHIRRESTLateUnsortedServer: a server that ignores _sort (and says so
// in its self link) but whose first pages happen to look sorted: the pass
// checkpoints only at the window's end, so whatever the crash point nothing
// is lost (records may be sent twice: their event ids collapse). Without the
// self link, the time going backwards is noticed on page 4, and the pass
// goes back to its starting checkpoint.
func TestFHIRRESTLateUnsortedServer(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	order := append(append([]fhirEv{evs[0]}, evs[2:]...), evs[1]) // evs[1] comes last
	srv := newFHIRServer(t, order)
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		q.Del("_sort")
		r.URL.RawQuery = q.Encode()
		return false
	}
	saves := &countingStore{Checkpoints: mustStore(t)}
	if _, err := newTestFHIRREST(newClock(), saves, &testSink{log: &flushLog{}}, srv.base(), nil).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	if saves.n != 1 {
		t.Errorf("%d checkpoints saved, want only the window's end", saves.n)
	}
	checkNoLoss(t, ids(evs), fhirID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
		return newTestFHIRREST(newClock(), ck, sink, srv.base(), nil)
	})
}

// TestFHIRRESTGoesBackWhenUnsortedShows: without a self link, the first
// time out of order makes the pass save the checkpoint it started from.
func TestFHIRRESTGoesBackWhenUnsortedShows(t *testing.T) {
	evs := makeEvents(t, tieTimes)
	order := append(append([]fhirEv{evs[0]}, evs[2:]...), evs[1])
	srv := newFHIRServer(t, order)
	srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		q.Del("_sort")
		r.URL.RawQuery = q.Encode()
		return false
	}
	srv.noSelf = true
	store := mustStore(t)
	var saved []fhirRESTState
	rec := &recordingStore{Checkpoints: store, saved: &saved}
	log := &flushLog{}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &testSink{log: log, cancelAt: len(evs), cancel: cancel} // stopped right after the late one
	newTestFHIRREST(newClock(), rec, sink, srv.base(), nil).Pull(ctx)
	sink.crash()
	if len(saved) < 2 || !saved[len(saved)-1].Since.Equal(testNow.Add(-48*time.Hour)) {
		t.Fatalf("checkpoints saved %+v: the last should be where the pass began", saved)
	}
	if _, err := newTestFHIRREST(newClock(), store, &testSink{log: log}, srv.base(), nil).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	flushed := countKeys(log.flushed, fhirID)
	for _, id := range ids(evs) {
		if flushed[id] == 0 {
			t.Errorf("%s lost", id)
		}
	}
}

type recordingStore struct {
	Checkpoints
	saved *[]fhirRESTState
}

func (r *recordingStore) Save(id SourceID, st any) error {
	*r.saved = append(*r.saved, st.(fhirRESTState))
	return r.Checkpoints.Save(id, st)
}
