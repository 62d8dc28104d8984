package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func testSessions(t testing.TB, secure bool) *Sessions {
	t.Helper()
	s, err := NewSessions(SessionConfig{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Hour, Secure: secure})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionCookieIntegrity(t *testing.T) {
	s := testSessions(t, true)
	name := s.cookieName(sessionCookie)
	if name != "__Host-phiwatch_session" {
		t.Fatalf("secure cookie name %q", name)
	}
	v, err := s.seal(name, session{ID: "sid", identity: identity{Subject: "u1"}, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	var got session
	if !s.open(name, v, &got) || got.Subject != "u1" {
		t.Fatalf("round trip: %+v", got)
	}
	// One bit flipped anywhere, or the value moved to another cookie, or
	// another key: refused.
	b := []byte(v)
	b[len(b)/2] ^= 1
	if s.open(name, string(b), &got) {
		t.Fatal("tampered cookie accepted")
	}
	if s.open(s.cookieName(flowCookie), v, &got) {
		t.Fatal("a session cookie was accepted as the login-flow cookie")
	}
	other, _ := NewSessions(SessionConfig{Key: []byte("fedcba9876543210fedcba9876543210")})
	if other.open(name, v, &got) {
		t.Fatal("cookie accepted under another key")
	}
	// The cookie the server sets: HttpOnly, Secure, SameSite=Lax.
	gin.SetMode(gin.ReleaseMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/auth/callback", nil)
	if err := s.start(c, identity{Subject: "u1"}); err != nil {
		t.Fatal(err)
	}
	sc := w.Result().Cookies()
	if len(sc) != 1 || !sc[0].HttpOnly || !sc[0].Secure || sc[0].SameSite != http.SameSiteLaxMode || sc[0].Path != "/" {
		t.Fatalf("session cookie %+v", sc)
	}
}

func TestLoadSessionKey(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"raw":    "0123456789abcdef0123456789abcdef",
		"hex":    strings.Repeat("ab", 32) + "\n",
		"base64": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if k, err := LoadSessionKey(p); err != nil || len(k) != 32 {
			t.Errorf("%s key: %v", name, err)
		}
	}
	p := filepath.Join(dir, "short")
	os.WriteFile(p, []byte("too short"), 0o600)
	if _, err := LoadSessionKey(p); err == nil {
		t.Error("a short key was accepted")
	}
}

// FuzzSessionCookie: a cookie value is untrusted input; whatever it is,
// opening it must not panic and must not yield a session.
func FuzzSessionCookie(f *testing.F) {
	s := testSessions(f, false)
	v, _ := s.seal(sessionCookie, session{ID: "sid", Expires: 1 << 40})
	f.Add(v)
	f.Add("")
	f.Add("not base64 !!")
	f.Add(v[:len(v)-2])
	f.Fuzz(func(t *testing.T, value string) {
		var got session
		// Only the seed sealed with the key (in whichever process sealed it)
		// may open, and only as what was sealed.
		if s.open(sessionCookie, value, &got) && (got.ID != "sid" || got.Expires != 1<<40 || got.Subject != "") {
			t.Fatalf("forged cookie %q opened as %+v", value, got)
		}
	})
}

// FuzzBearerHeader: any Authorization header is answered, never with a
// principal unless it holds a known token.
func FuzzBearerHeader(f *testing.F) {
	tokens, err := NewTokens([]Token{{Name: "t", Token: "known-token-0123456789", Tenants: []string{"a"}, Role: "reviewer"}})
	if err != nil {
		f.Fatal(err)
	}
	a := &authenticator{tokens: tokens, log: discardLog(), now: time.Now}
	for _, s := range []string{"Bearer known-token-0123456789", "Bearer ", "Basic abc", "Bearer phw_x", "Bearer a.b.c", "bearer known-token-0123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, status, detail := a.bearer(t.Context(), header)
		if p != nil {
			if strings.TrimSpace(strings.TrimPrefix(header, "Bearer ")) != "known-token-0123456789" {
				t.Fatalf("header %q authenticated as %s", header, p.Subject)
			}
			return
		}
		if status != 401 || detail == "" {
			t.Fatalf("header %q: status %d %q", header, status, detail)
		}
	})
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/ui/t/a?x=1": "/ui/t/a?x=1", "//evil.example/x": "/", "/\\evil": "/", "http://evil": "/", "/a\r\nSet-Cookie: x": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
