package parsers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/syslog"
	"github.com/phiwatch/phiwatch/internal/event"
)

// FortiGate reads FortiGate (FortiOS 6.x, 7.x) event logs in the default
// key=value syslog format, with or without a syslog header in front (the
// FortiGate sends "<189>date=… time=…"; a relay or FortiAnalyzer adds an
// RFC 3164 or 5424 header):
//
//	date=2026-10-01 time=14:03:07 devname="FGT60F" devid="FGT60FTK2109XXXX" eventtime=1759327387123456789 tz="-0400"
//	logid="0101039424" type="event" subtype="vpn" level="information" vd="root" logdesc="SSL VPN tunnel up"
//	action="tunnel-up" tunneltype="ssl-tunnel" tunnelid=12345 remip=198.51.100.7 tunnelip=10.212.134.200
//	user="jlee" group="staff" dst_host="N/A" reason="N/A" msg="SSL tunnel established"
//
// Quoted values may hold spaces and \" escapes. What each log becomes:
//
//	subtype vpn    action tunnel-up     ssl-tunnel (FortiClient)   vpn_connect
//	                                    ssl-web (web portal)       login
//	                                    ipsec with a user          vpn_connect (site-to-site: other)
//	               action tunnel-down   ssl-tunnel / ipsec user    vpn_disconnect (duration, bytes)
//	                                    ssl-web                    logout
//	               action ssl-login-fail, ssl-web-fail             login_failed
//	               action ssl-web-pass                             login
//	               action tunnel-stats                             other (bytes so far)
//	subtype user   action authentication status success|failure    login | login_failed
//	               action auth-logon / auth-logout                 login / logout
//	subtype system action login / logout (administrators)          login, login_failed, logout (attrs.auth_scope=management)
//
// remip (vpn) or srcip (user, system) is the client; user the actor (a
// user of "N/A" is none); group vpn.group; tunnelip (SSL) or assignip (IPsec)
// vpn.assigned_ip; tunnelid vpn.session_id. sentbyte is what the FortiGate
// sent to the client (vpn.bytes_out), rcvdbyte what it received (bytes_in).
//
// The time is eventtime (Unix seconds, ms, µs or ns, by its length), else
// date and time in tz, else in Location, else the syslog header's.
// Traffic, UTM and other event subtypes are errors that tell the operator
// to filter them out on the FortiGate; so are VPN actions not mapped above
// (IPsec negotiation steps, SSL alerts).
type FortiGate struct {
	// Location is the zone of date/time fields when a log has neither
	// eventtime nor tz (FortiOS before 6.2). Default UTC.
	Location *time.Location
}

// Name implements Parser.
func (FortiGate) Name() string { return "fortigate" }

// Kind implements Parser.
func (FortiGate) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (FortiGate) Description() string {
	return "FortiGate key=value event logs: SSL-VPN and IPsec dial-up sessions, user authentication, administrator logins"
}

// WithLocation implements LocationSetter.
func (p FortiGate) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// fortiFilterAdvice says how to keep what phiwatch does not read away from it.
const fortiFilterAdvice = "send phiwatch only event logs of subtype vpn, user and system (config log syslogd filter: set filter-type include, set filter \"subtype vpn user system\")"

// Parse implements Parser.
func (p FortiGate) Parse(rec Record) ([]event.Event, error) {
	line := strings.TrimSpace(string(rec.Data))
	if line == "" {
		return nil, errors.New("empty line")
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	h, err := syslog.ParseHeader(line, syslog.HeaderOptions{Location: loc, ReceivedAt: rec.ReceivedAt})
	if err != nil {
		return nil, fmt.Errorf("syslog header: %w", err)
	}
	msg := h.Msg
	if strings.HasPrefix(msg, "CEF:") || strings.Contains(msg, "|Fortinet|") {
		return nil, errors.New("FortiGate log is in CEF format; phiwatch reads the default key=value format (config log syslogd setting: set format default)")
	}
	kv, err := fortiKV(msg)
	if err != nil {
		return nil, err
	}
	typ, subtype := kv.get("type"), kv.get("subtype")
	if typ == "" && kv.get("logid") == "" {
		return nil, errors.New("no type= or logid= field; is this FortiGate key=value syslog?")
	}
	if typ != "event" {
		return nil, fmt.Errorf("FortiGate %s log (subtype %q) is not a VPN or authentication event; %s", fortiName(typ), subtype, fortiFilterAdvice)
	}
	action := kv.get("action")
	e := event.Event{
		TenantID:     rec.Tenant,
		EventID:      event.ID(rec.Tenant, "fortigate", line),
		SourceKind:   event.KindVPN,
		SourceSystem: "fortigate",
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Outcome:      event.OutcomeSuccess,
		Attrs:        make(map[string]string, 16),
		Raw:          line,
	}
	switch subtype {
	case "vpn":
		err = fortiVPN(&e, kv, action)
	case "user":
		err = fortiUser(&e, kv, action)
	case "system":
		err = fortiSystem(&e, kv, action)
	default:
		return nil, fmt.Errorf("FortiGate event subtype %q is not VPN or authentication; %s", clipText(subtype, 32), fortiFilterAdvice)
	}
	if err != nil {
		return nil, fmt.Errorf("FortiGate %s %s (logid %s): %w", subtype, fortiName(action), fortiName(kv.get("logid")), err)
	}
	putAttr(e.Attrs, "source_action", action)
	for _, k := range [...]string{"logid", "logdesc", "devname", "devid", "vd", "level", "msg", "reason"} {
		if v := fortiValue(kv.get(k)); v != "" {
			putAttr(e.Attrs, "fgt_"+k, v)
		}
	}
	if r := e.Attrs["fgt_reason"]; r != "" {
		e.Attrs["reason"] = r
		delete(e.Attrs, "fgt_reason")
	}
	putAttr(e.Attrs, "syslog_host", h.Hostname)
	vpnDropEmpty(&e)
	t, source, err := fortiTime(kv, loc)
	if err != nil {
		return nil, err
	}
	switch {
	case !t.IsZero():
		e.Time = t
		e.Attrs["time_source"] = source
	case !h.Time.IsZero():
		e.Time = h.Time
		e.Attrs["time_source"] = "syslog_header"
	default:
		e.Time = rec.ReceivedAt
		e.Attrs["time_source"] = "received_at"
	}
	e.Normalize()
	return []event.Event{e}, nil
}

func fortiName(s string) string {
	if s == "" {
		return "(none)"
	}
	return clipText(s, 32)
}

// fortiValue treats FortiOS's placeholders for "no value" as empty.
func fortiValue(v string) string {
	switch v {
	case "N/A", "n/a", "(null)", "none", "0.0.0.0", "::":
		return ""
	}
	return v
}

// fortiVPN maps subtype vpn.
func fortiVPN(e *event.Event, kv fortiFields, action string) error {
	tunnel := kv.get("tunneltype")
	ssl := strings.HasPrefix(tunnel, "ssl")
	web := tunnel == "ssl-web"
	user := firstNonEmpty(fortiValue(kv.get("user")), fortiValue(kv.get("xauthuser")))
	e.Attrs["tunnel_type"] = tunnel
	if tunnel == "" {
		delete(e.Attrs, "tunnel_type")
	}
	switch action {
	case "tunnel-up":
		switch {
		case web:
			e.Action = event.ActionLogin
		case ssl || user != "":
			e.Action = event.ActionVPNConnect
		default:
			e.Action = event.ActionOther // a site-to-site tunnel: no person
		}
	case "tunnel-down":
		switch {
		case web:
			e.Action = event.ActionLogout
		case ssl || user != "":
			e.Action = event.ActionVPNDisconnect
		default:
			e.Action = event.ActionOther
		}
	case "ssl-login-fail", "ssl-web-fail":
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
	case "ssl-web-pass":
		e.Action = event.ActionLogin
	case "tunnel-stats":
		e.Action = event.ActionOther
	default:
		return errors.New("VPN action is not one phiwatch maps (it maps tunnel-up, tunnel-down, ssl-login-fail, ssl-web-fail, ssl-web-pass, tunnel-stats); leave this log id out of the FortiGate's syslog filter for phiwatch")
	}
	if user == "" && e.Outcome == event.OutcomeSuccess && (e.Action == event.ActionLogin || e.Action == event.ActionLogout || e.Action == event.ActionVPNConnect || e.Action == event.ActionVPNDisconnect) {
		return errors.New("no user= field (or user=\"N/A\") on a user session log")
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	if ip := fortiValue(kv.get("remip")); ip != "" {
		clean, ok := cleanIP(ip)
		if !ok {
			return fmt.Errorf("remip %q is not an IP address", clipText(ip, 48))
		}
		e.ClientIP = clean
	}
	v := &event.VPN{Group: truncate(firstNonEmpty(fortiValue(kv.get("group")), fortiValue(kv.get("xauthgroup"))), maxIdentLen)}
	if id := kv.get("tunnelid"); id != "" && id != "0" {
		v.SessionID = id
	}
	if a := firstNonEmpty(fortiValue(kv.get("tunnelip")), fortiValue(kv.get("assignip"))); a != "" {
		clean, ok := cleanIP(a)
		if !ok {
			return fmt.Errorf("tunnel IP %q is not an IP address", clipText(a, 48))
		}
		v.AssignedIP = clean
	}
	for _, f := range [...]struct {
		key string
		dst *uint64
	}{{"sentbyte", &v.BytesOut}, {"rcvdbyte", &v.BytesIn}} {
		s := kv.get(f.key)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q is not a byte count", f.key, clipText(s, 24))
		}
		*f.dst = n
	}
	if s := kv.get("duration"); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("duration %q is not a number of seconds", clipText(s, 24))
		}
		v.DurationS = uint32(n)
	}
	e.VPN = v
	putAttr(e.Attrs, "vpn_tunnel", kv.get("vpntunnel"))
	putAttr(e.Attrs, "dst_host", fortiValue(kv.get("dst_host")))
	putAttr(e.Attrs, "src_country", fortiValue(kv.get("srccountry")))
	return nil
}

// fortiUser maps subtype user (firewall authentication, SSL-VPN portal
// authentication, FortiToken).
func fortiUser(e *event.Event, kv fortiFields, action string) error {
	status := kv.get("status")
	switch action {
	case "authentication":
		switch status {
		case "success":
			e.Action = event.ActionLogin
		case "failure", "failed":
			e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		case "lockout", "locked":
			e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
			e.Attrs["lockout"] = "true"
		default:
			e.Action, e.Outcome = event.ActionOther, event.OutcomeUnknown
		}
	case "auth-logon":
		e.Action = event.ActionLogin
	case "auth-logout":
		e.Action = event.ActionLogout
	default:
		return fmt.Errorf("user action is not one phiwatch maps (it maps authentication, auth-logon, auth-logout); %s", fortiFilterAdvice)
	}
	putAttr(e.Attrs, "status", status)
	return fortiPerson(e, kv, e.Outcome != event.OutcomeFailure)
}

// fortiSystem maps administrator sign-ins to the FortiGate itself
// (logids 0100032001-32003 and the like); other system events are errors.
func fortiSystem(e *event.Event, kv fortiFields, action string) error {
	status := kv.get("status")
	switch action {
	case "login":
		if status == "success" {
			e.Action = event.ActionLogin
		} else {
			e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		}
	case "logout":
		e.Action = event.ActionLogout
	default:
		return fmt.Errorf("system event is not an administrator login or logout; %s", fortiFilterAdvice)
	}
	e.Attrs["auth_scope"] = "management"
	putAttr(e.Attrs, "status", status)
	putAttr(e.Attrs, "ui", kv.get("ui"))
	if e.ClientIP == "" {
		// ui="https(198.51.100.7)", "ssh(…)", "GUI(…)".
		if ui := kv.get("ui"); strings.HasSuffix(ui, ")") {
			if i := strings.IndexByte(ui, '('); i >= 0 {
				if ip, ok := cleanIP(ui[i+1 : len(ui)-1]); ok {
					e.ClientIP = ip
				}
			}
		}
	}
	return fortiPerson(e, kv, e.Outcome != event.OutcomeFailure)
}

// fortiPerson sets the actor and client from user= and srcip=.
func fortiPerson(e *event.Event, kv fortiFields, userRequired bool) error {
	user := fortiValue(kv.get("user"))
	if user == "" && userRequired {
		return errors.New("no user= field on a successful sign-in")
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	if g := fortiValue(kv.get("group")); g != "" {
		putAttr(e.Attrs, "group", g)
	}
	putAttr(e.Attrs, "auth_proto", kv.get("authproto"))
	putAttr(e.Attrs, "policy_id", kv.get("policyid"))
	if ip := fortiValue(kv.get("srcip")); ip != "" {
		clean, ok := cleanIP(ip)
		if !ok {
			return fmt.Errorf("srcip %q is not an IP address", clipText(ip, 48))
		}
		e.ClientIP = clean
	}
	return nil
}

// fortiTime reads eventtime (preferred: it has sub-second precision and no
// zone ambiguity), else date and time with tz, else in loc.
func fortiTime(kv fortiFields, loc *time.Location) (time.Time, string, error) {
	if s := kv.get("eventtime"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, "", fmt.Errorf("eventtime %q is not a Unix time", clipText(s, 24))
		}
		// FortiOS 6.0 writes seconds, 6.2 nanoseconds, some builds and
		// FortiAnalyzer micro- or milliseconds: the digit count tells.
		switch d := len(s); {
		case d <= 11:
			return time.Unix(n, 0), "eventtime", nil
		case d <= 14:
			return time.UnixMilli(n), "eventtime", nil
		case d <= 17:
			return time.UnixMicro(n), "eventtime", nil
		default:
			return time.Unix(0, n), "eventtime", nil
		}
	}
	date, clock := kv.get("date"), kv.get("time")
	if date == "" || clock == "" {
		return time.Time{}, "", nil
	}
	where, source := loc, "date_time_location"
	if tz := kv.get("tz"); tz != "" {
		z, err := fortiZone(tz)
		if err != nil {
			return time.Time{}, "", err
		}
		where, source = z, "date_time_tz"
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", date+" "+clock, where)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("date=%s time=%s is not a valid time", clipText(date, 16), clipText(clock, 16))
	}
	return t, source, nil
}

// fortiZone reads tz="-0400" (also "+05:30", "UTC").
func fortiZone(tz string) (*time.Location, error) {
	if tz == "UTC" || tz == "GMT" || tz == "Z" {
		return time.UTC, nil
	}
	s := strings.ReplaceAll(tz, ":", "")
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') || strings.Trim(s[1:], "0123456789") != "" {
		return nil, fmt.Errorf("tz %q is not an offset like -0400", clipText(tz, 16))
	}
	hh, _ := strconv.Atoi(s[1:3])
	mm, _ := strconv.Atoi(s[3:5])
	if hh > 14 || mm > 59 {
		return nil, fmt.Errorf("tz %q is out of range", tz)
	}
	off := hh*3600 + mm*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(tz, off), nil
}

// fortiFields is a log's key=value pairs in order; logs have a few dozen,
// so a slice beats a map.
type fortiFields []struct{ k, v string }

func (f fortiFields) get(k string) string {
	for _, p := range f {
		if p.k == k {
			return p.v
		}
	}
	return ""
}

// fortiKV splits FortiOS key=value text: keys are letters, digits, '_' and
// '-'; a value is "quoted" (with \" and \\ escapes) or runs to the next
// space. A leading "1: " (the CLI's "execute log display" numbering) is
// skipped. The first of repeated keys wins.
func fortiKV(s string) (fortiFields, error) {
	if i := strings.Index(s, ": "); i > 0 && i < 8 && strings.Trim(s[:i], "0123456789") == "" {
		s = s[i+2:]
	}
	out := make(fortiFields, 0, 32)
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && fortiKeyByte(s[i]) {
			i++
		}
		if i == start || i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("expected key=value at %q; is this FortiGate key=value syslog?", clipText(s[start:], 32))
		}
		key := s[start:i]
		i++ // '='
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			// Most values have no escapes: slice them without copying.
			if end := strings.IndexByte(s[i:], '"'); end >= 0 && strings.IndexByte(s[i:i+end], '\\') < 0 {
				val = s[i : i+end]
				i += end + 1
				if len(out) < 512 && out.get(key) == "" {
					out = append(out, struct{ k, v string }{key, val})
				}
				continue
			}
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("value of %s has no closing quote (line cut short?)", clipText(key, 32))
			}
			val = b.String()
		} else {
			vs := i
			for i < len(s) && s[i] != ' ' {
				i++
			}
			val = s[vs:i]
		}
		if len(out) < 512 && out.get(key) == "" {
			out = append(out, struct{ k, v string }{key, val})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no key=value fields; is this FortiGate key=value syslog?")
	}
	return out, nil
}

func fortiKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
