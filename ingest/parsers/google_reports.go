package parsers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// GoogleReports reads Google Workspace Admin SDK Reports API activities
// (activities.list items) of the login and gmail applications:
//
//	{"kind":"admin#reports#activity",
//	 "id":{"time":"2026-10-01T14:03:07.123Z","uniqueQualifier":"-612…","applicationName":"login","customerId":"C03…"},
//	 "actor":{"callerType":"USER","email":"jlee@riverside.example","profileId":"1047…"},
//	 "ipAddress":"203.0.113.40",
//	 "events":[{"type":"login","name":"login_success","parameters":[{"name":"login_type","value":"google_password"}]}]}
//
// Input is NDJSON of activities, a JSON array of them, or API response pages
// ({"kind":"admin#reports#activities","items":[…],"nextPageToken":…}), one
// per line or pretty-printed one after another; Frame hands on each activity
// as a record.
//
// Each entry of events[] is one phiwatch event; its id hashes the
// application, id.uniqueQualifier, the entry's index and id.time, so a
// re-read activity collapses and its events stay distinct. Actor.ID is
// actor.email (else the affected_email_address parameter of an account
// warning, else actor.profileId); a Gmail action a delegate took is the
// delegate's, the mailbox owner in attrs.mailbox_owner. ClientIP is
// ipAddress, except for messages arriving (received, spam-filed,
// quarantined), where it is the sending server's and is kept in
// attrs.smtp_client_ip instead.
//
// Login events: login_success → login, login_failure → login_failed,
// logout → logout; a failed login challenge (a second factor) →
// login_failed; suspicious_login* → login with attrs.suspicious, outcome
// unknown (Google does not say whether it was stopped); anything else →
// other. Gmail's one event, delivery, is told apart by
// event_info.mail_event_type (see gmailEvents): sent → send, received →
// receive, forwarded → forward, opened/viewed → mailbox_access, attachment
// or message downloaded → export, trashed or deleted → delete… Recipients
// are message_info's destination addresses; Email.External needs
// InternalDomains (see InternalDomainsSetter).
//
// Message subjects, attachment file names and DLP-matched text carry PHI:
// the subject is kept only as a hash and length (see putSubject), and the
// raw record has all three replaced by "[redacted]" (re-encoded with sorted
// keys when anything was replaced; as received, compacted, otherwise).
type GoogleReports struct {
	// InternalDomains are the practice's own mail domains (see
	// InternalDomainsSetter); set them with WithInternalDomains.
	InternalDomains []string
}

// Name implements Parser.
func (GoogleReports) Name() string { return "google-reports" }

// Kind implements Parser.
func (GoogleReports) Kind() event.SourceKind { return event.KindEmail }

// Description implements Parser.
func (GoogleReports) Description() string {
	return "Google Workspace Reports API activities (login, gmail): NDJSON, arrays or activities.list pages"
}

// WithInternalDomains implements InternalDomainsSetter.
func (p GoogleReports) WithInternalDomains(domains []string) Parser {
	p.InternalDomains = normalizeDomains(domains)
	return p
}

// Frame implements Framer. NDJSON is read a line at a time, a JSON array
// element by element, anything else as one document (see frameJSON); a
// page's items are then handed on one activity at a time, positioned
// "3.items[0]" (line 3, first item). Several pretty-printed pages one after
// another are split too.
func (GoogleReports) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	return frameJSON(r, true, maxJSONDocument, func(data []byte, pos string) error {
		return googleSplit(data, pos, emit)
	})
}

// googleSplit hands on the activities of one framed record: the items of a
// page, each of several concatenated documents, or the record as it is.
// What it cannot read is handed on whole, for Parse to report.
func googleSplit(data []byte, pos string, emit func([]byte, string) error) error {
	docs := googleDocuments(data)
	if docs == nil {
		if pos == "1" && mostlyJSONLines(data) {
			// NDJSON whose first lines are broken, which frameJSON took for
			// one document: hand on each line, so one bad line costs one
			// record.
			return emitLines(data, emit)
		}
		return emit(data, pos)
	}
	for k, doc := range docs {
		dpos := pos
		if len(docs) > 1 {
			dpos = pos + "#" + strconv.Itoa(k+1)
		}
		if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '[' && !strings.HasPrefix(pos, "[") {
			// An array on an NDJSON line: its elements are the records.
			var els []json.RawMessage
			if json.Unmarshal(t, &els) == nil {
				for i, el := range els {
					if err := emit(el, dpos+"["+strconv.Itoa(i)+"]"); err != nil {
						return err
					}
				}
				continue
			}
		}
		items, isPage, err := googlePageItems(doc)
		if !isPage || err != nil {
			if err := emit(doc, dpos); err != nil {
				return err
			}
			continue
		}
		for i, it := range items {
			if err := emit(it, dpos+".items["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// mostlyJSONLines reports whether most non-blank lines of data are JSON
// values on their own: NDJSON with bad lines, rather than a pretty-printed
// document cut short (whose lines are fragments).
func mostlyJSONLines(data []byte) bool {
	valid, lines := 0, 0
	for l := range bytes.Lines(data) {
		if t := bytes.TrimSpace(l); len(t) > 0 {
			lines++
			if json.Valid(t) {
				valid++
			}
		}
	}
	return lines > 1 && valid*2 > lines
}

// googleDocuments splits data into its top-level JSON values; nil when it
// is not a sequence of whole values (Parse then reports why).
func googleDocuments(data []byte) []json.RawMessage {
	if json.Valid(data) {
		return []json.RawMessage{data}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []json.RawMessage
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			return nil
		}
		docs = append(docs, v)
	}
}

// googlePageItems returns the items of an activities.list response page.
// isPage is true for an object with an items member or the page kind (a
// page without activities has no items); err says what is wrong with a
// page whose items are not an array.
func googlePageItems(doc []byte) (items []json.RawMessage, isPage bool, err error) {
	t := bytes.TrimSpace(doc)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"items"`)) && !bytes.Contains(t, []byte("admin#reports#activities")) {
		// Not a page, told without decoding every activity twice. A page
		// spells its member "items", as the API does.
		return nil, false, nil
	}
	var page struct {
		Kind  looseString     `json:"kind"`
		Items json.RawMessage `json:"items"`
	}
	if json.Unmarshal(t, &page) != nil {
		return nil, false, nil
	}
	if len(page.Items) == 0 || string(page.Items) == "null" {
		return nil, page.Kind.s == "admin#reports#activities", nil
	}
	if err := json.Unmarshal(page.Items, &items); err != nil {
		return nil, true, errors.New("a response page whose items is not an array of activities")
	}
	return items, true, nil
}

// Parse implements Parser. The record is one activity as Frame hands it
// on, or anything Frame reads (a page, an array, NDJSON, several
// documents): each activity in it is then mapped, the unreadable ones named
// in the error and the others kept. Reading a whole input at once and
// reading the records Frame makes of it give the same events.
func (p GoogleReports) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimSpace(bytes.TrimPrefix(rec.Data, utf8BOM))
	if len(data) == 0 {
		return nil, errors.New("not a Reports API activity: empty record (is the input truncated?)")
	}
	if !json.Valid(data) {
		// Several records, or a broken one: split as Frame does.
		var parts [][]byte
		var names []string
		_ = p.Frame(bytes.NewReader(data), func(b []byte, pos string) error { // in memory: no read errors
			parts = append(parts, b)
			names = append(names, "record "+pos)
			return nil
		})
		if len(parts) == 1 && bytes.Equal(bytes.TrimSpace(parts[0]), data) {
			if err := checkJSONObject(data); err != nil {
				return nil, fmt.Errorf("not a Reports API activity: %w", err)
			}
			var v any
			return nil, fmt.Errorf("not a Reports API activity: %w", readableJSONError(data, json.Unmarshal(data, &v)))
		}
		return p.many(rec, parts, names)
	}
	switch data[0] {
	case '[':
		var els []json.RawMessage
		if err := json.Unmarshal(data, &els); err != nil {
			return nil, fmt.Errorf("not Reports API activities: %w", readableJSONError(data, err))
		}
		return p.many(rec, googleRaws(els), googleNames("element ", len(els), ""))
	case '{':
		items, isPage, err := googlePageItems(data)
		switch {
		case err != nil:
			return nil, err
		case isPage:
			return p.many(rec, googleRaws(items), googleNames("items[", len(items), "]"))
		}
		return p.activity(rec, data)
	}
	if err := checkJSONObject(data); err != nil {
		return nil, fmt.Errorf("not a Reports API activity: %w", err)
	}
	return nil, fmt.Errorf("not a Reports API activity: expected a JSON object, got %q", clipText(string(data), 32))
}

func googleRaws(l []json.RawMessage) [][]byte {
	out := make([][]byte, len(l))
	for i, m := range l {
		out[i] = m
	}
	return out
}

func googleNames(prefix string, n int, suffix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i) + suffix
	}
	return out
}

// many parses each part as a record of its own, naming the unreadable
// ones.
func (p GoogleReports) many(rec Record, parts [][]byte, names []string) ([]event.Event, error) {
	var (
		evs      []event.Event
		problems problemList
	)
	for i, part := range parts {
		r := rec
		r.Data = part
		got, err := p.Parse(r)
		evs = append(evs, got...)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", names[i], err))
		}
	}
	if len(problems) > 0 {
		return evs, fmt.Errorf("%d of %d parts unreadable: %w", len(problems), len(parts), problems)
	}
	return evs, nil
}

// gActivity is one Reports API activity. It is read from the generic JSON
// tree that redaction needs anyway (one decoding, not two), leniently: a
// field of an unexpected kind reads as empty, so only id.time, the
// application and the events are ever required.
type gActivity struct {
	time, uniqueQualifier, applicationName, customerID string
	actorEmail, actorProfileID, callerType             string
	ownerDomain, ipAddress, region                     string
	events                                             []gEvent
	apiError                                           map[string]any // the body of an API error response
}

type gEvent struct {
	typ, name string
	params    []gParam
}

// gParam is a Reports API parameter: a name and one typed value, possibly
// a nested message (messageValue) or a list of them (multiMessageValue), as
// Gmail's event_info and message_info are.
type gParam struct {
	name     string
	value    string   // value, intValue or boolValue, as text
	multi    []string // multiValue or multiIntValue
	message  []gParam // messageValue.parameter
	messages [][]gParam
}

// gKey is the member name of m: exactly, else case-insensitively as
// encoding/json matches names (the first such key in sorted order, so the
// choice does not depend on map order).
func gKey(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil
	}
	return m[best]
}

// gText is a JSON string, number or boolean as text; anything else is "".
func gText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func gObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func gList(v any) []any {
	l, _ := v.([]any)
	return l
}

// gRead reads an activity from its decoded JSON.
func gRead(m map[string]any) gActivity {
	id, actor, net := gObject(gKey(m, "id")), gObject(gKey(m, "actor")), gObject(gKey(m, "networkInfo"))
	a := gActivity{
		time:            gText(gKey(id, "time")),
		uniqueQualifier: gText(gKey(id, "uniqueQualifier")),
		applicationName: gText(gKey(id, "applicationName")),
		customerID:      gText(gKey(id, "customerId")),
		actorEmail:      gText(gKey(actor, "email")),
		actorProfileID:  gText(gKey(actor, "profileId")),
		callerType:      gText(gKey(actor, "callerType")),
		ownerDomain:     gText(gKey(m, "ownerDomain")),
		ipAddress:       gText(gKey(m, "ipAddress")),
		region:          firstNonEmpty(gText(gKey(net, "subdivisionCode")), gText(gKey(net, "regionCode"))),
		apiError:        gObject(gKey(m, "error")),
	}
	for _, ev := range gList(gKey(m, "events")) {
		em := gObject(ev)
		if em == nil {
			a.events = append(a.events, gEvent{}) // kept, so indexes stay the source's
			continue
		}
		a.events = append(a.events, gEvent{
			typ:    gText(gKey(em, "type")),
			name:   gText(gKey(em, "name")),
			params: gParams(gKey(em, "parameters")),
		})
	}
	return a
}

// gParams reads a list of parameters.
func gParams(v any) []gParam {
	var out []gParam
	for _, it := range gList(v) {
		m := gObject(it)
		if m == nil {
			continue
		}
		p := gParam{name: gText(gKey(m, "name"))}
		for _, k := range []string{"value", "intValue", "boolValue"} {
			if s := strings.TrimSpace(gText(gKey(m, k))); s != "" {
				p.value = s
				break
			}
		}
		for _, k := range []string{"multiValue", "multiIntValue"} {
			for _, x := range gList(gKey(m, k)) {
				if s := strings.TrimSpace(gText(x)); s != "" {
					p.multi = append(p.multi, s)
				}
			}
		}
		p.message = gParams(gKey(gObject(gKey(m, "messageValue")), "parameter"))
		for _, msg := range gList(gKey(m, "multiMessageValue")) {
			p.messages = append(p.messages, gParams(gKey(gObject(msg), "parameter")))
		}
		out = append(out, p)
	}
	return out
}

// gFind returns the parameter named name (case-insensitively), or nil.
func gFind(ps []gParam, name string) *gParam {
	for i := range ps {
		if strings.EqualFold(ps[i].name, name) {
			return &ps[i]
		}
	}
	return nil
}

// gPath follows nested messageValues: gPath(ps, "message_info", "source",
// "address").
func gPath(ps []gParam, path ...string) *gParam {
	var p *gParam
	for i, name := range path {
		if i > 0 {
			ps = p.message
		}
		if p = gFind(ps, name); p == nil {
			return nil
		}
	}
	return p
}

// text is the parameter's value as text, whichever field holds it; a list
// is joined with commas.
func (p *gParam) text() string {
	if p == nil {
		return ""
	}
	if p.value != "" {
		return p.value
	}
	return strings.Join(p.multi, ",")
}

func (p *gParam) isTrue() bool { return strings.EqualFold(p.text(), "true") }

// googleTime reads id.time: RFC 3339, or a zone-less "2006-01-02 15:04:05"
// (as some collectors re-write it), taken as UTC.
func googleTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("id.time is missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("id.time %q is not an RFC 3339 time", clipText(s, 40))
}

// activity maps one activity: one event per entry of events[].
func (p GoogleReports) activity(rec Record, data []byte) ([]event.Event, error) {
	tree, err := googleTree(data)
	if err != nil {
		return nil, fmt.Errorf("not a Reports API activity: %w", readableJSONError(data, err))
	}
	obj := gObject(tree)
	if obj == nil {
		return nil, errors.New("not a Reports API activity: expected a JSON object")
	}
	a := gRead(obj) // before googleRaw redacts the tree
	if a.apiError != nil {
		return nil, fmt.Errorf("a Reports API error response, not an activity: %s %s",
			clipText(gText(gKey(a.apiError, "code")), 16), clipText(gText(gKey(a.apiError, "message")), 200))
	}
	app := strings.ToLower(strings.TrimSpace(a.applicationName))
	var problems problemList
	t, err := googleTime(a.time)
	if err != nil {
		problems = append(problems, err)
	}
	switch app {
	case "login", "gmail":
	case "":
		problems = append(problems, errors.New("id.applicationName is missing"))
	default:
		problems = append(problems, fmt.Errorf("application %q is not one phiwatch maps (login, gmail); request only those applications for this source", clipText(app, 40)))
	}
	if len(a.events) == 0 {
		problems = append(problems, errors.New("the activity has no events"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("activity%s: %w", googleIDNote(a.uniqueQualifier), problems)
	}
	raw, err := googleRaw(data, tree)
	if err != nil {
		return nil, fmt.Errorf("re-encode the raw activity: %w", err) // unreachable: data was decoded
	}

	var (
		evs  []event.Event
		errs problemList
	)
	for i := range a.events {
		ev := &a.events[i]
		e, err := p.event(rec, &a, app, t, raw, i, ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %d (%s): %w", i, clipText(firstNonEmpty(ev.name, "unnamed"), 40), err))
			continue
		}
		evs = append(evs, e)
	}
	if len(errs) > 0 {
		return evs, fmt.Errorf("activity%s: %d of %d events unreadable: %w", googleIDNote(a.uniqueQualifier), len(errs), len(a.events), errs)
	}
	return evs, nil
}

func googleIDNote(uq string) string {
	if uq = strings.TrimSpace(uq); uq == "" {
		return ""
	}
	return fmt.Sprintf(" (uniqueQualifier %s)", clipText(uq, 32))
}

// event maps entry i of an activity's events.
func (p GoogleReports) event(rec Record, a *gActivity, app string, t time.Time, raw string, i int, ev *gEvent) (event.Event, error) {
	name := strings.TrimSpace(ev.name)
	if name == "" {
		return event.Event{}, errors.New("the event has no name")
	}
	params := ev.params
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEmail,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		Time:         t,
		ReceivedAt:   rec.ReceivedAt,
		Actor:        event.Actor{ID: strings.TrimSpace(a.actorEmail)},
		Outcome:      event.OutcomeUnknown,
		Raw:          raw,
		Attrs:        map[string]string{"source_action": truncate(name, maxAttrLen), "application": app},
	}
	key := raw + "|" + strconv.Itoa(i)
	if uq := strings.TrimSpace(a.uniqueQualifier); uq != "" {
		key = app + "|" + uq + "|" + strconv.Itoa(i) + "|" + t.UTC().Format(time.RFC3339Nano)
	}
	e.EventID = event.ID(rec.Tenant, p.Name(), key)
	putAttr(e.Attrs, "event_type", ev.typ)
	putAttr(e.Attrs, "caller_type", a.callerType)
	putAttr(e.Attrs, "actor_profile_id", a.actorProfileID)
	putAttr(e.Attrs, "customer_id", a.customerID)
	putAttr(e.Attrs, "owner_domain", a.ownerDomain)
	putAttr(e.Attrs, "unique_qualifier", a.uniqueQualifier)
	putAttr(e.Attrs, "region_code", a.region)

	ipToAttrs := false
	switch app {
	case "login":
		p.login(&e, name, params)
	case "gmail":
		ipToAttrs = p.gmail(&e, params)
	}
	if e.Actor.ID == "" {
		e.Actor.ID = strings.TrimSpace(a.actorProfileID)
	}
	if e.Actor.ID == "" {
		return event.Event{}, errors.New("no actor: actor.email and actor.profileId are empty")
	}
	e.Actor.ID = truncate(e.Actor.ID, maxIdentLen)
	if ip, ok := cleanIP(a.ipAddress); ok {
		if ipToAttrs {
			e.Attrs["smtp_client_ip"] = ip
		} else {
			e.ClientIP = ip
		}
	} else {
		putAttr(e.Attrs, "client_ip_raw", a.ipAddress)
	}
	e.Normalize()
	return e, nil
}

// login maps a login application event.
func (GoogleReports) login(e *event.Event, name string, params []gParam) {
	putAttr(e.Attrs, "login_type", gFind(params, "login_type").text())
	putAttr(e.Attrs, "login_challenge_method", gFind(params, "login_challenge_method").text())
	putAttr(e.Attrs, "login_failure_type", gFind(params, "login_failure_type").text())
	challenge := gFind(params, "login_challenge_status").text()
	putAttr(e.Attrs, "login_challenge_status", challenge)
	if gFind(params, "is_second_factor").isTrue() {
		e.Attrs["second_factor"] = "true"
	}
	if gFind(params, "is_suspicious").isTrue() {
		e.Attrs["suspicious"] = "true"
	}
	// Account warnings name the account in a parameter; the actor, if any,
	// is Google.
	if affected := cleanAddress(gFind(params, "affected_email_address").text()); affected != "" {
		if e.Actor.ID == "" {
			e.Actor.ID = affected
		} else if !strings.EqualFold(affected, e.Actor.ID) {
			e.Attrs["affected_email_address"] = truncate(affected, maxAttrLen)
		}
	}
	switch strings.ToLower(name) {
	case "login_success":
		e.Action, e.Outcome = event.ActionLogin, event.OutcomeSuccess
	case "login_failure":
		e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
	case "logout":
		e.Action, e.Outcome = event.ActionLogout, event.OutcomeSuccess
	case "login_challenge", "login_verification":
		// A challenge is a step of a sign-in; a failed one (a second factor
		// refused after a right password) is what detectors look for.
		e.Action = event.ActionOther
		switch s := strings.ToLower(challenge); {
		case strings.Contains(s, "fail"):
			e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
		case strings.Contains(s, "pass"):
			e.Outcome = event.OutcomeSuccess
		}
	case "suspicious_login", "suspicious_login_less_secure_app", "suspicious_programmatic_login":
		e.Action = event.ActionLogin
		e.Attrs["suspicious"] = "true"
	case "risky_sensitive_action_allowed":
		e.Action, e.Outcome = event.ActionOther, event.OutcomeSuccess
	case "risky_sensitive_action_blocked":
		e.Action, e.Outcome = event.ActionOther, event.OutcomeFailure
	default:
		e.Action = event.ActionOther
	}
}

// gmailEvent is what one event_info.mail_event_type means.
type gmailEvent struct {
	name   string
	action event.Action
	// arriving is true for what happens to a message as it arrives, where
	// the activity's ipAddress is the sending server's.
	arriving bool
}

// gmailEvents maps Gmail's mail_event_type (Reports API appendix, "Gmail
// activity events"). Replied (9) is recorded against the message replied
// to; the reply itself is a separate sent event, so it is "other" here.
var gmailEvents = map[int]gmailEvent{
	0:  {"mail_event_type_0", event.ActionOther, false},
	1:  {"message_sent", event.ActionSend, false},
	2:  {"message_received", event.ActionReceive, true},
	3:  {"user_spam_classification", event.ActionOther, false},
	4:  {"spam_after_delivery", event.ActionOther, true},
	5:  {"quarantined", event.ActionOther, true},
	6:  {"released_from_quarantine", event.ActionOther, false},
	7:  {"opened", event.ActionMailboxAccess, false},
	8:  {"marked_unread", event.ActionOther, false},
	9:  {"replied", event.ActionOther, false},
	10: {"forwarded", event.ActionForward, false},
	11: {"auto_forwarded", event.ActionForward, false},
	12: {"moved_to_inbox", event.ActionOther, false},
	13: {"moved_to_trash", event.ActionDelete, false},
	14: {"restored_from_trash", event.ActionOther, false},
	15: {"link_clicked", event.ActionOther, false},
	16: {"attachment_link_clicked", event.ActionOther, false},
	17: {"attachment_downloaded", event.ActionExport, false},
	18: {"attachment_saved_to_drive", event.ActionOther, false},
	19: {"drive_item_saved", event.ActionOther, false},
	20: {"label_applied", event.ActionOther, false},
	21: {"label_changed", event.ActionOther, false},
	22: {"label_removed", event.ActionOther, false},
	23: {"attachment_labels_applied", event.ActionOther, false},
	24: {"attachment_labels_changed", event.ActionOther, false},
	25: {"attachment_labels_removed", event.ActionOther, false},
	26: {"archived", event.ActionOther, false},
	27: {"permanently_deleted", event.ActionDelete, false},
	28: {"attachment_previewed", event.ActionMailboxAccess, false},
	29: {"draft_saved", event.ActionCreate, false},
	30: {"bounced", event.ActionSend, false},
	31: {"viewed", event.ActionMailboxAccess, false},
	32: {"message_downloaded", event.ActionExport, false},
	33: {"accessed_by_app", event.ActionMailboxAccess, false},
	34: {"delegate_granted", event.ActionPermission, false},
}

// gmail maps the gmail application's delivery event and reports whether the
// activity's IP belongs in attrs (the message was arriving).
func (p GoogleReports) gmail(e *event.Event, params []gParam) bool {
	info := gFind(params, "event_info")
	msg := gFind(params, "message_info")
	if msg == nil {
		msg = gFind(params, "message") // the name the API reference uses
	}
	var infoPs, msgPs []gParam
	if info != nil {
		infoPs = info.message
	}
	if msg != nil {
		msgPs = msg.message
	}

	typText := gFind(infoPs, "mail_event_type").text()
	typ, err := strconv.Atoi(typText)
	ge, known := gmailEvents[typ]
	if err != nil || !known {
		ge = gmailEvent{"mail_event_type_unknown", event.ActionOther, false}
	}
	// The event's name is always "delivery"; what happened is the type.
	e.Action = ge.action
	e.Attrs["source_action"] = ge.name
	putAttr(e.Attrs, "mail_event_type", typText)
	putAttr(e.Attrs, "message_action_type", gFind(msgPs, "action_type").text())
	putAttr(e.Attrs, "client_type", gPath(infoPs, "client_context", "client_type").text())
	switch ok := gFind(infoPs, "success"); {
	case typ == 30: // bounced
		e.Outcome = event.OutcomeFailure
	case ok != nil && ok.isTrue():
		e.Outcome = event.OutcomeSuccess
	case ok != nil && strings.EqualFold(ok.text(), "false"):
		e.Outcome = event.OutcomeFailure
	}
	if gFind(msgPs, "is_spam").isTrue() {
		e.Attrs["is_spam"] = "true"
	}

	// A delegate acting in someone's mailbox is who did it.
	if d := cleanAddress(gPath(infoPs, "client_context", "session_context", "delegate_user_email").text()); d != "" {
		if e.Actor.ID != "" && !strings.EqualFold(d, e.Actor.ID) {
			e.Attrs["mailbox_owner"] = truncate(e.Actor.ID, maxAttrLen)
		}
		e.Actor.ID = d
		e.Attrs["delegate"] = "true"
	}

	sender := cleanAddress(firstNonEmpty(gPath(msgPs, "source", "address").text(), gPath(msgPs, "source", "from_header_address").text()))
	var rcpts []string
	if d := gFind(msgPs, "destination"); d != nil {
		for _, m := range d.messages {
			rcpts = append(rcpts, gFind(m, "address").text())
		}
		if len(d.messages) == 0 { // a single destination as a messageValue
			rcpts = append(rcpts, gFind(d.message, "address").text())
		}
	}
	if len(uniqueAddresses(rcpts)) == 0 {
		// "gmail-for-work-catchall::a@x.org,smtp-outbound::b@y.org"
		for part := range strings.SplitSeq(gFind(msgPs, "flattened_destinations").text(), ",") {
			if _, addr, ok := strings.Cut(part, "::"); ok {
				rcpts = append(rcpts, addr)
			}
		}
	}
	rcpts = uniqueAddresses(rcpts)
	if e.Actor.ID == "" {
		switch ge.action {
		case event.ActionSend:
			e.Actor.ID = sender
		case event.ActionReceive:
			if len(rcpts) > 0 {
				e.Actor.ID = rcpts[0]
			}
		}
	}
	em := &event.Email{
		Sender:           sender,
		Recipients:       rcpts,
		RecipientDomains: emailDomains(rcpts),
		External:         anyExternal(p.InternalDomains, rcpts),
		MessageID:        strings.TrimSpace(gFind(msgPs, "rfc2822_message_id").text()),
	}
	if n, err := strconv.ParseUint(gFind(msgPs, "payload_size").text(), 10, 64); err == nil {
		em.SizeBytes = n
	}
	if n, err := strconv.ParseUint(gFind(msgPs, "num_message_attachments").text(), 10, 32); err == nil {
		em.AttachmentCount = uint32(n)
	} else if a := gFind(msgPs, "attachment"); a != nil {
		em.AttachmentCount = uint32(min(len(a.messages), 1<<16))
	}
	putSubject(e.Attrs, e.TenantID, gFind(msgPs, "subject").text())
	if ge.arriving {
		if ip, ok := cleanIP(gPath(msgPs, "connection_info", "client_ip").text()); ok {
			e.Attrs["smtp_client_ip"] = ip
		}
	}
	if em.Sender != "" || len(em.Recipients) > 0 || em.MessageID != "" || em.SizeBytes > 0 || em.AttachmentCount > 0 {
		e.Email = em
	}
	return ge.arriving
}

// googleRedacted are the parameters whose values may carry PHI: a message's
// subject, attachment file names, and the text a DLP rule matched.
var googleRedacted = map[string]bool{
	"subject": true, "file_name": true, "matched_string": true, "attachment_name": true,
}

// googleTree decodes an activity, numbers kept exact.
func googleTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	err := dec.Decode(&tree)
	return tree, err
}

// googleRaw is the activity kept as evidence: compacted as received, or,
// when it holds a googleRedacted parameter, re-encoded from tree (keys
// sorted) with those values replaced. It redacts tree in place, so the
// mapping reads tree first.
func googleRaw(data []byte, tree any) (string, error) {
	var b bytes.Buffer
	if !googleRedact(tree) {
		if err := json.Compact(&b, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// googleRedact replaces the values of googleRedacted parameters anywhere in
// v and reports whether it replaced any.
func googleRedact(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		// Keys match case-insensitively, as encoding/json reads them into
		// gParam, so every spelling of "name" is looked at.
		redact := false
		for k, val := range t {
			if name, ok := val.(string); ok && strings.EqualFold(k, "name") && googleRedacted[strings.ToLower(name)] {
				redact = true
			}
		}
		if redact {
			for k := range t {
				if !strings.EqualFold(k, "name") {
					t[k] = redactedText
					changed = true
				}
			}
		}
		for _, c := range t {
			if googleRedact(c) {
				changed = true
			}
		}
	case []any:
		for _, c := range t {
			if googleRedact(c) {
				changed = true
			}
		}
	}
	return changed
}
