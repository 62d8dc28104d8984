package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "phiwatch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// phiwatch token and grant as an operator runs them, then the API serving
// the created token over TLS (a process of its own: chDB opens one data
// directory per process).
func TestTokenGrantCommandsAndTLSAPI(t *testing.T) {
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storeDSN := "chdb:" + filepath.Join(t.TempDir(), "chdb")
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append(args[:2:2], append([]string{"--store", storeDSN, "--log-level", "debug", "--by", "ops"}, args[2:]...)...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	for _, bad := range [][]string{
		{"token", "create", "--name", "x", "--role", "reviewer", "--tenants", "clinic-a"},                                    // no expiry
		{"token", "create", "--name", "x", "--role", "reviewer", "--all-tenants", "--expires", "30d"},                        // all tenants, not msp
		{"token", "create", "--name", "x", "--role", "boss", "--tenants", "clinic-a", "--expires", "30d"},                    // no such role
		{"token", "create", "--name", "x", "--role", "reviewer", "--tenants", "clinic-a", "--group", "g", "--expires", "1d"}, // two scopes
		{"grant", "add", "--principal", "alice", "--role", "reviewer", "--tenants", "clinic-a", "--reason", "r"},             // not email:/sub:
	} {
		if code, _, errOut := run(bad...); code == 0 || !strings.Contains(errOut, "phiwatch "+bad[0]) {
			t.Errorf("%v: exit %d, stderr %q; want a refusal", bad, code, errOut)
		}
	}
	code, out, errOut := run("token", "create", "--name", "siem", "--role", "auditor", "--tenants", "clinic-a", "--expires", "30d", "--reason", "SIEM export")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "phw_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("token create: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if strings.Contains(errOut, secret) || strings.Contains(errOut, strings.TrimPrefix(secret, "phw_")) {
		t.Fatalf("the token appears in the log: %s", errOut)
	}
	code, out, _ = run("token", "list", "--format", "json")
	var tok struct {
		TokenID     string   `json:"token_id"`
		Role        string   `json:"role"`
		Tenants     []string `json:"tenants"`
		TokenSHA256 string   `json:"token_sha256"`
		CreatedBy   string   `json:"created_by"`
	}
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Role != "auditor" || tok.TokenSHA256 != "" || tok.CreatedBy != "cli:ops" {
		t.Fatalf("token list: exit %d %v %+v\n%s", code, err, tok, out)
	}
	if code, out, errOut = run("grant", "group-set", "--group", "east", "--tenants", "clinic-a,clinic-b", "--reason", "east coast"); code != 0 {
		t.Fatalf("group-set: %d %s %s", code, out, errOut)
	}
	if code, out, errOut = run("grant", "add", "--principal", "email:Tech@MSP.example", "--role", "msp_admin", "--group", "east", "--reason", "on call"); code != 0 || !strings.Contains(out, "email:tech@msp.example is msp_admin over group east") {
		t.Fatalf("grant add: %d %s %s", code, out, errOut)
	}
	if code, out, _ = run("grant", "list"); code != 0 || !strings.Contains(out, "email:tech@msp.example") || !strings.Contains(out, "group east") {
		t.Fatalf("grant list: %d %s", code, out)
	}

	// The API over TLS with the stored token.
	cert, key, pool := selfSigned(t)
	addr := freePort(t)
	var apiLog bytes.Buffer
	api := exec.CommandContext(ctx, bin, "api", "--store", storeDSN, "--listen", addr, "--tls-cert-file", cert, "--tls-key-file", key, "--log-level", "debug")
	api.Stderr = &apiLog
	if err := api.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			api.Process.Signal(syscall.SIGINT)
			api.Wait()
		}
	}
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, token string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return client.Do(req)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := get("/healthz", "")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API over TLS not up: %v\n%s", err, apiLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := get("/api/v1/tenants/clinic-a/alerts", secret)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("stored token over TLS: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, err := get("/api/v1/tenants/clinic-b/alerts", secret); err != nil || resp.StatusCode != 404 {
		t.Fatalf("other tenant: %v %v", resp, err)
	}
	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
	stop()
	if strings.Contains(apiLog.String(), secret) {
		t.Fatalf("the token appears in the API log")
	}

	if code, out, errOut = run("token", "revoke", "--id", tok.TokenID, "--reason", "rotated"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %d %s %s", code, out, errOut)
	}
	if code, out, _ = run("token", "list"); code != 0 || !strings.Contains(out, "revoked by cli:ops") {
		t.Fatalf("token list after revoke: %d %s", code, out)
	}
	if code, out, errOut = run("grant", "revoke", "--principal", "email:tech@msp.example", "--reason", "left"); code != 0 {
		t.Fatalf("grant revoke: %d %s %s", code, out, errOut)
	}
	// The changes are in the self-audit trail.
	q, err := exec.CommandContext(ctx, bin, "query", "--store", storeDSN, "SELECT action FROM phiwatch.audit_log WHERE via = 'cli' ORDER BY time").Output()
	if err != nil {
		t.Fatal(err)
	}
	out = string(q)
	for _, a := range []string{"token.create", "token.revoke", "grant.change", "grant.revoke"} {
		if !strings.Contains(out, a) {
			t.Errorf("audit trail lacks %s: %s", a, out)
		}
	}
}
