// Command vulncheck reads govulncheck's JSON stream (`govulncheck -format
// json`) on stdin and applies phiwatch's policy to it (see
// deploy/dev/vulncheck.sh and docs/security.md, "CI"):
//
//   - a finding counts only when it is reachable: its trace starts at a
//     vulnerable function called from phiwatch's code (govulncheck's
//     symbol level), not merely an imported package or a required module;
//   - reachable findings in the standard library (module "stdlib" or
//     "toolchain") are printed with a WARNING and the Go version that fixes
//     them, and do not fail: fixing them means moving the toolchain, a
//     deliberate decision;
//   - reachable findings in any other module fail (exit status 1): they are
//     fixed with `go get module@fixed`.
//
// Exit status: 0 no reachable third-party finding, 1 at least one, 2 the
// input is not a govulncheck JSON stream.
//
// Usage: govulncheck -format json ./... | go run ./deploy/dev/vulncheck
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// The subset of govulncheck's protocol (golang.org/x/vuln/internal/govulncheck,
// protocol v1.0.0) read here; unknown fields and messages are ignored.
type message struct {
	Config  *config  `json:"config"`
	OSV     *osv     `json:"osv"`
	Finding *finding `json:"finding"`
}

type config struct {
	ProtocolVersion string `json:"protocol_version"`
	ScannerVersion  string `json:"scanner_version"`
	DB              string `json:"db"`
	DBLastModified  string `json:"db_last_modified"`
	GoVersion       string `json:"go_version"`
	ScanLevel       string `json:"scan_level"`
}

type osv struct {
	ID      string   `json:"id"`
	Summary string   `json:"summary"`
	Aliases []string `json:"aliases"`
}

type finding struct {
	OSV          string   `json:"osv"`
	FixedVersion string   `json:"fixed_version"`
	Trace        []*frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

func (f *frame) symbol() string {
	s := f.Package + "."
	if f.Receiver != "" {
		s += strings.TrimPrefix(f.Receiver, "*") + "."
	}
	return s + f.Function
}

// result is one vulnerability (OSV id) in one module.
type result struct {
	ID, Module, Found, Fixed, Summary string
	Called                            bool
	Symbols                           map[string]bool // vulnerable functions called
	Entries                           map[string]bool // phiwatch functions calling them
}

type report struct {
	Config  *config
	Results []*result // sorted by module, then id
}

func isStdlib(module string) bool { return module == "stdlib" || module == "toolchain" }

// parse reads a govulncheck JSON stream: a sequence of JSON objects.
func parse(r io.Reader) (*report, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	summaries := map[string]string{}
	byKey := map[string]*result{}
	rep := &report{}
	for n := 0; ; n++ {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("message %d: %w", n+1, err)
		}
		switch {
		case m.Config != nil:
			rep.Config = m.Config
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil:
			f := m.Finding
			if f.OSV == "" || len(f.Trace) == 0 || f.Trace[0] == nil {
				return nil, fmt.Errorf("message %d: finding without an OSV id or a trace", n+1)
			}
			top := f.Trace[0] // the vulnerable symbol, package or module
			key := f.OSV + "\x00" + top.Module
			res := byKey[key]
			if res == nil {
				res = &result{ID: f.OSV, Module: top.Module, Symbols: map[string]bool{}, Entries: map[string]bool{}}
				byKey[key] = res
			}
			if top.Version != "" {
				res.Found = top.Version
			}
			if f.FixedVersion != "" {
				res.Fixed = f.FixedVersion
			}
			if top.Function != "" {
				res.Called = true
				res.Symbols[top.symbol()] = true
				if last := f.Trace[len(f.Trace)-1]; len(f.Trace) > 1 && last != nil && last.Function != "" {
					res.Entries[last.symbol()] = true
				}
			}
		}
	}
	if rep.Config == nil {
		return nil, errors.New("no config message: not govulncheck JSON output")
	}
	if l := rep.Config.ScanLevel; l != "" && l != "symbol" {
		return nil, fmt.Errorf("scan level %q cannot tell which findings are reachable; use -scan symbol (the default)", l)
	}
	for _, res := range byKey {
		res.Summary = summaries[res.ID]
		rep.Results = append(rep.Results, res)
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.ID < b.ID
	})
	return rep, nil
}

// split returns the reachable findings in the standard library and in other
// modules, and the number of findings that are not reachable.
func (r *report) split() (stdlib, thirdParty []*result, notCalled []string) {
	for _, res := range r.Results {
		switch {
		case !res.Called:
			notCalled = append(notCalled, res.ID+" ("+res.Module+")")
		case isStdlib(res.Module):
			stdlib = append(stdlib, res)
		default:
			thirdParty = append(thirdParty, res)
		}
	}
	return stdlib, thirdParty, notCalled
}

// goVersion turns a stdlib module version (v1.26.9) into a Go version (go1.26.9).
func goVersion(v string) string {
	if v == "" {
		return "none"
	}
	return "go" + strings.TrimPrefix(v, "v")
}

// versionLess compares dotted numeric versions with an optional leading "v"
// or "go" (v1.26.9 < v1.26.10); pre-release suffixes compare as text.
func versionLess(a, b string) bool {
	trim := func(s string) []string {
		return strings.Split(strings.TrimPrefix(strings.TrimPrefix(s, "go"), "v"), ".")
	}
	pa, pb := trim(a), trim(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		switch {
		case errA == nil && errB == nil && na != nb:
			return na < nb
		case (errA != nil || errB != nil) && pa[i] != pb[i]:
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describe(res *result) string {
	syms := sortedKeys(res.Symbols)
	s := syms[0]
	if len(syms) > 1 {
		s += fmt.Sprintf(" (+%d)", len(syms)-1)
	}
	return s
}

func table(w io.Writer, results []*result, stdlib bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  OSV\tMODULE\tFOUND\tFIXED\tCALLED (example)\tSUMMARY")
	for _, res := range results {
		found, fixed := res.Found, res.Fixed
		if stdlib {
			found, fixed = goVersion(found), goVersion(fixed)
		} else if fixed == "" {
			fixed = "none"
		}
		summary := res.Summary
		if len(summary) > 70 {
			summary = summary[:67] + "..."
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", res.ID, res.Module, found, fixed, describe(res), summary)
	}
	tw.Flush()
}

// write prints the report and returns the exit status.
func write(w io.Writer, rep *report) int {
	stdlib, third, notCalled := rep.split()
	c := rep.Config
	fmt.Fprintf(w, "govulncheck %s, %s, database %s (modified %s), scan level %s\n",
		c.ScannerVersion, c.GoVersion, c.DB, c.DBLastModified, c.ScanLevel)

	fmt.Fprintf(w, "\n(a) standard library, reachable from phiwatch's code: %d\n", len(stdlib))
	if len(stdlib) > 0 {
		table(w, stdlib, true)
	}
	fmt.Fprintf(w, "\n(b) third-party modules, reachable from phiwatch's code: %d\n", len(third))
	if len(third) > 0 {
		table(w, third, false)
	}
	fmt.Fprintf(w, "\nnot counted (required or imported, vulnerable code not called): %d", len(notCalled))
	if len(notCalled) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(notCalled, ", "))
	}
	fmt.Fprintln(w)

	if len(stdlib) > 0 {
		need := ""
		for _, res := range stdlib {
			if res.Fixed != "" && (need == "" || versionLess(need, res.Fixed)) {
				need = res.Fixed
			}
		}
		bar := strings.Repeat("!", 78)
		fmt.Fprintf(w, "\n%s\nWARNING: %d standard-library vulnerabilities of %s are reachable from phiwatch's code:\n",
			bar, len(stdlib), c.GoVersion)
		for _, res := range stdlib {
			fmt.Fprintf(w, "WARNING:   %s  fixed in %s  (%s)\n", res.ID, goVersion(res.Fixed), describe(res))
		}
		fmt.Fprintf(w, "WARNING: all of them are fixed in %s. Only a newer Go toolchain fixes them (go.mod's\n"+
			"WARNING: go line and CI's Go): a deliberate decision, so this does not fail the build.\n%s\n",
			goVersion(need), bar)
	}
	if len(third) > 0 {
		fmt.Fprintf(w, "\nFAIL: %d reachable vulnerabilities in third-party modules. Upgrade:\n", len(third))
		for _, res := range third {
			if res.Fixed == "" {
				fmt.Fprintf(w, "  %s: no fixed version of %s; stop calling %s or replace the module\n",
					res.ID, res.Module, strings.Join(sortedKeys(res.Symbols), ", "))
				continue
			}
			fmt.Fprintf(w, "  go get %s@%s   # %s\n", res.Module, res.Fixed, res.ID)
		}
		fmt.Fprintln(w, "then `go mod tidy` and run this check again.")
		return 1
	}
	fmt.Fprintln(w, "\nOK: no reachable vulnerability in third-party modules.")
	return 0
}

func main() {
	rep, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck: reading govulncheck JSON:", err)
		os.Exit(2)
	}
	os.Exit(write(os.Stdout, rep))
}
