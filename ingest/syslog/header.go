// Package syslog receives syslog messages over UDP and TCP (RFC 5426, RFC
// 6587) and parses their headers (RFC 3164 and RFC 5424, plus the variants
// network devices such as Cisco ASA actually send).
//
// The listener hands each message on whole, header included: parsers get
// the same bytes whether a line came from a file or from the network, so a
// record and its event id do not depend on how it arrived.
package syslog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Format says which header a message had.
type Format int

// Header formats.
const (
	FormatNone    Format = iota // no recognizable header: Msg is the whole input
	FormatRFC3164               // BSD syslog: <PRI>Mmm dd hh:mm:ss host tag: msg
	FormatRFC5424               // <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
)

func (f Format) String() string {
	switch f {
	case FormatRFC3164:
		return "rfc3164"
	case FormatRFC5424:
		return "rfc5424"
	default:
		return "none"
	}
}

// Header is what a syslog header says. Fields the message does not carry
// are left empty (Priority -1, zero Time).
type Header struct {
	Format   Format
	Priority int       // facility*8 + severity, 0-191; -1 when there is no <PRI>
	Time     time.Time // zero when the message has no timestamp
	// TimeHasYear is false for RFC 3164 stamps without a year, whose year
	// was inferred from the receive time.
	TimeHasYear bool
	Hostname    string
	AppName     string // RFC 5424 APP-NAME, or the RFC 3164 tag
	ProcID      string
	MsgID       string // RFC 5424 only
	// StructuredData is the RFC 5424 STRUCTURED-DATA as sent ("" for "-").
	StructuredData string
	// Msg is the message after the header: always a suffix of the input.
	Msg string
}

// Facility is the syslog facility, or -1 without a priority.
func (h Header) Facility() int {
	if h.Priority < 0 {
		return -1
	}
	return h.Priority / 8
}

// Severity is the syslog severity (0 emergency … 7 debug), or -1 without a
// priority.
func (h Header) Severity() int {
	if h.Priority < 0 {
		return -1
	}
	return h.Priority % 8
}

// HeaderOptions say how to read timestamps that do not say everything.
type HeaderOptions struct {
	// Location is the zone of RFC 3164 stamps, which carry none (the
	// sender's local time). Default UTC.
	Location *time.Location
	// ReceivedAt is when the message arrived; it supplies the year of
	// RFC 3164 stamps that have none. Default time.Now().
	ReceivedAt time.Time
}

// futureSlack is how far ahead of the receive time a year-less stamp may be
// and still be taken as this year. Beyond it the stamp is last year's: a log
// read in January holds December's lines. Within it a sender's clock running
// ahead is reported by event validation rather than hidden as a year's error.
const futureSlack = 7 * 24 * time.Hour

// ParseHeader splits a syslog message into its header and message. It is
// lenient where senders differ (no priority, no hostname, a year or
// fractional seconds in an RFC 3164 stamp, "host : msg" spacing) and strict
// where a header is recognizably broken: an out-of-range priority, an
// impossible date, malformed RFC 5424 fields or structured data. Input
// without any recognizable header is returned whole as Msg with FormatNone.
func ParseHeader(msg string, opt HeaderOptions) (Header, error) {
	h := Header{Priority: -1}
	rest := msg
	pri, n, err := parsePriority(rest)
	if err != nil {
		return h, err
	}
	if n > 0 {
		h.Priority = pri
		rest = rest[n:]
		if isRFC5424(rest) {
			return parse5424(h, rest)
		}
	}
	return parse3164(h, rest, opt)
}

// parsePriority reads "<PRI>". n is 0 when the input does not start with a
// priority at all (which is not an error: many files hold lines without).
func parsePriority(s string) (pri, n int, err error) {
	if len(s) < 3 || s[0] != '<' {
		return 0, 0, nil
	}
	i := 1
	for i < len(s) && i <= 4 && isDigit(s[i]) {
		pri = pri*10 + int(s[i]-'0')
		i++
	}
	if i == 1 || i >= len(s) || s[i] != '>' {
		return 0, 0, nil
	}
	if i > 4 || pri > 191 {
		return 0, 0, fmt.Errorf("syslog priority %s is out of range 0-191", s[:i+1])
	}
	return pri, i + 1, nil
}

// isRFC5424 reports whether s (after the priority) starts with an RFC 5424
// version: 1-2 digits, not zero-led, then a space. An RFC 3339 stamp after a
// 3164-style priority ("<166>2018-06-27T12:17:46Z asa : …", ASA's "logging
// timestamp rfc5424") does not match: a '-' follows its digits.
func isRFC5424(s string) bool {
	i := 0
	for i < len(s) && i < 3 && isDigit(s[i]) {
		i++
	}
	return i > 0 && i <= 2 && s[0] != '0' && i < len(s) && s[i] == ' '
}

func parse5424(h Header, s string) (Header, error) {
	h.Format = FormatRFC5424
	field := func(name string) (string, error) {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return "", fmt.Errorf("RFC 5424 header ends before %s", name)
		}
		v := s[:i]
		s = s[i+1:]
		if v == "" {
			return "", fmt.Errorf("RFC 5424 header has an empty %s (two spaces)", name)
		}
		if v == "-" {
			return "", nil
		}
		return v, nil
	}
	if _, err := field("VERSION"); err != nil {
		return h, err
	}
	ts, err := field("TIMESTAMP")
	if err != nil {
		return h, err
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return h, fmt.Errorf("RFC 5424 timestamp %q is not an RFC 3339 time", ts)
		}
		h.Time, h.TimeHasYear = t, true
	}
	if h.Hostname, err = field("HOSTNAME"); err != nil {
		return h, err
	}
	if h.AppName, err = field("APP-NAME"); err != nil {
		return h, err
	}
	if h.ProcID, err = field("PROCID"); err != nil {
		return h, err
	}
	if h.MsgID, err = field("MSGID"); err != nil {
		return h, err
	}
	sd, n, err := structuredData(s)
	if err != nil {
		return h, err
	}
	h.StructuredData = sd
	s = s[n:]
	switch {
	case s == "":
	case s[0] == ' ':
		s = strings.TrimPrefix(s[1:], "\ufeff") // RFC 5424 MSG may start with a UTF-8 BOM
	default:
		return h, fmt.Errorf("RFC 5424 structured data is followed by %q, not a space", clip(s, 16))
	}
	h.Msg = s
	return h, nil
}

// structuredData measures the STRUCTURED-DATA at the start of s: "-" or one
// or more [SD-ID PARAM="VALUE" …] elements. Inside a quoted value '\'
// escapes the next character, so `\]` and `\"` do not end anything.
func structuredData(s string) (sd string, n int, err error) {
	if s == "" {
		return "", 0, errors.New("RFC 5424 header ends before STRUCTURED-DATA")
	}
	if s[0] == '-' {
		return "", 1, nil
	}
	if s[0] != '[' {
		return "", 0, fmt.Errorf("RFC 5424 structured data starts with %q, want '[' or '-'", clip(s, 16))
	}
	i := 0
	for i < len(s) && s[i] == '[' {
		inQuote := false
		j := i + 1
		for ; j < len(s); j++ {
			c := s[j]
			if inQuote {
				switch c {
				case '\\':
					j++ // skip the escaped character
				case '"':
					inQuote = false
				}
				continue
			}
			if c == '"' {
				inQuote = true
			} else if c == ']' {
				break
			}
		}
		if j >= len(s) {
			return "", 0, errors.New("RFC 5424 structured data is not terminated by ']'")
		}
		if j == i+1 {
			return "", 0, errors.New("RFC 5424 structured data has an empty element []")
		}
		i = j + 1
	}
	return s[:i], i, nil
}

func parse3164(h Header, s string, opt HeaderOptions) (Header, error) {
	t, hasYear, n, err := stamp3164(s, opt)
	if err != nil {
		return h, err
	}
	if n == 0 {
		// No timestamp: RFC 3164 says the rest is all message. Devices with
		// timestamps turned off send just "<PRI>%ASA-…" or "<PRI>: …".
		if h.Priority >= 0 {
			h.Format = FormatRFC3164
		}
		h.Msg = s
		return h, nil
	}
	h.Format = FormatRFC3164
	h.Time, h.TimeHasYear = t, hasYear
	s = s[n:]
	// "Mmm dd yyyy hh:mm:ss: msg": no hostname, the stamp ends with a colon.
	if strings.HasPrefix(s, ":") {
		h.Msg = trimLeadingSpace(s[1:])
		return h, nil
	}
	s = trimLeadingSpace(s)
	tok, after, _ := strings.Cut(s, " ")
	if tok == "" {
		h.Msg = s
		return h, nil
	}
	if strings.HasSuffix(tok, ":") {
		// "stamp host: msg" (as some relays write ASA lines) or
		// "stamp tag[pid]: msg" without a hostname.
		if app, pid, ok := tag(tok); ok && pid != "" {
			h.AppName, h.ProcID = app, pid
		} else {
			h.Hostname = strings.TrimSuffix(tok, ":")
		}
		h.Msg = after
		return h, nil
	}
	h.Hostname = tok
	s = after
	// ASA: "host : %ASA-6-…" — a lone colon separates host and message.
	if strings.HasPrefix(s, ": ") || s == ":" {
		h.Msg = trimLeadingSpace(s[1:])
		return h, nil
	}
	if tok, after, found := strings.Cut(s, " "); found || tok != "" {
		if app, pid, ok := tag(tok); ok {
			h.AppName, h.ProcID = app, pid
			h.Msg = after
			return h, nil
		}
	}
	h.Msg = s
	return h, nil
}

// tag reads an RFC 3164 TAG token: "name:" or "name[pid]:". Names are kept to
// characters programs use, so a message that starts with "%ASA-6-113005:" is
// not mistaken for a tag.
func tag(tok string) (app, pid string, ok bool) {
	tok, ok = strings.CutSuffix(tok, ":")
	if !ok || tok == "" {
		return "", "", false
	}
	if i := strings.IndexByte(tok, '['); i >= 0 {
		if !strings.HasSuffix(tok, "]") || i == 0 {
			return "", "", false
		}
		pid = tok[i+1 : len(tok)-1]
		tok = tok[:i]
		if pid == "" {
			return "", "", false
		}
	}
	if len(tok) > 48 {
		return "", "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == '/') {
			return "", "", false
		}
	}
	return tok, pid, true
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// stamp3164 reads the timestamp at the start of s: "Mmm dd hh:mm:ss",
// "Mmm dd yyyy hh:mm:ss" (Cisco "logging timestamp"), either with optional
// fractional seconds, or an RFC 3339 time (ASA "logging timestamp
// rfc5424"). n is 0 when s does not start with a timestamp; err is set for
// one that is recognizably a timestamp but an impossible time.
func stamp3164(s string, opt HeaderOptions) (t time.Time, hasYear bool, n int, err error) {
	if len(s) > 0 && isDigit(s[0]) {
		return stampRFC3339(s)
	}
	if len(s) < 3 {
		return time.Time{}, false, 0, nil
	}
	month := 0
	for i, m := range months {
		if strings.EqualFold(s[:3], m) {
			month = i + 1
			break
		}
	}
	if month == 0 || len(s) < 4 || s[3] != ' ' {
		return time.Time{}, false, 0, nil
	}
	p := &scanner{s: s, i: 4}
	p.spaces()
	day, ok := p.digits(1, 2)
	if !ok || !p.byte(' ') {
		return time.Time{}, false, 0, nil
	}
	year := 0
	save := p.i
	if y, ok := p.digits(4, 4); ok && p.byte(' ') {
		year, hasYear = y, true
	} else {
		p.i = save
	}
	hh, ok1 := p.digits(2, 2)
	c1 := p.byte(':')
	mm, ok2 := p.digits(2, 2)
	c2 := p.byte(':')
	ss, ok3 := p.digits(2, 2)
	if !(ok1 && c1 && ok2 && c2 && ok3) {
		return time.Time{}, false, 0, nil
	}
	nsec := 0
	if p.byte('.') {
		frac, digits := p.fraction()
		if digits == 0 {
			return time.Time{}, false, 0, nil
		}
		nsec = frac
	}
	// The stamp must end here: at the end, a space or a colon.
	if p.i < len(s) && s[p.i] != ' ' && s[p.i] != ':' {
		return time.Time{}, false, 0, nil
	}
	stampText := s[:p.i]
	if hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false, 0, fmt.Errorf("syslog timestamp %q is not a valid time of day", stampText)
	}
	if ss == 60 {
		ss = 59 // a leap second; Go's time has none
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	if hasYear {
		t = time.Date(year, time.Month(month), day, hh, mm, ss, nsec, loc)
		if t.Day() != day {
			return time.Time{}, false, 0, fmt.Errorf("syslog timestamp %q is not a valid date", stampText)
		}
		return t, true, p.i, nil
	}
	now := opt.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	ny := now.In(loc).Year()
	// The latest year that puts the stamp no later than the receive time
	// (plus slack): a December stamp received in January is last year's,
	// a January 1st stamp received on December 31st (a clock a little
	// ahead) is next year's.
	for y := ny + 1; y >= ny-1; y-- {
		c := time.Date(y, time.Month(month), day, hh, mm, ss, nsec, loc)
		if c.Day() != day {
			continue // Feb 29 outside a leap year
		}
		if !c.After(now.Add(futureSlack)) {
			return c, false, p.i, nil
		}
	}
	return time.Time{}, false, 0, fmt.Errorf("syslog timestamp %q is not a valid date near the receive time %s", stampText, now.In(loc).Format("2006-01-02"))
}

// stampRFC3339 reads a leading RFC 3339 timestamp, ended by a space, a
// colon-space or the end of input.
func stampRFC3339(s string) (time.Time, bool, int, error) {
	end := strings.IndexByte(s, ' ')
	if end < 0 {
		end = len(s)
	}
	tok := s[:end]
	// "2024-06-26T01:35:42Z: %ASA-…": the stamp ends with a colon.
	tok = strings.TrimSuffix(tok, ":")
	if len(tok) < len("2006-01-02T15:04:05Z") || tok[4] != '-' || (tok[10] != 'T' && tok[10] != 't') {
		return time.Time{}, false, 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, tok)
	if err != nil {
		return time.Time{}, false, 0, fmt.Errorf("syslog timestamp %q is not a valid RFC 3339 time", clip(tok, 40))
	}
	return t, true, len(tok), nil
}

type scanner struct {
	s string
	i int
}

func (p *scanner) spaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *scanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads min..max decimal digits.
func (p *scanner) digits(min, max int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && n < max && isDigit(p.s[p.i]) {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	if n < min {
		return 0, false
	}
	return v, true
}

// fraction reads the digits of fractional seconds as nanoseconds (digits
// past the ninth are read and ignored).
func (p *scanner) fraction() (nsec, digits int) {
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		if digits < 9 {
			nsec = nsec*10 + int(p.s[p.i]-'0')
		}
		digits++
		p.i++
	}
	for d := digits; d < 9; d++ {
		nsec *= 10
	}
	return nsec, digits
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func trimLeadingSpace(s string) string { return strings.TrimLeft(s, " ") }

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
