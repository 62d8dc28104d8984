package parsers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// OpenVPNStatus reads the status file an OpenVPN server rewrites every
// minute ("status /run/openvpn/server.status 60"), in any of its versions
// ("status-version"):
//
//	1 (default)  "OpenVPN CLIENT LIST" / "ROUTING TABLE" / "GLOBAL STATS" sections, comma-separated
//	2            TITLE, TIME, HEADER,CLIENT_LIST,… and CLIENT_LIST,… rows, comma-separated
//	3            as 2, tab-separated
//
// The same text comes from the management interface's "status 1|2|3".
//
// Each client row becomes one vpn_connect event describing a session that
// is up (attrs.observed = "status-snapshot"): the time is when the client
// connected, the actor its username (else its common name), client_ip its
// real address, vpn.assigned_ip its virtual address, vpn.bytes_in/out what
// the server received from and sent to it so far. The event id hashes the
// tenant, common name, real address and connected-since time, so re-reading
// a snapshot, or reading the next one while the session lasts, yields the
// same event (the store keeps one; later snapshots carry larger byte
// counts).
//
// Frame reads a whole file as one snapshot (or several, concatenated) and
// emits one record per client row that carries the lines needed to read
// it alone: for versions 2 and 3 the TITLE, TIME and HEADER,CLIENT_LIST lines
// and the row; for version 1 the section headers, the row, and the
// ROUTING TABLE rows of the same client (version 1 lists the virtual
// address only there). Routing, global-stats and END lines are consumed;
// a line that fits nowhere is emitted alone so it is dead-lettered.
type OpenVPNStatus struct {
	// Location is the zone of the version 1 "Connected Since" times, which
	// carry none (the server's clock zone). Default UTC. Versions 2 and 3
	// carry the time as a Unix time too, which is used instead.
	Location *time.Location
}

// Name implements Parser.
func (OpenVPNStatus) Name() string { return "openvpn-status" }

// Kind implements Parser.
func (OpenVPNStatus) Kind() event.SourceKind { return event.KindVPN }

// Description implements Parser.
func (OpenVPNStatus) Description() string {
	return "OpenVPN server status file (status-version 1, 2 or 3): one event per connected client"
}

// WithLocation implements LocationSetter.
func (p OpenVPNStatus) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// maxStatusFile bounds a status file, which Frame holds whole: a version 1
// file lists virtual addresses after all clients. A line per client, so
// this is far beyond any server's client count.
const maxStatusFile = 64 << 20

// Frame implements Framer.
func (OpenVPNStatus) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var snap ovpnSnapshot
	lineNo, total := 0, 0
	for {
		raw, err := readRawLine(br, event.MaxRawBytes)
		if errors.Is(err, io.EOF) {
			break
		}
		lineNo++
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
		if total += len(raw); total > maxStatusFile {
			return fmt.Errorf("status input is larger than %s; is this an OpenVPN status file?", byteSize(maxStatusFile))
		}
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, utf8BOM)
		}
		line := strings.TrimRight(string(raw), "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := snap.add(line, lineNo, emit); err != nil {
			return err
		}
	}
	return snap.flush(emit)
}

// ovpnSnapshot collects one status snapshot while Frame reads it.
type ovpnSnapshot struct {
	version int      // 0 before a snapshot starts; 1, 2 or 3
	head    []string // lines every record of the snapshot carries
	section string   // version 1: "clients", "routing", "stats"
	rows    []ovpnStatusRow
	routing []string
}

// ovpnStatusRow is a client row, or a line that fits nowhere (stray),
// kept in file order so records come out in the order they were read.
type ovpnStatusRow struct {
	line  string
	pos   int
	stray bool
}

func (s *ovpnSnapshot) add(line string, lineNo int, emit func([]byte, string) error) error {
	switch {
	case line == "OpenVPN CLIENT LIST":
		if err := s.flush(emit); err != nil {
			return err
		}
		s.version, s.section = 1, "clients"
		s.head = append(s.head, line)
		return nil
	case strings.HasPrefix(line, "TITLE,"), strings.HasPrefix(line, "TITLE\t"):
		if err := s.flush(emit); err != nil {
			return err
		}
		s.version = ovpnStatusVersion(line)
		s.head = append(s.head, line)
		return nil
	case line == "END", strings.HasPrefix(line, "END,"), strings.HasPrefix(line, "END\t"):
		return s.flush(emit)
	}
	if s.version == 0 {
		// Versions 2 and 3 start with TITLE, but a file cut at the top or
		// written by an older server may start at TIME or HEADER.
		switch {
		case strings.HasPrefix(line, "TIME"), strings.HasPrefix(line, "HEADER"), strings.HasPrefix(line, "CLIENT_LIST"):
			s.version = ovpnStatusVersion(line)
		default:
			return emit([]byte(line), strconv.Itoa(lineNo))
		}
	}
	if s.version == 1 {
		return s.addV1(line, lineNo, emit)
	}
	sep := ovpnStatusSep(s.version)
	kind, _, _ := strings.Cut(line, sep)
	switch kind {
	case "TIME":
		s.head = append(s.head, line)
	case "HEADER":
		if strings.HasPrefix(line, "HEADER"+sep+"CLIENT_LIST"+sep) {
			s.head = append(s.head, line)
		}
	case "CLIENT_LIST":
		s.rows = append(s.rows, ovpnStatusRow{line: line, pos: lineNo})
	case "ROUTING_TABLE", "GLOBAL_STATS":
	default:
		s.rows = append(s.rows, ovpnStatusRow{line: line, pos: lineNo, stray: true})
	}
	return nil
}

func (s *ovpnSnapshot) addV1(line string, lineNo int, emit func([]byte, string) error) error {
	switch {
	case strings.HasPrefix(line, "Updated,"), strings.HasPrefix(line, "Common Name,"):
		s.head = append(s.head, line)
	case line == "ROUTING TABLE":
		s.section = "routing"
	case strings.HasPrefix(line, "Virtual Address,"):
	case line == "GLOBAL STATS":
		s.section = "stats"
	case s.section == "clients":
		s.rows = append(s.rows, ovpnStatusRow{line: line, pos: lineNo})
	case s.section == "routing":
		s.routing = append(s.routing, line)
	case s.section == "stats":
	default:
		s.rows = append(s.rows, ovpnStatusRow{line: line, pos: lineNo, stray: true})
	}
	return nil
}

// flush emits the records of the snapshot read so far and starts afresh.
func (s *ovpnSnapshot) flush(emit func([]byte, string) error) error {
	defer func() { *s = ovpnSnapshot{} }()
	for _, row := range s.rows {
		if row.stray {
			if err := emit([]byte(row.line), strconv.Itoa(row.pos)); err != nil {
				return err
			}
			continue
		}
		var b strings.Builder
		for _, h := range s.head {
			b.WriteString(h)
			b.WriteByte('\n')
		}
		b.WriteString(row.line)
		if s.version == 1 {
			// The routing rows of this client: same common name and real address.
			cn, real := ovpnV1Key(row.line)
			wrote := false
			for _, r := range s.routing {
				f := strings.Split(r, ",")
				if len(f) >= 3 && f[1] == cn && f[2] == real {
					if !wrote {
						b.WriteString("\nROUTING TABLE")
						wrote = true
					}
					b.WriteByte('\n')
					b.WriteString(r)
				}
			}
		}
		if err := emit([]byte(b.String()), strconv.Itoa(row.pos)); err != nil {
			return err
		}
	}
	return nil
}

func ovpnV1Key(row string) (cn, real string) {
	f := strings.Split(row, ",")
	if len(f) < 2 {
		return row, ""
	}
	return f[0], f[1]
}

func ovpnStatusVersion(line string) int {
	if i := strings.IndexAny(line, ",\t"); i >= 0 && line[i] == '\t' {
		return 3
	}
	return 2
}

func ovpnStatusSep(version int) string {
	if version == 3 {
		return "\t"
	}
	return ","
}

// ovpnV1Columns is the version 1 client list, which has no HEADER line of
// its own kind; the "Common Name,…" line, when present, is read instead.
var ovpnV1Columns = []string{"Common Name", "Real Address", "Bytes Received", "Bytes Sent", "Connected Since"}

// ovpnV2Columns are the CLIENT_LIST columns by OpenVPN release, for a row
// that arrives without its HEADER line (told apart by count).
var ovpnV2Columns = map[int][]string{
	8:  {"Common Name", "Real Address", "Virtual Address", "Bytes Received", "Bytes Sent", "Connected Since", "Connected Since (time_t)", "Username"},
	11: {"Common Name", "Real Address", "Virtual Address", "Virtual IPv6 Address", "Bytes Received", "Bytes Sent", "Connected Since", "Connected Since (time_t)", "Username", "Client ID", "Peer ID"},
	12: {"Common Name", "Real Address", "Virtual Address", "Virtual IPv6 Address", "Bytes Received", "Bytes Sent", "Connected Since", "Connected Since (time_t)", "Username", "Client ID", "Peer ID", "Data Channel Cipher"},
}

// Parse implements Parser: one record from Frame, one event.
func (p OpenVPNStatus) Parse(rec Record) ([]event.Event, error) {
	text := strings.TrimSpace(strings.ReplaceAll(string(rec.Data), "\r\n", "\n"))
	if text == "" {
		return nil, errors.New("empty record")
	}
	lines := strings.Split(text, "\n")
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	st := ovpnStatusRecord{}
	var err error
	if lines[0] == "OpenVPN CLIENT LIST" || strings.HasPrefix(lines[0], "Updated,") || strings.HasPrefix(lines[0], "Common Name,") {
		err = st.readV1(lines)
	} else {
		err = st.readV2(lines)
	}
	if err != nil {
		return nil, err
	}
	return p.event(rec, text, st, loc)
}

// ovpnStatusRecord is one client row with its column names.
type ovpnStatusRecord struct {
	version  int
	title    string
	updated  string // TIME / Updated value, as written
	updatedT string // TIME's Unix time, when given
	cols     map[string]string
	routes   []string // version 1: virtual addresses from the routing table
}

func (st *ovpnStatusRecord) readV1(lines []string) error {
	st.version = 1
	header := ovpnV1Columns
	var row string
	section := "clients"
	for _, l := range lines {
		switch {
		case l == "OpenVPN CLIENT LIST":
		case strings.HasPrefix(l, "Updated,"):
			st.updated = strings.TrimPrefix(l, "Updated,")
		case strings.HasPrefix(l, "Common Name,"):
			header = strings.Split(l, ",")
		case l == "ROUTING TABLE":
			section = "routing"
		case section == "routing":
			if f := strings.Split(l, ","); len(f) >= 1 {
				st.routes = append(st.routes, f[0])
			}
		case row == "":
			row = l
		default:
			return fmt.Errorf("status record has a second client row %q; records come from the openvpn-status framer one client at a time", clipText(l, 48))
		}
	}
	if row == "" {
		return errors.New("status record has no client row (expected Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since)")
	}
	return st.columns(header, strings.Split(row, ","), row)
}

func (st *ovpnStatusRecord) readV2(lines []string) error {
	var header, row []string
	var rowText string
	for _, l := range lines {
		if st.version == 0 {
			st.version = ovpnStatusVersion(l)
		}
		f := strings.Split(l, ovpnStatusSep(st.version))
		switch f[0] {
		case "TITLE":
			st.title = strings.Join(f[1:], " ")
		case "TIME":
			if len(f) > 1 {
				st.updated = f[1]
			}
			if len(f) > 2 {
				st.updatedT = f[2]
			}
		case "HEADER":
			if len(f) > 1 && f[1] == "CLIENT_LIST" {
				header = f[2:]
			}
		case "CLIENT_LIST":
			if row != nil {
				return errors.New("status record has a second CLIENT_LIST row; records come from the openvpn-status framer one client at a time")
			}
			row, rowText = f[1:], l
		default:
			return fmt.Errorf("status line %q is not a CLIENT_LIST row or its header (is this an OpenVPN status file?)", clipText(l, 48))
		}
	}
	if row == nil {
		return errors.New("status record has no CLIENT_LIST row")
	}
	if header == nil {
		if header = ovpnV2Columns[len(row)]; header == nil {
			return fmt.Errorf("CLIENT_LIST row has %d columns and no HEADER,CLIENT_LIST line to name them (OpenVPN writes 8, 11 or 12)", len(row))
		}
	}
	return st.columns(header, row, rowText)
}

func (st *ovpnStatusRecord) columns(header, row []string, rowText string) error {
	if len(row) < len(header) {
		return fmt.Errorf("client row has %d of the %d columns its header names (cut short?): %q", len(row), len(header), clipText(rowText, 64))
	}
	st.cols = make(map[string]string, len(header))
	for i, h := range header {
		st.cols[strings.TrimSpace(h)] = strings.TrimSpace(row[i])
	}
	return nil
}

func (p OpenVPNStatus) event(rec Record, raw string, st ovpnStatusRecord, loc *time.Location) ([]event.Event, error) {
	c := st.cols
	cn := c["Common Name"]
	real := c["Real Address"]
	if cn == "" {
		return nil, errors.New("client row has no Common Name")
	}
	if cn == "UNDEF" {
		// A client still in its TLS handshake or password check: no
		// session is up yet, and the next snapshot shows it by name.
		return nil, nil
	}
	if real == "" {
		return nil, errors.New("client row has no Real Address")
	}
	since, err := ovpnConnectedSince(c["Connected Since (time_t)"], c["Connected Since"], loc)
	if err != nil {
		return nil, err
	}
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindVPN,
		SourceSystem: "openvpn-status",
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Time:         since,
		Action:       event.ActionVPNConnect,
		Outcome:      event.OutcomeSuccess,
		Attrs: map[string]string{
			"observed":       "status-snapshot",
			"source_action":  "client_list",
			"status_version": strconv.Itoa(st.version),
			"time_source":    "connected_since",
		},
		VPN: &event.VPN{},
		Raw: raw,
	}
	// The key names the session, not the snapshot: see the type comment.
	e.EventID = event.ID(rec.Tenant, "openvpn-status", cn+"\x00"+real+"\x00"+strconv.FormatInt(since.Unix(), 10))
	ap, hasPort := ovpnAddrPort(ovpnStripProto(real))
	if !hasPort {
		ip, ok := cleanIP(ovpnStripProto(real))
		if !ok {
			return nil, fmt.Errorf("Real Address %q is not an address:port", clipText(real, 64))
		}
		e.ClientIP = ip
	} else {
		e.ClientIP = ap.Addr().String()
		e.VPN.SessionID = ap.String()
		e.Attrs["client_port"] = strconv.Itoa(int(ap.Port()))
	}
	user := c["Username"]
	if user == "" || user == "UNDEF" {
		user = cn
	}
	e.Actor.ID = truncate(user, maxIdentLen)
	if cn != e.Actor.ID {
		putAttr(e.Attrs, "common_name", cn)
	}
	for _, k := range [...]string{"Bytes Received", "Bytes Sent"} {
		v, ok := c[k]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a byte count", k, clipText(v, 24))
		}
		if k == "Bytes Received" {
			e.VPN.BytesIn = n // received by the server, from the client
		} else {
			e.VPN.BytesOut = n
		}
	}
	v4 := c["Virtual Address"]
	v6 := c["Virtual IPv6 Address"]
	if st.version == 1 {
		for _, r := range st.routes {
			a, err := netip.ParseAddr(strings.TrimSuffix(r, "C"))
			if err != nil {
				continue // a subnet (iroute) or a TAP MAC address
			}
			if a.Is4() && v4 == "" {
				v4 = a.String()
			} else if a.Is6() && v6 == "" {
				v6 = a.String()
			}
		}
	}
	for _, v := range [...]*string{&v4, &v6} {
		if *v == "" {
			continue
		}
		a, err := netip.ParseAddr(*v)
		if err != nil {
			return nil, fmt.Errorf("Virtual Address %q is not an IP address", clipText(*v, 48))
		}
		*v = a.String()
	}
	if v4 != "" && !strings.Contains(v4, ".") {
		v4, v6 = "", firstNonEmpty(v6, v4) // an IPv6-only client in the IPv4 column
	}
	ovpnAssign(&e, v4, v6)
	putAttr(e.Attrs, "client_id", c["Client ID"])
	putAttr(e.Attrs, "peer_id", c["Peer ID"])
	putAttr(e.Attrs, "cipher", c["Data Channel Cipher"])
	putAttr(e.Attrs, "openvpn_version", st.title)
	if t := ovpnSnapshotTime(st, loc); !t.IsZero() {
		e.Attrs["status_updated"] = t.UTC().Format(time.RFC3339)
	}
	e.Normalize()
	return []event.Event{e}, nil
}

// ovpnStripProto drops the protocol OpenVPN 2.6 may put before a real
// address ("udp4:198.51.100.7:51234", "tcp4-server:…").
func ovpnStripProto(s string) string {
	for _, p := range [...]string{"udp4:", "udp6:", "tcp4-server:", "tcp6-server:", "tcp4:", "tcp6:", "udp:", "tcp:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest
		}
	}
	return s
}

// maxUnixSeconds bounds Unix times read from text (year 3000): beyond it a
// number is not a time of this world, and time.Time could not encode it.
const maxUnixSeconds = 32503680000

// ovpnConnectedSince prefers the Unix time of versions 2 and 3 and reads
// the text form otherwise: "Thu Oct  1 13:00:00 2026" (2.5 and before) or
// "2026-10-01 13:00:00" (2.6), in loc.
func ovpnConnectedSince(unix, text string, loc *time.Location) (time.Time, error) {
	if unix != "" {
		n, err := strconv.ParseInt(unix, 10, 64)
		if err != nil || n <= 0 || n > maxUnixSeconds {
			return time.Time{}, fmt.Errorf("Connected Since (time_t) %q is not a Unix time", clipText(unix, 24))
		}
		return time.Unix(n, 0), nil
	}
	if text == "" {
		return time.Time{}, errors.New("client row has no Connected Since time")
	}
	for _, layout := range [...]string{"Mon Jan _2 15:04:05 2006", "Mon Jan 2 15:04:05 2006", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, text, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("Connected Since %q is not a time OpenVPN writes (Thu Oct  1 13:00:00 2026 or 2026-10-01 13:00:00)", clipText(text, 40))
}

func ovpnSnapshotTime(st ovpnStatusRecord, loc *time.Location) time.Time {
	if st.updatedT != "" {
		if n, err := strconv.ParseInt(st.updatedT, 10, 64); err == nil && n > 0 && n <= maxUnixSeconds {
			return time.Unix(n, 0)
		}
	}
	if st.updated != "" {
		if t, err := ovpnConnectedSince("", st.updated, loc); err == nil {
			return t
		}
	}
	return time.Time{}
}
