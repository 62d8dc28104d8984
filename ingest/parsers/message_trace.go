package parsers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// MessageTrace reads Exchange Online message trace exports as CSV, in the
// three shapes they come in (column names are matched case- and
// punctuation-insensitively, so "SenderAddress" and "sender_address" are
// one column):
//
//   - trace: Get-MessageTrace / Get-MessageTraceV2 | Export-Csv and the
//     admin center's message trace results: Received, SenderAddress,
//     RecipientAddress, Subject, Status, ToIP, FromIP, Size, MessageId,
//     MessageTraceId. One row per message and recipient.
//   - summary: the historical search's summary report: origin_timestamp_utc,
//     sender_address, recipient_status ("addr##Receive, Deliver;addr2##…"),
//     message_subject, total_bytes, message_id, network_message_id,
//     original_client_ip, directionality, connector_id. One row per message.
//   - extended: the historical search's extended report: the message
//     tracking log, date_time_utc, client_ip, event_id, recipient_address,
//     recipient_status, total_bytes, message_subject, sender_address,
//     directionality, original_client_ip… One row per step of a message.
//     The delivery steps (DELIVER, SEND, SENDEXTERNAL, FAIL, DELIVERFAIL,
//     DROP, DEFER) become events; the routing steps around them (RECEIVE,
//     AGENTINFO, RESOLVE, EXPAND, SUBMIT, …, see mtExtendedSteps) yield no
//     event and no error; an unknown step is an error naming it.
//
// Historical reports are UTF-16; the framing reads UTF-8 and UTF-16 alike.
//
// Direction and actor. A message leaving a practice mailbox is a send by its
// sender; one arriving is a receive by each recipient (one event each, so
// every mailbox that got it shows up). The direction is the directionality
// column (Originating/Incoming) where the report has one; otherwise, with
// InternalDomains set, an internal sender makes it a send and an outside
// sender to an internal recipient a receive; otherwise a ToIP (the
// outside server it was handed to) makes it a send. When none of these
// decides, the event is "other" with attrs.direction "unknown": set the
// practice's domains (ingest --internal-domains) to decide it.
//
// Email.External is true when a recipient is outside InternalDomains, and
// false whenever they are not set. ClientIP is set for sends only (the
// original client IP, else FromIP): for a received message FromIP is the
// sending mail server, not where the recipient was, so it is kept in
// attrs.from_ip instead of misleading location-based detectors.
//
// Subjects carry PHI and are never stored: attrs keep a tenant-salted
// SHA-256 prefix and the length (see putSubject), and the raw row kept as
// evidence has the subject replaced by "[redacted]". Raw is the header row
// and the data row, so it reads on its own.
type MessageTrace struct {
	// InternalDomains are the practice's own mail domains (see
	// InternalDomainsSetter); set them with WithInternalDomains.
	InternalDomains []string
}

// Name implements Parser.
func (MessageTrace) Name() string { return "message-trace" }

// Kind implements Parser.
func (MessageTrace) Kind() event.SourceKind { return event.KindEmail }

// Description implements Parser.
func (MessageTrace) Description() string {
	return "Exchange Online message trace CSV: Get-MessageTrace export, historical summary and extended reports"
}

// WithInternalDomains implements InternalDomainsSetter.
func (p MessageTrace) WithInternalDomains(domains []string) Parser {
	p.InternalDomains = normalizeDomains(domains)
	return p
}

// Frame implements Framer: each data row is a record with the header row
// before it (see frameCSV).
func (MessageTrace) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	return frameCSV(r, mtHeaderCheck, emit)
}

// Parse implements Parser. The record is a header row and one data row as
// Frame hands them on, or a whole export. A row yields no event (and no
// error) when it is an extended report's routing step.
func (p MessageTrace) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimSpace(bytes.TrimPrefix(rec.Data, utf8BOM))
	if len(data) == 0 {
		return nil, errors.New("empty record (is the input truncated?)")
	}
	return parseCSVRecord(rec.Data, mtHeaderCheck, func(h *csvHeader, rw csvRow, fields []string) ([]event.Event, error) {
		return p.row(rec, h, rw, fields)
	})
}

// The column names each field is read from, normalized (csvNorm), in order
// of preference.
var (
	mtTimeCols      = []string{"received", "datetimeutc", "origintimestamputc", "origintimestamp", "receiveddatetime", "datetime", "dateutc", "date"}
	mtSenderCols    = []string{"senderaddress", "sender", "fromaddress"}
	mtRecipientCols = []string{"recipientaddress", "recipient", "recipients", "recipientaddresses"}
)

// mtHeaderCheck accepts a header with a time, a sender and a recipient
// column.
func mtHeaderCheck(norm []string) error {
	has := func(names []string) bool {
		for _, c := range norm {
			for _, n := range names {
				if c == n {
					return true
				}
			}
		}
		return false
	}
	var missing []string
	if !has(mtTimeCols) {
		missing = append(missing, "a time (Received, origin_timestamp_utc or date_time_utc)")
	}
	if !has(mtSenderCols) {
		missing = append(missing, "a sender (SenderAddress or sender_address)")
	}
	if !has(mtRecipientCols) && !has([]string{"recipientstatus"}) {
		missing = append(missing, "a recipient (RecipientAddress or recipient_status)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("no column for %s: expected a message trace export", strings.Join(missing, ", "))
	}
	return nil
}

// mtColumns are the column indexes of one header; -1 where it has none.
type mtColumns struct {
	time, sender, recipient, recipientStatus, subject, size, status int
	messageID, networkID, fromIP, toIP, originalClientIP, traceID   int
	direction, eventID, source, connector                           int
}

func mtColumnsOf(h *csvHeader) mtColumns {
	return mtColumns{
		time:             h.col(mtTimeCols...),
		sender:           h.col(mtSenderCols...),
		recipient:        h.col(mtRecipientCols...),
		recipientStatus:  h.col("recipientstatus"),
		subject:          h.col("subject", "messagesubject"),
		size:             h.col("size", "totalbytes", "messagesize", "sizebytes"),
		status:           h.col("status", "deliverystatus"),
		messageID:        h.col("messageid", "internetmessageid"),
		networkID:        h.col("networkmessageid"),
		fromIP:           h.col("fromip"),
		toIP:             h.col("toip"),
		originalClientIP: h.col("originalclientip"),
		traceID:          h.col("messagetraceid"),
		direction:        h.col("directionality", "direction"),
		eventID:          h.col("eventid"),
		source:           h.col("source"),
		connector:        h.col("connectorid"),
	}
}

// The report shapes, for attrs.trace_report.
const (
	mtReportTrace    = "trace"
	mtReportSummary  = "summary"
	mtReportExtended = "extended"
)

// mtExtendedEvents are the extended report's steps that deliver (or fail to
// deliver) a message, with their outcome.
var mtExtendedEvents = map[string]event.Outcome{
	"DELIVER":      event.OutcomeSuccess,
	"SEND":         event.OutcomeSuccess,
	"SENDEXTERNAL": event.OutcomeSuccess,
	"FAIL":         event.OutcomeFailure,
	"DELIVERFAIL":  event.OutcomeFailure,
	"DROP":         event.OutcomeFailure,
	"DEFER":        event.OutcomeFailure,
}

// mtExtendedSteps are the extended report's routing steps: a message passes
// through several on its way to one of mtExtendedEvents, so they make no
// event of their own (about 15 rows per message would otherwise become
// events). They are the Exchange message tracking event types.
var mtExtendedSteps = map[string]bool{
	"RECEIVE": true, "SUBMIT": true, "AGENTINFO": true, "RESOLVE": true, "EXPAND": true,
	"REDIRECT": true, "TRANSFER": true, "PROCESS": true, "NOTIFYMAPI": true, "NOTIFYSHADOW": true,
	"HARECEIVE": true, "HAREDIRECT": true, "HAREDIRECTFAIL": true, "HADISCARD": true,
	"DUPLICATEDELIVER": true, "DUPLICATEEXPAND": true, "DUPLICATEREDIRECT": true, "DSN": true,
	"SUBMITDEFER": true, "SUBMITFAIL": true, "RESUBMIT": true, "RESUBMITDEFER": true, "RESUBMITFAIL": true,
	"BADMAIL": true, "POISONMESSAGE": true, "THROTTLE": true, "INITMESSAGECREATED": true, "LOAD": true,
	"MODERATORAPPROVE": true, "MODERATORREJECT": true, "MODERATORSEXPIRED": true, "MODERATIONEXPIRE": true,
	"PROCESSMEETINGMESSAGE": true, "CLIENTSUBMISSION": true, "SUPPRESSED": true,
}

// mtRecipient is one recipient and, in a summary report, its own status.
type mtRecipient struct {
	addr, steps string
}

func (p MessageTrace) row(rec Record, h *csvHeader, rw csvRow, fields []string) ([]event.Event, error) {
	c := mtColumnsOf(h)
	get := func(i int) string {
		if i < 0 || i >= len(fields) {
			return ""
		}
		return strings.TrimSpace(fields[i])
	}
	report := mtReportTrace
	switch {
	case c.eventID >= 0:
		report = mtReportExtended
	case c.recipient < 0:
		report = mtReportSummary
	}

	step := strings.ToUpper(get(c.eventID))
	if report == mtReportExtended {
		if mtExtendedSteps[step] {
			return nil, nil // a routing step; see mtExtendedSteps
		}
		if _, ok := mtExtendedEvents[step]; !ok {
			if step == "" {
				return nil, fmt.Errorf("the %s column is empty (is the row cut short?)", h.fields[c.eventID])
			}
			return nil, fmt.Errorf("%s %q is not a message tracking event phiwatch knows (delivery events: DELIVER, SEND, SENDEXTERNAL, FAIL, DELIVERFAIL, DROP, DEFER)", h.fields[c.eventID], clipText(step, 40))
		}
	}
	var problems problemList
	if len(fields) < len(h.fields) {
		problems = append(problems, fmt.Errorf("the row has %d columns, the header %d (is the row cut short?)", len(fields), len(h.fields)))
	}
	t, err := mtTime(get(c.time))
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", h.fields[c.time], err))
	}
	sender := cleanAddress(get(c.sender))
	rcpts := mtRecipients(get(c.recipient), get(c.recipientStatus))
	if sender == "" && len(rcpts) == 0 {
		problems = append(problems, errors.New("the row names neither a sender nor a recipient"))
	}
	if len(problems) > 0 {
		return nil, problems
	}

	subject := get(c.subject)
	raw := string(h.row.raw) + "\n" + string(rw.raw)
	if subject != "" {
		// Re-encode both rows so the raw record is consistent CSV without
		// the subject's text.
		redacted := append([]string(nil), fields...)
		redacted[c.subject] = redactedText
		raw = joinCSV(h.fields, h.delim) + "\n" + joinCSV(redacted, h.delim)
	}
	base := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEmail,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		Time:         t,
		ReceivedAt:   rec.ReceivedAt,
		Raw:          raw,
	}
	attrs := map[string]string{"trace_report": report}
	putSubject(attrs, rec.Tenant, subject)
	putAttr(attrs, "message_trace_id", get(c.traceID))
	putAttr(attrs, "network_message_id", get(c.networkID))
	putAttr(attrs, "from_ip", get(c.fromIP))
	putAttr(attrs, "to_ip", get(c.toIP))
	putAttr(attrs, "original_client_ip", get(c.originalClientIP))
	putAttr(attrs, "connector_id", get(c.connector))
	putAttr(attrs, "tracking_source", get(c.source))
	var size uint64
	if s := get(c.size); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			putAttr(attrs, "size_raw", s)
		}
		size = n
	}
	msgID := get(c.messageID)

	// What happened, and whether it worked.
	outcome := event.OutcomeUnknown
	switch report {
	case mtReportExtended:
		outcome = mtExtendedEvents[step]
		attrs["source_action"] = step
		// The SMTP status per recipient; ";" when there is none.
		if st := get(c.recipientStatus); strings.Trim(st, "; ") != "" {
			putAttr(attrs, "status", st)
		}
	case mtReportTrace:
		status := get(c.status)
		outcome = mtStatusOutcome(status)
		attrs["source_action"] = truncate(firstNonEmpty(status, "message_trace"), maxAttrLen)
		putAttr(attrs, "status", status)
	}

	dir, basis := p.direction(get(c.direction), sender, rcpts, get(c.toIP), step)
	attrs["direction"] = dir
	putAttr(attrs, "direction_basis", basis)

	newEvent := func(action event.Action, actor string, to []mtRecipient, outcome event.Outcome) event.Event {
		e := base
		e.Attrs = make(map[string]string, len(attrs)+2)
		for k, v := range attrs {
			e.Attrs[k] = v
		}
		addrs := make([]string, len(to))
		var steps []string
		for i, r := range to {
			addrs[i] = r.addr
			if r.steps != "" {
				steps = append(steps, r.addr+"##"+r.steps)
			}
		}
		if report == mtReportSummary {
			outcome = mtSummaryOutcome(to)
			e.Attrs["source_action"] = truncate(mtSummaryAction(to), maxAttrLen)
			putAttr(e.Attrs, "status", strings.Join(steps, ";"))
		}
		e.Action, e.Outcome = action, outcome
		e.Actor.ID = truncate(actor, maxIdentLen)
		e.Email = &event.Email{
			Sender:           sender,
			Recipients:       addrs,
			RecipientDomains: emailDomains(addrs),
			External:         anyExternal(p.InternalDomains, addrs),
			SizeBytes:        size,
			MessageID:        msgID,
		}
		if action == event.ActionSend {
			for _, s := range []string{get(c.originalClientIP), get(c.fromIP)} {
				if ip, ok := cleanIP(s); ok {
					e.ClientIP = ip
					break
				}
			}
		}
		// The raw row has the subject redacted; its hash keeps two rows
		// that differ only there apart.
		key := "row|" + raw + "|" + attrs["subject_sha256"]
		if id := get(c.traceID); id != "" {
			key = "trace|" + id + "|" + t.UTC().Format(time.RFC3339Nano)
		}
		e.EventID = event.ID(rec.Tenant, p.Name(), key+"|"+strings.ToLower(strings.Join(addrs, ";")))
		e.Normalize()
		return e
	}

	switch {
	case dir == "outbound":
		return []event.Event{newEvent(event.ActionSend, sender, rcpts, outcome)}, nil
	case dir == "inbound" && len(rcpts) > 0:
		// One event per recipient: each mailbox received it.
		evs := make([]event.Event, 0, len(rcpts))
		for _, r := range rcpts {
			evs = append(evs, newEvent(event.ActionReceive, r.addr, []mtRecipient{r}, outcome))
		}
		return evs, nil
	}
	// Unknown direction, or arriving mail that names no recipient to
	// receive it: the sender is who the row is about.
	actor := sender
	if actor == "" && len(rcpts) > 0 {
		actor = rcpts[0].addr
	}
	return []event.Event{newEvent(event.ActionOther, actor, rcpts, outcome)}, nil
}

// direction decides whether a row is outbound (a send by its sender),
// inbound (a receive by its recipients) or unknown, and on what basis; see
// MessageTrace for the order.
func (p MessageTrace) direction(directionality, sender string, rcpts []mtRecipient, toIP, step string) (dir, basis string) {
	switch strings.ToLower(directionality) {
	case "originating", "outbound", "outgoing":
		return "outbound", "directionality"
	case "incoming", "inbound":
		return "inbound", "directionality"
	}
	if len(p.InternalDomains) > 0 {
		if sender != "" && isInternal(p.InternalDomains, sender) {
			return "outbound", "internal_domains"
		}
		for _, r := range rcpts {
			if isInternal(p.InternalDomains, r.addr) {
				return "inbound", "internal_domains"
			}
		}
	}
	if toIP != "" {
		return "outbound", "to_ip"
	}
	if step == "SEND" || step == "SENDEXTERNAL" {
		return "outbound", "event_id"
	}
	return "unknown", ""
}

// mtRecipients reads the recipients of a row: the recipient column
// ("a@x.org" or "a@x.org;b@y.org"), or else the summary report's
// recipient_status ("a@x.org##Receive, Deliver;b@y.org##Receive, Send"),
// whose per-recipient steps are kept. The extended report's
// recipient_status holds SMTP statuses, not addresses, and is not read here.
func mtRecipients(list, status string) []mtRecipient {
	var out []mtRecipient
	seen := map[string]bool{}
	add := func(addr, steps string) {
		addr = cleanAddress(addr)
		if k := strings.ToLower(addr); addr != "" && !seen[k] {
			seen[k] = true
			out = append(out, mtRecipient{addr: addr, steps: strings.TrimSpace(steps)})
		}
	}
	if list != "" {
		for a := range strings.SplitSeq(list, ";") {
			for b := range strings.SplitSeq(a, ",") {
				add(b, "")
			}
		}
		return out
	}
	for part := range strings.SplitSeq(status, ";") {
		if addr, steps, ok := strings.Cut(part, "##"); ok {
			add(addr, steps)
		}
	}
	return out
}

// mtStatusOutcome maps Get-MessageTrace's Status. FilteredAsSpam and
// Quarantined are failures: the message did not reach the recipient's inbox
// (or, outbound, the outside world).
func mtStatusOutcome(status string) event.Outcome {
	switch strings.ToLower(strings.ReplaceAll(status, " ", "")) {
	case "delivered", "expanded", "resolved":
		return event.OutcomeSuccess
	case "failed", "filteredasspam", "quarantined", "dropped":
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown // Pending, GettingStatus, None, or empty
}

// mtFinalStep is the last step of a summary report's "Receive, Deliver".
func mtFinalStep(steps string) string {
	if i := strings.LastIndexByte(steps, ','); i >= 0 {
		steps = steps[i+1:]
	}
	return strings.ToUpper(strings.TrimSpace(steps))
}

// mtSummaryOutcome is success when a recipient's message was delivered or
// sent on, failure when all that ended did so by failing or being dropped,
// and unknown otherwise (deferred, or no steps given).
func mtSummaryOutcome(rcpts []mtRecipient) event.Outcome {
	failed := false
	for _, r := range rcpts {
		switch mtFinalStep(r.steps) {
		case "DELIVER", "SEND", "SENDEXTERNAL", "EXPAND":
			return event.OutcomeSuccess
		case "FAIL", "DROP", "DELIVERFAIL":
			failed = true
		}
	}
	if failed {
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown
}

// mtSummaryAction is the summary report's source action: the recipients'
// final steps, "DELIVER" or "DELIVER,SEND".
func mtSummaryAction(rcpts []mtRecipient) string {
	var steps []string
	for _, r := range rcpts {
		if s := mtFinalStep(r.steps); s != "" && !containsFold(steps, s) {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return "message_trace"
	}
	return strings.Join(steps, ",")
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// mtTimeLayouts are the time formats message trace exports use: ISO 8601
// from the reports, and Export-Csv's DateTime text, which follows the
// exporting machine's culture. A numeric date with AM/PM is read month
// first (en-US); one with a 24-hour clock day first (en-GB, fr-FR, es-ES…,
// and de-DE's dots), unless only month-first can be right (10/13/2026);
// year-first (ja-JP, zh-CN) is unambiguous. The docs say to prefer ISO
// times: a day-first culture with a 12-hour clock (en-AU, en-IN) reads
// wrongly for days up to 12.
var mtTimeLayouts = []string{
	"2006-01-02T15:04:05.9999999",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02 15:04:05.9999999Z07:00",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"2/1/2006 15:04:05",
	"2/1/2006 15:04",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"2/1/2006 3:04:05 PM",
	"2006/1/2 15:04:05",
	"2006/1/2 15:04",
	"2.1.2006 15:04:05",
	"2.1.2006 15:04",
}

// mtTime reads a message trace time. Exchange reports them in UTC; text
// without a zone is taken as UTC.
func mtTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("the time is missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range mtTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (e.g. 2026-10-01T15:04:05Z or 10/1/2026 3:04:05 PM, in UTC)", clipText(s, 40))
}
