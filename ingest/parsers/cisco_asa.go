package parsers

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phiwatch/phiwatch/ingest/syslog"
	"github.com/phiwatch/phiwatch/internal/event"
)

// LocationSetter is implemented by parsers whose records carry timestamps
// without a zone (RFC 3164 syslog, Cisco "logging timestamp"): ingest
// --syslog-location tells them the sender's zone.
type LocationSetter interface {
	WithLocation(loc *time.Location) Parser
}

// CiscoASA reads Cisco Secure Firewall ASA (and FTD, which logs the same
// messages as %FTD-) syslog about remote-access VPN sessions and user
// authentication, with or without a syslog header:
//
//	<166>Oct 01 2026 09:00:01 asa01 : %ASA-6-113039: Group <staff> User <jlee> IP <203.0.113.9> AnyConnect parent session started.
//
// What each message becomes:
//
//	113039 AnyConnect parent session started      vpn_connect
//	716001 WebVPN (clientless) session started    vpn_connect
//	113019 session disconnected (duration, bytes) vpn_disconnect
//	716002 WebVPN session terminated              vpn_disconnect
//	722051 address assigned to the session        other (vpn.assigned_ip)
//	722022 TCP/UDP SVC connection established     other
//	722023 TCP/UDP SVC connection terminated      other
//	113004 AAA authentication successful          login (authorization, accounting: other)
//	113012 AAA local-database authentication ok   login
//	113005 AAA authentication/authorization rejected  login_failed
//	113015 AAA local-database authentication rejected login_failed
//	113008 AAA transaction status ACCEPT          other
//	611101 management user authentication ok      login (attrs.auth_scope=management)
//	611102 management user authentication failed  login_failed
//
// One session yields one vpn_connect: the parent session start (113039), or
// 716001 for clientless WebVPN. The address assignment (722051) and the
// SVC tunnels under a session (722022/722023, repeated on every reconnect
// and for the TCP and the DTLS channel) are kept as "other" events, so
// session counts and new-location detectors are not doubled; the assigned
// address is still in vpn.assigned_ip, which maps an internal IP seen in
// EHR logs back to the VPN user. Bytes xmt are what the ASA sent to the
// client (vpn.bytes_out), bytes rcv what it received (vpn.bytes_in).
//
// The event time is the ASA's own timestamp from the syslog header (zone-
// less stamps are in Location); a line without one takes the receive time
// and says so in attrs.time_source. Usernames are kept as sent.
type CiscoASA struct {
	// Location is the zone of header timestamps that carry none (the ASA's
	// clock zone). Default UTC.
	Location *time.Location
}

// Name implements Parser.
func (CiscoASA) Name() string { return "cisco-asa" }

// Kind implements Parser.
func (CiscoASA) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (CiscoASA) Description() string {
	return "Cisco ASA/FTD syslog: AnyConnect and WebVPN sessions, AAA and management logins (" + asaMappedIDs + ")"
}

// WithLocation implements LocationSetter.
func (p CiscoASA) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// asaMappedIDs lists the message ids this parser turns into events.
const asaMappedIDs = "113004 113005 113008 113012 113015 113019 113039 611101 611102 716001 716002 722022 722023 722051"

// Parse implements Parser.
func (p CiscoASA) Parse(rec Record) ([]event.Event, error) {
	line := strings.TrimSpace(string(rec.Data))
	if line == "" {
		return nil, errors.New("empty line")
	}
	h, err := syslog.ParseHeader(line, syslog.HeaderOptions{Location: p.Location, ReceivedAt: rec.ReceivedAt})
	if err != nil {
		return nil, fmt.Errorf("syslog header: %w", err)
	}
	tag, body, err := asaTag(h.Msg)
	if err != nil {
		return nil, err
	}
	mapper := asaMapper(tag.id)
	if mapper == nil {
		// Not kept as events, but dead-lettered with this reason rather
		// than dropped, as everything phiwatch cannot use is. An ASA logs
		// thousands of connection messages (302013, 106023, …) a second;
		// sending those here fills the dead-letter table, so the operator
		// should send phiwatch only the mapped ids (a "logging list" of
		// message ids on the ASA), and this reason says so.
		if asaVPNClass(tag.id) {
			return nil, fmt.Errorf("ASA message %s is not one phiwatch maps (it maps %s); leave it out of the ASA's logging list for phiwatch", tag.id, asaMappedIDs)
		}
		return nil, fmt.Errorf("ASA message %s is not a VPN or authentication event; leave it out of the ASA's logging list for phiwatch", tag.id)
	}
	e := event.Event{
		TenantID:     rec.Tenant,
		EventID:      event.ID(rec.Tenant, "cisco-asa", line),
		SourceKind:   event.KindVPN,
		SourceSystem: "cisco-asa",
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Outcome:      event.OutcomeSuccess,
		Attrs:        map[string]string{"asa_msg_id": tag.id, "asa_severity": tag.severity},
		Raw:          line,
	}
	if tag.platform != "ASA" {
		e.Attrs["cisco_platform"] = tag.platform
	}
	if h.Hostname != "" {
		e.Attrs["syslog_host"] = h.Hostname
	}
	if h.Time.IsZero() {
		e.Time = rec.ReceivedAt
		e.Attrs["time_source"] = "received_at"
	} else {
		e.Time = h.Time
		e.Attrs["time_source"] = "syslog_header"
		if !h.TimeHasYear {
			e.Attrs["time_year_inferred"] = "true"
		}
	}
	if err := mapper(&e, body); err != nil {
		return nil, fmt.Errorf("ASA message %s: %w", tag.id, err)
	}
	e.Normalize()
	return []event.Event{e}, nil
}

// asaVPNClass reports whether id is in Cisco's auth, vpn, webvpn, svc, DAP,
// IPAA or IKEv2 classes: about VPN or authentication, though not mapped.
func asaVPNClass(id string) bool {
	for _, class := range [...]string{"109", "113", "611", "713", "716", "721", "722", "734", "737", "750", "751"} {
		if strings.HasPrefix(id, class) {
			return true
		}
	}
	return false
}

type asaMessageTag struct {
	platform, severity, id string
}

// asaTag finds "%ASA-6-113039:" (or "%ASA-auth-4-113004:", "%FTD-6-…") in
// the message and returns it and the text after it.
func asaTag(msg string) (asaMessageTag, string, error) {
	i := strings.Index(msg, "%ASA-")
	if j := strings.Index(msg, "%FTD-"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return asaMessageTag{}, "", errors.New("no %ASA- message id in the line; is this Cisco ASA syslog?")
	}
	rest := msg[i+1:]
	colon := strings.IndexByte(rest, ':')
	if colon < 0 {
		return asaMessageTag{}, "", fmt.Errorf("ASA message tag %q is not followed by ':'", clipText(rest, 24))
	}
	parts := strings.Split(rest[:colon], "-")
	n := len(parts)
	if n < 3 || n > 4 {
		return asaMessageTag{}, "", fmt.Errorf("ASA message tag %q is not %%ASA-severity-id", clipText(rest[:colon], 24))
	}
	tag := asaMessageTag{platform: parts[0], severity: parts[n-2], id: parts[n-1]}
	if len(tag.severity) != 1 || tag.severity[0] < '0' || tag.severity[0] > '7' {
		return tag, "", fmt.Errorf("ASA message tag %q has severity %q, want 0-7", clipText(rest[:colon], 24), tag.severity)
	}
	if len(tag.id) != 6 || strings.Trim(tag.id, "0123456789") != "" {
		return tag, "", fmt.Errorf("ASA message tag %q has id %q, want six digits", clipText(rest[:colon], 24), tag.id)
	}
	return tag, strings.TrimLeft(rest[colon+1:], " "), nil
}

// asaMapper returns the function that fills the event for a message id, or
// nil for ids this parser does not map.
func asaMapper(id string) func(e *event.Event, body string) error {
	switch id {
	case "113039":
		return asaSession(event.ActionVPNConnect, "anyconnect_parent_session_started", nil)
	case "716001":
		return asaSession(event.ActionVPNConnect, "webvpn_session_started", func(e *event.Event, rest string) error {
			e.Attrs["session_type"] = "WebVPN"
			return nil
		})
	case "716002":
		return asaSession(event.ActionVPNDisconnect, "webvpn_session_terminated", func(e *event.Event, rest string) error {
			e.Attrs["session_type"] = "WebVPN"
			if _, reason, ok := strings.Cut(rest, "terminated:"); ok {
				if r := strings.TrimSuffix(strings.TrimSpace(reason), "."); r != "" {
					e.Attrs["reason"] = r
				}
			}
			return nil
		})
	case "722022":
		return asaSession(event.ActionOther, "svc_connection_established", asaSVC)
	case "722023":
		return asaSession(event.ActionOther, "svc_connection_terminated", asaSVC)
	case "722051":
		return asaSession(event.ActionOther, "vpn_address_assigned", asaAssigned)
	case "113019":
		return asaDisconnect
	case "113004", "113005", "113012", "113015":
		return asaAAA
	case "113008":
		return asaTransaction
	case "611101":
		return asaManagementAuth(true)
	case "611102":
		return asaManagementAuth(false)
	}
	return nil
}

// asaSession fills a VPN event from a message that starts with its subject
// ("Group <g> User <u> IP <ip> …"), which needs a user and the client's IP;
// more, when set, reads what follows.
func asaSession(action event.Action, sourceAction string, more func(e *event.Event, rest string) error) func(*event.Event, string) error {
	return func(e *event.Event, body string) error {
		s, rest := parseASASubject(body)
		if s.user == "" {
			return errors.New("no username (expected Group <group> User <user> IP <address>)")
		}
		if s.ip == "" {
			return errors.New("no client IP (expected Group <group> User <user> IP <address>)")
		}
		ip, err := asaIP("client IP", s.ip)
		if err != nil {
			return err
		}
		e.Action = action
		e.Actor.ID = s.user
		e.ClientIP = ip
		e.VPN = &event.VPN{Group: s.group}
		if s.tunnelGroup != "" {
			e.Attrs["tunnel_group"] = s.tunnelGroup
		}
		e.Attrs["source_action"] = sourceAction
		if more != nil {
			return more(e, rest)
		}
		return nil
	}
}

// asaSVC reads 722022/722023: "TCP SVC connection established without compression".
func asaSVC(e *event.Event, rest string) error {
	if proto, _, _ := strings.Cut(rest, " "); proto == "TCP" || proto == "UDP" {
		e.Attrs["svc_transport"] = proto
	}
	return nil
}

// asaAssigned reads 722051: "IPv4 Address <10.8.0.5> IPv6 address <::> assigned
// to session" (older releases: "Address <10.8.0.5> assigned to session").
func asaAssigned(e *event.Event, rest string) error {
	v4, ok4 := asaValueAfter(rest, "IPv4 Address ")
	v6, ok6 := asaValueAfter(rest, "IPv6 address ")
	if !ok4 && !ok6 {
		v4, ok4 = asaValueAfter(rest, "Address ")
	}
	assigned := ""
	switch {
	case ok4 && v4 != "" && v4 != "0.0.0.0":
		assigned = v4
		if ok6 && v6 != "" && v6 != "::" {
			ip, err := asaIP("assigned IPv6 address", v6)
			if err != nil {
				return err
			}
			e.Attrs["assigned_ipv6"] = ip
		}
	case ok6 && v6 != "" && v6 != "::":
		assigned = v6
	default:
		return errors.New("no assigned address (expected IPv4 Address <address>)")
	}
	ip, err := asaIP("assigned address", assigned)
	if err != nil {
		return err
	}
	e.VPN.AssignedIP = ip
	return nil
}

// asaDisconnect reads 113019: "Group = staff, Username = jlee, IP = 203.0.113.9,
// Session disconnected. Session Type: SSL, Duration: 1h:00m:00s, Bytes xmt:
// 120000, Bytes rcv: 5000, Reason: User Requested".
func asaDisconnect(e *event.Event, body string) error {
	s, rest := parseASASubject(body)
	if s.user == "" {
		return errors.New("no username (expected Group = group, Username = user, IP = address)")
	}
	if s.ip == "" {
		return errors.New("no client IP (expected Group = group, Username = user, IP = address)")
	}
	ip, err := asaIP("client IP", s.ip)
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(rest, "Session disconnected.")
	if !ok {
		return fmt.Errorf("expected \"Session disconnected.\" after the session's user, got %q", clipText(rest, 40))
	}
	e.Action = event.ActionVPNDisconnect
	e.Actor.ID = s.user
	e.ClientIP = ip
	e.VPN = &event.VPN{Group: s.group}
	e.Attrs["source_action"] = "session_disconnected"
	if i := strings.Index(rest, "Reason:"); i >= 0 {
		if r := strings.TrimSpace(rest[i+len("Reason:"):]); r != "" {
			e.Attrs["reason"] = r
		}
		rest = rest[:i]
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Session Type":
			e.Attrs["session_type"] = v
		case "Duration":
			d, err := asaDuration(v)
			if err != nil {
				return err
			}
			e.VPN.DurationS = d
		case "Bytes xmt", "Bytes rcv":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s %q is not a byte count", k, v)
			}
			if k == "Bytes xmt" {
				e.VPN.BytesOut = n // sent by the ASA to the client
			} else {
				e.VPN.BytesIn = n
			}
		}
	}
	return nil
}

// asaDuration reads 113019's session duration: "1h:02m:03s", "0h:00m:05s",
// "1d 19h:41m:14s", "2d5h:01m:02s" — numbers with units d, h, m, s in that
// order, separated by nothing, ':' or a space.
func asaDuration(s string) (uint32, error) {
	bad := func(why string) (uint32, error) {
		return 0, fmt.Errorf("duration %q %s (want e.g. 1h:02m:03s or 1d 2h:03m:04s)", clipText(s, 40), why)
	}
	units := "dhms"
	scale := [...]uint64{86400, 3600, 60, 1}
	var total uint64
	next := 0 // units before this one are used up
	i, parts := 0, 0
	for i < len(s) {
		for i < len(s) && (s[i] == ':' || s[i] == ' ') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return bad("has no number where one is expected")
		}
		if i-start > 9 {
			return bad("has a number too large")
		}
		if i == len(s) {
			return bad("has a number without a unit")
		}
		u := strings.IndexByte(units[next:], s[i])
		if u < 0 {
			return bad("has units out of order or unknown")
		}
		n, _ := strconv.ParseUint(s[start:i], 10, 64)
		next += u
		total += n * scale[next]
		next++
		i++
		parts++
	}
	if parts == 0 {
		return bad("is empty")
	}
	if total > math.MaxUint32 {
		return bad("is too long")
	}
	return uint32(total), nil
}

// asaAAA reads 113004/113005/113012/113015:
//
//	AAA user authentication Successful : server = 10.1.1.5 : user = jlee
//	AAA user authentication Rejected : reason = Invalid password : server = 10.1.1.5 : user = jlee : user IP = 203.0.113.9
//	AAA user authentication Successful : local database : user = jlee
func asaAAA(e *event.Event, body string) error {
	head, _, _ := strings.Cut(body, ":")
	words := strings.Fields(head)
	if len(words) < 4 || words[0] != "AAA" || words[1] != "user" {
		return fmt.Errorf("expected \"AAA user <type> <result>\", got %q", clipText(body, 40))
	}
	kind, result := strings.ToLower(words[2]), words[3]
	switch kind {
	case "authentication", "authorization", "accounting":
	default:
		return fmt.Errorf("AAA type %q is not authentication, authorization or accounting", words[2])
	}
	f := asaAAAFields(body[len(head):])
	e.Attrs["aaa_type"] = kind
	if f.localDB {
		e.Attrs["aaa_server"] = "LOCAL"
	} else if f.server != "" {
		e.Attrs["aaa_server"] = f.server
	}
	if f.reason != "" {
		e.Attrs["reason"] = f.reason
	}
	if f.userIP != "" {
		ip, err := asaIP("user IP", f.userIP)
		if err != nil {
			return err
		}
		e.ClientIP = ip
	}
	switch result {
	case "Successful":
		if kind == "authentication" {
			e.Action = event.ActionLogin
		} else {
			e.Action = event.ActionOther
		}
		e.Attrs["source_action"] = "aaa_" + kind + "_successful"
		return asaUser(e, f.user, f.hasUser, true)
	case "Rejected":
		e.Outcome = event.OutcomeFailure
		if kind == "accounting" {
			e.Action = event.ActionOther
		} else {
			// An authorization reject also keeps the user out.
			e.Action = event.ActionLoginFailed
		}
		e.Attrs["source_action"] = "aaa_" + kind + "_rejected"
		return asaUser(e, f.user, f.hasUser, false)
	default:
		return fmt.Errorf("AAA result %q is not Successful or Rejected", result)
	}
}

// asaTransaction reads 113008: "AAA transaction status ACCEPT : user = jlee".
func asaTransaction(e *event.Event, body string) error {
	head, _, _ := strings.Cut(body, ":")
	words := strings.Fields(head)
	if len(words) < 4 || words[0] != "AAA" || words[1] != "transaction" {
		return fmt.Errorf("expected \"AAA transaction status ACCEPT\", got %q", clipText(body, 40))
	}
	e.Action = event.ActionOther
	e.Attrs["source_action"] = "aaa_transaction_" + strings.ToLower(words[3])
	if words[3] != "ACCEPT" {
		e.Outcome = event.OutcomeUnknown
	}
	f := asaAAAFields(body[len(head):])
	return asaUser(e, f.user, f.hasUser, true)
}

// asaManagementAuth reads 611101/611102, sign-ins to the ASA itself (ASDM,
// SSH, console): "User authentication succeeded: IP address: 10.1.1.9,
// Uname: admin" (Cisco documents "IP, 10.1.1.9 : Uname: admin" too).
func asaManagementAuth(ok bool) func(*event.Event, string) error {
	return func(e *event.Event, body string) error {
		e.Attrs["auth_scope"] = "management"
		if ok {
			e.Action = event.ActionLogin
			e.Attrs["source_action"] = "management_authentication_succeeded"
		} else {
			e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
			e.Attrs["source_action"] = "management_authentication_failed"
		}
		before, user, hasUser := strings.Cut(body, "Uname:")
		if _, addr, found := strings.Cut(before, "IP"); found {
			for _, tok := range strings.FieldsFunc(addr, func(r rune) bool { return r == ' ' || r == ',' }) {
				if tok == "address:" || tok == ":" {
					continue
				}
				tok = strings.TrimSuffix(tok, ":")
				ip, err := asaIP("client IP", tok)
				if err != nil {
					return err
				}
				e.ClientIP = ip
				break
			}
		}
		return asaUser(e, strings.TrimSpace(user), hasUser, ok)
	}
}

// asaUser sets the actor. Successes need a username. A failure is kept
// without one: the ASA hides usernames of failed sign-ins as "*****" unless
// told not to ("no logging hide username"), and a burst of failures from
// one address is worth seeing even when nobody can be named.
func asaUser(e *event.Event, user string, present, required bool) error {
	masked := user != "" && strings.Trim(user, "*") == ""
	switch {
	case masked && required:
		return errors.New("username is masked (*****); the ASA hides usernames unless configured with \"no logging hide username\"")
	case masked:
		e.Attrs["user_masked"] = "true"
	case user == "" && required:
		if !present {
			return errors.New("no username (expected user = name)")
		}
		return errors.New("username is empty")
	default:
		e.Actor.ID = user
	}
	return nil
}

// asaSubject is who a VPN message is about.
type asaSubject struct {
	group, tunnelGroup, user, ip string
}

// parseASASubject reads the prefix most VPN messages share, in any of the
// spellings ASA releases use, and returns the text after it:
//
//	Group <staff> User <jlee> IP <203.0.113.9> …        (values may hold spaces)
//	Group staff User jlee IP 203.0.113.9 …
//	Group = staff, Username = jlee, IP = 203.0.113.9, …
//	TunnelGroup <tg> GroupPolicy <staff> User <jlee> IP <203.0.113.9> …
func parseASASubject(s string) (asaSubject, string) {
	var subj asaSubject
	seen := map[string]bool{}
	rest := strings.TrimLeft(s, " ")
	for range 6 {
		key, after, ok := asaSubjectKey(rest)
		if !ok || seen[key] {
			break
		}
		seen[key] = true
		var val string
		switch {
		case strings.HasPrefix(after, "<"):
			end := strings.IndexByte(after, '>')
			if end < 0 {
				return subj, rest // unterminated: the line was cut
			}
			val, after = after[1:end], after[end+1:]
		case strings.HasPrefix(after, "="):
			after = strings.TrimLeft(after[1:], " ")
			if end := strings.Index(after, ", "); end >= 0 {
				val, after = after[:end], after[end+2:]
			} else {
				val, after = strings.TrimSuffix(after, ","), ""
			}
		default:
			tok, _, _ := strings.Cut(after, " ")
			if _, _, isKey := asaSubjectKey(tok + " "); !isKey {
				val, after = tok, after[len(tok):]
			} // else the value is missing: "User IP <…>"
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Group", "GroupPolicy":
			subj.group = val
		case "TunnelGroup":
			subj.tunnelGroup = val
		case "User", "Username":
			subj.user = val
		case "IP":
			subj.ip = val
		}
		rest = strings.TrimLeft(after, " ")
	}
	return subj, rest
}

// asaSubjectKey reads a subject keyword and the space after it.
func asaSubjectKey(s string) (key, after string, ok bool) {
	for _, k := range [...]string{"TunnelGroup", "GroupPolicy", "Group", "Username", "User", "IP"} {
		if rest, found := strings.CutPrefix(s, k+" "); found {
			return k, strings.TrimLeft(rest, " "), true
		}
	}
	return "", "", false
}

// asaValueAfter finds label in s and returns the value after it: "<v>" or a
// bare token.
func asaValueAfter(s, label string) (string, bool) {
	i := strings.Index(s, label)
	if i < 0 {
		return "", false
	}
	s = strings.TrimLeft(s[i+len(label):], " ")
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return "", false
		}
		return strings.TrimSpace(s[1:end]), true
	}
	tok, _, _ := strings.Cut(s, " ")
	return tok, tok != ""
}

type asaAAAList struct {
	server, user, userIP, reason string
	hasUser, localDB             bool
}

// asaAAAFields reads the "key = value" list of AAA messages, whose
// separators vary by release (" : ", ": ", " , "). Values run up to the next
// known key, so a reason or username holding ':' or ',' stays whole.
func asaAAAFields(s string) asaAAAList {
	lower := asciiLower(s) // same length as s, so offsets carry over
	type mark struct {
		key        string
		start, end int // of the key text; the value follows end
	}
	var marks []mark
	for _, k := range [...]string{"server =", "user ip =", "user =", "reason =", "local database"} {
		from := 0
		for from < len(lower) {
			i := strings.Index(lower[from:], k)
			if i < 0 {
				break
			}
			i += from
			// A key starts the list or follows a separator, so "user =" is
			// not found inside "user ip =" or inside a value.
			if i == 0 || strings.IndexByte(" :,", lower[i-1]) >= 0 {
				marks = append(marks, mark{k, i, i + len(k)})
				break
			}
			from = i + 1
		}
	}
	sort.Slice(marks, func(a, b int) bool { return marks[a].start < marks[b].start })
	var out asaAAAList
	for i, m := range marks {
		end := len(s)
		if i+1 < len(marks) {
			end = marks[i+1].start
		}
		if end < m.end {
			end = m.end
		}
		v := asaTrimSeparator(s[m.end:end])
		switch m.key {
		case "server =":
			out.server = v
		case "user ip =":
			out.userIP = v
		case "user =":
			out.user, out.hasUser = v, true
		case "reason =":
			out.reason = v
		case "local database":
			out.localDB = true
		}
	}
	return out
}

// asciiLower folds A-Z only. Unlike strings.ToLower it never changes the
// length (invalid UTF-8 would become 3-byte U+FFFD), so an offset found in the
// result is an offset into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// asaTrimSeparator trims spaces and the separator that ends a value ("alice:"
// or "10.1.1.5 :"), keeping the "::" an IPv6 address may end with.
func asaTrimSeparator(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(v, ",")
	if strings.HasSuffix(v, ":") && !strings.HasSuffix(v, "::") {
		v = v[:len(v)-1]
	}
	return strings.TrimSpace(v)
}

func asaIP(what, v string) (string, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", fmt.Errorf("%s %q is not an IP address", what, clipText(v, 64))
	}
	return a.String(), nil
}

// clipText shortens s for an error message, on a character boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
