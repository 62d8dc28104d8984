package parsers

// Helpers shared by the email formats that see recipients: message-trace,
// postfix and google-reports.

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// InternalDomainsSetter is implemented by email parsers that can tell the
// practice's own mail domains from outside ones. Which domains are the
// practice's is tenant configuration, not in any log, so without them these
// parsers leave Email.External false and (where the log does not say) the
// direction of a message undecided; ingest's --internal-domains should set
// them. A subdomain of an internal domain is internal.
type InternalDomainsSetter interface {
	WithInternalDomains(domains []string) Parser
}

// normalizeDomain turns a configured domain ("Riverside.example",
// "@riverside.example", "*.riverside.example", "riverside.example.") into the
// form addresses are compared with.
func normalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, "@")
	d = strings.TrimPrefix(d, "*.")
	return strings.TrimSuffix(d, ".")
}

// normalizeDomains cleans a configured list: normalized, without blanks or
// repeats, sorted, and never sharing the caller's slice.
func normalizeDomains(list []string) []string {
	var out []string
	for _, d := range list {
		if d = normalizeDomain(d); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// addressDomain is the lower-cased domain of an address, "" when it has
// none (a bare local user such as Postfix's to=<jlee>).
func addressDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(addr[i+1:], " <>")), ".")
}

// isInternal reports whether addr is in one of the internal domains (or a
// subdomain). An address without a domain is local, hence internal.
func isInternal(internal []string, addr string) bool {
	d := addressDomain(addr)
	if d == "" {
		return true
	}
	for _, in := range internal {
		in = normalizeDomain(in) // tolerate a list set without WithInternalDomains
		if in != "" && (d == in || strings.HasSuffix(d, "."+in)) {
			return true
		}
	}
	return false
}

// anyExternal reports whether a recipient is outside the internal domains;
// false when none are configured (unknown is not external).
func anyExternal(internal, recipients []string) bool {
	if len(internal) == 0 {
		return false
	}
	for _, r := range recipients {
		if !isInternal(internal, r) {
			return true
		}
	}
	return false
}

// allInternal reports whether every address is internal; false when no
// domains are configured or there are no addresses.
func allInternal(internal, addrs []string) bool {
	if len(internal) == 0 || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !isInternal(internal, a) {
			return false
		}
	}
	return true
}

// putSubject records a message subject without keeping its text. Subjects
// carry PHI ("Lab results for Jane Doe, DOB 1/2/1960") and phiwatch stores
// events for years, so the text never reaches an event: attrs get its length
// and a SHA-256 prefix that lets a reviewer see that two messages had the
// same subject, or confirm a subject they already know. The hash is salted
// with the tenant so values do not correlate across practices; a salted
// hash of short text still confirms a guess, which is why only 64 bits of it
// are kept and why it is no substitute for access control.
func putSubject(attrs map[string]string, tenant, subject string) {
	subject = strings.TrimSpace(subject)
	if subject == "" {
		return
	}
	sum := sha256.Sum256([]byte(tenant + "\x00" + subject))
	attrs["subject_sha256"] = hex.EncodeToString(sum[:8])
	attrs["subject_len"] = strconv.Itoa(utf8.RuneCountInString(subject))
}

// redactedText replaces text that may carry PHI (a subject, a file name) in
// the raw record kept as evidence.
const redactedText = "[redacted]"

// cleanAddress trims an address as logs write it: spaces, angle brackets,
// quotes and a "smtp:" prefix.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "smtp:"), "SMTP:")
	return strings.TrimSpace(strings.Trim(s, `<>"' `))
}

// uniqueAddresses cleans addrs and drops empty ones and repeats (compared
// case-insensitively), keeping the first spelling and the order.
func uniqueAddresses(addrs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		a = cleanAddress(a)
		k := strings.ToLower(a)
		if a == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
	}
	return out
}
