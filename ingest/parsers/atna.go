package parsers

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/phiwatch/phiwatch/ingest/syslog"
	"github.com/phiwatch/phiwatch/internal/event"
)

// ATNA reads DICOM PS3.15 Audit Messages, the IHE ATNA audit record format
// that grew out of RFC 3881: the XML that PACS, VNAs, HIEs, XDS registries
// and many EHR interfaces send to an audit record repository. Both attribute
// styles are read: DICOM's csd-code/codeSystemName/originalText and RFC
// 3881's code/codeSystemName/displayName.
//
// Input is one XML document per file (pretty-printed or not, several
// documents may follow one another) or syslog, one message per line, whose
// MSG is the XML (RFC 5424 as ATNA's RFC 5425 transport sends it, with or
// without a BOM, or RFC 3164), as the syslog listener hands it on. A
// document holding several <AuditMessage> elements yields one event each.
//
// Mapping, in short (atnaAction and the tests hold the details):
//   - Time: EventDateTime (an xs:dateTime, offset or Z, any fraction); a
//     zone-less one is in Location. Without it (dcm4chee omits it for some
//     queries) the syslog header's time, else the receive time, and
//     attrs.time_source says which.
//   - Actor: the ActiveParticipant with UserIsRequestor true (a person's
//     before a machine's when several are), else the first person, else
//     the first participant; its UserID, else AlternativeUserID. Name is
//     UserName; Role the first RoleIDCode that is a workforce role rather
//     than a DICOM participant kind (Source, Destination, Application…);
//     attrs.actor_type is the UserIDTypeCode's name (Person ID, Station AE
//     Title, Node ID…), which tells people from machines.
//   - ClientIP/Device: the actor's NetworkAccessPointID (type 2 or an IP
//     address → ClientIP, else Device), failing that the Source Role ID
//     participant's.
//   - PatientID: the ParticipantObject of type 1 (Person) and role 1
//     (Patient); its ID is an HL7 CX ("MRN^^^&1.2.3&ISO"), whose first
//     component is the id, the whole being kept in attrs.patient_id_cx.
//     ParticipantObjectName (the patient's name) is never copied (minimum
//     necessary). ResourceType/ResourceID: the first other object that is
//     not a query, e.g. Study / its instance UID.
//   - Outcome: EventOutcomeIndicator 0 success, 4/8/12 failure.
//   - PurposeOfUse: EventIdentification/PurposeOfUse; a break-glass code
//     (ETREAT, BTG) sets BreakGlass.
//   - attrs: source_action (the EventTypeCode, else the EventID code),
//     event_id_code/event_id_display, event_type, event_action,
//     audit_source_id, query_params (the names a REST-style
//     ParticipantObjectQuery searched by, not their values).
//
// encoding/xml resolves no external entities and expands no DTD; a
// DOCTYPE is refused outright, records are bounded (maxATNARecord, and
// maxATNAMessage per AuditMessage) and so is the nesting of elements
// around AuditMessages. Inside one, elements the message model does not
// name are skipped by encoding/xml without recursion, so their depth costs
// nothing beyond the record's size.
type ATNA struct {
	// Location is the zone of EventDateTime values and RFC 3164 syslog
	// stamps that carry none. Default UTC.
	Location *time.Location
}

// Limits. An audit message is a few KiB; one carrying HL7 payloads tens.
const (
	maxATNAMessage = 1 << 20  // one AuditMessage
	maxATNARecord  = 16 << 20 // one record (a document may hold several messages)
	maxATNADepth   = 64       // element nesting; ATNA needs about 6
)

// Name implements Parser.
func (ATNA) Name() string { return "atna" }

// Kind implements Parser.
func (ATNA) Kind() event.SourceKind { return event.KindEHR }

// Description implements Parser.
func (ATNA) Description() string {
	return "DICOM PS3.15 / IHE ATNA / RFC 3881 XML audit messages: files or syslog"
}

// WithLocation implements LocationSetter.
func (p ATNA) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

func (p ATNA) loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// Parse implements Parser. A record holding several AuditMessages yields an
// event for each readable one; the others are named in the error.
func (p ATNA) Parse(rec Record) ([]event.Event, error) {
	data := rec.Data
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		if len(data) > 2*maxATNARecord {
			return nil, fmt.Errorf("record is %d bytes, more than %s; an audit message is a few KiB", len(data), byteSize(2*maxATNARecord))
		}
		var err error
		if data, err = atnaUTF8(data); err != nil {
			return nil, err
		}
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	if len(data) == 0 {
		return nil, errors.New("empty record")
	}
	if len(data) > maxATNARecord {
		return nil, fmt.Errorf("record is %d bytes, more than %s; an audit message is a few KiB", len(data), byteSize(maxATNARecord))
	}
	var hdr *syslog.Header
	xmlData := data
	if n := octetCount(data); n > 0 {
		xmlData = data[n:] // RFC 6587 octet counting, saved to a file as it came
	}
	if len(xmlData) > 1 && xmlData[0] == '<' && xmlData[1] >= '0' && xmlData[1] <= '9' {
		h, err := syslog.ParseHeader(string(xmlData), syslog.HeaderOptions{Location: p.loc(), ReceivedAt: rec.ReceivedAt})
		if err != nil {
			return nil, fmt.Errorf("syslog header: %w", err)
		}
		hdr = &h
		msg := []byte(strings.TrimPrefix(strings.TrimSpace(h.Msg), "\ufeff"))
		i := atnaXMLStart(msg)
		if i < 0 {
			return nil, fmt.Errorf("the syslog message holds no XML audit message (it starts with %q)", truncate(string(msg), 40))
		}
		xmlData = msg[i:]
	} else if xmlData[0] != '<' {
		return nil, fmt.Errorf("not an XML audit message: the record starts with %q", truncate(string(xmlData), 40))
	}
	converted, err := atnaUTF8(xmlData)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(converted, xmlData) {
		// xmlData ends data: the evidence is the record with its XML as
		// UTF-8 text, not bytes JSON would turn into U+FFFD.
		data = append(data[:len(data)-len(xmlData):len(data)-len(xmlData)], converted...)
	}
	return p.parseXML(rec, converted, data, hdr)
}

// octetCount returns the length of an RFC 6587 octet-count prefix ("123 ")
// before a syslog message, or 0.
func octetCount(b []byte) int {
	i := 0
	for i < len(b) && i < 7 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(b) && b[i] == ' ' && b[i+1] == '<' {
		return i + 1
	}
	return 0
}

// atnaXMLStart finds where the XML starts in a syslog MSG: at its
// declaration or its first AuditMessage (some senders put a tag or text
// before it); -1 when there is none.
func atnaXMLStart(msg []byte) int {
	if len(msg) > 0 && msg[0] == '<' {
		return 0
	}
	i := bytes.Index(msg, []byte("<?xml"))
	if j := bytes.Index(msg, []byte("<AuditMessage")); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	return i
}

// atnaUTF8 returns the document as UTF-8: UTF-16 with a byte-order mark is
// decoded, and a declared ISO-8859-1, Windows-1252 or US-ASCII encoding is
// converted, so byte offsets (and raw) are in the text the event keeps.
func atnaUTF8(doc []byte) ([]byte, error) {
	if bytes.HasPrefix(doc, []byte{0xFF, 0xFE}) || bytes.HasPrefix(doc, []byte{0xFE, 0xFF}) {
		b, err := io.ReadAll(ehrTextReader(bytes.NewReader(doc)))
		if err != nil {
			return nil, fmt.Errorf("decode UTF-16: %w", err)
		}
		return bytes.TrimPrefix(b, utf8BOM), nil
	}
	switch enc := strings.ToLower(xmlDeclaredEncoding(doc)); enc {
	case "", "utf-8", "utf8", "utf-16", "utf16":
		return doc, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii":
		if utf8.Valid(doc) {
			return doc, nil
		}
		return singleByteToUTF8(doc, false), nil
	case "windows-1252", "cp1252":
		if utf8.Valid(doc) {
			return doc, nil
		}
		return singleByteToUTF8(doc, true), nil
	default:
		return nil, fmt.Errorf("the XML declares encoding %q; phiwatch reads UTF-8, UTF-16, ISO-8859-1, Windows-1252 and US-ASCII", truncate(enc, 32))
	}
}

// xmlDeclaredEncoding is the encoding named by an XML declaration at the
// start of doc, or "".
func xmlDeclaredEncoding(doc []byte) string {
	if !bytes.HasPrefix(doc, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(doc, []byte("?>"))
	if end < 0 || end > 256 {
		return ""
	}
	decl := doc[:end]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	j := bytes.IndexByte(rest[1:], q)
	if j < 0 {
		return ""
	}
	return string(rest[1 : 1+j])
}

// atnaCharsetReader accepts the encodings atnaUTF8 has already converted:
// the bytes are UTF-8 by now, whatever the declaration still says.
func atnaCharsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "windows-1252", "cp1252", "utf-16", "utf16", "utf8":
		return r, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// parseXML decodes every AuditMessage in doc. record is the whole record,
// the raw of its event when it holds exactly one message.
func (p ATNA) parseXML(rec Record, doc, record []byte, hdr *syslog.Header) ([]event.Event, error) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	dec.CharsetReader = atnaCharsetReader
	type found struct {
		msg atnaMessage
		raw []byte
	}
	var (
		msgs  []found
		errs  problemList
		depth int
		root  string
	)
tokens:
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, xmlProblem(err))
			break
		}
		switch t := tok.(type) {
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) {
				return nil, errors.New("the XML has a DOCTYPE declaration, which audit messages never need; refused (it is how entity-expansion attacks start)")
			}
		case xml.StartElement:
			if t.Name.Local != "AuditMessage" {
				if root == "" {
					root = t.Name.Local
				}
				if depth++; depth > maxATNADepth {
					return nil, fmt.Errorf("the XML nests elements more than %d deep; an audit message needs about 6", maxATNADepth)
				}
				continue
			}
			var m atnaMessage
			if err := dec.DecodeElement(&m, &t); err != nil {
				errs = append(errs, fmt.Errorf("AuditMessage %d: %w", len(msgs)+1, xmlProblem(err)))
				break tokens // the decoder cannot go on after a syntax error
			}
			raw := doc[off:dec.InputOffset()]
			if len(raw) > maxATNAMessage {
				errs = append(errs, fmt.Errorf("AuditMessage %d is %d bytes, more than %s", len(msgs)+1, len(raw), byteSize(maxATNAMessage)))
				continue
			}
			msgs = append(msgs, found{m, raw})
		case xml.EndElement:
			depth--
		}
	}
	if len(msgs) == 0 && len(errs) == 0 {
		if root == "" {
			return nil, errors.New("the XML holds no element (is the record truncated?)")
		}
		return nil, fmt.Errorf("not an audit message: the XML holds no <AuditMessage> (its root is <%s>)", truncate(root, 64))
	}
	var evs []event.Event
	for i, f := range msgs {
		raw := f.raw
		if len(msgs) == 1 && len(errs) == 0 {
			raw = record // one message: the record as received is its evidence
		}
		e, err := p.event(rec, &f.msg, f.raw, raw, hdr)
		if err != nil {
			if len(msgs) == 1 {
				errs = append(errs, err)
			} else {
				errs = append(errs, fmt.Errorf("AuditMessage %d: %w", i+1, err))
			}
			continue
		}
		evs = append(evs, e)
	}
	if len(errs) > 0 {
		return evs, errs
	}
	return evs, nil
}

// xmlProblem rewords an encoding/xml error for an operator: where the XML
// breaks and, for a document cut short, that it was probably truncated.
func xmlProblem(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Msg == "unexpected EOF" {
			return &ehrReworded{msg: fmt.Sprintf("the XML ends early, at line %d (truncated?)", se.Line), err: err}
		}
		return &ehrReworded{msg: fmt.Sprintf("invalid XML at line %d: %s", se.Line, se.Msg), err: err}
	}
	if strings.Contains(err.Error(), "exceeded max depth") {
		return &ehrReworded{msg: "the XML nests elements too deep for an audit message", err: err}
	}
	return fmt.Errorf("invalid XML: %w", err)
}

// ---- the message ----

type atnaMessage struct {
	Event        atnaEventIdentification `xml:"EventIdentification"`
	Participants []atnaParticipant       `xml:"ActiveParticipant"`
	Sources      []atnaSource            `xml:"AuditSourceIdentification"`
	Objects      []atnaObject            `xml:"ParticipantObjectIdentification"`
}

type atnaEventIdentification struct {
	ActionCode  string     `xml:"EventActionCode,attr"`
	DateTime    string     `xml:"EventDateTime,attr"`
	Outcome     string     `xml:"EventOutcomeIndicator,attr"`
	ID          atnaCode   `xml:"EventID"`
	Types       []atnaCode `xml:"EventTypeCode"`
	OutcomeDesc string     `xml:"EventOutcomeDescription"`
	Purposes    []atnaCode `xml:"PurposeOfUse"`
}

// atnaCode is a coded value in either attribute style: DICOM's csd-code
// and originalText, or RFC 3881's code and displayName.
type atnaCode struct {
	CSDCode      string `xml:"csd-code,attr"`
	Code         string `xml:"code,attr"`
	System       string `xml:"codeSystemName,attr"`
	OriginalText string `xml:"originalText,attr"`
	DisplayName  string `xml:"displayName,attr"`
}

func (c atnaCode) code() string {
	if s := strings.TrimSpace(c.CSDCode); s != "" {
		return s
	}
	return strings.TrimSpace(c.Code)
}

func (c atnaCode) display() string {
	if s := strings.TrimSpace(c.OriginalText); s != "" {
		return s
	}
	return strings.TrimSpace(c.DisplayName)
}

type atnaParticipant struct {
	UserID      string     `xml:"UserID,attr"`
	AltUserID   string     `xml:"AlternativeUserID,attr"`
	UserName    string     `xml:"UserName,attr"`
	IsRequestor string     `xml:"UserIsRequestor,attr"`
	NAPID       string     `xml:"NetworkAccessPointID,attr"`
	NAPType     string     `xml:"NetworkAccessPointTypeCode,attr"`
	UserType    string     `xml:"UserTypeCode,attr"` // DICOM 2019+: 1 person, 2 process
	Roles       []atnaCode `xml:"RoleIDCode"`
	UserIDType  atnaCode   `xml:"UserIDTypeCode"`
}

func (a *atnaParticipant) requestor() bool {
	v := strings.TrimSpace(a.IsRequestor)
	return strings.EqualFold(v, "true") || v == "1"
}

// person reports whether the participant is a person rather than a
// process, a device or an application.
func (a *atnaParticipant) person() bool {
	if strings.TrimSpace(a.UserType) == "1" {
		return true
	}
	switch a.UserIDType.code() {
	case "113871", "113872", "113873", "11": // Person ID, National/Provider ID, User Identifier
		return true
	}
	return false
}

func (a *atnaParticipant) hasRole(code string) bool {
	for _, r := range a.Roles {
		if r.code() == code {
			return true
		}
	}
	return false
}

func (a *atnaParticipant) id() string {
	if s := strings.TrimSpace(a.UserID); s != "" {
		return s
	}
	return strings.TrimSpace(a.AltUserID)
}

type atnaSource struct {
	ID     string `xml:"AuditSourceID,attr"`
	SiteID string `xml:"AuditEnterpriseSiteID,attr"`
}

type atnaObject struct {
	ID       string       `xml:"ParticipantObjectID,attr"`
	TypeCode string       `xml:"ParticipantObjectTypeCode,attr"`
	Role     string       `xml:"ParticipantObjectTypeCodeRole,attr"`
	IDType   atnaCode     `xml:"ParticipantObjectIDTypeCode"`
	Query    string       `xml:"ParticipantObjectQuery"`
	Details  []atnaDetail `xml:"ParticipantObjectDetail"`
	// ParticipantObjectName is deliberately not decoded: for a patient it
	// is the name, which phiwatch does not keep outside the raw record.
}

type atnaDetail struct {
	Type  string `xml:"type,attr"`
	Value string `xml:"value,attr"` // base64
}

// patient reports whether the object is the patient: type 1 (Person) with
// role 1 (Patient), or a Person without a role whose id type is a
// patient or medical record number.
func (o *atnaObject) patient() bool {
	typ, role := strings.TrimSpace(o.TypeCode), strings.TrimSpace(o.Role)
	if role == "1" && (typ == "1" || typ == "") {
		return true
	}
	if typ == "1" && role == "" {
		switch o.IDType.code() {
		case "1", "2", "MR", "PI":
			return true
		}
	}
	return false
}

// query reports whether the object is the query itself (role 24) or
// carries one.
func (o *atnaObject) query() bool {
	return strings.TrimSpace(o.Role) == "24" || strings.TrimSpace(o.Query) != ""
}

// ---- mapping ----

// atnaParticipantKinds are RoleIDCodes that say what part a participant
// played in a DICOM exchange, not the person's job, so they make no role.
var atnaParticipantKinds = map[string]bool{
	"110150": true, "110151": true, "110152": true, "110153": true, "110154": true, "110155": true,
}

// event maps one AuditMessage; key is its XML (the event id's key), raw
// what the event keeps as evidence.
func (p ATNA) event(rec Record, m *atnaMessage, key, raw []byte, hdr *syslog.Header) (event.Event, error) {
	ev := &m.Event
	e := event.Event{
		TenantID:     rec.Tenant,
		EventID:      event.ID(rec.Tenant, p.Name(), string(key)),
		SourceKind:   event.KindEHR,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Attrs:        map[string]string{},
	}
	var problems problemList
	switch dt := strings.TrimSpace(ev.DateTime); {
	case dt != "":
		t, zoned, err := atnaTime(dt, p.loc())
		if err != nil {
			problems = append(problems, err)
		} else if !zoned {
			e.Attrs["time_zone"] = p.loc().String()
		}
		e.Time = t
	case hdr != nil && !hdr.Time.IsZero():
		e.Time = hdr.Time
		e.Attrs["time_source"] = "syslog_header"
	default:
		e.Time = rec.ReceivedAt
		e.Attrs["time_source"] = "received_at"
	}
	actor, inferred := atnaPickActor(m.Participants)
	if actor < 0 {
		problems = append(problems, errors.New("no ActiveParticipant says who acted (UserID or AlternativeUserID)"))
	}
	if ev.ID.code() == "" && ev.ID.display() == "" {
		problems = append(problems, errors.New("EventIdentification has no EventID, so what happened is unknown"))
	}
	if len(problems) > 0 {
		return event.Event{}, problems
	}

	a := &m.Participants[actor]
	e.Actor = event.Actor{ID: truncate(a.id(), maxIdentLen), Name: truncate(strings.TrimSpace(a.UserName), maxIdentLen)}
	for _, r := range a.Roles {
		if c := r.code(); c != "" && !atnaParticipantKinds[c] {
			e.Actor.Role = truncate(c, maxIdentLen)
			putAttr(e.Attrs, "actor_role_display", r.display())
			break
		}
	}
	if alt := strings.TrimSpace(a.AltUserID); alt != "" && alt != e.Actor.ID {
		putAttr(e.Attrs, "actor_alt_id", alt)
	}
	putAttr(e.Attrs, "actor_type", a.UserIDType.display())
	if inferred {
		e.Attrs["actor_inferred"] = "true" // no participant was flagged the requestor
	}
	p.network(&e, m.Participants, actor, ev.ID.code())

	var patients []string
	resource := -1
	for i := range m.Objects {
		o := &m.Objects[i]
		switch {
		case o.patient():
			if id := strings.TrimSpace(o.ID); id != "" {
				patients = append(patients, id)
			}
		case resource < 0 && !o.query() && o.IDType.code() != "110181" && strings.TrimSpace(o.ID) != "":
			resource = i // a SOP Class UID names a kind of object, not one
		}
	}
	if len(patients) > 0 {
		cx := patients[0]
		e.PatientID = truncate(cxID(cx), maxIdentLen)
		if cx != e.PatientID {
			putAttr(e.Attrs, "patient_id_cx", cx)
		}
		if len(patients) > 1 {
			putAttr(e.Attrs, "patient_count", strconv.Itoa(len(patients)))
		}
	}
	if resource >= 0 {
		o := &m.Objects[resource]
		e.ResourceType = truncate(atnaResourceType(o.IDType), maxIdentLen)
		e.ResourceID = truncate(strings.TrimSpace(o.ID), maxIdentLen)
	} else if e.PatientID != "" {
		e.ResourceType, e.ResourceID = "Patient", e.PatientID
	}

	hasQuery := false
	for i := range m.Objects {
		o := &m.Objects[i]
		if !o.query() {
			continue
		}
		hasQuery = true
		putAttr(e.Attrs, "query_type", o.IDType.code())
		// The parameters searched by, not their values: a search for a
		// patient by name carries the name (minimum necessary; raw keeps
		// the whole query as evidence).
		putAttr(e.Attrs, "query_params", atnaQueryParams(atnaDecodeText(o.Query)))
		break
	}
	for i := range m.Objects {
		for _, d := range m.Objects[i].Details {
			if strings.TrimSpace(d.Type) == "MSH-9" {
				if v := atnaDecodeText(d.Value); v != "" {
					putAttr(e.Attrs, "hl7_message_type", v)
				}
			}
		}
		if e.Attrs["hl7_message_type"] != "" {
			break
		}
	}

	outcome := strings.TrimSpace(ev.Outcome)
	switch outcome {
	case "0":
		e.Outcome = event.OutcomeSuccess
	case "4", "8", "12":
		e.Outcome = event.OutcomeFailure
	default:
		e.Outcome = event.OutcomeUnknown
	}
	if outcome != "" && outcome != "0" {
		putAttr(e.Attrs, "outcome_code", outcome)
	}
	putAttr(e.Attrs, "outcome_desc", ev.OutcomeDesc)

	var types []string
	typeDisplay := ""
	for _, t := range ev.Types {
		if c := t.code(); c != "" {
			types = append(types, c)
			if typeDisplay == "" {
				typeDisplay = t.display()
			}
		}
	}
	action := strings.ToUpper(strings.TrimSpace(ev.ActionCode))
	e.Action = atnaAction(ev.ID.code(), types, action, m, actor, len(patients) > 0, hasQuery, e.Outcome == event.OutcomeFailure)

	source := ev.ID.code()
	if len(types) > 0 {
		source = types[0]
	}
	if source == "" {
		source = ev.ID.display()
	}
	putAttr(e.Attrs, "source_action", source)
	putAttr(e.Attrs, "event_id_code", ev.ID.code())
	putAttr(e.Attrs, "event_id_display", ev.ID.display())
	putAttr(e.Attrs, "event_type", strings.Join(types, ","))
	putAttr(e.Attrs, "event_type_display", typeDisplay)
	putAttr(e.Attrs, "event_action", action)
	if len(m.Sources) > 0 {
		putAttr(e.Attrs, "audit_source_id", m.Sources[0].ID)
		putAttr(e.Attrs, "audit_site_id", m.Sources[0].SiteID)
	}
	if hdr != nil {
		putAttr(e.Attrs, "syslog_host", hdr.Hostname)
		putAttr(e.Attrs, "syslog_app", hdr.AppName)
	}

	for _, c := range ev.Purposes {
		code := c.code()
		if code == "" {
			continue
		}
		if fhirBreakGlass(code) {
			e.BreakGlass, e.PurposeOfUse = true, code
			break
		}
		if e.PurposeOfUse == "" {
			e.PurposeOfUse = truncate(code, maxIdentLen)
		}
	}

	e.Raw = string(raw)
	if len(e.Raw) > event.MaxRawBytes {
		// The event is worth keeping; its evidence is cut, and says so.
		e.Raw = truncate(e.Raw, event.MaxRawBytes)
		e.Attrs["raw_truncated"] = "true"
	}
	e.Normalize()
	return e, nil
}

// atnaPickActor chooses who acted: the requestor (a person before a
// machine when several say so), else the first person, else the first
// participant with an id. inferred is set when no participant was flagged
// the requestor. -1 when no participant has an id.
func atnaPickActor(ps []atnaParticipant) (i int, inferred bool) {
	first, firstPerson, firstReq := -1, -1, -1
	for j := range ps {
		a := &ps[j]
		if a.id() == "" {
			continue
		}
		if first < 0 {
			first = j
		}
		if a.person() && firstPerson < 0 {
			firstPerson = j
		}
		if a.requestor() {
			if a.person() {
				return j, false
			}
			if firstReq < 0 {
				firstReq = j
			}
		}
	}
	switch {
	case firstReq >= 0:
		return firstReq, false
	case firstPerson >= 0:
		return firstPerson, true
	}
	return first, first >= 0
}

// network fills ClientIP and Device from the actor's network access point.
// In IHE messages the human requestor often has none; the application it
// used does, and which participant that is depends on the direction: in an
// Export (a retrieve, as the repository logs it) the person is at the
// Destination the data went to, otherwise (queries, imports, stores) at
// the Source the request came from.
func (ATNA) network(e *event.Event, ps []atnaParticipant, actor int, eventID string) {
	apply := func(a *atnaParticipant) bool {
		nap := strings.TrimSpace(a.NAPID)
		if nap == "" {
			return false
		}
		if ip, ok := cleanIP(nap); ok {
			e.ClientIP = ip
			return true
		}
		if strings.TrimSpace(a.NAPType) == "2" {
			putAttr(e.Attrs, "client_ip_raw", nap) // said to be an IP, yet is not one
		}
		e.Device = truncate(nap, maxIdentLen)
		return true
	}
	if apply(&ps[actor]) {
		return
	}
	client := "110153" // Source Role ID
	if eventID == "110106" {
		client = "110152" // Destination Role ID
	}
	for i := range ps {
		if i != actor && ps[i].hasRole(client) && apply(&ps[i]) {
			return
		}
	}
}

// atnaAction maps an audit message onto the action vocabulary.
//
//	110114 User Authentication (or EventID 110122/110123 as dcm4chee
//	  writes it): EventTypeCode 110123 logout, 110122 login; a failed
//	  login is login_failed
//	110106 Export → export, 110107 Import → import
//	110112 Query → search when it looks for patients (a patient object, or
//	  a patient demographics/identity query type), query otherwise
//	110110 Patient Record, 110109 Order Record, 110111 Procedure Record,
//	110103 DICOM Instances Accessed: C create, R view, U update, D delete
//	110105 DICOM Study Deleted → delete
//	110102 Begin Transferring / 110104 DICOM Instances Transferred: import
//	  when the requestor is the source (it pushed instances in, a modality
//	  storing), export otherwise (it retrieved or moved them out)
//	110113 Security Alert: 110135-110137 (security attributes or roles
//	  changed) → permission_change; others → other
//	anything else (110100 Application Activity, 110101 Audit Log Used,
//	110108 Network Entry, vendor codes) → other
func atnaAction(eventID string, types []string, actionCode string, m *atnaMessage, actor int, hasPatient, hasQuery, failed bool) event.Action {
	has := func(code string) bool {
		for _, t := range types {
			if t == code {
				return true
			}
		}
		return false
	}
	switch {
	case eventID == "110123" || eventID == "110114" && has("110123"):
		return event.ActionLogout
	case eventID == "110114" || eventID == "110122":
		if failed {
			return event.ActionLoginFailed
		}
		return event.ActionLogin
	}
	switch eventID {
	case "110106":
		return event.ActionExport
	case "110107":
		return event.ActionImport
	case "110112":
		if hasPatient || atnaPatientQuery(types) {
			return event.ActionSearch
		}
		return event.ActionQuery
	case "110110", "110109", "110111", "110103":
		switch actionCode {
		case "C":
			return event.ActionCreate
		case "R":
			return event.ActionView
		case "U":
			return event.ActionUpdate
		case "D":
			return event.ActionDelete
		case "E":
			if hasQuery {
				return event.ActionQuery
			}
		}
		return event.ActionOther
	case "110105":
		return event.ActionDelete
	case "110102", "110104":
		if actor >= 0 && m.Participants[actor].hasRole("110153") {
			return event.ActionImport
		}
		return event.ActionExport
	case "110113":
		if has("110135") || has("110136") || has("110137") {
			return event.ActionPermission
		}
	}
	return event.ActionOther
}

// atnaPatientQuery reports whether an event type is a query for patients:
// IHE PDQ (ITI-21, ITI-47, ITI-78), PIX (ITI-9, ITI-45, ITI-83) and the
// XCPD patient discovery (ITI-55).
func atnaPatientQuery(types []string) bool {
	for _, t := range types {
		switch strings.ToUpper(t) {
		case "ITI-9", "ITI-21", "ITI-22", "ITI-45", "ITI-47", "ITI-55", "ITI-78", "ITI-83":
			return true
		}
	}
	return false
}

// atnaResourceType names a participant object by its id type: the DICOM
// and XDS ones phiwatch knows by name, else the id type's own name.
func atnaResourceType(c atnaCode) string {
	switch c.code() {
	case "110180":
		return "Study"
	case "110182":
		return "Node"
	case "3":
		return "Encounter"
	case "8", "9":
		return "Report"
	case "12":
		return "URI"
	case "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd":
		return "SubmissionSet"
	case "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1":
		return "DocumentEntry"
	}
	if d := c.display(); d != "" {
		return d
	}
	return c.code()
}

// cxID is the id number of an HL7 v2 CX value ("MRN^^^&1.2.3&ISO^MR"):
// its first component, or the whole value when that is empty.
func cxID(cx string) string {
	if i := strings.IndexByte(cx, '^'); i > 0 {
		return strings.TrimSpace(cx[:i])
	}
	return strings.TrimSpace(cx)
}

// atnaQueryParams lists the parameter names of a REST-style query
// ("family=SMITH&birthdate=1980-01-01" → "birthdate,family"), sorted and
// without repeats; "" for anything else (an HL7 message, a DICOM dataset).
func atnaQueryParams(q string) string {
	if q == "" || strings.Contains(q, "|") || !strings.Contains(q, "=") {
		return ""
	}
	if i := strings.LastIndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	}
	var names []string
	for _, kv := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(names, k) && len(names) < 32 {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// atnaDecodeText decodes a base64 ParticipantObjectQuery or detail value
// and returns it when it is printable text (a REST query, an HL7 message);
// a DICOM dataset or anything else binary gives "".
func atnaDecodeText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return ""
		}
	}
	if !utf8.Valid(b) {
		return ""
	}
	for _, r := range string(b) {
		if r != '\r' && r != '\n' && r != '\t' && unicode.IsControl(r) {
			return ""
		}
	}
	// HL7 v2 separates segments with CR: one line reads better.
	return strings.TrimSpace(strings.NewReplacer("\r\n", " | ", "\r", " | ", "\n", " | ").Replace(string(b)))
}

// atnaTimeLayouts are the xs:dateTime forms senders write: with a Z or an
// offset (with or without a colon, or hours only) and any fraction, or
// without a zone.
var atnaTimeLayouts = []struct {
	layout string
	zoned  bool
}{
	{time.RFC3339Nano, true},
	{"2006-01-02T15:04:05.999999999Z0700", true},
	{"2006-01-02T15:04:05.999999999Z07", true},
	{"2006-01-02T15:04:05.999999999", false},
	{"2006-01-02 15:04:05.999999999Z07:00", true},
	{"2006-01-02 15:04:05.999999999", false},
	{"2006-01-02T15:04Z07:00", true},
	{"2006-01-02T15:04", false},
}

// atnaTime reads an EventDateTime; one without a zone is in loc, and
// zoned is false.
func atnaTime(s string, loc *time.Location) (t time.Time, zoned bool, err error) {
	for _, l := range atnaTimeLayouts {
		if l.zoned {
			t, err = time.Parse(l.layout, s)
		} else {
			t, err = time.ParseInLocation(l.layout, s, loc)
		}
		if err == nil {
			return t, l.zoned, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("EventDateTime %q is not an XML date-time (such as 2026-10-01T09:03:07.123+02:00)", truncate(s, 64))
}

// ---- framing ----

// Frame implements Framer. A file whose first line is a syslog message (or
// a complete one-line AuditMessage) is read a line at a time, a line being
// joined by the lines after it while the AuditMessage it opened is not
// closed (pretty-printed XML in a syslog message). Any other file is XML
// documents, one or several back to back, and each top-level element is a
// record with the declaration and comments before it; positions are the
// line each record starts on. A document that breaks off is one record up
// to where the next document starts, so a truncated message costs only
// itself.
func (p ATNA) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var head []byte
	lineNo := 0
	var first []byte
	for first == nil {
		l, err := atnaReadLine(br, maxATNARecord)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		lineNo++
		if lineNo == 1 {
			l = bytes.TrimPrefix(l, utf8BOM)
		}
		head = append(head, l...)
		if t := bytes.TrimSpace(l); len(t) > 0 {
			first = t
		}
	}
	if first == nil {
		return nil
	}
	if atnaStartsMessage(first) || bytes.Contains(first, []byte("</AuditMessage>")) {
		return atnaFrameLines(br, first, lineNo, emit)
	}
	rest, err := io.ReadAll(io.LimitReader(br, int64(maxATNARecord*4)+1))
	if err != nil {
		return err
	}
	doc := append(head, rest...)
	if len(doc) > maxATNARecord*4 {
		return fmt.Errorf("input is one XML document larger than %s; send audit messages one per file or by syslog", byteSize(maxATNARecord*4))
	}
	return atnaSplitDocument(doc, emit)
}

// atnaStartsMessage reports whether a line starts a syslog message: a
// priority "<13>", possibly after an RFC 6587 octet count.
func atnaStartsMessage(l []byte) bool {
	l = l[octetCount(l):]
	return len(l) > 2 && l[0] == '<' && l[1] >= '0' && l[1] <= '9'
}

// atnaReadLine is readRawLine that keeps reading past limit, so an overlong
// line becomes a record Parse rejects with the reason, not the end of the
// file: the first limit+1 bytes are returned and the rest skipped.
func atnaReadLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line) <= limit {
			line = append(line, frag[:min(len(frag), limit+1-len(line))]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		}
		return line, err
	}
}

func atnaFrameLines(br *bufio.Reader, first []byte, lineNo int, emit func([]byte, string) error) error {
	rec, pos := append([]byte(nil), first...), lineNo
	for {
		l, err := atnaReadLine(br, maxATNARecord)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		lineNo++
		t := bytes.TrimSpace(l)
		if len(t) == 0 {
			continue
		}
		if !atnaStartsMessage(t) && atnaOpen(rec) && len(rec) <= maxATNARecord {
			rec = append(append(rec, '\n'), bytes.TrimRight(l, "\r\n")...) // as received, indentation and all
			continue
		}
		if err := emit(rec, strconv.Itoa(pos)); err != nil {
			return err
		}
		rec, pos = append([]byte(nil), t...), lineNo
	}
	return emit(rec, strconv.Itoa(pos))
}

// atnaOpen reports whether a record's XML is unfinished: an AuditMessage
// opened and not closed, or only the XML declaration so far (a syslog
// message whose pretty-printed XML goes on on the next lines).
func atnaOpen(rec []byte) bool {
	opens, closes := 0, bytes.Count(rec, []byte("</AuditMessage>"))
	for rest := rec; ; {
		i := bytes.Index(rest, []byte("<AuditMessage"))
		if i < 0 {
			break
		}
		rest = rest[i+len("<AuditMessage"):]
		if len(rest) == 0 || bytes.IndexByte([]byte(" \t\r\n>/"), rest[0]) >= 0 {
			opens++
		}
	}
	return opens > closes || opens == 0 && bytes.HasSuffix(bytes.TrimSpace(rec), []byte("?>"))
}

// atnaSplitDocument emits each top-level element of doc with what precedes
// it. It only finds boundaries (Parse checks the XML strictly), so it reads
// leniently; where the XML breaks, the record runs to the next document's
// start (an XML declaration or an AuditMessage), or to the end.
func atnaSplitDocument(doc []byte, emit func([]byte, string) error) error {
	start := 0
	lineAt := func(off int) string {
		off += len(doc[off:]) - len(bytes.TrimLeft(doc[off:], " \t\r\n"))
		return strconv.Itoa(1 + bytes.Count(doc[:off], []byte{'\n'}))
	}
	for len(bytes.TrimSpace(doc[start:])) > 0 {
		d := xml.NewDecoder(bytes.NewReader(doc[start:]))
		d.Strict = false
		d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
		depth, elemStart, end := 0, -1, -1
		content, clean := false, false // clean: the input ended between elements
		for end < 0 {
			off := int(d.InputOffset())
			tok, err := d.RawToken()
			if err != nil || depth > maxATNADepth {
				clean = errors.Is(err, io.EOF) && depth == 0
				break
			}
			switch t := tok.(type) {
			case xml.CharData:
				content = content || len(bytes.TrimSpace(t)) > 0
			case xml.StartElement:
				content = true
				if depth == 0 && elemStart < 0 {
					elemStart = off
				}
				depth++
			case xml.EndElement:
				if depth--; depth == 0 && elemStart >= 0 {
					end = int(d.InputOffset())
				}
			}
		}
		if end < 0 && clean && !content {
			return nil // only comments or a declaration after the last document
		}
		if end < 0 {
			// Broken or truncated: up to the next document, if one starts
			// after this one's first element.
			if elemStart < 0 {
				// No element began: search from the first thing that is not
				// blank, or the blank before a marker would be a record.
				elemStart = len(doc[start:]) - len(bytes.TrimLeft(doc[start:], " \t\r\n"))
			}
			next := atnaNextDocument(doc, start+elemStart+1)
			if next < 0 {
				return emit(bytes.TrimSpace(doc[start:]), lineAt(start))
			}
			if piece := bytes.TrimSpace(doc[start:next]); len(piece) > 0 {
				if err := emit(piece, lineAt(start)); err != nil {
					return err
				}
			}
			start = next
			continue
		}
		if err := emit(bytes.TrimSpace(doc[start:start+end]), lineAt(start)); err != nil {
			return err
		}
		start += end
	}
	return nil
}

// atnaNextDocument finds where the next document starts at or after from:
// an XML declaration, or an AuditMessage start tag; -1 when none does.
func atnaNextDocument(doc []byte, from int) int {
	if from >= len(doc) {
		return -1
	}
	best := -1
	for _, marker := range [][]byte{[]byte("<?xml"), []byte("<AuditMessage")} {
		rest := doc[from:]
		for {
			i := bytes.Index(rest, marker)
			if i < 0 {
				break
			}
			after := i + len(marker)
			// "<AuditMessage" must be the whole name, not a prefix of one.
			if after >= len(rest) || bytes.IndexByte([]byte(" \t\r\n>/?"), rest[after]) >= 0 {
				if at := len(doc) - len(rest) + i; best < 0 || at < best {
					best = at
				}
				break
			}
			rest = rest[after:]
		}
	}
	return best
}
