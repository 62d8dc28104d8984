package pull

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOAuthTokenCache: a token is reused until a tenth of its life (at
// most a minute) before it expires, then fetched again; the secret goes in
// the form and never into an error.
func TestOAuthTokenCache(t *testing.T) {
	var mu sync.Mutex
	fetches := 0
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		if r.PostForm.Get("client_secret") != "s3cr3t" || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "api/.default" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`))
			return
		}
		fetches++
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":300}`, fetches)
	})
	c := newClock()
	secret := "s3cr3t"
	o := &OAuthToken{TokenURL: FixedURL(srv.URL), HTTP: testClient(c, nil), Now: c.Now,
		Form: ClientSecretForm("app", "api/.default", Secret{Env: "S", Getenv: func(string) string { return secret }})}
	ctx := context.Background()
	get := func() string {
		t.Helper()
		tok, err := o.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if a, b := get(), get(); a != "tok-1" || b != "tok-1" {
		t.Fatalf("tokens %s %s", a, b)
	}
	c.t = c.t.Add(269 * time.Second) // 300s less 30s of margin: still good
	if tok := get(); tok != "tok-1" {
		t.Fatalf("token %s renewed early", tok)
	}
	c.t = c.t.Add(2 * time.Second)
	if tok := get(); tok != "tok-2" {
		t.Fatalf("token %s not renewed", tok)
	}
	o.Invalidate("tok-1") // a stale refusal does not drop the new token
	if tok := get(); tok != "tok-2" {
		t.Fatalf("token %s", tok)
	}
	o.Invalidate("tok-2")
	if tok := get(); tok != "tok-3" {
		t.Fatalf("token %s after invalidation", tok)
	}
	secret = "wrong-s3cr3t"
	o.Invalidate("tok-3")
	_, err := o.Token(ctx)
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "invalid_client: AADSTS7000215") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err %v", err)
	}
}

// TestParsePrivateKey reads the PEM forms keys come in and refuses
// encrypted ones and non-keys without quoting them.
func TestParsePrivateKey(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ek)
	for _, tc := range []struct {
		name, pem, want string
	}{
		{"PKCS#1", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})), "RSA 2048-bit"},
		{"SEC 1 after EC PARAMETERS", "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n" + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), "EC P-384"},
		{"PKCS#8 EC", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "EC P-384"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJ\n-----END ENCRYPTED PRIVATE KEY-----\n", "is an encrypted private key"},
		{"certificate only", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "holds no PEM private key"},
	} {
		k, err := ParsePrivateKey([]byte(tc.pem), "key.pem")
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = keyKind(k)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := NewJWTSigner("RS384", rk, nil); err != nil {
		t.Error(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewJWTSigner("RS384", small, nil); err == nil || !strings.Contains(err.Error(), "at least 2048") {
		t.Errorf("1024-bit key: %v", err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := NewJWTSigner("ES384", p256, nil); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("P-256 key: %v", err)
	}
}

// TestStaticTokenFromFile: the token is read from its file, trimmed, and
// read again after Invalidate (a rotated file); an empty file is an error
// that names the file, not the content.
func TestStaticTokenFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	writeFile(t, f, "first\n")
	s := &StaticToken{Secret: Secret{File: f}}
	if tok, _ := s.Token(context.Background()); tok != "first" {
		t.Fatalf("token %q", tok)
	}
	writeFile(t, f, "second")
	if tok, _ := s.Token(context.Background()); tok != "first" {
		t.Fatalf("re-read without a 401: %q", tok)
	}
	s.Invalidate("first")
	if tok, _ := s.Token(context.Background()); tok != "second" {
		t.Fatalf("not re-read: %q", tok)
	}
	writeFile(t, f, "  \n")
	s.Invalidate("second")
	if _, err := s.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "file "+f) {
		t.Fatalf("err %v", err)
	}
}
