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

// GlobalProtect reads Palo Alto Networks GlobalProtect logs as PAN-OS
// forwards them over syslog (RFC 3164 or 5424 header, then CSV; fields
// holding commas are double-quoted):
//
//   - the GLOBALPROTECT log type (PAN-OS 9.1 and later), in the documented
//     field order: FUTURE_USE, Receive Time, Serial, Type, Subtype,
//     FUTURE_USE, Generated Time, Virtual System, Event ID, Stage, Auth
//     Method, Tunnel Type, Source User, Source Region, Machine Name, Public
//     IP, Public IPv6, Private IP, Private IPv6, Host ID, Serial Number,
//     Client Version, Client OS, Client OS Version, Repeat Count, Reason,
//     Error, Description, Status, Location, Login Duration, Connect Method,
//     Error Code, Portal, Sequence Number, Action Flags, High Res Timestamp
//     (10.0+), Selection Type, Response Time, Priority, Attempted Gateways,
//     Gateway, DG Hierarchy 1-4, Virtual System Name, Device Name, …;
//   - the older SYSTEM log of subtype globalprotect, whose description
//     field holds the details ("GlobalProtect gateway user login succeeded.
//     Login from: 198.51.100.7, Source region: US, User name: jlee, …").
//
// Event ids map as follows (status success|failure decides the outcome):
//
//	portal-auth, gateway-auth                 login | login_failed
//	gateway-register, gateway-connected       vpn_connect (failure: other)
//	gateway-logout                            vpn_disconnect (login duration)
//	portal-logout                             logout
//	gateway-getconfig, portal-getconfig, …    other (private IP as vpn.assigned_ip)
//	SYSTEM globalprotectportal-auth-succ|fail, globalprotectgateway-auth-succ|fail  login | login_failed
//	SYSTEM globalprotectgateway-regist-succ   vpn_connect
//	SYSTEM globalprotectgateway-logout-succ   vpn_disconnect
//	any other GlobalProtect event             other
//
// The actor is the source user as PAN-OS writes it (domain\user or UPN),
// client_ip the public IP (IPv4, else IPv6), vpn.assigned_ip the private
// IP, device the machine name. The time is the High Res Timestamp when
// present (it carries an offset), else Generated Time in Location. The
// event id hashes the firewall serial, log type and sequence number, which
// PAN-OS assigns once per log, so a log forwarded twice (by the firewall
// and by Panorama, say) is one event; without a sequence number it hashes
// the line. Other PAN-OS log types are errors telling the operator to
// narrow the log forwarding profile.
type GlobalProtect struct {
	// Location is the zone of Generated/Receive Time, which carry none (the
	// firewall's clock zone). Default UTC.
	Location *time.Location
}

// Name implements Parser.
func (GlobalProtect) Name() string { return "globalprotect" }

// Kind implements Parser.
func (GlobalProtect) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (GlobalProtect) Description() string {
	return "Palo Alto GlobalProtect syslog (GLOBALPROTECT log type, PAN-OS 9.1+, and SYSTEM globalprotect logs): sign-ins, connects, logouts"
}

// WithLocation implements LocationSetter.
func (p GlobalProtect) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// GLOBALPROTECT field positions (after the type column is found at 3).
const (
	gpReceiveTime = 1
	gpSerial      = 2
	gpType        = 3
	gpGenTime     = 6
	gpVsys        = 7
	gpEventID     = 8
	gpStage       = 9
	gpAuthMethod  = 10
	gpTunnelType  = 11
	gpUser        = 12
	gpRegion      = 13
	gpMachine     = 14
	gpPublicIP    = 15
	gpPublicIPv6  = 16
	gpPrivateIP   = 17
	gpPrivateIPv6 = 18
	gpHostID      = 19
	gpClientSN    = 20
	gpClientVer   = 21
	gpClientOS    = 22
	gpClientOSVer = 23
	gpReason      = 25
	gpError       = 26
	gpDescription = 27
	gpStatus      = 28
	gpLocation    = 29
	gpLoginDur    = 30
	gpConnMethod  = 31
	gpErrorCode   = 32
	gpPortal      = 33
	gpSeqno       = 34
	gpHiResTime   = 36
	gpSelection   = 37
	gpGateway     = 41
	gpDeviceName  = 47
	gpMinFields   = gpStatus + 1

	// SYSTEM log positions.
	sysSubtype     = 4
	sysEventID     = 8
	sysObject      = 9
	sysModule      = 12
	sysSeverity    = 13
	sysDescription = 14
	sysSeqno       = 15
	sysDeviceName  = 22
)

const gpForwardAdvice = "forward only GLOBALPROTECT logs (and SYSTEM logs of subtype globalprotect) to phiwatch in the firewall's or Panorama's log forwarding profile"

// Parse implements Parser.
func (p GlobalProtect) Parse(rec Record) ([]event.Event, error) {
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
	f, err := gpFields(h.Msg)
	if err != nil {
		return nil, err
	}
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindVPN,
		SourceSystem: "globalprotect",
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Outcome:      event.OutcomeSuccess,
		Attrs:        make(map[string]string, 32),
		Raw:          line,
	}
	typ := strings.ToUpper(f.at(gpType))
	var seqno string
	switch typ {
	case "GLOBALPROTECT":
		err = gpGlobalProtect(&e, f, loc)
		seqno = f.at(gpSeqno)
	case "SYSTEM":
		if sub := f.at(sysSubtype); !strings.EqualFold(sub, "globalprotect") {
			return nil, fmt.Errorf("PAN-OS SYSTEM log of subtype %q is not GlobalProtect; %s", clipText(sub, 32), gpForwardAdvice)
		}
		err = gpSystem(&e, f, loc)
		seqno = f.at(sysSeqno)
	default:
		return nil, fmt.Errorf("PAN-OS %s log is not GlobalProtect; %s", fortiName(typ), gpForwardAdvice)
	}
	if err != nil {
		return nil, err
	}
	serial := f.at(gpSerial)
	if seqno != "" && seqno != "0" && serial != "" && strings.Trim(seqno, "0123456789") == "" {
		e.EventID = event.ID(rec.Tenant, "globalprotect", serial+"/"+typ+"/"+seqno)
		e.Attrs["pan_seqno"] = seqno
	} else {
		e.EventID = event.ID(rec.Tenant, "globalprotect", line)
	}
	putAttr(e.Attrs, "pan_serial", serial)
	putAttr(e.Attrs, "syslog_host", h.Hostname)
	vpnDropEmpty(&e)
	if e.Time.IsZero() {
		if !h.Time.IsZero() {
			e.Time = h.Time
			e.Attrs["time_source"] = "syslog_header"
		} else {
			e.Time = rec.ReceivedAt
			e.Attrs["time_source"] = "received_at"
		}
	}
	e.Normalize()
	return []event.Event{e}, nil
}

// gpRow is a log's CSV fields, re-based so the type column is at gpType.
type gpRow []string

func (r gpRow) at(i int) string {
	if i < len(r) {
		return strings.TrimSpace(r[i])
	}
	return ""
}

// gpFields splits the CSV after the syslog header. Some relays and older
// Panorama releases put a field or two between the serial and the type
// ("1,receive time,serial,11,0x0,TYPE,…"); the type column is looked for in
// the first few and the fields between dropped.
func gpFields(msg string) (gpRow, error) {
	fields, err := gpSplitCSV(msg)
	if err != nil {
		return nil, err
	}
	for i := 3; i <= 6 && i < len(fields); i++ {
		switch strings.ToUpper(strings.TrimSpace(fields[i])) {
		case "GLOBALPROTECT", "SYSTEM", "TRAFFIC", "THREAT", "CONFIG", "HIPMATCH", "USERID", "AUTH", "DECRYPTION", "TUNNEL", "SCTP", "IPTAG", "CORRELATION":
			if i == gpType {
				return gpRow(fields), nil
			}
			return gpRow(append(fields[:gpType:gpType], fields[i:]...)), nil
		}
	}
	if len(fields) < 4 {
		return nil, fmt.Errorf("%d CSV fields; a PAN-OS log has dozens (is this PAN-OS syslog, or was the line cut?)", len(fields))
	}
	return nil, fmt.Errorf("no PAN-OS log type in the 4th field (found %q); is this PAN-OS syslog?", clipText(strings.TrimSpace(fields[3]), 32))
}

// gpSplitCSV splits one line of PAN-OS CSV: fields separated by commas; a
// field that starts with '"' runs to the closing quote, with "" standing
// for a quote, and a lone quote inside it is text. It reads a line as
// encoding/csv with LazyQuotes does, without the reader each call would
// allocate (PAN-OS lines are read by the thousand).
func gpSplitCSV(s string) ([]string, error) {
	fields := make([]string, 0, 56)
	for i := 0; ; {
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], '"')
				if k < 0 {
					return nil, fmt.Errorf("not PAN-OS CSV: field %d has no closing quote (line cut short?)", len(fields)+1)
				}
				b.WriteString(s[j : j+k])
				j += k + 1
				if j < len(s) && s[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				if j < len(s) && s[j] != ',' {
					// A quote inside the value, not doubled: kept as text,
					// as encoding/csv's LazyQuotes does.
					b.WriteByte('"')
					continue
				}
				break
			}
			fields = append(fields, b.String())
			if j >= len(s) {
				return fields, nil
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(s[i:], ',')
		if k < 0 {
			return append(fields, s[i:]), nil
		}
		fields = append(fields, s[i:i+k])
		i += k + 1
	}
}

// gpGlobalProtect maps the GLOBALPROTECT log type.
func gpGlobalProtect(e *event.Event, f gpRow, loc *time.Location) error {
	if len(f) < gpMinFields {
		return fmt.Errorf("GLOBALPROTECT log has %d fields, fewer than the %d up to Status (line cut short?)", len(f), gpMinFields)
	}
	id := f.at(gpEventID)
	if id == "" {
		return errors.New("GLOBALPROTECT log has no event id (9th field)")
	}
	status := strings.ToLower(f.at(gpStatus))
	failed := status == "failure" || status == "fail" || status == "failed"
	switch {
	case failed:
		e.Outcome = event.OutcomeFailure
	case status != "success":
		e.Outcome = event.OutcomeUnknown
	}
	switch id {
	case "portal-auth", "gateway-auth":
		e.Action = event.ActionLogin
		if failed {
			e.Action = event.ActionLoginFailed
		}
	case "gateway-register", "gateway-connected":
		e.Action = event.ActionVPNConnect
	case "gateway-logout":
		e.Action = event.ActionVPNDisconnect
	case "portal-logout":
		e.Action = event.ActionLogout
	default:
		e.Action = event.ActionOther
	}
	if failed && e.Action != event.ActionLoginFailed {
		// A refused connect or logout is not a session start or end.
		e.Action = event.ActionOther
	}
	e.Attrs["source_action"] = id
	if strings.HasPrefix(id, "portal-") {
		e.Attrs["auth_scope"] = "portal"
	} else if strings.HasPrefix(id, "gateway-") {
		e.Attrs["auth_scope"] = "gateway"
	}
	user := f.at(gpUser)
	if user == "" && e.Outcome == event.OutcomeSuccess && e.Action != event.ActionOther {
		return fmt.Errorf("GLOBALPROTECT %s log has no source user", clipText(id, 32))
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	e.Device = truncate(f.at(gpMachine), maxIdentLen)
	ip, err := gpAddr("public IP", f.at(gpPublicIP))
	if err != nil {
		return err
	}
	if ip == "" {
		if ip, err = gpAddr("public IPv6", f.at(gpPublicIPv6)); err != nil {
			return err
		}
	}
	e.ClientIP = ip
	v4, err := gpAddr("private IP", f.at(gpPrivateIP))
	if err != nil {
		return err
	}
	v6, err := gpAddr("private IPv6", f.at(gpPrivateIPv6))
	if err != nil {
		return err
	}
	if e.Action == event.ActionVPNConnect || e.Action == event.ActionVPNDisconnect || v4 != "" || v6 != "" {
		e.VPN = &event.VPN{}
		ovpnAssign(e, v4, v6)
	}
	if d := f.at(gpLoginDur); d != "" && d != "0" && e.VPN != nil {
		n, err := strconv.ParseUint(d, 10, 32)
		if err != nil {
			return fmt.Errorf("login duration %q is not a number of seconds", clipText(d, 24))
		}
		e.VPN.DurationS = uint32(n)
	}
	for _, a := range [...]struct {
		k string
		i int
	}{
		{"stage", gpStage}, {"auth_method", gpAuthMethod}, {"tunnel_type", gpTunnelType}, {"source_region", gpRegion},
		{"host_id", gpHostID}, {"client_serial", gpClientSN}, {"client_version", gpClientVer}, {"client_os", gpClientOS},
		{"client_os_version", gpClientOSVer}, {"reason", gpReason}, {"error", gpError}, {"description", gpDescription},
		{"status", gpStatus}, {"gateway_location", gpLocation}, {"connect_method", gpConnMethod}, {"portal", gpPortal},
		{"gateway", gpGateway}, {"selection_type", gpSelection}, {"vsys", gpVsys}, {"device_name", gpDeviceName},
	} {
		putAttr(e.Attrs, a.k, f.at(a.i))
	}
	if c := f.at(gpErrorCode); c != "" && c != "0" {
		putAttr(e.Attrs, "error_code", c)
	}
	return gpTime(e, f.at(gpHiResTime), f.at(gpGenTime), f.at(gpReceiveTime), loc)
}

// gpAddr reads an address field; PAN-OS writes 0.0.0.0 (or ::) for none.
func gpAddr(what, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("%s %q is not an IP address", what, clipText(s, 48))
	}
	if a.IsUnspecified() {
		return "", nil
	}
	return a.Unmap().WithZone("").String(), nil
}

// gpTime prefers the High Res Timestamp (RFC 3339 with offset, PAN-OS
// 10.0+), then Generated Time, then Receive Time ("2006/01/02 15:04:05",
// the firewall's zone).
func gpTime(e *event.Event, hires, generated, received string, loc *time.Location) error {
	if hires != "" {
		if t, err := time.Parse(time.RFC3339Nano, hires); err == nil {
			e.Time = t
			e.Attrs["time_source"] = "high_res_timestamp"
			return nil
		}
	}
	for _, c := range [...]struct{ v, source string }{{generated, "generated_time"}, {received, "receive_time"}} {
		if c.v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006/01/02 15:04:05", c.v, loc)
		if err != nil {
			return fmt.Errorf("%s %q is not a PAN-OS time (2006/01/02 15:04:05)", strings.ReplaceAll(c.source, "_", " "), clipText(c.v, 32))
		}
		e.Time = t
		e.Attrs["time_source"] = c.source
		return nil
	}
	return nil
}

// gpSystemEvents maps SYSTEM globalprotect event ids (after the
// "globalprotect" prefix).
var gpSystemEvents = map[string]event.Action{
	"portal-auth-succ":    event.ActionLogin,
	"portal-auth-fail":    event.ActionLoginFailed,
	"gateway-auth-succ":   event.ActionLogin,
	"gateway-auth-fail":   event.ActionLoginFailed,
	"gateway-regist-succ": event.ActionVPNConnect,
	"gateway-logout-succ": event.ActionVPNDisconnect,
	"portal-logout-succ":  event.ActionLogout,
}

// gpSystem maps a SYSTEM log of subtype globalprotect.
func gpSystem(e *event.Event, f gpRow, loc *time.Location) error {
	if len(f) <= sysDescription {
		return fmt.Errorf("SYSTEM log has %d fields, fewer than the %d up to Description (line cut short?)", len(f), sysDescription+1)
	}
	id := f.at(sysEventID)
	if id == "" {
		return errors.New("SYSTEM log has no event id (9th field)")
	}
	short := strings.TrimPrefix(id, "globalprotect")
	action, ok := gpSystemEvents[short]
	if !ok {
		action = event.ActionOther
	}
	e.Action = action
	if action == event.ActionLoginFailed || strings.HasSuffix(short, "-fail") {
		e.Outcome = event.OutcomeFailure
	}
	e.Attrs["source_action"] = id
	if strings.HasPrefix(short, "portal") {
		e.Attrs["auth_scope"] = "portal"
	} else if strings.HasPrefix(short, "gateway") {
		e.Attrs["auth_scope"] = "gateway"
	}
	desc := f.at(sysDescription)
	d := gpDescriptionFields(desc)
	user := d["User name"]
	if user == "" && e.Outcome == event.OutcomeSuccess && e.Action != event.ActionOther {
		return fmt.Errorf("SYSTEM %s log names no user (expected \"User name: …\" in the description)", clipText(id, 40))
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	if from := d["Login from"]; from != "" {
		ip, ok := cleanIP(from)
		if !ok {
			return fmt.Errorf("Login from %q is not an IP address", clipText(from, 48))
		}
		e.ClientIP = ip
	}
	priv, err := gpAddr("Private IP", d["Private IP"])
	if err != nil {
		return err
	}
	if e.Action == event.ActionVPNConnect || e.Action == event.ActionVPNDisconnect || priv != "" {
		e.VPN = &event.VPN{AssignedIP: priv}
	}
	e.Device = truncate(d["Device name"], maxIdentLen)
	for _, a := range [...]struct{ attr, key string }{
		{"source_region", "Source region"}, {"client_os_version", "Client OS version"}, {"client_version", "Client version"},
		{"auth_method", "Auth type"}, {"reason", "Reason"}, {"vpn_type", "VPN type"}, {"message", "Message"},
	} {
		putAttr(e.Attrs, a.attr, d[a.key])
	}
	putAttr(e.Attrs, "description", desc)
	putAttr(e.Attrs, "object", f.at(sysObject))
	putAttr(e.Attrs, "severity", f.at(sysSeverity))
	putAttr(e.Attrs, "device_name", f.at(sysDeviceName))
	return gpTime(e, "", f.at(gpGenTime), f.at(gpReceiveTime), loc)
}

// gpDescriptionKeys are the labels PAN-OS uses in GlobalProtect SYSTEM
// descriptions.
var gpDescriptionKeys = [...]string{
	"Login from", "Source region", "User name", "Client OS version", "Client version", "Auth type", "Reason",
	"Private IP", "Device name", "VPN type", "Message", "Comment", "Time", "Error code", "Tunnel type",
}

// gpDescriptionFields reads "Summary. Key: value, Key: value, …." Values
// run to the next known label, so an OS version holding a comma
// ("Microsoft Windows 10 Enterprise , 64-bit") stays whole.
func gpDescriptionFields(desc string) map[string]string {
	type mark struct {
		key        string
		start, end int
	}
	var marks []mark
	for _, k := range gpDescriptionKeys {
		label := k + ": "
		from := 0
		for from < len(desc) {
			i := strings.Index(desc[from:], label)
			if i < 0 {
				break
			}
			i += from
			// A label starts the text or follows ". " or ", ".
			if i == 0 || i >= 2 && (desc[i-2:i] == ". " || desc[i-2:i] == ", ") {
				marks = append(marks, mark{k, i, i + len(label)})
				break
			}
			from = i + 1
		}
	}
	// Insertion sort: at most len(gpDescriptionKeys) marks.
	for i := 1; i < len(marks); i++ {
		for j := i; j > 0 && marks[j].start < marks[j-1].start; j-- {
			marks[j], marks[j-1] = marks[j-1], marks[j]
		}
	}
	out := make(map[string]string, len(marks))
	for i, m := range marks {
		end := len(desc)
		if i+1 < len(marks) {
			end = marks[i+1].start
		}
		if end < m.end {
			end = m.end
		}
		v := strings.TrimSpace(desc[m.end:end])
		v = strings.TrimSpace(strings.TrimSuffix(v, ","))
		v = strings.TrimSuffix(v, ".")
		out[m.key] = v
	}
	return out
}
