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

// M365Audit reads Microsoft 365 Unified Audit Log records as the Office 365
// Management Activity API returns them (Exchange, Azure AD, SharePoint and
// OneDrive workloads), as NDJSON or as the API's content blobs: JSON arrays
// of records.
//
// Mapping, in short (the tests hold the details):
//   - Time: CreationTime, UTC when it has no zone (as the API sends it).
//   - Actor.ID: UserId as sent, case and all (falling back to UserKey);
//     identity resolution across sources happens in the store.
//   - Action: see m365Action; Attrs["source_action"] is always the Operation.
//   - Outcome: ResultStatus, except that UserLoginFailed is always a failure
//     (its ResultStatus often says "Success").
//   - ClientIP: ClientIP, else ClientIPAddress, else ActorIpAddress, cleaned
//     of ports, brackets and IPv4-mapped prefixes; when none is an IP the
//     first value is kept in Attrs["client_ip_raw"] and the record is kept.
//   - ResourceType/ResourceID: Workload and ObjectId.
//   - Email: for sends (sender, message id, size, attachment count) and for
//     forwarding set up by Set-Mailbox or an inbox rule (the targets as
//     recipients); nil otherwise. Email.External is left false: which
//     domains are the practice's own is tenant configuration, not in the log,
//     so detectors decide from RecipientDomains.
type M365Audit struct{}

// Name implements Parser.
func (M365Audit) Name() string { return "m365-audit" }

// Kind implements Parser.
func (M365Audit) Kind() event.SourceKind { return event.KindEmail }

// Description implements Parser.
func (M365Audit) Description() string {
	return "Microsoft 365 Unified Audit Log (Management Activity API): NDJSON or JSON arrays"
}

// Frame implements Framer: NDJSON is read a line at a time (positions are
// line numbers); input starting with '[' is one or more content blobs whose
// elements are the records (positions "[0]", "[1]", …), bounded by
// maxJSONDocument; a single pretty-printed record is position "1".
func (M365Audit) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	return frameJSON(r, true, maxJSONDocument, emit)
}

// Parse implements Parser. A record holding a JSON array (a content blob
// that arrived without framing) yields one event per element; unreadable
// elements are named by index in the error while the others are kept.
func (p M365Audit) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimSpace(bytes.TrimPrefix(rec.Data, utf8BOM))
	if err := checkJSONObject(data); err != nil {
		if bytes.Contains(data, []byte("AuditData")) {
			// A Purview audit search export: CSV with the JSON in a column.
			err = fmt.Errorf("%w; this looks like a Purview audit search CSV export: feed its AuditData column, one JSON record per line", err)
		}
		return nil, fmt.Errorf("not an M365 audit record: %w", err)
	}
	if data[0] != '[' {
		ev, err := p.record(rec, data)
		if err != nil {
			return nil, err
		}
		return []event.Event{ev}, nil
	}
	var els []json.RawMessage
	if err := json.Unmarshal(data, &els); err != nil {
		return nil, fmt.Errorf("not M365 audit records: %w", readableJSONError(data, err))
	}
	var (
		evs  []event.Event
		errs problemList
	)
	for i, el := range els {
		ev, err := p.record(rec, el)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		evs = append(evs, ev)
	}
	if len(errs) > 0 {
		return evs, fmt.Errorf("%d of %d records unreadable: %w", len(errs), len(els), errs)
	}
	return evs, nil
}

func (p M365Audit) record(rec Record, data []byte) (event.Event, error) {
	var r m365Record
	if err := checkJSONObject(data); err != nil {
		return event.Event{}, fmt.Errorf("not an M365 audit record: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return event.Event{}, fmt.Errorf("not an M365 audit record: %w", readableJSONError(data, err))
	}
	var problems problemList
	t, err := m365Time(r.CreationTime.s)
	if err != nil {
		problems = append(problems, err)
	}
	op := strings.TrimSpace(r.Operation.s)
	if op == "" {
		problems = append(problems, errors.New("Operation is missing"))
	}
	user := strings.TrimSpace(r.UserID.s)
	if user == "" {
		user = strings.TrimSpace(r.UserKey.s)
	}
	if user == "" {
		problems = append(problems, errors.New("UserId is missing"))
	}
	if len(problems) > 0 {
		return event.Event{}, fmt.Errorf("M365 audit record%s: %w", m365IDNote(r.ID.s), problems)
	}

	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return event.Event{}, fmt.Errorf("compact raw JSON: %w", err) // unreachable: data was decoded
	}
	params, opProps := r.Parameters.v, r.OperationProperties.v
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEmail,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		Time:         t,
		ReceivedAt:   rec.ReceivedAt,
		Actor:        event.Actor{ID: user},
		Action:       m365Action(op, params),
		ResourceType: strings.TrimSpace(r.Workload.s),
		ResourceID:   truncate(strings.TrimSpace(r.ObjectID.s), maxIdentLen),
		Raw:          compact.String(),
		Attrs:        map[string]string{"source_action": op},
	}
	e.Outcome = m365Outcome(r.ResultStatus.s, e.Action)
	// Id plus operation and time: Ids are GUIDs, but anonymised and
	// re-exported logs reuse them, and two distinct records must not collapse.
	key := e.Raw
	if id := strings.TrimSpace(r.ID.s); id != "" {
		key = id + "|" + op + "|" + t.UTC().Format(time.RFC3339Nano)
	}
	e.EventID = event.ID(rec.Tenant, p.Name(), key)

	ips := []string{r.ClientIP.s, r.ClientIPAddress.s, r.ActorIPAddress.s}
	for _, s := range ips {
		if ip, ok := cleanIP(s); ok {
			e.ClientIP = ip
			break
		}
	}
	if e.ClientIP == "" {
		for _, s := range ips {
			if strings.TrimSpace(s) != "" {
				putAttr(e.Attrs, "client_ip_raw", s)
				break
			}
		}
	}

	devProps := r.DeviceProperties.v
	e.Device = truncate(firstNonEmpty(m365Prop(devProps, "DisplayName"), m365Prop(devProps, "Id"), r.DeviceID.s), maxIdentLen)
	putAttr(e.Attrs, "user_agent", firstNonEmpty(m365Prop(r.ExtendedProperties.v, "UserAgent"), r.UserAgent.s, r.ClientInfoString.s))
	putAttr(e.Attrs, "workload", r.Workload.s)
	putAttr(e.Attrs, "record_type", r.RecordType.s)
	putAttr(e.Attrs, "result_status", r.ResultStatus.s)
	putAttr(e.Attrs, "mailbox_owner", r.MailboxOwnerUPN.s)
	putAttr(e.Attrs, "session_id", firstNonEmpty(r.SessionID.s, m365Prop(devProps, "SessionId")))
	if lt := strings.TrimSpace(r.LogonType.s); lt != "" {
		if name, ok := m365LogonTypes[lt]; ok {
			lt = name
		}
		putAttr(e.Attrs, "logon_type", lt)
	}
	putAttr(e.Attrs, "logon_error", r.LogonError.s)
	if n := strings.TrimSpace(r.ErrorNumber.s); n != "0" {
		putAttr(e.Attrs, "error_number", n)
	}
	if strings.EqualFold(strings.TrimSpace(r.ExternalAccess.s), "true") {
		e.Attrs["external_access"] = "true"
	}
	putAttr(e.Attrs, "mail_access_type", m365Prop(opProps, "MailAccessType"))
	if n := strings.TrimSpace(r.OperationCount.s); n != "" && n != "0" {
		putAttr(e.Attrs, "items_count", n)
	} else if n := len(r.AffectedItems.v); n > 0 {
		e.Attrs["items_count"] = strconv.Itoa(n)
	}
	folder := firstNonEmpty(r.Item.v.ParentFolder.v.Path.s, r.Folder.v.Path.s)
	if folder == "" && len(r.Folders.v) > 0 {
		folder = r.Folders.v[0].Path.s
	}
	putAttr(e.Attrs, "folder", folder)
	switch e.Action {
	case event.ActionRuleChange:
		putAttr(e.Attrs, "rule_name", firstNonEmpty(m365Prop(params, "Name"), m365Prop(opProps, "RuleName"), m365Prop(params, "Identity")))
	case event.ActionPermission:
		// Who was given access, and what access: the point of reviewing it.
		putAttr(e.Attrs, "grantee", firstNonEmpty(m365Prop(params, "User"), m365Prop(params, "Trustee")))
		putAttr(e.Attrs, "access_rights", m365Prop(params, "AccessRights"))
	}

	targets := m365ForwardTargets(params, opProps)
	putAttr(e.Attrs, "forward_to", strings.Join(targets, ", "))
	switch {
	case e.Action == event.ActionSend:
		item := r.Item.v
		size, _ := strconv.ParseUint(strings.TrimSpace(item.SizeInBytes.s), 10, 64)
		e.Email = &event.Email{
			Sender:          firstNonEmpty(r.SendAsUserSMTP.s, r.SendOnBehalfOfUserSMTP.s, r.MailboxOwnerUPN.s, user),
			MessageID:       strings.TrimSpace(item.InternetMessageID.s),
			SizeBytes:       size,
			AttachmentCount: m365AttachmentCount(item.Attachments.s),
		}
	case len(targets) > 0:
		owner := r.MailboxOwnerUPN.s
		if owner == "" && strings.EqualFold(op, "Set-Mailbox") {
			owner = m365Prop(params, "Identity")
		}
		e.Email = &event.Email{
			Sender:           firstNonEmpty(owner, user),
			Recipients:       targets,
			RecipientDomains: emailDomains(targets),
		}
	}
	e.Normalize()
	return e, nil
}

// m365Actions maps Operations, lower-cased, onto the vocabulary. Set-Mailbox
// is decided by m365Action from its parameters.
var m365Actions = map[string]event.Action{
	"userloggedin":    event.ActionLogin,
	"userloginfailed": event.ActionLoginFailed,

	"mailitemsaccessed": event.ActionMailboxAccess,
	"mailboxlogin":      event.ActionMailboxAccess,
	"send":              event.ActionSend,
	"sendas":            event.ActionSend,
	"sendonbehalf":      event.ActionSend,

	"new-inboxrule":     event.ActionRuleChange,
	"set-inboxrule":     event.ActionRuleChange,
	"enable-inboxrule":  event.ActionRuleChange,
	"disable-inboxrule": event.ActionRuleChange,
	"remove-inboxrule":  event.ActionRuleChange,
	"updateinboxrules":  event.ActionRuleChange,

	"softdelete":         event.ActionDelete,
	"harddelete":         event.ActionDelete,
	"movetodeleteditems": event.ActionDelete,
	// Exchange item audit: a message, draft or meeting created or changed.
	"create": event.ActionCreate,
	"update": event.ActionUpdate,

	"add-mailboxpermission":          event.ActionPermission,
	"remove-mailboxpermission":       event.ActionPermission,
	"add-recipientpermission":        event.ActionPermission,
	"remove-recipientpermission":     event.ActionPermission,
	"add-mailboxfolderpermission":    event.ActionPermission,
	"set-mailboxfolderpermission":    event.ActionPermission,
	"remove-mailboxfolderpermission": event.ActionPermission,

	// SharePoint and OneDrive: a download takes the data out of the service.
	"filedownloaded":            event.ActionExport,
	"filesyncdownloadedfull":    event.ActionExport,
	"filesyncdownloadedpartial": event.ActionExport,
	"fileaccessed":              event.ActionView,
	"fileaccessedextended":      event.ActionView,
	"filepreviewed":             event.ActionView,
	// Sharing links and invitations open a file to more people.
	"anonymouslinkcreated":     event.ActionPermission,
	"companylinkcreated":       event.ActionPermission,
	"securelinkcreated":        event.ActionPermission,
	"addedtosecurelink":        event.ActionPermission,
	"sharinginvitationcreated": event.ActionPermission,
	"sharingset":               event.ActionPermission,
}

// m365Action maps an Operation; Set-Mailbox is forward when it sets a
// forwarding address and admin otherwise. Unknown operations are other.
func m365Action(op string, params []m365NameValue) event.Action {
	key := strings.ToLower(strings.TrimSpace(op))
	if key == "set-mailbox" {
		for _, nv := range params {
			switch strings.ToLower(nv.Name.s) {
			case "forwardingsmtpaddress", "forwardingaddress":
				if strings.TrimSpace(nv.Value.s) != "" {
					return event.ActionForward
				}
			}
		}
		return event.ActionAdmin
	}
	if a, ok := m365Actions[key]; ok {
		return a
	}
	return event.ActionOther
}

// m365Outcome maps ResultStatus. A failed sign-in is a failure whatever the
// status says: Azure AD reports the step it reached, not the sign-in.
func m365Outcome(status string, a event.Action) event.Outcome {
	if a == event.ActionLoginFailed {
		return event.OutcomeFailure
	}
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "succeeded", "success", "true":
		return event.OutcomeSuccess
	case "failed", "failure", "false":
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown
}

// m365Time parses CreationTime. The API sends UTC without a zone; exports
// add a Z, an offset or fractional seconds, or a space for the T.
func m365Time(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("CreationTime is missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
	} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("CreationTime %q is not a timestamp (e.g. 2024-06-26T06:29:14, in UTC)", s)
}

// m365ForwardTargets lists where a rule or mailbox setting forwards mail:
// the ForwardTo, RedirectTo and ForwardAsAttachmentTo parameters of the
// *-InboxRule cmdlets, Set-Mailbox's forwarding addresses, and the Forward
// and Redirect actions in UpdateInboxRules' RuleActions (a JSON string).
func m365ForwardTargets(params, opProps []m365NameValue) []string {
	var raw []string
	for _, nv := range params {
		switch strings.ToLower(nv.Name.s) {
		case "forwardto", "redirectto", "forwardasattachmentto", "forwardingsmtpaddress", "forwardingaddress":
			raw = append(raw, strings.Split(nv.Value.s, ";")...)
		}
	}
	if actions := m365Prop(opProps, "RuleActions"); actions != "" {
		var acts []struct {
			ActionType looseString            `json:"ActionType"`
			Recipients lenient[[]looseString] `json:"Recipients"`
		}
		_ = json.Unmarshal([]byte(actions), &acts) // best effort: the text is the source's
		for _, a := range acts {
			switch strings.ToLower(a.ActionType.s) {
			case "forward", "redirect", "forwardasattachment":
				for _, r := range a.Recipients.v {
					raw = append(raw, r.s)
				}
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range raw {
		if a := m365Address(s); a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// m365Address cleans one recipient as Exchange writes it: `bob@x.org`,
// `smtp:bob@x.org`, or `"Bob" [SMTP:bob@x.org]`. Anything else (a display
// name, an EX: address) is kept as written, trimmed.
func m365Address(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(strings.ToLower(s), "smtp:"); i >= 0 {
		s = s[i+len("smtp:"):]
		if j := strings.IndexByte(s, ']'); j >= 0 {
			s = s[:j]
		}
	}
	return strings.TrimSpace(strings.Trim(s, `"' `))
}

// emailDomains lists the lower-cased domains of the addresses, in order,
// without repeats.
func emailDomains(addrs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		i := strings.LastIndexByte(a, '@')
		if i < 0 || i == len(a)-1 {
			continue
		}
		if d := strings.ToLower(a[i+1:]); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// m365AttachmentCount counts the attachments in an item's Attachments text,
// "a.png (6438b); b.jpg (2443b)".
func m365AttachmentCount(s string) uint32 {
	var n uint32
	for part := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(part) != "" {
			n++
		}
	}
	return n
}

// m365LogonTypes names Exchange's LogonType values.
var m365LogonTypes = map[string]string{
	"0": "owner",
	"1": "admin",
	"2": "delegate",
	"3": "transport",
	"4": "system_service",
	"5": "best_access",
	"6": "delegated_admin",
}

func m365IDNote(id string) string {
	if id = strings.TrimSpace(id); id == "" {
		return ""
	}
	return fmt.Sprintf(" (Id %q)", truncate(id, 64))
}

// m365Prop is the value of the named entry of a Name/Value list.
func m365Prop(nvs []m365NameValue, name string) string {
	for _, nv := range nvs {
		if strings.EqualFold(nv.Name.s, name) {
			return strings.TrimSpace(nv.Value.s)
		}
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// m365Record holds the fields phiwatch reads. Every scalar is a looseString
// and every structure lenient: the schema differs by workload and version,
// numbers arrive as strings and back, and no field of an unexpected shape
// should cost the whole record. Only the three fields checked in record are
// required.
type m365Record struct {
	CreationTime           looseString              `json:"CreationTime"`
	ID                     looseString              `json:"Id"`
	Operation              looseString              `json:"Operation"`
	RecordType             looseString              `json:"RecordType"`
	ResultStatus           looseString              `json:"ResultStatus"`
	UserID                 looseString              `json:"UserId"`
	UserKey                looseString              `json:"UserKey"`
	Workload               looseString              `json:"Workload"`
	ObjectID               looseString              `json:"ObjectId"`
	ClientIP               looseString              `json:"ClientIP"`
	ClientIPAddress        looseString              `json:"ClientIPAddress"`
	ActorIPAddress         looseString              `json:"ActorIpAddress"`
	LogonType              looseString              `json:"LogonType"`
	LogonError             looseString              `json:"LogonError"`
	ErrorNumber            looseString              `json:"ErrorNumber"`
	MailboxOwnerUPN        looseString              `json:"MailboxOwnerUPN"`
	ClientInfoString       looseString              `json:"ClientInfoString"`
	UserAgent              looseString              `json:"UserAgent"` // SharePoint
	ExternalAccess         looseString              `json:"ExternalAccess"`
	OperationCount         looseString              `json:"OperationCount"`
	SessionID              looseString              `json:"SessionId"`
	DeviceID               looseString              `json:"DeviceId"`
	SendAsUserSMTP         looseString              `json:"SendAsUserSmtp"`
	SendOnBehalfOfUserSMTP looseString              `json:"SendOnBehalfOfUserSmtp"`
	ExtendedProperties     lenient[[]m365NameValue] `json:"ExtendedProperties"`
	Parameters             lenient[[]m365NameValue] `json:"Parameters"`
	OperationProperties    lenient[[]m365NameValue] `json:"OperationProperties"`
	DeviceProperties       lenient[[]m365NameValue] `json:"DeviceProperties"`
	Item                   lenient[m365Item]        `json:"Item"`
	Folder                 lenient[m365Folder]      `json:"Folder"`
	Folders                lenient[[]m365Folder]    `json:"Folders"`
	AffectedItems          lenient[[]m365Item]      `json:"AffectedItems"`
}

type m365NameValue struct {
	Name  looseString `json:"Name"`
	Value looseString `json:"Value"`
}

type m365Item struct {
	InternetMessageID looseString         `json:"InternetMessageId"`
	SizeInBytes       looseString         `json:"SizeInBytes"`
	Attachments       looseString         `json:"Attachments"`
	ParentFolder      lenient[m365Folder] `json:"ParentFolder"`
}

type m365Folder struct {
	Path looseString `json:"Path"`
}

// lenient decodes what it can of a JSON value into T and ignores the rest,
// never failing the enclosing record.
type lenient[T any] struct{ v T }

// UnmarshalJSON implements json.Unmarshaler.
func (l *lenient[T]) UnmarshalJSON(b []byte) error {
	_ = json.Unmarshal(b, &l.v) // keeps what fit, by design
	return nil
}
