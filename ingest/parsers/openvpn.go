package parsers

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/syslog"
	"github.com/phiwatch/phiwatch/internal/event"
)

// OpenVPN reads the log of an OpenVPN server (multi-client "server" mode,
// 2.3 to 2.6) at the default verbosity, verb 3: the plain log file
// ("--log", timestamped "2026-10-01 14:03:07 " by 2.6 and "Thu Oct  1
// 14:03:07 2026 " before), the same lines through syslog or journald (RFC
// 3164 or 5424 header, "openvpn[pid]:" tag), or both stacked, as when a
// relay forwards the file. The event time is OpenVPN's own stamp, else the
// syslog header's; zone-less stamps are in Location.
//
// What each message becomes (the client prefix "cn/198.51.100.7:51234 " or
// "198.51.100.7:51234 " gives the client address and, when present, the
// common name, which is the actor):
//
//	[cn] Peer Connection Initiated with …            vpn_connect
//	MULTI_sva: pool returned IPv4=10.8.0.6 …         other (vpn.assigned_ip)
//	MULTI: primary virtual IP for …: 10.8.0.6        other (vpn.assigned_ip)
//	SIGTERM[soft,remote-exit] received, client-instance exiting   vpn_disconnect
//	SIGUSR1[soft,ping-restart] received, client-instance restarting vpn_disconnect
//	Connection reset, restarting / Inactivity timeout  other (a signal line follows)
//	TLS Auth Error: …                                login_failed
//	VERIFY ERROR / VERIFY X509NAME ERROR / VERIFY CRL  login_failed (certificate refused)
//	TLS: Username/Password authentication succeeded   login
//	SENT CONTROL [cn]: 'AUTH_FAILED'                 other, failure (the TLS Auth Error before it is the failure)
//	user 'x' authenticated                           login (auth scripts and plugins)
//	user 'x' could not authenticate                  login_failed
//	AUTH-PAM: BACKGROUND: user 'x' failed to authenticate  login_failed
//	… verification failed for username 'x'          login_failed
//	… bytes_received=… bytes_sent=… (a client-disconnect script's env) vpn_disconnect
//
// Lines about a client instance that never got a common name (a TLS
// handshake that failed, a port scan) end without a session: their signal
// and reset lines are noise, not disconnects. Known protocol detail and
// server housekeeping (TLS handshake steps, VERIFY OK, routing-table
// learning, PUSH messages, startup and interface setup: see
// ovpnClientNoise and ovpnServerNoise) yields no event and no error; any
// other line is an error, so a log that is not OpenVPN's is noticed.
//
// OpenVPN logs "Peer Connection Initiated" when the TLS session is up,
// before a deferred password check has answered, so a password failure
// yields a vpn_connect as well as the login_failed. The parser reads one line
// at a time and cannot take it back; detectors should pair connects with
// the failures of the same vpn.session_id (the client's address:port).
type OpenVPN struct {
	// Location is the zone of timestamps that carry none (the server's
	// clock zone). Default UTC.
	Location *time.Location
}

// Name implements Parser.
func (OpenVPN) Name() string { return "openvpn" }

// Kind implements Parser.
func (OpenVPN) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (OpenVPN) Description() string {
	return "OpenVPN server log (file or syslog, 2.3-2.6, verb 3): connects, disconnects, address assignments, sign-ins and failures"
}

// WithLocation implements LocationSetter.
func (p OpenVPN) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// Parse implements Parser. Noise lines return no events and no error.
func (p OpenVPN) Parse(rec Record) ([]event.Event, error) {
	return parseOpenVPNLine(rec, ovpnFlavor{system: "openvpn"}, p.Location)
}

// ovpnFlavor is what differs between platforms that run OpenVPN.
type ovpnFlavor struct {
	system string // source_system of the events
	// scriptAuth: the platform's own password check logs every verdict by
	// name ("user 'x' authenticated", "user 'x' could not authenticate")
	// before OpenVPN logs its own, unnamed one, so OpenVPN's verdict lines
	// are the same check told twice and are kept as "other".
	scriptAuth bool
	// hint says where the operator finds the right log, for errors.
	hint string
}

// parseOpenVPNLine is the one mapping of OpenVPN log lines, shared by the
// openvpn and pfsense formats.
func parseOpenVPNLine(rec Record, fl ovpnFlavor, loc *time.Location) ([]event.Event, error) {
	line := strings.TrimSpace(string(rec.Data))
	if line == "" {
		return nil, errors.New("empty line")
	}
	if loc == nil {
		loc = time.UTC
	}
	h, err := vpnSyslogHeader(line, syslog.HeaderOptions{Location: loc, ReceivedAt: rec.ReceivedAt})
	if err != nil {
		return nil, fmt.Errorf("syslog header: %w", err)
	}
	msg, program := h.Msg, h.AppName
	if program == "" {
		// journald and "logger" output keep the tag without a header.
		if app, rest, ok := ovpnLeadingTag(msg); ok {
			program, msg = app, rest
		}
	}
	stamp, msg, hasStamp, err := ovpnStamp(msg, loc)
	if err != nil {
		return nil, err
	}
	e := event.Event{
		TenantID:     rec.Tenant,
		EventID:      event.ID(rec.Tenant, fl.system, line),
		SourceKind:   event.KindVPN,
		SourceSystem: fl.system,
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Outcome:      event.OutcomeSuccess,
		Attrs:        map[string]string{},
		Raw:          line,
	}
	keep, err := ovpnMap(&e, msg, fl)
	if err != nil {
		// A syslog feed carrying other programs (a firewall's whole log, say)
		// is the likely cause; name the program so the operator can filter.
		if program != "" && !strings.Contains(strings.ToLower(program), "vpn") {
			return nil, fmt.Errorf("syslog program %q: %w", clipText(program, 48), err)
		}
		return nil, err
	}
	if !keep {
		return nil, nil // documented noise: nothing to record
	}
	putAttr(e.Attrs, "syslog_host", h.Hostname)
	putAttr(e.Attrs, "syslog_program", program)
	switch {
	case hasStamp:
		e.Time = stamp
		e.Attrs["time_source"] = "openvpn_timestamp"
	case !h.Time.IsZero():
		e.Time = h.Time
		e.Attrs["time_source"] = "syslog_header"
		if !h.TimeHasYear {
			e.Attrs["time_year_inferred"] = "true"
		}
	default:
		e.Time = rec.ReceivedAt
		e.Attrs["time_source"] = "received_at"
	}
	vpnDropEmpty(&e)
	e.Normalize()
	return []event.Event{e}, nil
}

// vpnSyslogHeader is syslog.ParseHeader that also reads an RFC 5424 header
// without its <PRI>, the form OPNsense writes its local log files in
// ("1 2026-10-01T14:03:07-04:00 fw openvpn_server1 12345 - [meta …] msg").
// ParseHeader only recognizes RFC 5424 after a priority; a placeholder one
// lets it parse the rest, and Priority is reset since none was sent.
func vpnSyslogHeader(line string, opt syslog.HeaderOptions) (syslog.Header, error) {
	if strings.HasPrefix(line, "1 ") && len(line) > 6 && vpnDigit(line[2]) && line[6] == '-' {
		h, err := syslog.ParseHeader("<13>"+line, opt)
		if err != nil {
			return h, err
		}
		if h.Format == syslog.FormatRFC5424 {
			h.Priority = -1
			return h, nil
		}
	}
	return syslog.ParseHeader(line, opt)
}

// ovpnLeadingTag reads a leading "openvpn[123]: " or "ovpn-server: " tag;
// only names containing "vpn" count, so a message is never taken for one.
func ovpnLeadingTag(msg string) (app, rest string, ok bool) {
	tok, after, found := strings.Cut(msg, " ")
	if !found || !strings.HasSuffix(tok, ":") || len(tok) > 64 {
		return "", msg, false
	}
	name := strings.TrimSuffix(tok, ":")
	if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		if strings.Trim(name[i+1:len(name)-1], "0123456789") != "" {
			return "", msg, false
		}
		name = name[:i]
	}
	if !strings.Contains(strings.ToLower(name), "vpn") {
		return "", msg, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(vpnDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return "", msg, false
		}
	}
	return name, after, true
}

// ovpnStamp reads OpenVPN's own timestamp at the start of msg: "2026-10-01
// 14:03:07 " (2.6), "Thu Oct  1 14:03:07 2026 " (2.5 and before) or
// "1759327387.123456 2 " (--machine-readable-output: epoch, flags). ok is
// false when msg starts with none; err is set for one that is recognizably
// a stamp but an impossible time.
func ovpnStamp(msg string, loc *time.Location) (t time.Time, rest string, ok bool, err error) {
	switch {
	case len(msg) >= 19 && msg[4] == '-' && msg[7] == '-' && msg[10] == ' ' && msg[13] == ':' && msg[16] == ':' && vpnDigit(msg[0]):
		if len(msg) > 19 && msg[19] != ' ' {
			return t, msg, false, nil
		}
		t, err = time.ParseInLocation("2006-01-02 15:04:05", msg[:19], loc)
		if err != nil {
			return t, msg, false, fmt.Errorf("OpenVPN timestamp %q is not a valid time", msg[:19])
		}
		// One space separates stamp and message; more belong to the
		// message (the indented option dump of verb 4).
		return t, strings.TrimPrefix(msg[19:], " "), true, nil
	case len(msg) >= 24 && msg[3] == ' ' && ovpnWeekday(msg[:3]) && msg[7] == ' ' && msg[13] == ':' && msg[16] == ':' && msg[19] == ' ':
		if len(msg) > 24 && msg[24] != ' ' {
			return t, msg, false, nil
		}
		t, err = time.ParseInLocation("Mon Jan _2 15:04:05 2006", msg[:24], loc)
		if err != nil {
			return t, msg, false, fmt.Errorf("OpenVPN timestamp %q is not a valid time", msg[:24])
		}
		return t, strings.TrimPrefix(msg[24:], " "), true, nil
	}
	// --machine-readable-output: "seconds.micros flags message".
	secs, after, found := strings.Cut(msg, ".")
	if !found || len(secs) < 9 || len(secs) > 11 || strings.Trim(secs, "0123456789") != "" || len(after) < 8 || after[6] != ' ' {
		return t, msg, false, nil
	}
	micros := after[:6]
	flags, body, found := strings.Cut(after[7:], " ")
	if !found || flags == "" || len(flags) > 8 || strings.Trim(micros, "0123456789") != "" || strings.Trim(flags, "0123456789abcdef") != "" {
		return t, msg, false, nil
	}
	s, _ := strconv.ParseInt(secs, 10, 64)
	us, _ := strconv.ParseInt(micros, 10, 64)
	return time.Unix(s, us*1000), body, true, nil
}

func ovpnWeekday(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

func vpnDigit(c byte) bool { return c >= '0' && c <= '9' }

// vpnDropEmpty leaves out a VPN object with nothing in it, so events of
// the VPN parsers carry "vpn" only when it says something.
func vpnDropEmpty(e *event.Event) {
	if e.VPN != nil && *e.VPN == (event.VPN{}) {
		e.VPN = nil
	}
}

// ovpnPeer is the client a line is about, from its prefix.
type ovpnPeer struct {
	cn       string
	addrPort netip.AddrPort // port 0 when the line gave none
}

// ovpnClientPrefix reads the prefix OpenVPN puts on lines about one client:
// "198.51.100.7:51234 " before the common name is known, "cn/198.51.100.7:51234 "
// after. A common name may hold spaces, so every '/' is tried.
func ovpnClientPrefix(msg string) (ovpnPeer, string, bool) {
	tok, rest, _ := strings.Cut(msg, " ")
	if ap, hasPort := ovpnAddrPort(tok); hasPort {
		return ovpnPeer{addrPort: ap}, rest, true
	}
	limit := min(len(msg), maxIdentLen)
	for i := 1; i < limit; i++ {
		if msg[i] != '/' {
			continue
		}
		tok, rest, _ := strings.Cut(msg[i+1:], " ")
		if ap, hasPort := ovpnAddrPort(tok); hasPort {
			return ovpnPeer{cn: msg[:i], addrPort: ap}, rest, true
		}
	}
	return ovpnPeer{}, msg, false
}

// ovpnAddrPort reads an address and port as OpenVPN prints them:
// "198.51.100.7:51234", "[AF_INET]198.51.100.7:51234",
// "[AF_INET6]2001:db8::7:51234" (IPv6 unbracketed, the port after the last
// colon), "[2001:db8::7]:51234". IPv4-mapped IPv6 addresses are unmapped.
// ok is false when s is not an address with a port.
func ovpnAddrPort(s string) (ap netip.AddrPort, ok bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "[AF_INET]"), "[AF_INET6]")
	if s == "" || len(s) > 64 {
		return ap, false
	}
	if v, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(v.Addr().Unmap().WithZone(""), v.Port()), true
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.Count(s, ":") < 2 || strings.Trim(s[i+1:], "0123456789") != "" {
		return ap, false
	}
	p, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		return ap, false
	}
	a, err := netip.ParseAddr(s[:i])
	if err != nil || !a.Is6() {
		return ap, false
	}
	return netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(p)), true
}

// ovpnMap fills e from msg (the message after any header and stamp). keep
// is false for documented noise.
func ovpnMap(e *event.Event, msg string, fl ovpnFlavor) (keep bool, err error) {
	peer, rest, isClient := ovpnClientPrefix(msg)
	if !isClient {
		if ok, err := ovpnNamed(e, msg); ok || err != nil {
			return ok, err
		}
		if ovpnServerNoise(msg) {
			return false, nil
		}
		return false, ovpnUnknown(msg, fl)
	}
	e.ClientIP = peer.addrPort.Addr().String()
	e.Attrs["client_port"] = strconv.Itoa(int(peer.addrPort.Port()))
	cn := peer.cn
	if cn == "UNDEF" {
		cn = "" // OpenVPN's placeholder before a name is known
	}
	e.Actor.ID = truncate(cn, maxIdentLen)
	// The client's address:port names the client instance on every line
	// about it, so it is the session id that pairs connects, assignments
	// and disconnects.
	session := func() *event.VPN { return &event.VPN{SessionID: peer.addrPort.String()} }
	switch {
	case strings.HasPrefix(rest, "TLS Auth Error:"):
		reason := strings.TrimSpace(strings.TrimPrefix(rest, "TLS Auth Error:"))
		e.Outcome = event.OutcomeFailure
		e.Attrs["source_action"] = "tls_auth_error"
		putAttr(e.Attrs, "reason", reason)
		if name, ok := ovpnQuotedAfter(reason, "for common name '"); ok {
			e.Actor.ID = name
		} else if name, ok := ovpnQuotedAfter(reason, "for username '"); ok {
			e.Actor.ID = name
		}
		e.Action = event.ActionLoginFailed
		if fl.scriptAuth && strings.Contains(reason, "verification failed for peer") {
			e.Action = event.ActionOther
		}
		e.VPN = session()
		return true, nil
	case strings.HasPrefix(rest, "TLS: Username/Password authentication "):
		verdict := strings.TrimPrefix(rest, "TLS: Username/Password authentication ")
		name, ok := ovpnQuotedAfter(verdict, "for username '")
		if !ok || name == "" {
			return false, errors.New("OpenVPN authentication line has no username")
		}
		e.Actor.ID = name
		switch {
		case strings.HasPrefix(verdict, "succeeded"):
			e.Action = event.ActionLogin
			e.Attrs["source_action"] = "password_authentication_succeeded"
			if fl.scriptAuth {
				e.Action = event.ActionOther
			}
		case strings.HasPrefix(verdict, "deferred"):
			e.Action, e.Outcome = event.ActionOther, event.OutcomeUnknown
			e.Attrs["source_action"] = "password_authentication_deferred"
		default:
			return false, fmt.Errorf("OpenVPN authentication verdict %q is not succeeded or deferred", clipText(verdict, 24))
		}
		e.VPN = session()
		return true, nil
	case strings.HasPrefix(rest, "VERIFY ERROR:"), strings.HasPrefix(rest, "VERIFY X509NAME ERROR:"),
		strings.HasPrefix(rest, "VERIFY CRL:") && strings.Contains(rest, "revoked"):
		verdict, detail, _ := strings.Cut(rest, ":")
		detail = strings.TrimSpace(detail)
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		e.Attrs["source_action"] = strings.ToLower(strings.ReplaceAll(verdict, " ", "_"))
		putAttr(e.Attrs, "reason", detail)
		if e.Actor.ID == "" && (strings.Contains(detail, "depth=0") || verdict != "VERIFY ERROR") {
			if cnv, ok := ovpnSubjectCN(detail); ok {
				e.Actor.ID = cnv
			}
		}
		e.VPN = session()
		return true, nil
	case strings.HasPrefix(rest, "SENT CONTROL ["):
		name, after, _ := strings.Cut(rest[len("SENT CONTROL ["):], "]")
		if !strings.HasPrefix(after, ": 'AUTH_FAILED") {
			return false, nil // PUSH_REPLY, RESTART, …: protocol detail
		}
		e.Action, e.Outcome = event.ActionOther, event.OutcomeFailure
		e.Attrs["source_action"] = "auth_failed_sent"
		if name != "UNDEF" && name != "" {
			e.Actor.ID = truncate(name, maxIdentLen)
		}
		msgText, _, _ := strings.Cut(strings.TrimPrefix(after, ": 'AUTH_FAILED"), "'")
		putAttr(e.Attrs, "reason", strings.TrimPrefix(msgText, ","))
		e.VPN = session()
		return true, nil
	}
	if ok, err := ovpnNamed(e, rest); ok || err != nil {
		return ok, err
	}
	switch {
	case strings.Contains(rest, "] Peer Connection Initiated with ") && strings.HasPrefix(rest, "["):
		name := rest[1:strings.Index(rest, "] Peer Connection Initiated with ")]
		if name != "UNDEF" && name != "" {
			e.Actor.ID = truncate(name, maxIdentLen)
		}
		e.Action = event.ActionVPNConnect
		e.Attrs["source_action"] = "peer_connection_initiated"
		e.VPN = session()
		return true, nil
	case strings.HasPrefix(rest, "MULTI_sva: pool returned "):
		v4, v6 := ovpnPoolAddresses(rest[len("MULTI_sva: pool returned "):])
		if v4 == "" && v6 == "" {
			return false, fmt.Errorf("OpenVPN pool assignment %q has no address", clipText(rest, 64))
		}
		e.Action = event.ActionOther
		e.Attrs["source_action"] = "pool_address_assigned"
		e.VPN = session()
		ovpnAssign(e, v4, v6)
		return true, nil
	case strings.HasPrefix(rest, "MULTI: primary virtual IP for "), strings.HasPrefix(rest, "MULTI: primary virtual IPv6 for "):
		i := strings.LastIndex(rest, ": ")
		a, err := netip.ParseAddr(strings.TrimSpace(rest[i+2:]))
		if err != nil {
			return false, fmt.Errorf("OpenVPN virtual address %q is not an IP address", clipText(rest[i+2:], 48))
		}
		e.Action = event.ActionOther
		e.Attrs["source_action"] = "primary_virtual_ip"
		e.VPN = session()
		if a.Is4() {
			ovpnAssign(e, a.String(), "")
		} else {
			ovpnAssign(e, "", a.String())
		}
		return true, nil
	case ovpnSignalLine(rest):
		if cn == "" {
			return false, nil // an instance that never authenticated: no session ended
		}
		sig, detail := ovpnSignal(rest)
		e.Action = event.ActionVPNDisconnect
		if detail == "delayed-exit" {
			// The end of an instance OpenVPN refused (AUTH_FAILED, then
			// "Delayed exit"): no session was up, so none ends.
			e.Action, e.Outcome = event.ActionOther, event.OutcomeFailure
		}
		e.Attrs["source_action"] = "client_instance_" + ovpnInstanceVerb(rest)
		e.Attrs["signal"] = sig
		putAttr(e.Attrs, "reason", detail)
		e.VPN = session()
		return true, nil
	case strings.HasPrefix(rest, "Connection reset, restarting"), strings.Contains(rest, "Inactivity timeout (--ping-"):
		if cn == "" {
			return false, nil
		}
		e.Action = event.ActionOther
		if strings.HasPrefix(rest, "Connection reset") {
			e.Attrs["source_action"] = "connection_reset"
		} else {
			e.Attrs["source_action"] = "inactivity_timeout"
		}
		e.VPN = session()
		return true, nil
	}
	if ovpnClientNoise(rest) {
		return false, nil
	}
	return false, ovpnUnknown(rest, fl)
}

// ovpnNamed maps the lines that name a user without OpenVPN's client prefix
// (auth scripts, plugins) and accounting lines of a client-disconnect script.
func ovpnNamed(e *event.Event, s string) (bool, error) {
	switch {
	case strings.HasPrefix(s, "user '") && strings.Contains(s[len("user '"):], "' authenticated"):
		body := s[len("user '"):]
		i := strings.LastIndex(body, "' authenticated")
		e.Action = event.ActionLogin
		e.Attrs["source_action"] = "user_authenticated"
		putAttr(e.Attrs, "auth_detail", strings.TrimSuffix(strings.TrimSpace(body[i+len("' authenticated"):]), "."))
		return ovpnNamedUser(e, body[:i])
	case strings.HasPrefix(s, "user '") && strings.Contains(s[len("user '"):], "' could not authenticate"):
		body := s[len("user '"):]
		i := strings.LastIndex(body, "' could not authenticate")
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		e.Attrs["source_action"] = "user_could_not_authenticate"
		putAttr(e.Attrs, "auth_detail", strings.TrimSuffix(strings.TrimSpace(body[i+len("' could not authenticate"):]), "."))
		return ovpnNamedUser(e, body[:i])
	case strings.HasPrefix(s, "AUTH-PAM: BACKGROUND: user '") && strings.Contains(s[len("AUTH-PAM: BACKGROUND: user '"):], "' failed to authenticate"):
		body := s[len("AUTH-PAM: BACKGROUND: user '"):]
		i := strings.Index(body, "' failed to authenticate")
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		e.Attrs["source_action"] = "pam_authentication_failed"
		putAttr(e.Attrs, "reason", strings.TrimPrefix(strings.TrimSpace(body[i+len("' failed to authenticate"):]), ": "))
		return ovpnNamedUser(e, body[:i])
	case strings.Contains(s, "verification failed for username '"):
		name, _ := ovpnQuotedAfter(s, "verification failed for username '")
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		e.Attrs["source_action"] = "password_verification_failed"
		putAttr(e.Attrs, "reason", s)
		return ovpnNamedUser(e, name)
	case strings.Contains(s, "bytes_received=") || strings.Contains(s, "bytes_sent="):
		return true, ovpnAccounting(e, s)
	}
	return false, nil
}

func ovpnNamedUser(e *event.Event, name string) (bool, error) {
	if name == "" {
		return false, errors.New("OpenVPN authentication line has an empty username")
	}
	e.Actor.ID = truncate(name, maxIdentLen)
	return true, nil
}

// ovpnAccounting reads the environment a client-disconnect script logs:
// "common_name=jlee, trusted_ip=198.51.100.7, trusted_port=51234,
// ifconfig_pool_remote_ip=10.8.0.6, bytes_received=5000, bytes_sent=120000,
// time_duration=3600" (commas, spaces or both between pairs). Bytes received
// are what the server received from the client (vpn.bytes_in).
func ovpnAccounting(e *event.Event, s string) error {
	kv := map[string]string{}
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := kv[k]; !seen {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	e.Action = event.ActionVPNDisconnect
	e.Attrs["source_action"] = "session_accounting"
	e.VPN = &event.VPN{}
	for _, k := range [...]string{"bytes_received", "bytes_sent"} {
		v, ok := kv[k]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("OpenVPN %s %q is not a byte count", k, clipText(v, 24))
		}
		if k == "bytes_received" {
			e.VPN.BytesIn = n
		} else {
			e.VPN.BytesOut = n
		}
	}
	if v, ok := kv["time_duration"]; ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("OpenVPN time_duration %q is not a number of seconds", clipText(v, 24))
		}
		e.VPN.DurationS = uint32(n)
	}
	user := firstNonEmpty(kv["username"], kv["common_name"])
	if user == "UNDEF" {
		user = kv["common_name"]
	}
	if user == "" {
		return errors.New("OpenVPN accounting line names no user (expected common_name= or username=)")
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	if cn := kv["common_name"]; cn != "" && cn != e.Actor.ID {
		putAttr(e.Attrs, "common_name", cn)
	}
	for _, k := range [...]string{"trusted_ip", "untrusted_ip", "trusted_ip6", "untrusted_ip6"} {
		if v := kv[k]; v != "" && e.ClientIP == "" {
			ip, ok := cleanIP(v)
			if !ok {
				return fmt.Errorf("OpenVPN %s %q is not an IP address", k, clipText(v, 48))
			}
			e.ClientIP = ip
		}
	}
	if port := firstNonEmpty(kv["trusted_port"], kv["untrusted_port"]); port != "" && e.ClientIP != "" {
		a, aerr := netip.ParseAddr(e.ClientIP)
		if p, err := strconv.ParseUint(port, 10, 16); err == nil && aerr == nil {
			e.VPN.SessionID = netip.AddrPortFrom(a, uint16(p)).String()
		}
	}
	v4, v6 := kv["ifconfig_pool_remote_ip"], kv["ifconfig_pool_remote_ip6"]
	for _, v := range [...]*string{&v4, &v6} {
		if *v == "" {
			continue
		}
		ip, ok := cleanIP(*v)
		if !ok {
			return fmt.Errorf("OpenVPN pool address %q is not an IP address", clipText(*v, 48))
		}
		*v = ip
	}
	ovpnAssign(e, v4, v6)
	if t := kv["time_unix"]; t != "" {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil && n > 0 && n <= maxUnixSeconds {
			e.Attrs["session_start"] = time.Unix(n, 0).UTC().Format(time.RFC3339)
		}
	}
	return nil
}

// ovpnAssign sets the assigned addresses: IPv4 in vpn.assigned_ip when
// there is one (internal logs are mostly IPv4), IPv6 there otherwise and in
// attrs.assigned_ipv6 beside an IPv4 one.
func ovpnAssign(e *event.Event, v4, v6 string) {
	if e.VPN == nil {
		e.VPN = &event.VPN{}
	}
	switch {
	case v4 != "":
		e.VPN.AssignedIP = v4
		putAttr(e.Attrs, "assigned_ipv6", v6)
	case v6 != "":
		e.VPN.AssignedIP = v6
	}
}

// ovpnPoolAddresses reads "IPv4=10.8.0.6, IPv6=(Not enabled)" or
// "IPv4=10.8.0.6, IPv6=fd00::1000"; anything not an address is left out.
func ovpnPoolAddresses(s string) (v4, v6 string) {
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch {
		case k == "IPv4" && a.Is4():
			v4 = a.String()
		case k == "IPv6" && a.Is6():
			v6 = a.String()
		}
	}
	return v4, v6
}

// ovpnQuotedAfter returns the text between label (which ends with a quote)
// and the next "'".
func ovpnQuotedAfter(s, label string) (string, bool) {
	i := strings.Index(s, label)
	if i < 0 {
		return "", false
	}
	v, _, ok := strings.Cut(s[i+len(label):], "'")
	if !ok {
		return "", false
	}
	return truncate(v, maxIdentLen), true
}

// ovpnSubjectCN finds CN=value in a certificate subject ("CN=client1,
// serial=…" or OpenSSL's "/CN=client1/…").
func ovpnSubjectCN(s string) (string, bool) {
	i := strings.Index(s, "CN=")
	if i < 0 {
		return "", false
	}
	v := s[i+3:]
	if end := strings.IndexAny(v, ",/"); end >= 0 {
		v = v[:end]
	}
	v = strings.TrimSpace(v)
	return truncate(v, maxIdentLen), v != ""
}

// ovpnSignalLine reports whether rest is "SIGxxx[…] received,
// client-instance exiting|restarting".
func ovpnSignalLine(rest string) bool {
	return strings.HasPrefix(rest, "SIG") && strings.Contains(rest, "] received, client-instance ")
}

// ovpnSignal splits "SIGTERM[soft,remote-exit] received, …" into the signal
// and its reason ("remote-exit"; the hard/soft flag is dropped).
func ovpnSignal(rest string) (sig, reason string) {
	sig, after, _ := strings.Cut(rest, "[")
	inner, _, _ := strings.Cut(after, "]")
	if _, r, ok := strings.Cut(inner, ","); ok {
		reason = r
	} else if inner != "soft" && inner != "hard" {
		reason = inner
	}
	return sig, reason
}

func ovpnInstanceVerb(rest string) string {
	if strings.Contains(rest, "client-instance restarting") {
		return "restarting"
	}
	return "exiting"
}

// ovpnClientNoiseList holds per-client messages that say nothing an access
// review needs: TLS handshake and data-channel setup, certificate checks
// that passed, options pushed, routes learned, packet-level warnings. They
// are dropped without a dead letter (listed in docs/formats/openvpn.md).
var ovpnClientNoiseList = [...]string{
	"TLS: ", "TLS Error:", "TLS_ERROR:", "TLS handshake failed", "Fatal TLS error",
	"VERIFY OK", "VERIFY KU OK", "VERIFY EKU OK", "VERIFY SCRIPT OK", "VERIFY WARNING", "Validating certificate",
	"++ Certificate has EKU", "Control Channel:", "Data Channel:", "Outgoing Data Channel:", "Incoming Data Channel:",
	"Outgoing Control Channel", "Incoming Control Channel", "Data Channel MTU parms", "Control Channel MTU parms",
	"peer info:", "MULTI: ", "PUSH: ", "OPTIONS IMPORT:", "NCP:", "Delayed exit in", "Re-using SSL/TLS context",
	"LZO compression initializing", "Compression ", "WARNING:", "NOTE:", "Note:", "Authenticate/Decrypt packet error",
	"AEAD Decrypt error", "Bad LZO decompression", "Bad compression stub", "write UDP", "read UDP", "write TCP", "read TCP",
	"TCP connection established", "Float requested", "GET INST BY", "Key [", "Timers:", "send_push_reply",
	"SENT CONTROL", "key_state_read_plaintext", "PLUGIN_CALL:", "Outgoing dynamic tls-crypt", "Incoming dynamic tls-crypt",
	"Data Channel Offload", "CRL CHECK OK", "Connection Attempt", "Setting tls-crypt", "OpenSSL: ",
}

// ovpnServerNoiseList holds server-wide messages: startup, configuration,
// interface and route setup, plugin and management housekeeping.
var ovpnServerNoiseList = [...]string{
	"OpenVPN ", "library versions:", "DCO version", "NOTE:", "Note:", "WARNING:", "DEPRECATED OPTION",
	"Diffie-Hellman initialized", "Outgoing Control Channel", "Incoming Control Channel", "Control Channel Authentication",
	"Outgoing Static Key", "Incoming Static Key", "Static Encrypt", "Static Decrypt", "TUN/TAP device", "TUN/TAP TX queue",
	"net_iface_", "net_addr_", "net_route_", "/sbin/ip ", "/sbin/ifconfig ", "/sbin/route ", "/usr/sbin/ip ", "/bin/ip ",
	"Could not determine IPv4/IPv6 protocol", "Socket Buffers:", "setsockopt(", "UDPv4 link", "UDPv6 link", "UDP link",
	"TCPv4_SERVER link", "TCPv6_SERVER link", "Listening for incoming TCP connection", "MULTI: ", "IFCONFIG POOL",
	"ifconfig_pool_", "succeeded -> ifconfig_pool_set", "Initialization Sequence Completed", "MANAGEMENT:",
	"Closing TUN/TAP interface", "Exiting due to fatal error", "PLUGIN_INIT:", "PLUGIN_CALL:", "PLUGIN_CLOSE:",
	"AUTH-PAM: BACKGROUND: INIT", "Re-using SSL/TLS context", "Data Channel MTU parms", "Control Channel MTU parms",
	"Local Options String", "Local Options hash", "Expected Remote Options String", "Expected Remote Options hash",
	"Current Parameter Settings:", "Restart pause,", "ROUTE_GATEWAY", "ROUTE6_GATEWAY", "sitnl_", "GDG6:",
	"TCP/UDP: Preserving recently used remote address", "Successful ARP Flush", "Set TAP-Windows TUN subnet mode",
	"Notified TAP-Windows driver", "Sleeping for", "Waiting for TUN/TAP interface", "ovpn-dco", "Data Channel Offload",
	"event_wait :", "Fatal TLS error", "TLS Error:", "TLS_ERROR:", "Authenticate/Decrypt packet error", "OpenSSL: ",
	"Cannot load ", "Options error:", "Use --help for more information", "UID set to", "GID set to", "chroot to",
	"Cipher negotiation is disabled", "NCP: ", "LZO compression initializing", "Compression or compression stub",
	"GLOBAL STATS", "Linux route ", "Linux ip ", "ERROR: Linux route",
}

func ovpnClientNoise(rest string) bool {
	if strings.HasPrefix(rest, "  ") || rest == "" {
		return true
	}
	for _, p := range ovpnClientNoiseList {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

func ovpnServerNoise(msg string) bool {
	if strings.HasPrefix(msg, "  ") {
		return true // the option dump of verb 4 and above
	}
	// "SIGTERM[hard,] received, process exiting": the whole server stops;
	// the clients' own disconnects are logged per instance before it.
	if strings.HasPrefix(msg, "SIG") && strings.Contains(msg, "] received, process ") {
		return true
	}
	for _, p := range ovpnServerNoiseList {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func ovpnUnknown(msg string, fl ovpnFlavor) error {
	return fmt.Errorf("OpenVPN message %q is neither one phiwatch maps nor known protocol detail; %s", clipText(msg, 80), ovpnHint(fl))
}

func ovpnHint(fl ovpnFlavor) string {
	if fl.hint != "" {
		return fl.hint
	}
	return "send phiwatch only the OpenVPN server's log, written at verb 3"
}
