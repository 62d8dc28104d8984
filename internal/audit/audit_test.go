package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/internal/store"
)

func TestCut(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: never cut inside a rune
		{"a\x00b", 5, "ab"},
		{"a\xffb", 5, "ab"},
	} {
		if got := cut(c.in, c.n); got != c.want || !utf8.ValidString(got) {
			t.Errorf("cut(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	for _, c := range []struct {
		header string
		kept   bool
	}{
		{"abc-123_x.y", true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a b", false},
		{"a\nb", false},
	} {
		rec := httptest.NewRecorder()
		gc, _ := gin.CreateTestContext(rec)
		gc.Request = httptest.NewRequest("GET", "/", nil)
		gc.Request.Header.Set("X-Request-ID", c.header)
		id := RequestID(gc)
		if (id == c.header) != c.kept || id == "" || rec.Header().Get("X-Request-ID") != id || RequestID(gc) != id {
			t.Errorf("header %q: id %q, kept %v", c.header, id, id == c.header)
		}
	}
}

// recordingQuerier keeps the last statement.
type recordingQuerier struct {
	mu     sync.Mutex
	sql    string
	params store.Params
	err    error
	execs  []store.Params
}

func (q *recordingQuerier) Exec(_ context.Context, sql string, p store.Params) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sql, q.params = sql, p
	q.execs = append(q.execs, p)
	return q.err
}

// rows lists the entry actions of each insert so far.
func (q *recordingQuerier) rows() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, p := range q.execs {
		out = append(out, p["a_action"])
	}
	return out
}
func (q *recordingQuerier) Select(context.Context, any, string, store.Params) error { return nil }
func (q *recordingQuerier) Database() string                                        { return "db" }
func (q *recordingQuerier) Ping(context.Context) error                              { return nil }

func TestStoreAuditorParams(t *testing.T) {
	q := &recordingQuerier{}
	a := NewStoreAuditor(q)
	e := Entry{Tenant: "t", Action: "phi.reveal", Reason: "line1\nline2\t\\ end", UserAgent: strings.Repeat("u", 2000), Status: 70000}
	if err := a.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q.sql, "line1") || !strings.Contains(q.sql, "INSERT INTO db.audit_log") {
		t.Fatalf("values are spliced into the statement: %s", q.sql)
	}
	for k, want := range map[string]string{"a_status": "[65535]", "a_action": "['phi.reveal']"} {
		if q.params[k] != want {
			t.Errorf("%s = %q, want %q", k, q.params[k], want)
		}
	}
	if got, want := q.params["a_user_agent"], "['"+strings.Repeat("u", maxField)+"']"; got != want {
		t.Errorf("user agent not cut to %d bytes: %d", maxField, len(got))
	}
	if q.params["a_entry_id"] == "['']" || !strings.Contains(q.params["a_reason"], "line1") {
		t.Errorf("params %v", q.params)
	}
	q.err = errors.New("down")
	if err := a.Record(context.Background(), e); err == nil || !errors.Is(err, q.err) {
		t.Fatalf("a failed insert returned %v", err)
	}
}

func TestNoteWithoutMiddleware(t *testing.T) {
	gc, _ := gin.CreateTestContext(httptest.NewRecorder())
	gc.Request = httptest.NewRequest("GET", "/", nil)
	if err := Note(gc, ActionRevealPHI, "p", "r"); !errors.Is(err, ErrNoAuditor) {
		t.Fatalf("Note without an auditor: %v", err)
	}
}

type memAuditor struct{ entries []Entry }

func (m *memAuditor) Record(_ context.Context, e Entry) error {
	m.entries = append(m.entries, e)
	return nil
}

// A handler that panics is still in the trail, as a 500.
func TestMiddlewareRecordsPanics(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	m := &memAuditor{}
	r := gin.New()
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(500) }))
	r.GET("/t/:tenant/boom", Middleware(m, slog.New(slog.NewTextHandler(io.Discard, nil))), func(*gin.Context) { panic("boom") })
	r.GET("/t/:tenant/ok", Middleware(m, slog.New(slog.NewTextHandler(io.Discard, nil))), func(c *gin.Context) { c.Status(204) })
	for _, path := range []string{"/t/x/boom", "/t/x/ok"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	if len(m.entries) != 2 || m.entries[0].Status != 500 || m.entries[1].Status != 204 ||
		m.entries[0].Route != "/t/:tenant/boom" || m.entries[0].Target != "tenant:x" || m.entries[0].Tenant != "" {
		t.Fatalf("entries %+v", m.entries)
	}
}

// Request rows are batched; everything else is written at once.
func TestBatcher(t *testing.T) {
	q := &recordingQuerier{}
	b := NewBatcher(NewStoreAuditor(q), slog.New(slog.NewTextHandler(io.Discard, nil)), BatchOptions{MaxRows: 2, Delay: time.Hour})
	ctx := context.Background()
	req := Entry{Action: ActionRequest}
	for _, e := range []Entry{req, {Action: ActionRevealPHI}, req, req} {
		if err := b.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := q.rows(), []string{"['phi.reveal']", "['request','request']"}; !slices.Equal(got, want) {
		t.Fatalf("inserts %v, want %v", got, want)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := q.rows(); len(got) != 3 || got[2] != "['request']" {
		t.Fatalf("after Flush: inserts %v", got)
	}
	// A lone row is written by the timer.
	b = NewBatcher(NewStoreAuditor(q), slog.New(slog.NewTextHandler(io.Discard, nil)), BatchOptions{Delay: time.Millisecond})
	if err := b.Record(ctx, req); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(q.rows()) < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pending row was never written")
		}
	}
}
