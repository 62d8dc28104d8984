package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// SessionConfig configures the browser sessions of the reviewer UI.
type SessionConfig struct {
	// Key encrypts and authenticates the cookies: 32 bytes, the same on
	// every API replica (LoadSessionKey reads it from a file).
	Key []byte
	// TTL is how long a session lasts after login (default 8 hours); the
	// server checks it, whatever the browser keeps.
	TTL time.Duration
	// Secure marks cookies Secure (set when the API serves TLS or sits
	// behind an HTTPS proxy); the cookie is then named __Host-….
	Secure bool
	Now    func() time.Time
}

// Sessions are encrypted cookies (AES-256-GCM): the browser holds the
// session, the server decides whether it is still valid. Who the person is
// comes from the cookie; what they may do is read from their grant on
// every request, so a revoked grant ends their access within seconds.
type Sessions struct {
	aead    cipher.AEAD
	csrfKey []byte
	ttl     time.Duration
	secure  bool
	now     func() time.Time

	mu    sync.Mutex
	ended map[string]time.Time // logged-out session ids → their expiry
}

// session is the cookie's content.
type session struct {
	ID string `json:"sid"`
	identity
	// Token is set for a session opened with an API token (token_login.go):
	// the token is checked again on every request, so its expiry and
	// revocation end the session.
	Token   string `json:"tok,omitempty"`
	Expires int64  `json:"exp"`
}

// LoadSessionKey reads a session key file: 32 raw bytes, or 64 hex
// characters, or base64 of 32 bytes (e.g. `openssl rand -hex 32 > key`).
func LoadSessionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	if len(b) == 32 {
		return b, nil
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("session key file %s: want 32 bytes, as raw bytes, 64 hex characters or base64 (openssl rand -hex 32)", path)
}

// NewSessionKey returns a random key, for a single process whose sessions
// may end at a restart.
func NewSessionKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// NewSessions prepares sessions with cfg.Key.
func NewSessions(cfg SessionConfig) (*Sessions, error) {
	if len(cfg.Key) != 32 {
		return nil, errors.New("the session key must be 32 bytes")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Separate keys for encryption and CSRF tokens, derived from the one.
	encKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "phiwatch session cookie", 32)
	if err != nil {
		return nil, err
	}
	csrfKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "phiwatch csrf token", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sessions{aead: aead, csrfKey: csrfKey, ttl: cfg.TTL, secure: cfg.Secure, now: cfg.Now, ended: map[string]time.Time{}}, nil
}

func (s *Sessions) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base // Secure, Path=/, no Domain: the browser enforces it
	}
	return base
}

const (
	sessionCookie = "phiwatch_session"
	flowCookie    = "phiwatch_login"
)

// seal encrypts v for the cookie named name (the name is authenticated
// too, so one cookie's value cannot be replayed as another's).
func (s *Sessions) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

func (s *Sessions) open(name, value string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) < s.aead.NonceSize() {
		return false
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

func (s *Sessions) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Sessions) writeFlow(c *gin.Context, f loginFlow) error {
	v, err := s.seal(s.cookieName(flowCookie), f)
	if err != nil {
		return err
	}
	s.setCookie(c, s.cookieName(flowCookie), v, int(loginFlowTTL/time.Second))
	return nil
}

func (s *Sessions) readFlow(c *gin.Context) (loginFlow, bool) {
	var f loginFlow
	v, err := c.Cookie(s.cookieName(flowCookie))
	return f, err == nil && s.open(s.cookieName(flowCookie), v, &f)
}

func (s *Sessions) clearFlow(c *gin.Context) { s.setCookie(c, s.cookieName(flowCookie), "", -1) }

// start issues a new session cookie for id (a fresh session id at every
// login, so a session cannot be fixed in advance).
func (s *Sessions) start(c *gin.Context, id identity) error {
	return s.startSession(c, session{identity: id})
}

// startSession issues a new session cookie for sess (fresh id, expiry).
func (s *Sessions) startSession(c *gin.Context, sess session) error {
	sess.ID, sess.Expires = randomString(24), s.now().Add(s.ttl).Unix()
	v, err := s.seal(s.cookieName(sessionCookie), sess)
	if err != nil {
		return err
	}
	s.setCookie(c, s.cookieName(sessionCookie), v, int(s.ttl/time.Second))
	return nil
}

// current is the request's valid session, if any.
func (s *Sessions) current(c *gin.Context) (session, bool) {
	var sess session
	if s == nil {
		return sess, false // no sign-in configured
	}
	v, err := c.Cookie(s.cookieName(sessionCookie))
	if err != nil || !s.open(s.cookieName(sessionCookie), v, &sess) {
		return session{}, false
	}
	if s.now().Unix() >= sess.Expires || sess.ID == "" {
		return session{}, false
	}
	s.mu.Lock()
	_, ended := s.ended[sess.ID]
	s.mu.Unlock()
	return sess, !ended
}

// end logs a session out: the cookie is cleared, and its id refused until
// it would have expired anyway.
func (s *Sessions) end(c *gin.Context, sess session) {
	now := s.now()
	s.mu.Lock()
	for id, exp := range s.ended {
		if now.Unix() >= exp.Unix() {
			delete(s.ended, id)
		}
	}
	s.ended[sess.ID] = time.Unix(sess.Expires, 0)
	s.mu.Unlock()
	s.setCookie(c, s.cookieName(sessionCookie), "", -1)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
