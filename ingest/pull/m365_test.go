package pull

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAzureTenant = "4f1e3a2b-0000-4000-8000-00000000c11a"

// m365Server is the Office 365 Management Activity API and the Azure AD
// token endpoint, replaying recorded subscriptions, content listings and
// content blobs.
type m365Server struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex

	blobs      []m365Blob // listing entries, contentUri pointing here
	hidden     map[string]bool
	enabled    map[string]bool
	starts     []string
	lists      []url.Values
	fetches    map[string]int
	pageSize   int
	issued     int
	refuseOnce map[string]bool // access tokens the API refuses once
	throttle   map[string]int  // blob → 429s to answer before serving it
	// verify checks a token request's form (client secret or assertion).
	verify func(f url.Values) error
	hook   func(w http.ResponseWriter, r *http.Request) bool
}

func newM365Server(t *testing.T) *m365Server {
	s := &m365Server{t: t, hidden: map[string]bool{}, enabled: map[string]bool{}, fetches: map[string]int{}, pageSize: 2,
		refuseOnce: map[string]bool{}, throttle: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	listing := strings.NewReplacer("{{BASE}}", s.srv.URL, "{{TENANT}}", testAzureTenant).Replace(string(readTestdata(t, "m365/content-listing.json")))
	if err := json.Unmarshal([]byte(listing), &s.blobs); err != nil {
		t.Fatal(err)
	}
	var subs []struct{ ContentType, Status string }
	json.Unmarshal(readTestdata(t, "m365/subscriptions-list.json"), &subs)
	for _, sub := range subs {
		s.enabled[sub.ContentType] = sub.Status == "enabled"
	}
	return s
}

func blobName(b m365Blob) string { return b.ContentURI[strings.LastIndex(b.ContentURI, "/")+1:] }

// recordIDs are the Ids of every record of every blob.
func (s *m365Server) recordIDs() []string {
	var out []string
	for _, b := range s.blobs {
		var recs []json.RawMessage
		json.Unmarshal(readTestdata(s.t, "m365/content-"+blobName(b)+".json"), &recs)
		for _, r := range recs {
			out = append(out, m365ID(r))
		}
	}
	return out
}

func (s *m365Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.hook != nil && s.hook(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	feed := "/api/v1.0/" + testAzureTenant + "/activity/feed/"
	q := r.URL.Query()
	if r.URL.Path == "/"+testAzureTenant+"/oauth2/v2.0/token" {
		r.ParseForm()
		if err := s.verify(r.PostForm); err != nil {
			s.t.Errorf("token request: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`))
			return
		}
		s.issued++
		// expires_in as a string, as Azure AD v1 endpoints send it.
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":"3599","ext_expires_in":3599,"access_token":"m365-at-%d"}`, s.issued)
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !strings.HasPrefix(tok, "m365-at-") || s.refuseOnce[tok] {
		delete(s.refuseOnce, tok)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":"AF10001","message":"The permission set () sent in the request does not include the expected permission."}}`))
		return
	}
	if q.Get("PublisherIdentifier") != testAzureTenant {
		s.t.Errorf("%s without PublisherIdentifier", r.URL)
	}
	switch p := strings.TrimPrefix(r.URL.Path, feed); {
	case p == "subscriptions/list":
		var out []map[string]any
		for ct, on := range s.enabled {
			if on {
				out = append(out, map[string]any{"contentType": ct, "status": "enabled", "webhook": nil})
			}
		}
		json.NewEncoder(w).Encode(out)
	case p == "subscriptions/start" && r.Method == http.MethodPost:
		ct := q.Get("contentType")
		s.starts = append(s.starts, ct)
		if s.enabled[ct] {
			w.WriteHeader(http.StatusBadRequest)
			w.Write(readTestdata(s.t, "m365/already-enabled.json"))
			return
		}
		s.enabled[ct] = true
		fmt.Fprintf(w, `{"contentType":%q,"status":"enabled","webhook":null}`, ct)
	case p == "subscriptions/content":
		s.lists = append(s.lists, q)
		ct := q.Get("contentType")
		if !s.enabled[ct] {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"AF20022","message":"No subscription found for the specified content type"}}`))
			return
		}
		start, err1 := time.Parse(m365TimeFormat, q.Get("startTime"))
		end, err2 := time.Parse(m365TimeFormat, q.Get("endTime"))
		if err1 != nil || err2 != nil || end.Sub(start) > 24*time.Hour || !end.After(start) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"AF20055","message":"Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart."}}`))
			return
		}
		var match []m365Blob
		for _, b := range s.blobs {
			c, _ := time.Parse(time.RFC3339Nano, b.ContentCreated)
			if b.ContentType == ct && !s.hidden[blobName(b)] && !c.Before(start) && c.Before(end) {
				match = append(match, b)
			}
		}
		// Newest first: the API promises no order.
		slices.Reverse(match)
		off, _ := strconv.Atoi(q.Get("nextpage"))
		endIdx := min(off+s.pageSize, len(match))
		if endIdx < len(match) {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("nextpage", strconv.Itoa(endIdx))
			w.Header().Set("NextPageUri", s.srv.URL+r.URL.Path+"?"+nq.Encode())
		}
		json.NewEncoder(w).Encode(match[off:endIdx])
	case strings.HasPrefix(p, "audit/"):
		name := strings.TrimPrefix(p, "audit/")
		if s.throttle[name] > 0 {
			s.throttle[name]--
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		s.fetches[name]++
		w.Write(readTestdata(s.t, "m365/content-"+name+".json"))
	default:
		http.NotFound(w, r)
	}
}

func (s *m365Server) sourcesYAML(extra string) string {
	return fmt.Sprintf(`sources:
  - tenant: riverside-family
    name: m365
    type: m365-activity
    base_url: %s
    initial_lookback: 48h
    auth:
      type: client-credentials
      azure_tenant_id: %s
      client_id: 6731de76-14a6-49ae-97bc-6eba6914391e
      token_url: %s/%s/oauth2/v2.0/token
%s`, s.srv.URL, testAzureTenant, s.srv.URL, testAzureTenant, extra)
}

// newTestM365 builds the puller from a sources file, so the config path
// (cloud defaults, scope, secret from the environment) is exercised too.
func newTestM365(t *testing.T, s *m365Server, c *clock, ck Checkpoints, sink Sink) Puller {
	t.Helper()
	if s.verify == nil {
		s.verify = func(f url.Values) error {
			if f.Get("grant_type") != "client_credentials" || f.Get("client_secret") != "s3cr3t-value" ||
				f.Get("scope") != s.srv.URL+"/.default" || f.Get("client_id") != "6731de76-14a6-49ae-97bc-6eba6914391e" {
				return fmt.Errorf("form %v", f)
			}
			return nil
		}
	}
	getenv := func(k string) string {
		if k == "M365_SECRET" {
			return "s3cr3t-value"
		}
		return ""
	}
	cfg, err := ParseConfig([]byte(s.sourcesYAML("      client_secret_env: M365_SECRET\n")), "sources.yaml", getenv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(cfg.Sources[0], BuildOptions{Deps: Deps{Sink: sink, Checkpoints: ck, Log: quietLog(), Now: c.Now, Sleep: c.Sleep},
		Metrics: newMetrics(), Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	return r.Puller
}

// TestM365Pull: subscriptions (one enabled, one started), content listings
// paged by NextPageUri, the first access token refused once (refreshed),
// a 429 with Retry-After on a blob; every record once, in blob order.
func TestM365Pull(t *testing.T) {
	s := newM365Server(t)
	s.refuseOnce["m365-at-1"] = true
	s.throttle["ex-2"] = 1
	s.pageSize = 1
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	p := newTestM365(t, s, c, store, &testSink{log: log})
	if _, err := p.Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, s.recordIDs(), m365ID)
	if !slices.Equal(s.starts, []string{"Audit.AzureActiveDirectory"}) {
		t.Errorf("subscriptions started %v", s.starts)
	}
	if s.issued != 2 {
		t.Errorf("issued %d tokens, want 2", s.issued)
	}
	if !slices.Contains(c.Sleeps(), 3*time.Second) {
		t.Errorf("waits %v: the 429's Retry-After was not honoured", c.Sleeps())
	}
	var ex []string
	for _, r := range log.flushed {
		if strings.Contains(r.Origin, "Audit.Exchange") {
			ex = append(ex, m365ID(r.Data))
		}
	}
	// Blobs are processed oldest first although listed newest first.
	if len(ex) != 6 || ex[0] != "1b6f0c55-3c1e-4f7a-9a51-08dcf1a00001" || ex[5] != "1b6f0c55-3c1e-4f7a-9a51-08dcf1a00006" {
		t.Errorf("exchange order %v", ex)
	}
	if o := log.flushed[0].Origin; !strings.HasPrefix(o, "m365-activity riverside-family/m365 Audit.Exchange content 20261001081012$ex-1$") || !strings.HasSuffix(o, " record 0") {
		t.Errorf("origin %q", o)
	}
	pages := 0
	for _, q := range s.lists {
		if q.Get("nextpage") != "" {
			pages++
		}
	}
	if pages == 0 {
		t.Errorf("NextPageUri was never followed")
	}
	var st m365State
	store.Load(SourceID{Tenant: "riverside-family", Name: "m365", Type: TypeM365Activity}, &st)
	// Processed ids are kept only within the overlap (12h) before the
	// listed-through point: ex-3 alone.
	exs := st.ContentTypes["Audit.Exchange"]
	if exs == nil || !exs.ListedThrough.Equal(testNow) || len(exs.Processed) != 1 || !exs.LastContentCreated.Equal(time.Date(2026, 10, 1, 12, 15, 2, 17e6, time.UTC)) {
		t.Errorf("checkpoint %+v", exs)
	}
	for id := range exs.Processed {
		if !strings.Contains(id, "$ex-3$") {
			t.Errorf("processed %s", id)
		}
	}
}

// TestM365LateBlobWithinOverlap: a blob that shows up in listings only
// after a pass listed past its contentCreated (here 3h40m late) is still
// fetched thanks to the overlap, and blobs already processed are not
// fetched again.
func TestM365LateBlobWithinOverlap(t *testing.T) {
	s := newM365Server(t)
	s.hidden["ex-2"] = true
	c := newClock()
	c.t = time.Date(2026, 10, 1, 13, 0, 0, 0, time.UTC) // ex-2 (09:20) is not listed yet, ex-3 (12:15) is
	store := mustStore(t)
	log := &flushLog{}
	if _, err := newTestM365(t, s, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.hidden["ex-2"] = false
	c.t = c.t.Add(5 * time.Minute)
	if _, err := newTestM365(t, s, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, s.recordIDs(), m365ID)
	for name, n := range s.fetches {
		if n != 1 {
			t.Errorf("blob %s fetched %d times", name, n)
		}
	}
	// Twelve hours later the processed ids older than the overlap are
	// forgotten: the checkpoint stays small.
	c.t = c.t.Add(13 * time.Hour)
	if _, err := newTestM365(t, s, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	var st m365State
	store.Load(SourceID{Tenant: "riverside-family", Name: "m365", Type: TypeM365Activity}, &st)
	if n := len(st.ContentTypes["Audit.Exchange"].Processed); n != 0 {
		t.Errorf("%d processed ids kept beyond the overlap", n)
	}
}

// TestM365CatchUpWindows: a checkpoint 30 hours old is listed in windows of
// at most 24 hours; one older than the 7 days the API keeps starts at the
// oldest content still there.
func TestM365CatchUpWindows(t *testing.T) {
	s := newM365Server(t)
	c := newClock()
	store := mustStore(t)
	id := SourceID{Tenant: "riverside-family", Name: "m365", Type: TypeM365Activity}
	store.Save(id, m365State{ContentTypes: map[string]*m365TypeState{
		"Audit.Exchange":             {ListedThrough: testNow.Add(-30 * time.Hour)},
		"Audit.AzureActiveDirectory": {ListedThrough: testNow.Add(-10 * 24 * time.Hour)},
	}})
	log := &flushLog{}
	if _, err := newTestM365(t, s, c, store, &testSink{log: log}).Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	var windows []string
	for _, q := range s.lists {
		if q.Get("nextpage") == "" {
			windows = append(windows, q.Get("contentType")+" "+q.Get("startTime")+" "+q.Get("endTime"))
		}
	}
	want := []string{
		"Audit.Exchange 2026-09-30T06:00:00 2026-10-01T06:00:00", // 30h + 12h overlap back
		"Audit.Exchange 2026-10-01T06:00:00 2026-10-02T00:00:00",
		"Audit.AzureActiveDirectory 2026-09-25T00:10:00 2026-09-26T00:10:00", // clamped to 7 days
	}
	if len(windows) < 3 || !slices.Equal(windows[:3], want) {
		t.Fatalf("windows %q, want to start with %q", windows, want)
	}
	assertExactlyOnce(t, log, s.recordIDs(), m365ID)
}

// TestM365RestartNeitherLosesNorRepeats: every failure point, then a
// restart from the same state directory.
func TestM365RestartNeitherLosesNorRepeats(t *testing.T) {
	s := newM365Server(t)
	checkRestarts(t, s.recordIDs(), m365ID, func(t *testing.T, ck Checkpoints, sink Sink) Puller {
		return newTestM365(t, s, newClock(), ck, sink)
	})
}

// TestM365InvalidListing: a listing page that is not JSON fails the pass
// without moving the checkpoint.
func TestM365InvalidListing(t *testing.T) {
	s := newM365Server(t)
	s.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/subscriptions/content") && r.URL.Query().Get("contentType") == "Audit.AzureActiveDirectory" {
			w.Write([]byte(`[{"contentType":"Audit.AzureActiveDirectory","contentId":"x","contentUri":`))
			return true
		}
		return false
	}
	c := newClock()
	store := mustStore(t)
	log := &flushLog{}
	_, err := newTestM365(t, s, c, store, &testSink{log: log}).Pull(context.Background())
	if err == nil || Reason(err) != "invalid_response" || !strings.Contains(err.Error(), "Audit.AzureActiveDirectory") {
		t.Fatalf("err %v", err)
	}
	var st m365State
	store.Load(SourceID{Tenant: "riverside-family", Name: "m365", Type: TypeM365Activity}, &st)
	if _, ok := st.ContentTypes["Audit.AzureActiveDirectory"]; !ok || !st.ContentTypes["Audit.AzureActiveDirectory"].ListedThrough.Equal(testNow.Add(-48*time.Hour)) {
		t.Fatalf("checkpoint moved: %+v", st.ContentTypes["Audit.AzureActiveDirectory"])
	}
}

// TestM365CertificateCredentials: the client assertion signed with the
// app's certificate key is verified by the token endpoint (RS256, x5t of
// the certificate, aud, iss = sub = client id, exp).
func TestM365CertificateCredentials(t *testing.T) {
	s := newM365Server(t)
	dir := t.TempDir()
	key, keyFile := rsaKeyFile(t, dir)
	cert, der := certFile(t, dir, key)
	thumb := sha1.Sum(der)
	s.verify = func(f url.Values) error {
		if f.Get("client_assertion_type") != jwtBearerAssertion || f.Get("client_secret") != "" {
			return fmt.Errorf("form %v", f)
		}
		h, c, err := verifyJWT(f.Get("client_assertion"), &key.PublicKey)
		if err != nil {
			return err
		}
		if h["alg"] != "RS256" || h["x5t"] != b64.EncodeToString(thumb[:]) ||
			c["aud"] != s.srv.URL+"/"+testAzureTenant+"/oauth2/v2.0/token" || c["iss"] != "6731de76-14a6-49ae-97bc-6eba6914391e" || c["sub"] != c["iss"] ||
			claimInt(c, "exp") <= testNow.Unix() || c["jti"] == "" {
			return fmt.Errorf("assertion %v %v", h, c)
		}
		return nil
	}
	cfg, err := ParseConfig([]byte(s.sourcesYAML(fmt.Sprintf("      certificate_file: %s\n      private_key_file: %s\n", cert, keyFile))), "sources.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	log := &flushLog{}
	r, err := Build(cfg.Sources[0], BuildOptions{Deps: Deps{Sink: &testSink{log: log}, Checkpoints: mustStore(t), Log: quietLog(), Now: c.Now, Sleep: c.Sleep}, Metrics: newMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Puller.Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnce(t, log, s.recordIDs(), m365ID)
}
