package main

import (
	"strings"
	"testing"
)

// A govulncheck -format json stream, shortened: indented objects one after
// the other, module and package levels before the symbol level.
const stream = `{
  "config": {"protocol_version": "v1.0.0", "scanner_version": "v1.9.0", "db": "file:///db", "go_version": "go1.26.8", "scan_level": "symbol"}
}
{"progress": {"message": "Scanning your code"}}
{"SBOM": {"go_version": "go1.26.8", "modules": [{"path": "stdlib", "version": "v1.26.8"}]}}
{"osv": {"id": "GO-1", "summary": "net/http bug"}}
{"osv": {"id": "GO-2", "summary": "lib bug"}}
{"osv": {"id": "GO-3", "summary": "other bug"}}
{"osv": {"id": "GO-4", "summary": "x509 bug"}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [{"module": "stdlib", "version": "v1.26.8"}]}}
{"finding": {"osv": "GO-3", "fixed_version": "v1.2.0", "trace": [{"module": "example.com/other", "version": "v1.1.0", "package": "example.com/other/p"}]}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [
  {"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "ServeHTTP", "receiver": "*fileHandler"},
  {"module": "github.com/phiwatch/phiwatch", "package": "github.com/phiwatch/phiwatch/internal/api", "function": "Serve"}]}}
{"finding": {"osv": "GO-4", "fixed_version": "v1.26.10", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "crypto/x509", "function": "Verify", "receiver": "*Certificate"}]}}
`

const lib = `{"finding": {"osv": "GO-2", "fixed_version": "v0.5.1", "trace": [
  {"module": "example.com/lib", "version": "v0.5.0", "package": "example.com/lib", "function": "Do"},
  {"module": "github.com/phiwatch/phiwatch", "package": "github.com/phiwatch/phiwatch", "function": "main"}]}}
`

func TestStdlibOnlyWarns(t *testing.T) {
	rep, err := parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code := write(&out, rep); code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out.String())
	}
	for _, want := range []string{
		"(a) standard library, reachable from phiwatch's code: 2",
		"GO-1  stdlib  go1.26.8  go1.26.9   net/http.fileHandler.ServeHTTP",
		"(b) third-party modules, reachable from phiwatch's code: 0",
		"not counted (required or imported, vulnerable code not called): 1: GO-3 (example.com/other)",
		"WARNING: all of them are fixed in go1.26.10.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReachableThirdPartyFails(t *testing.T) {
	rep, err := parse(strings.NewReader(stream + lib))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code := write(&out, rep); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "go get example.com/lib@v0.5.1   # GO-2") {
		t.Errorf("no upgrade command:\n%s", out.String())
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{
		"",                     // no config
		`{"config": {}} {"fin`, // truncated
		`{"config": {"scan_level": "package"}}`,
		`{"config": {}} {"finding": {"osv": "GO-1"}}`, // no trace
	} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("parse(%q): no error", in)
		}
	}
}

func TestVersionLess(t *testing.T) {
	if !versionLess("v1.26.9", "v1.26.10") || versionLess("v1.26.10", "v1.26.9") || !versionLess("v1.26", "v1.26.1") {
		t.Error("versionLess orders versions wrongly")
	}
}
