package pull

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// googleServer is the Admin SDK Reports API (activities newest first,
// paged by pageToken) and Google's OAuth token endpoint, which verifies the
// service account's JWT as Google does.
type googleServer struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex

	acts         []googleAct
	pub          *rsa.PublicKey
	exclusiveEnd bool   // treat endTime as exclusive (the docs do not say)
	oldestFirst  bool   // break the documented order
	moveToEnd    string // break it late: this activity comes last
	issued       int
	queries      []url.Values
	fail         map[int]int // request number → status to answer once
	requests     int
	hook         func(w http.ResponseWriter, r *http.Request) bool
}

type googleAct struct {
	t   time.Time
	id  string
	raw json.RawMessage
}

func newGoogleServer(t *testing.T, pub *rsa.PublicKey) *googleServer {
	s := &googleServer{t: t, pub: pub, fail: map[int]int{}}
	var raws []json.RawMessage
	if err := json.Unmarshal(readTestdata(t, "google/login-activities.json"), &raws); err != nil {
		t.Fatal(err)
	}
	for _, r := range raws {
		s.add(r)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *googleServer) add(raw json.RawMessage) {
	var a struct {
		ID struct {
			Time            time.Time `json:"time"`
			UniqueQualifier string    `json:"uniqueQualifier"`
		} `json:"id"`
	}
	json.Unmarshal(raw, &a)
	s.acts = append(s.acts, googleAct{t: a.ID.Time, id: a.ID.UniqueQualifier, raw: raw})
}

func (s *googleServer) ids() []string {
	var out []string
	for _, a := range s.acts {
		out = append(out, a.id)
	}
	return out
}

func (s *googleServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.hook != nil && s.hook(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if code := s.fail[s.requests]; code != 0 {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"Backend Error","status":"UNAVAILABLE"}}`, code)
		return
	}
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ya29.test-") {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`))
		return
	}
	const prefix = "/admin/reports/v1/activity/users/all/applications/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		http.NotFound(w, r)
		return
	}
	app := strings.TrimPrefix(r.URL.Path, prefix)
	q := r.URL.Query()
	s.queries = append(s.queries, q)
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("startTime"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("endTime"))
	if err1 != nil || err2 != nil || !end.After(start) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":400,"message":"Start time must be less than end time.","status":"INVALID_ARGUMENT"}}`))
		return
	}
	var match []googleAct
	for _, a := range s.acts {
		if app != "login" || a.t.Before(start) || a.t.After(end) || (s.exclusiveEnd && a.t.Equal(end)) {
			continue
		}
		match = append(match, a)
	}
	sort.SliceStable(match, func(i, j int) bool {
		if !match[i].t.Equal(match[j].t) {
			return match[i].t.After(match[j].t) != s.oldestFirst // newest first
		}
		return match[i].id < match[j].id
	})
	if i := slices.IndexFunc(match, func(a googleAct) bool { return a.id == s.moveToEnd }); i >= 0 {
		match = append(append(match[:i:i], match[i+1:]...), match[i])
	}
	n, _ := strconv.Atoi(q.Get("maxResults"))
	off := 0
	if tok := q.Get("pageToken"); tok != "" {
		off, _ = strconv.Atoi(strings.TrimPrefix(tok, "A:"))
	}
	endIdx := min(off+n, len(match))
	res := map[string]any{"kind": "admin#reports#activities", "etag": `"x"`}
	var items []json.RawMessage
	for _, a := range match[off:endIdx] {
		items = append(items, a.raw)
	}
	if len(items) > 0 {
		res["items"] = items
	}
	if endIdx < len(match) {
		res["nextPageToken"] = fmt.Sprintf("A:%d", endIdx)
	}
	json.NewEncoder(w).Encode(res)
}

func (s *googleServer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	fail := func(format string, args ...any) {
		s.t.Errorf("token endpoint: "+format, args...)
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
	}
	if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("grant_type %q", f.Get("grant_type"))
		return
	}
	h, c, err := verifyJWT(f.Get("assertion"), s.pub)
	if err != nil {
		fail("%v", err)
		return
	}
	iat, exp := claimInt(c, "iat"), claimInt(c, "exp")
	switch {
	case h["alg"] != "RS256" || h["kid"] != "3f1c9e0a7b4d2c5e8f6a1b0c9d8e7f6a5b4c3d2e":
		fail("header %v", h)
	case c["iss"] != "phiwatch-reports@riverside-msp.iam.gserviceaccount.com" || c["sub"] != "admin@riverside.example" ||
		c["scope"] != "https://www.googleapis.com/auth/admin.reports.audit.readonly" || c["aud"] != s.srv.URL+"/token":
		fail("claims %v", c)
	case iat > testNow.Unix()+60 || exp <= iat || exp-iat > 3600:
		fail("iat %d exp %d", iat, exp)
	default:
		s.issued++
		fmt.Fprintf(w, `{"access_token":"ya29.test-%d","expires_in":3599,"token_type":"Bearer"}`, s.issued)
	}
}

// googleKeyFile writes a service account key file for k, as the Google
// Cloud console downloads it.
func googleKeyFile(t *testing.T, k *rsa.PrivateKey, tokenURI string) string {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	key := map[string]string{
		"type": "service_account", "project_id": "riverside-msp", "private_key_id": "3f1c9e0a7b4d2c5e8f6a1b0c9d8e7f6a5b4c3d2e",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "phiwatch-reports@riverside-msp.iam.gserviceaccount.com", "client_id": "113456789012345678901",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}
	b, _ := json.MarshalIndent(key, "", "  ")
	f := filepath.Join(t.TempDir(), "sa.json")
	writeFile(t, f, string(b))
	return f
}

type googleFixture struct {
	srv     *googleServer
	keyFile string
}

func newGoogleFixture(t *testing.T) *googleFixture {
	k, _ := rsaKeyFile(t, t.TempDir())
	srv := newGoogleServer(t, &k.PublicKey)
	return &googleFixture{srv: srv, keyFile: googleKeyFile(t, k, srv.srv.URL+"/token")}
}

func (f *googleFixture) puller(t *testing.T, c *clock, ck Checkpoints, sink Sink) Puller {
	t.Helper()
	yaml := fmt.Sprintf(`sources:
  - tenant: riverside-family
    name: workspace
    type: google-reports
    base_url: %s
    applications: [login]
    page_size: 2
    initial_lookback: 48h
    auth: {type: google-service-account, key_file: %s, subject: admin@riverside.example}
`, f.srv.srv.URL, f.keyFile)
	cfg, err := ParseConfig([]byte(yaml), "sources.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(cfg.Sources[0], BuildOptions{Deps: Deps{Sink: sink, Checkpoints: ck, Log: quietLog(), Now: c.Now, Sleep: c.Sleep}, Metrics: newMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	return r.Puller
}

var googleID0 = SourceID{Tenant: "riverside-family", Name: "workspace", Type: TypeGoogleReports}

// TestGoogleReportsPull: the service account's JWT verified by the token
// endpoint, pages by pageToken (three activities at one millisecond across
// pages), a 503 then success; every activity once; the window end lags now
// by 20 minutes.
func TestGoogleReportsPull(t *testing.T) {
	f := newGoogleFixture(t)
	f.srv.fail[3] = http.StatusServiceUnavailable // the second page, once
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	pos, err := f.puller(t, c, store, &testSink{log: log}).Pull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, f.srv.ids(), googleID)
	q := f.srv.queries[0]
	if q.Get("startTime") != "2026-09-30T00:00:00.000Z" || q.Get("endTime") != "2026-10-01T23:40:00.001Z" || q.Get("maxResults") != "2" {
		t.Errorf("first query %v", q)
	}
	if len(f.srv.queries) != 4 || f.srv.queries[1].Get("pageToken") != "A:2" {
		t.Errorf("queries %v", f.srv.queries)
	}
	if f.srv.issued != 1 {
		t.Errorf("issued %d tokens", f.srv.issued)
	}
	if o := log.flushed[0].Origin; o != "google-reports riverside-family/workspace login page 1 item 0" {
		t.Errorf("origin %q", o)
	}
	var st googleState
	store.Load(googleID0, &st)
	if a := st.Applications["login"]; a == nil || !a.Since.Equal(time.Date(2026, 10, 1, 23, 40, 0, 0, time.UTC)) || a.Window != nil {
		t.Errorf("checkpoint %+v", a)
	}
	if !pos.Equal(time.Date(2026, 10, 1, 23, 40, 0, 0, time.UTC)) {
		t.Errorf("position %v", pos)
	}
}

// TestGoogleReportsRestartNeitherLosesNorRepeats: every failure point, then
// a restart from the same state directory; with endTime inclusive and
// exclusive.
func TestGoogleReportsRestartNeitherLosesNorRepeats(t *testing.T) {
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprintf("exclusive_end=%v", exclusive), func(t *testing.T) {
			f := newGoogleFixture(t)
			f.srv.exclusiveEnd = exclusive
			checkRestarts(t, f.srv.ids(), googleID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
				return f.puller(t, newClock(), ck, sink)
			})
		})
	}
}

// TestGoogleReportsWindowEdges: activities at exactly a window's end are
// handed once whether they arrived before or after the pass that ended
// there; ones arriving inside the lag wait for the next pass.
func TestGoogleReportsWindowEdges(t *testing.T) {
	f := newGoogleFixture(t)
	c := newClock()
	c.t = time.Date(2026, 10, 1, 8, 25, 31, 0, time.UTC) // end 08:05:31.000: the three tied logins
	store := mustStore(t)
	log := &flushLog{}
	pass := func() {
		t.Helper()
		if _, err := f.puller(t, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if n := len(log.flushed); n != 4 {
		t.Fatalf("first pass flushed %d, want 4 (up to and including the window end)", n)
	}
	// A late activity stamped exactly at the previous end.
	late := strings.Replace(string(f.srv.acts[1].raw), f.srv.acts[1].id, "-999", 1)
	f.srv.mu.Lock()
	f.srv.add(json.RawMessage(late))
	f.srv.mu.Unlock()
	c.t = testNow
	pass()
	pass()
	assertExactlyOnce(t, log, f.srv.ids(), googleID)
}

// TestGoogleReportsInvalidJSON: an unreadable page fails the pass; the
// checkpoint records only what the pages before it gave.
func TestGoogleReportsInvalidJSON(t *testing.T) {
	f := newGoogleFixture(t)
	broken := true
	f.srv.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if broken && r.URL.Query().Get("pageToken") == "A:4" {
			w.Write([]byte(`{"kind":"admin#reports#activities","items":[{"id":`))
			return true
		}
		return false
	}
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	_, err := f.puller(t, c, store, &testSink{log: log}).Pull(context.Background())
	if err == nil || Reason(err) != "invalid_response" || !strings.Contains(err.Error(), "application login: page 3 is not JSON") {
		t.Fatalf("err %v", err)
	}
	var st googleState
	store.Load(googleID0, &st)
	w := st.Applications["login"].Window
	if w == nil || len(log.flushed) != 4 || !w.Low.Equal(time.Date(2026, 10, 1, 8, 5, 31, 0, time.UTC)) || len(w.SeenAtLow) != 1 {
		t.Fatalf("checkpoint %+v after %d flushed", w, len(log.flushed))
	}
	broken = false
	if _, err := f.puller(t, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, f.srv.ids(), googleID)
	if slices.Contains(f.srv.ids(), "") {
		t.Fatal("an activity without uniqueQualifier in the recording")
	}
}

// TestGoogleReportsOutOfOrder: were the API to return activities oldest
// first, the pass notices, goes back to where it began and checkpoints only
// at the window's end: no crash point loses an activity.
func TestGoogleReportsOutOfOrder(t *testing.T) {
	f := newGoogleFixture(t)
	f.srv.oldestFirst = true
	checkNoLoss(t, f.srv.ids(), googleID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
		return f.puller(t, newClock(), ck, sink)
	})
}

// TestGoogleReportsGoesBackWhenOrderBreaks: when the order breaks only on
// the last page, after checkpoints were saved, the pass saves the state it
// started from again, so a crash from then on loses nothing.
func TestGoogleReportsGoesBackWhenOrderBreaks(t *testing.T) {
	f := newGoogleFixture(t)
	newest := f.srv.acts[len(f.srv.acts)-1]
	f.srv.moveToEnd = newest.id
	store := mustStore(t)
	var windows []*googleWindow
	rec := &googleRecorder{Checkpoints: store, windows: &windows}
	log := &flushLog{}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &testSink{log: log, cancelAt: len(f.srv.acts), cancel: cancel} // stopped right after the late one
	f.puller(t, newClock(), rec, sink).Pull(ctx)
	sink.crash()
	if len(windows) < 2 || windows[0] == nil || windows[len(windows)-1] != nil {
		t.Fatalf("windows saved %v: the last should be the pass's start (none)", windows)
	}
	if _, err := f.puller(t, newClock(), store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	flushed := countKeys(log.flushed, googleID)
	for _, id := range f.srv.ids() {
		if flushed[id] == 0 {
			t.Errorf("%s lost", id)
		}
	}
}

type googleRecorder struct {
	Checkpoints
	windows *[]*googleWindow
}

func (r *googleRecorder) Save(id SourceID, st any) error {
	*r.windows = append(*r.windows, st.(*googleState).Applications["login"].Window)
	return r.Checkpoints.Save(id, st)
}
