package parsers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// FHIRAuditEvent reads HL7 FHIR R4 AuditEvent resources as IHE BALP (Basic
// Audit Log Patterns) and DICOM/ATNA-style servers write them, with the R5
// shapes of the few fields that changed (type/role as CodeableConcept,
// outcome as an object, authorization, networkString) read too.
//
// Input is NDJSON (one resource per line, as FHIR Bulk Data exports it) or
// one JSON document: a Bundle of any type, or a single, possibly
// pretty-printed, resource. See Frame for how the two are told apart.
//
// Mapping, in short (the tests hold the details):
//   - Time: recorded, a FHIR instant (an offset or Z is required).
//   - Actor: the agent with requestor true, else the first agent that
//     identifies a person rather than a device or application, else the
//     first agent that identifies anything. Actor.ID is who.identifier.value,
//     else altId (a login name), else who.reference; a record without any
//     is rejected, since an access nobody made cannot be reviewed.
//   - ClientIP / Device: the actor's network address (an IP goes to ClientIP,
//     anything else to Device); failing that, the client application agent's
//     (type 110150 Application or 110153 Source Role ID), whose name or
//     reference is also the Device when no machine name is given.
//   - PatientID: the first entity that references a Patient (or is typed
//     Person with role Patient, or R5 AuditEvent.patient); the reference's id,
//     else its identifier value. ResourceType/ResourceID: the first other
//     entity with a reference, else the patient itself.
//   - Action: see fhirAction; Outcome: "0" success, "4"/"8"/"12" failure.
//   - PurposeOfUse: purposeOfEvent, then agents' purposeOfUse (R5:
//     authorization); a break-glass code (ETREAT, BTG, ERTREAT) wins and sets
//     BreakGlass.
//
// In a Bundle, entries of other resource types (a searchset's included
// Patient, its OperationOutcome) are ignored without error: they are context,
// not audit records. A Bundle with entries but no AuditEvent at all is an
// error, since that is a feed pointed at the wrong resource.
type FHIRAuditEvent struct{}

// Name implements Parser.
func (FHIRAuditEvent) Name() string { return "fhir-auditevent" }

// Kind implements Parser.
func (FHIRAuditEvent) Kind() event.SourceKind { return event.KindEHR }

// Description implements Parser.
func (FHIRAuditEvent) Description() string {
	return "HL7 FHIR R4 AuditEvent (IHE BALP): NDJSON, a Bundle, or one resource"
}

// Frame implements Framer. Input whose first line is a complete JSON value
// is NDJSON and is read a line at a time (positions are line numbers); any
// other input is one document (position "1"), held in memory whole and so
// bounded by maxJSONDocument. Entry indexes of a Bundle appear in error text.
func (FHIRAuditEvent) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	return frameJSON(r, false, maxJSONDocument, emit)
}

// Parse implements Parser. A Bundle yields one event per AuditEvent entry;
// when some entries are unreadable the readable ones are returned along with
// an error naming the others.
func (p FHIRAuditEvent) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimPrefix(rec.Data, utf8BOM)
	if err := checkJSONObject(data); err != nil {
		return nil, fmt.Errorf("not a FHIR resource: %w", err)
	}
	var res fhirResource
	if err := json.Unmarshal(data, &res); err != nil {
		switch rt, id := fhirProbe(data); rt {
		case "AuditEvent", "Bundle":
			return nil, fmt.Errorf("%s%s: %w", rt, fhirIDNote(id), readableJSONError(data, err))
		case "":
			return nil, fmt.Errorf("not a FHIR resource: %w", readableJSONError(data, err))
		default:
			// Another resource type can clash with the AuditEvent shape;
			// its name helps the operator more than the clash does.
			return nil, fmt.Errorf("not a FHIR AuditEvent: resourceType is %s", rt)
		}
	}
	switch res.ResourceType {
	case "AuditEvent":
		ev, err := p.event(rec, &res, data)
		if err != nil {
			return nil, fmt.Errorf("AuditEvent%s: %w", fhirIDNote(res.ID), err)
		}
		return []event.Event{ev}, nil
	case "Bundle":
		return p.bundle(rec, &res)
	case "":
		return nil, errors.New("not a FHIR resource: resourceType is missing")
	case "OperationOutcome":
		// A server's error response saved where audit events were expected.
		return nil, fmt.Errorf("not a FHIR AuditEvent: resourceType is OperationOutcome%s", res.issueSummary())
	default:
		return nil, fmt.Errorf("not a FHIR AuditEvent: resourceType is %s", res.ResourceType)
	}
}

// maxListedProblems bounds how many problems one error lists, so a reason
// stays readable when thousands of Bundle entries share one fault.
const maxListedProblems = 10

func (p FHIRAuditEvent) bundle(rec Record, b *fhirResource) ([]event.Event, error) {
	var (
		evs     []event.Event
		errs    []error
		audits  int
		ignored = map[string]int{}
	)
	for i, en := range b.Entry {
		if len(en.Resource) == 0 || string(en.Resource) == "null" {
			ignored["entry without resource"]++
			continue
		}
		var r fhirResource
		if err := json.Unmarshal(en.Resource, &r); err != nil {
			rt, id := fhirProbe(en.Resource)
			if rt != "" && rt != "AuditEvent" {
				ignored[rt]++
				continue
			}
			audits++
			errs = append(errs, fmt.Errorf("AuditEvent entry %d%s: %w", i, fhirIDNote(id), readableJSONError(en.Resource, err)))
			continue
		}
		switch r.ResourceType {
		case "AuditEvent":
		case "":
			audits++
			errs = append(errs, fmt.Errorf("entry %d: resource has no resourceType (expected AuditEvent)", i))
			continue
		default:
			ignored[r.ResourceType]++
			continue
		}
		audits++
		ev, err := p.event(rec, &r, en.Resource)
		if err != nil {
			errs = append(errs, fmt.Errorf("AuditEvent entry %d%s: %w", i, fhirIDNote(r.ID), err))
			continue
		}
		evs = append(evs, ev)
	}
	if audits == 0 && len(ignored) > 0 {
		return nil, fmt.Errorf("Bundle%s holds no AuditEvent (entries: %s)", fhirIDNote(b.ID), countList(ignored))
	}
	if len(errs) > 0 {
		return evs, &bundleErrors{bundleID: b.ID, audits: audits, errs: errs}
	}
	return evs, nil
}

// bundleErrors reports the unreadable entries of a Bundle on one line.
type bundleErrors struct {
	bundleID string
	audits   int
	errs     []error
}

func (e *bundleErrors) Error() string {
	return fmt.Sprintf("Bundle%s: %d of %d AuditEvent entries unreadable: %v",
		fhirIDNote(e.bundleID), len(e.errs), e.audits, problemList(e.errs))
}

func (e *bundleErrors) Unwrap() []error { return e.errs }

// event maps one AuditEvent resource; raw is its JSON as received.
func (p FHIRAuditEvent) event(rec Record, ae *fhirResource, raw []byte) (event.Event, error) {
	var problems problemList
	t, err := fhirInstant(ae.Recorded)
	if err != nil {
		problems = append(problems, err)
	}
	actor := fhirPickActor(ae.Agent)
	if actor < 0 {
		problems = append(problems, errors.New("no agent says who acted (agent[].who or agent[].altId)"))
	}
	if len(problems) > 0 {
		return event.Event{}, problems
	}

	// Raw is the record as received; only a multi-line one (a pretty-printed
	// document, a Bundle entry) is compacted, to keep raw one line. Compacting
	// every record cost a fifth of the parse.
	compact := bytes.NewBuffer(raw)
	if bytes.ContainsAny(raw, "\n\r") {
		compact = new(bytes.Buffer)
		if err := json.Compact(compact, raw); err != nil {
			return event.Event{}, fmt.Errorf("compact raw JSON: %w", err) // unreachable: raw was decoded
		}
	}
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEHR,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		Time:         t,
		ReceivedAt:   rec.ReceivedAt,
		Raw:          compact.String(),
		Attrs:        map[string]string{},
	}
	// The resource id plus the instant: ids are unique per server only, and a
	// practice may run two servers that both count from 1.
	key := e.Raw
	if ae.ID != "" {
		key = "AuditEvent/" + ae.ID + "|" + t.UTC().Format(time.RFC3339Nano)
	}
	e.EventID = event.ID(rec.Tenant, p.Name(), key)

	a := &ae.Agent[actor]
	e.Actor.ID, e.Actor.Name = a.id(), a.Who.Display
	if e.Actor.Name == "" {
		e.Actor.Name = a.Name
	}
	if a.Who.Reference != "" && a.Who.Reference != e.Actor.ID {
		putAttr(e.Attrs, "actor_ref", a.Who.Reference)
	}
	e.Actor.Role = fhirFirstCode(a.Role)
	if kind := fhirFirstCode([]fhirConcept{a.Type}); e.Actor.Role == "" && !fhirAgentKinds[kind] {
		e.Actor.Role = kind
	}
	p.network(&e, ae.Agent, actor)

	pats := fhirPatients(ae)
	if len(pats) > 0 {
		e.PatientID = pats[0].id
		if pats[0].identifier != "" && pats[0].identifier != e.PatientID {
			putAttr(e.Attrs, "patient_identifier", pats[0].identifier)
		}
		if len(pats) > 1 {
			putAttr(e.Attrs, "patient_count", strconv.Itoa(len(pats)))
		}
	}
	e.ResourceType, e.ResourceID = fhirResourceRef(ae.Entity)
	if e.ResourceType == "" && e.PatientID != "" {
		e.ResourceType, e.ResourceID = "Patient", e.PatientID
	}

	outcome := fhirOutcomeCode(ae.Outcome)
	e.Outcome = fhirOutcome(outcome)
	if outcome != "" && outcome != "0" {
		putAttr(e.Attrs, "outcome_code", outcome)
	}
	putAttr(e.Attrs, "outcome_desc", ae.OutcomeDesc)

	hasQuery := false
	for _, en := range ae.Entity {
		if en.Query != "" || fhirHasCode(en.Role, "24") {
			hasQuery = true
		}
	}
	subtypes := fhirCodings(ae.Subtype)
	action := strings.TrimSpace(ae.Action)
	e.Action = fhirAction(ae.Type.codings(), subtypes, action, hasQuery, e.Outcome == event.OutcomeFailure)

	typeCode := fhirFirstCode([]fhirConcept{ae.Type})
	var subCodes []string
	for _, c := range subtypes {
		if c := strings.TrimSpace(c.Code); c != "" {
			subCodes = append(subCodes, c)
		}
	}
	// source_action is the most specific code the source gave; the three
	// parts it may come from are kept as well. A resource that gives none
	// (type is required, but writers omit it) still records an access.
	source := "unspecified"
	switch {
	case len(subCodes) > 0:
		source = subCodes[0]
	case typeCode != "":
		source = typeCode
	case action != "":
		source = action
	}
	putAttr(e.Attrs, "source_action", source)
	putAttr(e.Attrs, "event_type", typeCode)
	putAttr(e.Attrs, "event_subtype", strings.Join(subCodes, ","))
	putAttr(e.Attrs, "event_action", action)
	putAttr(e.Attrs, "source_observer", ae.Source.Observer.name())
	putAttr(e.Attrs, "audit_event_id", ae.ID)

	purposes := fhirPurposes(ae, actor)
	for _, c := range purposes {
		if fhirBreakGlass(c) {
			e.BreakGlass = true
			e.PurposeOfUse = c
			break
		}
	}
	if len(purposes) > 0 {
		if e.PurposeOfUse == "" {
			e.PurposeOfUse = purposes[0]
		}
		if len(purposes) > 1 {
			putAttr(e.Attrs, "purpose_of_use_all", strings.Join(purposes, ","))
		}
	}
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	e.Normalize()
	return e, nil
}

// network fills ClientIP and Device from the actor's network address and,
// where that leaves gaps, from the client application's agent.
func (FHIRAuditEvent) network(e *event.Event, agents []fhirAgent, actor int) {
	apply := func(a *fhirAgent) {
		addr, typ := a.Network.Address.s, a.Network.Type.s
		if addr == "" {
			addr = a.NetworkString
		}
		if addr == "" {
			return
		}
		if ip, ok := cleanIP(addr); ok {
			if e.ClientIP == "" {
				e.ClientIP = ip
			}
			return
		}
		if typ == "2" && e.ClientIP == "" {
			// Said to be an IP yet is not one: flag it; it still names the machine.
			putAttr(e.Attrs, "client_ip_raw", addr)
		}
		if e.Device == "" {
			e.Device = truncate(addr, maxIdentLen)
		}
	}
	apply(&agents[actor])
	for i := range agents {
		a := &agents[i]
		if i == actor || !a.isClient() {
			continue
		}
		apply(a)
		if e.Device == "" {
			e.Device = truncate(a.Who.name(), maxIdentLen)
		}
		break
	}
}

// fhirAction maps an AuditEvent's type, subtypes and action code onto the
// vocabulary. The most specific signal wins: a print subtype, then user
// authentication, export and import, the FHIR RESTful interaction, a DICOM
// query or deletion type, and last the C/R/U/D/E action code. E (execute)
// is a query when the event records one (an entity with a query or the Query
// role), and other otherwise: it also covers application start and stop.
func fhirAction(types, subtypes []fhirCoding, action string, hasQuery, failed bool) event.Action {
	for _, c := range subtypes {
		if strings.EqualFold(c.Code, "print") || strings.EqualFold(c.Display, "print") {
			return event.ActionPrint
		}
	}
	login, logout := false, false
	for _, c := range types {
		if c.Code == "110114" { // User Authentication
			login = true
		}
	}
	for _, c := range subtypes {
		switch c.Code {
		case "110122": // Login
			login = true
		case "110123": // Logout
			logout = true
		}
	}
	switch {
	case logout:
		return event.ActionLogout
	case login && failed:
		return event.ActionLoginFailed
	case login:
		return event.ActionLogin
	}
	for _, c := range types {
		switch c.Code {
		case "110106":
			return event.ActionExport
		case "110107":
			return event.ActionImport
		}
	}
	for _, c := range subtypes {
		if a, ok := fhirSubtypeActions[c.Code]; ok {
			return a
		}
	}
	for _, c := range types {
		switch c.Code {
		case "110112": // Query
			return event.ActionQuery
		case "110105": // DICOM Study Deleted
			return event.ActionDelete
		}
	}
	switch action {
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
}

// fhirSubtypeActions maps FHIR restful-interaction codes (BALP's subtypes)
// and the bulk operations' names.
var fhirSubtypeActions = map[string]event.Action{
	"read":               event.ActionView,
	"vread":              event.ActionView,
	"history-instance":   event.ActionView,
	"search":             event.ActionSearch,
	"search-type":        event.ActionSearch,
	"search-system":      event.ActionSearch,
	"search-compartment": event.ActionSearch,
	"history":            event.ActionSearch,
	"history-type":       event.ActionSearch,
	"history-system":     event.ActionSearch,
	"create":             event.ActionCreate,
	"update":             event.ActionUpdate,
	"patch":              event.ActionUpdate,
	"delete":             event.ActionDelete,
	"export":             event.ActionExport,
	"$export":            event.ActionExport,
	"import":             event.ActionImport,
	"$import":            event.ActionImport,
}

// fhirOutcome maps the audit-event-outcome codes.
func fhirOutcome(code string) event.Outcome {
	switch code {
	case "0":
		return event.OutcomeSuccess
	case "4", "8", "12":
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown
}

// fhirOutcomeCode reads R4's outcome code or R5's outcome.code.code.
func fhirOutcomeCode(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '{' {
		var o struct {
			Code fhirConcept `json:"code"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return ""
		}
		return fhirFirstCode([]fhirConcept{o.Code})
	}
	var s looseString
	_ = s.UnmarshalJSON(raw)
	return strings.TrimSpace(s.s)
}

// fhirBreakGlass reports whether a purpose-of-use code means emergency
// access that bypassed normal controls.
func fhirBreakGlass(code string) bool {
	switch strings.ToUpper(code) {
	case "ETREAT", "BTG", "ERTREAT":
		return true
	}
	return false
}

// fhirPurposes lists the purpose-of-use codes, event-level first, then the
// actor's, then other agents', without repeats.
func fhirPurposes(ae *fhirResource, actor int) []string {
	var out []string
	seen := map[string]bool{}
	push := func(code string) {
		if code = strings.TrimSpace(code); code != "" && !seen[code] {
			seen[code] = true
			out = append(out, code)
		}
	}
	add := func(cs []fhirConcept) {
		for _, c := range cs {
			cds := c.codings()
			for _, cd := range cds {
				push(cd.Code)
			}
			if len(cds) == 0 {
				push(c.Text)
			}
		}
	}
	add(ae.PurposeOfEvent)
	add(ae.Authorization)
	order := []int{actor}
	for i := range ae.Agent {
		if i != actor {
			order = append(order, i)
		}
	}
	for _, i := range order {
		add(ae.Agent[i].PurposeOfUse)
		add(ae.Agent[i].Authorization)
	}
	return out
}

// fhirInstant parses a FHIR instant. A time without a zone is refused rather
// than guessed: local time read as UTC would misplace every access by hours.
func fhirInstant(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("recorded is missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return time.Time{}, fmt.Errorf("recorded %q has no time zone (a FHIR instant needs Z or an offset such as +02:00)", s)
	}
	return time.Time{}, fmt.Errorf("recorded %q is not a FHIR instant (e.g. 2026-10-01T14:03:07.123Z)", s)
}

// fhirPickActor chooses the agent who did it; -1 when none identifies anyone.
func fhirPickActor(agents []fhirAgent) int {
	for i := range agents {
		if agents[i].Requestor && agents[i].id() != "" {
			return i
		}
	}
	for i := range agents {
		if agents[i].id() != "" && !agents[i].isMachine() {
			return i
		}
	}
	for i := range agents {
		if agents[i].id() != "" {
			return i
		}
	}
	return -1
}

type fhirPatient struct{ id, identifier string }

// fhirPatients finds the patients an event is about: R5's AuditEvent.patient,
// then each entity referencing a Patient or typed Person (1) in the Patient
// role (1).
func fhirPatients(ae *fhirResource) []fhirPatient {
	var out []fhirPatient
	seen := map[string]bool{}
	add := func(ref fhirReference) {
		typ, id := fhirRefParts(ref.Reference)
		if typ != "Patient" {
			id = "" // another resource's id is no patient id; use the identifier
		}
		p := fhirPatient{id: truncate(id, maxIdentLen), identifier: truncate(ref.Identifier.Value, maxIdentLen)}
		if p.id == "" {
			p.id = p.identifier
		}
		if p.id == "" || seen[p.id] {
			return
		}
		seen[p.id] = true
		out = append(out, p)
	}
	if ae.Patient.Reference != "" || ae.Patient.Identifier.Value != "" {
		add(ae.Patient)
	}
	for _, en := range ae.Entity {
		if fhirIsPatient(en) {
			add(en.What)
		}
	}
	return out
}

func fhirIsPatient(en fhirEntity) bool {
	if typ, _ := fhirRefParts(en.What.Reference); typ == "Patient" {
		return true
	}
	if en.What.Type == "Patient" {
		return true
	}
	return fhirHasCode(en.Type, "1") && fhirHasCode(en.Role, "1")
}

// fhirResourceRef is the type and id of the first non-patient entity that
// names one.
func fhirResourceRef(entities []fhirEntity) (typ, id string) {
	for _, en := range entities {
		if fhirIsPatient(en) {
			continue
		}
		typ, id = fhirRefParts(en.What.Reference)
		if typ == "" && en.What.Type != "" && en.What.Identifier.Value != "" {
			typ, id = en.What.Type, en.What.Identifier.Value
		}
		if typ != "" && id != "" {
			return typ, truncate(id, maxIdentLen)
		}
	}
	return "", ""
}

// fhirRefParts splits a relative or absolute literal reference
// ("Observation/5", "https://ehr/fhir/Observation/5/_history/2") into type
// and id; both are empty for anything else (urn:uuid:, #contained).
func fhirRefParts(ref string) (typ, id string) {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(strings.Trim(ref, "/"), "/")
	for i, s := range segs {
		if s == "_history" {
			segs = segs[:i]
			break
		}
	}
	if len(segs) < 2 {
		return "", ""
	}
	typ, id = segs[len(segs)-2], segs[len(segs)-1]
	if typ == "" || id == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return "", ""
	}
	return typ, id
}

// fhirProbe reads just resourceType and id, for error messages.
func fhirProbe(data []byte) (resourceType, id string) {
	var probe struct {
		ResourceType looseString `json:"resourceType"`
		ID           looseString `json:"id"`
	}
	_ = json.Unmarshal(data, &probe)
	return probe.ResourceType.s, probe.ID.s
}

func fhirIDNote(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (id %q)", truncate(id, 64))
}

// fhirResource holds the fields phiwatch reads from an AuditEvent, and the
// few from a Bundle and an OperationOutcome, so one decode serves all three.
type fhirResource struct {
	ResourceType   string          `json:"resourceType"`
	ID             string          `json:"id"`
	Type           fhirConcept     `json:"type"` // Bundle.type is a bare code, which fhirConcept accepts
	Subtype        []fhirConcept   `json:"subtype"`
	Action         string          `json:"action"`
	Recorded       string          `json:"recorded"`
	Outcome        json.RawMessage `json:"outcome"` // R4: a code; R5: {code: Coding}
	OutcomeDesc    string          `json:"outcomeDesc"`
	PurposeOfEvent []fhirConcept   `json:"purposeOfEvent"`
	Authorization  []fhirConcept   `json:"authorization"` // R5
	Patient        fhirReference   `json:"patient"`       // R5
	Agent          []fhirAgent     `json:"agent"`
	Source         fhirSource      `json:"source"`
	Entity         []fhirEntity    `json:"entity"`

	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"` // Bundle
	Issue []struct {
		Severity    string      `json:"severity"`
		Diagnostics string      `json:"diagnostics"`
		Details     fhirConcept `json:"details"`
	} `json:"issue"` // OperationOutcome
}

func (r *fhirResource) issueSummary() string {
	for _, is := range r.Issue {
		msg := is.Diagnostics
		if msg == "" {
			msg = is.Details.Text
		}
		if msg != "" {
			return fmt.Sprintf(" (%s: %s)", is.Severity, truncate(msg, 200))
		}
	}
	return ""
}

type fhirAgent struct {
	Type          fhirConcept   `json:"type"`
	Role          []fhirConcept `json:"role"`
	Who           fhirReference `json:"who"`
	AltID         string        `json:"altId"`
	Name          string        `json:"name"`
	Requestor     bool          `json:"requestor"`
	Network       fhirNetwork   `json:"network"`
	NetworkString string        `json:"networkString"` // R5
	PurposeOfUse  []fhirConcept `json:"purposeOfUse"`
	Authorization []fhirConcept `json:"authorization"` // R5
}

// id is the agent's identity: an identifier value or an alternative login
// id correlate with other sources better than a server-local reference.
func (a *fhirAgent) id() string {
	for _, s := range []string{a.Who.Identifier.Value, a.AltID, a.Who.Reference} {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// isClient reports whether the agent is the client application: DICOM
// 110150 Application or 110153 Source Role ID.
func (a *fhirAgent) isClient() bool {
	return fhirHasCode(a.Type, "110150") || fhirHasCode(a.Type, "110153")
}

// isMachine reports whether the agent is a device or application rather
// than a person.
func (a *fhirAgent) isMachine() bool {
	if typ, _ := fhirRefParts(a.Who.Reference); typ == "Device" || a.Who.Type == "Device" {
		return true
	}
	for _, c := range []string{"110150", "110151", "110152", "110153", "110154", "110155"} {
		if fhirHasCode(a.Type, c) {
			return true
		}
	}
	return false
}

// fhirAgentKinds are agent.type codes that say what kind of participant an
// agent is (BALP's humanuser, DICOM's application and role ids) rather than
// a workforce role, so they make no Actor.Role.
var fhirAgentKinds = map[string]bool{
	"humanuser": true, "datacollector": true, "dataprocessor": true, "custodian": true,
	"110150": true, "110151": true, "110152": true, "110153": true, "110154": true, "110155": true,
}

type fhirNetwork struct {
	Address looseString `json:"address"`
	Type    looseString `json:"type"` // a code; some writers send the number
}

type fhirSource struct {
	Observer fhirReference `json:"observer"`
}

type fhirEntity struct {
	What  fhirReference `json:"what"`
	Type  fhirConcept   `json:"type"` // R4 Coding
	Role  fhirConcept   `json:"role"` // R4 Coding, R5 CodeableConcept
	Query string        `json:"query"`
}

type fhirReference struct {
	Reference  string `json:"reference"`
	Type       string `json:"type"`
	Identifier struct {
		Value string `json:"value"`
	} `json:"identifier"`
	Display string `json:"display"`
}

// name is the most readable way to name what the reference points at.
func (r fhirReference) name() string {
	for _, s := range []string{r.Display, r.Identifier.Value, r.Reference} {
		if s != "" {
			return s
		}
	}
	return ""
}

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

// fhirConcept reads a Coding (R4's AuditEvent.type, entity.type and role), a
// CodeableConcept (R5, and most other places) or a bare code string, so one
// type serves both versions and the lenient writers.
type fhirConcept struct {
	fhirCoding
	Coding []fhirCoding `json:"coding"`
	Text   string       `json:"text"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *fhirConcept) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*c = fhirConcept{}
		return json.Unmarshal(b, &c.Code)
	}
	type plain fhirConcept // without this method, so no recursion
	return json.Unmarshal(b, (*plain)(c))
}

// codings lists the concept's codings, the Coding itself first.
func (c fhirConcept) codings() []fhirCoding {
	if c.Code == "" && c.Display == "" {
		return c.Coding
	}
	return append([]fhirCoding{c.fhirCoding}, c.Coding...)
}

func fhirCodings(cs []fhirConcept) []fhirCoding {
	var out []fhirCoding
	for _, c := range cs {
		out = append(out, c.codings()...)
	}
	return out
}

func fhirHasCode(c fhirConcept, code string) bool {
	for _, cd := range c.codings() {
		if cd.Code == code {
			return true
		}
	}
	return false
}

// fhirFirstCode is the first code of the concepts, else a display or text.
func fhirFirstCode(cs []fhirConcept) string {
	for _, c := range cs {
		for _, cd := range c.codings() {
			if s := strings.TrimSpace(cd.Code); s != "" {
				return s
			}
		}
	}
	for _, c := range cs {
		for _, cd := range c.codings() {
			if s := strings.TrimSpace(cd.Display); s != "" {
				return s
			}
		}
		if s := strings.TrimSpace(c.Text); s != "" {
			return s
		}
	}
	return ""
}

// ---- JSON helpers shared with m365_audit.go ----

// maxJSONDocument bounds input read as one JSON document (a Bundle, a
// pretty-printed resource, an M365 content blob), which has to be held in
// memory whole; NDJSON is streamed and only its lines are bounded by it.
const maxJSONDocument = 256 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// frameJSON frames JSON input for a Framer. Input whose first non-blank line
// is a complete JSON value is NDJSON: each non-blank line is a record,
// positioned by its line number. With splitArrays, input starting with '['
// is one or more JSON arrays (an M365 content blob) whose elements are the
// records, positioned "[0]", "[1]", … Anything else is one document,
// position "1", except that a document which is not valid JSON but whose
// second line is a complete JSON value is taken as NDJSON with a broken
// first line, so one bad line does not cost the rest.
//
// Malformed input is emitted, not returned as an error, so the parser can
// dead-letter it with a reason; frameJSON itself fails only on read errors,
// on a document longer than limit bytes and on a longer line.
func frameJSON(r io.Reader, splitArrays bool, limit int, emit func([]byte, string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var head []byte // the input up to the first non-blank line, for document mode
	lineNo := 0
	var first []byte
	for first == nil {
		l, err := readRawLine(br, limit)
		if errors.Is(err, io.EOF) {
			return nil // empty or blank input holds no records
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		lineNo++
		if lineNo == 1 {
			l = bytes.TrimPrefix(l, utf8BOM)
		}
		head = append(head, l...)
		if len(head) > limit {
			return documentTooLarge(limit)
		}
		if t := bytes.TrimSpace(l); len(t) > 0 {
			first = t
		}
	}
	if !(splitArrays && first[0] == '[') && json.Valid(first) {
		if err := emit(first, strconv.Itoa(lineNo)); err != nil {
			return err
		}
		return frameLines(br, lineNo, limit, emit)
	}
	rest, err := io.ReadAll(io.LimitReader(br, int64(limit-len(head))+1))
	if err != nil {
		return err
	}
	doc := append(head, rest...)
	if len(doc) > limit {
		return documentTooLarge(limit)
	}
	switch {
	case splitArrays && first[0] == '[':
		return frameArrays(doc, emit)
	case json.Valid(doc):
		return emit(doc, "1")
	case secondLineIsJSON(doc):
		return emitLines(doc, emit)
	default:
		return emit(doc, "1")
	}
}

func documentTooLarge(limit int) error {
	return fmt.Errorf("input is one JSON document (not one record per line) larger than %s; export it as NDJSON, one record per line, instead", byteSize(limit))
}

func byteSize(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readRawLine returns the next line with its newline, or io.EOF when none is
// left. Each call returns a fresh slice, so records may be kept.
func readRawLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, fmt.Errorf("line longer than %s", byteSize(limit))
		}
		line = append(line, frag...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		}
		return line, err
	}
}

func frameLines(br *bufio.Reader, lineNo, limit int, emit func([]byte, string) error) error {
	for {
		l, err := readRawLine(br, limit)
		if errors.Is(err, io.EOF) {
			return nil
		}
		lineNo++
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
		if t := bytes.TrimSpace(l); len(t) > 0 {
			if err := emit(t, strconv.Itoa(lineNo)); err != nil {
				return err
			}
		}
	}
}

func secondLineIsJSON(doc []byte) bool {
	seen := 0
	for l := range bytes.Lines(doc) {
		t := bytes.TrimSpace(l)
		if len(t) == 0 {
			continue
		}
		if seen++; seen == 2 {
			return (t[0] == '{' || t[0] == '[') && json.Valid(t)
		}
	}
	return false
}

func emitLines(doc []byte, emit func([]byte, string) error) error {
	n := 0
	for l := range bytes.Lines(doc) {
		n++
		if t := bytes.TrimSpace(l); len(t) > 0 {
			if err := emit(t, strconv.Itoa(n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// frameArrays emits the elements of one or more top-level JSON arrays. At
// the first syntax error the rest of the input becomes one record, so the
// parser reports it and the elements before it are kept.
func frameArrays(doc []byte, emit func([]byte, string) error) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	n := 0
	tail := func(off int64) error {
		t := bytes.TrimLeft(doc[off:], " \t\r\n,")
		return emit(t, "["+strconv.Itoa(n)+"]")
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil || tok != json.Delim('[') {
			return tail(start)
		}
		for dec.More() {
			start = dec.InputOffset()
			var el json.RawMessage
			if err := dec.Decode(&el); err != nil {
				return tail(start)
			}
			if err := emit(el, "["+strconv.Itoa(n)+"]"); err != nil {
				return err
			}
			n++
		}
		start = dec.InputOffset()
		if _, err := dec.Token(); err != nil { // the closing ']'
			return tail(start)
		}
	}
}

// checkJSONObject rejects, with a clear reason, the records that are not
// even meant to be a JSON object: empty ones, null, and text that is not
// JSON at all (where encoding/json's complaint would be about a letter).
func checkJSONObject(data []byte) error {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return errors.New("empty record (is the input truncated?)")
	case string(t) == "null":
		return errors.New("expected a JSON object, got null")
	case !strings.ContainsRune(`{["-0123456789`, rune(t[0])) && !jsonLiteralStart(t):
		return fmt.Errorf("not JSON: the record starts with %q", truncate(string(t), 32))
	}
	return nil
}

func jsonLiteralStart(t []byte) bool {
	return bytes.HasPrefix(t, []byte("true")) || bytes.HasPrefix(t, []byte("false")) || bytes.HasPrefix(t, []byte("null"))
}

// readableJSONError rewords an encoding/json error for an operator: where
// the syntax breaks, or which field has the wrong kind of value, without Go
// type names. The original stays reachable with errors.As.
func readableJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		if se.Error() == "unexpected end of JSON input" {
			return &jsonError{msg: "invalid JSON: it ends early, " + jsonWhere(data, se.Offset) + " (truncated?)", err: err}
		}
		return &jsonError{msg: "invalid JSON " + jsonWhere(data, se.Offset) + ": " + se.Error(), err: err}
	case errors.As(err, &te):
		if te.Field == "" {
			return &jsonError{msg: "expected a JSON object, got " + jsonArticle(te.Value), err: err}
		}
		return &jsonError{msg: fmt.Sprintf("%s: expected %s, got %s", te.Field, jsonKind(te.Type), jsonArticle(te.Value)), err: err}
	}
	return err
}

type jsonError struct {
	msg string
	err error
}

func (e *jsonError) Error() string { return e.msg }
func (e *jsonError) Unwrap() error { return e.err }

// jsonWhere says where offset is: a byte for one-line records, a line and
// column for documents.
func jsonWhere(data []byte, offset int64) string {
	off := int(min(max(offset, 0), int64(len(data))))
	if bytes.IndexByte(data, '\n') < 0 {
		return fmt.Sprintf("at byte %d", off)
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("at line %d, column %d", line, col)
}

func jsonArticle(v string) string {
	switch v {
	case "":
		return "another kind of value"
	case "bool":
		return "a boolean"
	case "array", "object":
		return "an " + v
	}
	return "a " + v
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	if k := t.Kind(); k >= reflect.Int && k <= reflect.Float64 {
		return "a number"
	}
	return "another kind of value"
}

// looseString reads a JSON string, number or boolean as text and anything
// else as empty, never failing: sources send "15" and 15 alike.
type looseString struct{ s string }

// UnmarshalJSON implements json.Unmarshaler.
func (l *looseString) UnmarshalJSON(b []byte) error {
	l.s = ""
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		_ = json.Unmarshal(b, &l.s)
	case 'n', '{', '[':
	default: // a number, true or false: the literal is the text
		l.s = string(b)
	}
	return nil
}

// problemList is several independent problems with one record, printed on
// one line so a dead letter's reason stays one line.
type problemList []error

func (p problemList) Error() string {
	var b strings.Builder
	for i, err := range p {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "; and %d more", len(p)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (p problemList) Unwrap() []error { return p }

// maxIdentLen keeps identity fields within event.Validate's field limit, so
// an overlong but harmless value does not cost the record.
const maxIdentLen = 1 << 10

// maxAttrLen bounds one attribute value.
const maxAttrLen = 1 << 10

// putAttr sets an attribute when the value is not empty, truncated.
func putAttr(attrs map[string]string, k, v string) {
	if v = strings.TrimSpace(v); v != "" {
		attrs[k] = truncate(v, maxAttrLen)
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// cleanIP returns the plain IP in a client address as sources write it:
// "1.2.3.4", "1.2.3.4:8085", "[2001:db8::1]:443", "::ffff:1.2.3.4" (unmapped
// to IPv4), "fe80::1%eth0" (zone dropped). ok is false when there is none.
func cleanIP(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if addr, err = netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err != nil {
				return "", false
			}
		} else {
			addr = ap.Addr()
		}
	}
	return addr.Unmap().WithZone("").String(), true
}

// countList renders counts as "2 Patient, 1 OperationOutcome", sorted by
// name so the text is stable.
func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
