package parsers

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/syslog"
	"github.com/phiwatch/phiwatch/internal/event"
)

// Postfix reads Postfix maillog lines, with or without a syslog header:
//
//	Oct  3 10:11:12 mx1 postfix/smtp[1234]: 4F3A2B1C0D: to=<a@b.org>, relay=mx.b.org[198.51.100.7]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 OK)
//
// One line is one record and Parse is stateless: Postfix spreads one
// message over several lines (smtpd's client=, cleanup's message-id=,
// qmgr's from=, one delivery line per recipient), linked only by the queue
// id. Each line's event carries it in attrs.queue_id (with
// attrs.syslog_host), so the store can join a delivery to its sender; queue
// ids are reused over time, so such a join is per host and within the
// message's lifetime (minutes, or days for deferred mail).
//
// What each line becomes (attrs.source_action in brackets):
//
//	smtp/lmtp/local/virtual/pipe/error  QID: to=<r>, relay=…, status=…
//	    a delivery [delivery_<status>]: receive by r when a local agent
//	    (local, virtual, lmtp, pipe) or a local relay delivered it into a
//	    mailbox, or the recipient is in InternalDomains; "other" when an
//	    smtp relay on a loopback address took it (a content filter such as
//	    amavis; the real delivery follows under a new queue id); send
//	    otherwise. Outcome: sent success; bounced, deferred, expired
//	    failure. Address verification probes (status=deliverable or
//	    undeliverable) are "other" [address_verification]. The actor of a
//	    send is unknown on this line (the sender is on the qmgr line).
//	smtpd  QID: client=host[ip], sasl_username=u   login by u (an
//	    authenticated submission) [sasl_login]; without sasl_username,
//	    "other" [client], no actor: an unauthenticated relay or inbound mail
//	warning: host[ip]: SASL LOGIN authentication failed: …   login_failed,
//	    actor the sasl_username Postfix logs since 3.x, else none
//	    [sasl_auth_failed]
//	NOQUEUE: reject: RCPT from host[ip]: 550 …; from=<s> to=<r> …
//	    (and reject_warning, discard, filter, hold, redirect, milter-*,
//	    proxy-accept/-reject, by smtpd, postscreen or cleanup) "other"
//	    by s, outcome failure for refusals, success for warnings and
//	    accepts, unknown for holds [the verb]
//	qmgr   QID: from=<s>, size=N, nrcpt=M   "other" by s [queued];
//	    status=expired, failure [expired]
//	cleanup QID: message-id=<id>   "other" [message_id]: links the queue
//	    id to the Message-ID that other sources (M365, Gmail) log
//	pickup QID: uid=N from=<s>   "other" by s [pickup]: local submission
//
// Noise, which yields no event and no error: connect/disconnect, lost
// connections and timeouts, TLS and EHLO chatter and other lines without a
// queue id from Postfix programs; warning:, fatal: and panic: diagnostics
// (except SASL failures); "QID: removed", bounce notifications, header
// warnings; and every line of anvil, scache, master, tlsmgr, verify and the
// other daemons in postfixNoisePrograms. A line about a queued message that
// is none of the above is an error (it may be something phiwatch should
// read), and so is a line from another program (dovecot, amavis…): send
// phiwatch only postfix/* lines.
//
// Header and body checks log the matched text (often the Subject); it may
// carry PHI, so the raw line kept as evidence has it replaced by
// "[redacted]". Times are the syslog header's (RFC 3164 stamps in
// Location); a line without a header takes the receive time and says so in
// attrs.time_source.
type Postfix struct {
	// Location is the zone of header timestamps that carry none (the mail
	// server's clock zone). Default UTC.
	Location *time.Location
	// InternalDomains are the practice's own mail domains (see
	// InternalDomainsSetter); set them with WithInternalDomains.
	InternalDomains []string
}

// Name implements Parser.
func (Postfix) Name() string { return "postfix" }

// Kind implements Parser.
func (Postfix) Kind() event.SourceKind { return event.KindEmail }

// Description implements Parser.
func (Postfix) Description() string {
	return "Postfix maillog (syslog): deliveries, SASL logins and failures, rejects, queue and message-id lines"
}

// WithLocation implements LocationSetter.
func (p Postfix) WithLocation(loc *time.Location) Parser {
	p.Location = loc
	return p
}

// WithInternalDomains implements InternalDomainsSetter.
func (p Postfix) WithInternalDomains(domains []string) Parser {
	p.InternalDomains = normalizeDomains(domains)
	return p
}

// postfixDaemons are the programs of a Postfix installation, as they appear
// after the last '/' of a syslog tag ("postfix/submission/smtpd").
var postfixDaemons = map[string]bool{
	"smtp": true, "smtpd": true, "lmtp": true, "local": true, "virtual": true, "pipe": true,
	"qmgr": true, "oqmgr": true, "nqmgr": true, "cleanup": true, "pickup": true, "error": true,
	"retry": true, "discard": true, "postscreen": true, "qmqpd": true,
}

// postfixNoisePrograms are Postfix programs whose lines carry no access:
// statistics, caches, the master daemon, TLS and DNS helpers, and the
// command-line tools.
var postfixNoisePrograms = map[string]bool{
	"anvil": true, "scache": true, "master": true, "tlsmgr": true, "tlsproxy": true, "dnsblog": true,
	"proxymap": true, "trivial-rewrite": true, "flush": true, "showq": true, "spawn": true,
	"verify": true, "bounce": true, "defer": true, "trace": true, "postfix-script": true,
	"postsuper": true, "postlog": true, "postmulti": true, "postmap": true, "postalias": true,
	"postconf": true, "postkick": true, "postlock": true, "postqueue": true, "postdrop": true,
	"sendmail": true, "postfix": true,
}

// postfixVerbs are the actions access restrictions, header and body checks,
// milters and before-queue filters log, with the outcome for the message.
var postfixVerbs = map[string]event.Outcome{
	"reject":         event.OutcomeFailure,
	"milter-reject":  event.OutcomeFailure,
	"proxy-reject":   event.OutcomeFailure,
	"discard":        event.OutcomeFailure,
	"milter-discard": event.OutcomeFailure,
	"reject_warning": event.OutcomeSuccess, // warn_if_reject: logged, not refused
	"filter":         event.OutcomeSuccess,
	"redirect":       event.OutcomeSuccess,
	"proxy-accept":   event.OutcomeSuccess,
	"hold":           event.OutcomeUnknown,
	"milter-hold":    event.OutcomeUnknown,
}

// postfixQueueNoise are the starts of queue-id lines that carry no access.
var postfixQueueNoise = []string{
	"removed", "resent-message-id=", "sender non-delivery notification", "sender delivery status notification",
	"sender delay notification", "postmaster non-delivery notification", "enabling PIX workarounds",
	"host ", "lost connection with", "conversation with", "warning:", "info:", "replace:", "prepend:",
	"strip:", "skipped, still being delivered", "Cannot start TLS", "TLS is required", "breaking line",
}

// postfixConnNoise are the starts of lines without a queue id that carry no
// access (they matter when a line has no postfix/ tag to say it is
// Postfix's; tagged lines without a queue id are noise unless mapped).
var postfixConnNoise = []string{
	"connect from", "disconnect from", "lost connection after", "timeout after", "too many errors after",
	"improper command pipelining", "Anonymous TLS connection", "Trusted TLS connection",
	"Untrusted TLS connection", "Verified TLS connection", "SSL_accept error", "SSL_connect error",
	"TLS library problem", "bare <LF> received", "discarding EHLO keywords", "setting up TLS connection",
	"connect to ", "statistics:", "fatal:", "panic:", "error:", "daemon started", "reload",
	"terminating on signal", "CONNECT from", "PASS NEW", "PASS OLD", "DNSBL rank", "HANGUP after",
	"DISCONNECT", "PREGREET", "COMMAND PIPELINING", "WHITELISTED", "BLACKLISTED", "ALLOWLISTED",
	"DENYLISTED", "numeric hostname", "Host offered STARTTLS", "warning:",
}

// postfixLine is one line taken apart.
type postfixLine struct {
	raw     string // the line as kept: trimmed, redacted where needed
	program string // "smtp", or "" when the line has no tag
	service string // the syslog_name before the program, "postfix" usually
	host    string
	qid     string // the queue id, "NOQUEUE", or ""
	msg     string // the message after the tag
	rest    string // the message after the queue id
}

// Parse implements Parser. A noise line yields no events and no error.
func (p Postfix) Parse(rec Record) ([]event.Event, error) {
	line := strings.TrimSpace(string(bytes.TrimPrefix(rec.Data, utf8BOM)))
	if line == "" {
		return nil, errors.New("empty line")
	}
	if n := strings.Count(line, "\n"); n > 0 {
		// ingest reads a line at a time; several here means a framing
		// mistake upstream, and one event per record would lose lines.
		return nil, fmt.Errorf("the record holds %d lines; Postfix logs are read one line per record", n+1)
	}
	h, err := syslog.ParseHeader(line, syslog.HeaderOptions{Location: p.Location, ReceivedAt: rec.ReceivedAt})
	if err != nil {
		return nil, fmt.Errorf("syslog header: %w", err)
	}
	l := postfixLine{raw: line, host: h.Hostname, msg: h.Msg}
	tag := h.AppName
	if tag == "" {
		tag, l.msg = postfixLeadingTag(l.msg)
	}
	if tag != "" {
		l.service, l.program = tag, tag
		if i := strings.LastIndexByte(tag, '/'); i >= 0 {
			l.service, l.program = tag[:i], tag[i+1:]
		} else {
			l.service = ""
		}
		if !postfixDaemons[l.program] && !postfixNoisePrograms[l.program] && !strings.HasPrefix(l.service, "postfix") {
			return nil, fmt.Errorf("not a Postfix line: the program is %q; send phiwatch only postfix/* lines (e.g. an rsyslog filter on programname starting with \"postfix\")", clipText(tag, 40))
		}
		if postfixNoisePrograms[l.program] {
			return nil, nil
		}
	}
	l.qid, l.rest = postfixQueueID(l.msg)

	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEmail,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		ReceivedAt:   rec.ReceivedAt,
		Outcome:      event.OutcomeUnknown,
		Attrs:        map[string]string{},
	}
	mapped, err := p.classify(&e, &l)
	if err != nil || !mapped {
		return nil, err
	}
	e.Raw = l.raw
	e.EventID = event.ID(rec.Tenant, p.Name(), l.raw)
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
	putAttr(e.Attrs, "program", l.program)
	if l.service != "" && l.service != "postfix" {
		putAttr(e.Attrs, "postfix_service", l.service)
	}
	putAttr(e.Attrs, "syslog_host", l.host)
	if l.qid != "" && l.qid != "NOQUEUE" {
		e.Attrs["queue_id"] = l.qid
	}
	e.Actor.ID = truncate(e.Actor.ID, maxIdentLen)
	if e.Email != nil {
		e.Email.RecipientDomains = emailDomains(e.Email.Recipients)
		e.Email.External = anyExternal(p.InternalDomains, e.Email.Recipients)
	}
	e.Normalize()
	return []event.Event{e}, nil
}

// classify maps a line onto e. mapped is false for noise.
func (p Postfix) classify(e *event.Event, l *postfixLine) (mapped bool, err error) {
	if rest, ok := strings.CutPrefix(l.msg, "warning: "); ok {
		return p.saslFailure(e, rest), nil
	}
	if verb, body, ok := strings.Cut(l.rest, ": "); ok {
		if outcome, isVerb := postfixVerbs[verb]; isVerb {
			return true, p.verdict(e, l, verb, body, outcome)
		}
	}
	if l.qid != "" {
		r := l.rest
		switch {
		case strings.HasPrefix(r, "to="):
			return true, p.delivery(e, l)
		case strings.HasPrefix(r, "from="):
			return true, p.queued(e, l)
		case strings.HasPrefix(r, "client="):
			return true, p.client(e, l)
		case strings.HasPrefix(r, "message-id="):
			e.Action, e.Outcome = event.ActionOther, event.OutcomeSuccess
			e.Attrs["source_action"] = "message_id"
			if id := strings.TrimSpace(strings.TrimPrefix(r, "message-id=")); id != "" && id != "<>" {
				e.Email = &event.Email{MessageID: truncate(id, maxAttrLen)}
			}
			return true, nil
		case strings.HasPrefix(r, "uid="):
			return true, p.pickup(e, l)
		}
		for _, n := range postfixQueueNoise {
			if strings.HasPrefix(r, n) {
				return false, nil
			}
		}
		return false, fmt.Errorf("postfix%s: a line about queue %s that phiwatch does not recognize: %q", postfixProgramNote(l.program), clipText(l.qid, 32), clipText(r, 60))
	}
	for _, n := range postfixConnNoise {
		if strings.HasPrefix(l.msg, n) {
			return false, nil
		}
	}
	if l.program != "" {
		return false, nil // connection-level chatter of a Postfix program
	}
	return false, fmt.Errorf("not a Postfix log line (no postfix/<program>[pid]: tag, and not a message Postfix writes): %q", clipText(l.msg, 60))
}

func postfixProgramNote(program string) string {
	if program == "" {
		return ""
	}
	return "/" + program
}

// delivery maps "QID: to=<r>, [orig_to=<o>,] relay=…, delay=…, dsn=…,
// status=… (detail)".
func (p Postfix) delivery(e *event.Event, l *postfixLine) error {
	kv, detail := postfixCommaFields(l.rest)
	to := cleanAddress(kv["to"])
	status := truncate(strings.ToLower(kv["status"]), 64)
	switch {
	case to == "":
		return errors.New("postfix delivery line has an empty recipient (to=<>)")
	case status == "":
		return errors.New("postfix delivery line has no status= (is the line cut short?)")
	}
	relay := kv["relay"]
	action, basis := p.deliveryAction(l.program, relay, to)
	e.Attrs["source_action"] = "delivery_" + status
	switch status {
	case "sent":
		e.Outcome = event.OutcomeSuccess
	case "bounced", "deferred", "expired":
		e.Outcome = event.OutcomeFailure
	case "deliverable":
		action, basis, e.Outcome = event.ActionOther, "", event.OutcomeSuccess
		e.Attrs["source_action"] = "address_verification"
	case "undeliverable":
		action, basis, e.Outcome = event.ActionOther, "", event.OutcomeFailure
		e.Attrs["source_action"] = "address_verification"
	}
	e.Action = action
	if action == event.ActionReceive {
		e.Actor.ID = to
	}
	e.Email = &event.Email{Recipients: []string{to}}
	putAttr(e.Attrs, "direction_basis", basis)
	putAttr(e.Attrs, "status", status)
	putAttr(e.Attrs, "relay", relay)
	putAttr(e.Attrs, "dsn", kv["dsn"])
	putAttr(e.Attrs, "delay", kv["delay"])
	putAttr(e.Attrs, "orig_to", cleanAddress(kv["orig_to"]))
	putAttr(e.Attrs, "status_detail", strings.TrimSuffix(strings.TrimPrefix(detail, "("), ")"))
	// A content filter or relay that queued it again names the new queue
	// id, which links this message to its next hop's lines.
	if i := strings.LastIndex(detail, "queued as "); i >= 0 {
		next, _, _ := strings.Cut(strings.TrimRight(detail[i+len("queued as "):], ")"), " ")
		if qid, _ := postfixQueueID(next + ": "); qid != "" && qid != "NOQUEUE" {
			e.Attrs["next_queue_id"] = qid
		}
	}
	return nil
}

// deliveryAction decides what a delivery was; see Postfix.
func (p Postfix) deliveryAction(program, relay, to string) (event.Action, string) {
	switch program {
	case "local", "virtual", "lmtp", "pipe":
		return event.ActionReceive, "delivery_agent"
	}
	_, ip := postfixClient(relay)
	addr, _ := netip.ParseAddr(ip) // ip is empty or valid
	socket := false                // "host[private/dovecot-lmtp]", "host[/var/run/x]": a local socket
	if i, j := strings.IndexByte(relay, '['), strings.LastIndexByte(relay, ']'); i >= 0 && j > i {
		socket = strings.Contains(relay[i:j], "/")
	}
	switch {
	case relay == "local" || relay == "virtual" || relay == "dovecot" || strings.HasPrefix(relay, "private/") || socket:
		return event.ActionReceive, "local_relay"
	case addr.IsLoopback():
		return event.ActionOther, "loopback_relay"
	case allInternal(p.InternalDomains, []string{to}):
		return event.ActionReceive, "internal_domains"
	}
	return event.ActionSend, "smtp_relay"
}

// queued maps qmgr's "QID: from=<s>, size=N, nrcpt=M (queue active)" and
// "QID: from=<s>, status=expired, returned to sender".
func (p Postfix) queued(e *event.Event, l *postfixLine) error {
	kv, detail := postfixCommaFields(l.rest)
	from := cleanAddress(kv["from"])
	e.Action, e.Outcome = event.ActionOther, event.OutcomeSuccess
	e.Attrs["source_action"] = "queued"
	if st := truncate(strings.ToLower(kv["status"]), 64); st != "" {
		e.Attrs["source_action"] = st
		e.Attrs["status"] = st
		if st == "expired" {
			e.Outcome = event.OutcomeFailure
		}
	}
	e.Actor.ID = from
	if from == "" {
		e.Attrs["null_sender"] = "true" // a bounce or notification Postfix sends
	}
	em := &event.Email{Sender: from}
	if s := kv["size"]; s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("postfix queue line: size %q is not a number", clipText(s, 20))
		}
		em.SizeBytes = n
	}
	e.Email = em
	putAttr(e.Attrs, "nrcpt", kv["nrcpt"])
	putAttr(e.Attrs, "queue_detail", strings.TrimSuffix(strings.TrimPrefix(detail, "("), ")"))
	return nil
}

// client maps smtpd's "QID: client=host[ip], sasl_method=…,
// sasl_username=u".
func (p Postfix) client(e *event.Event, l *postfixLine) error {
	kv, _ := postfixCommaFields(l.rest)
	if strings.TrimSpace(kv["client"]) == "" {
		return errors.New("postfix client line has an empty client= (is the line cut short?)")
	}
	host, ip := postfixClient(kv["client"])
	e.ClientIP = ip
	putAttr(e.Attrs, "client_host", host)
	if user := strings.TrimSpace(kv["sasl_username"]); user != "" {
		e.Action, e.Outcome = event.ActionLogin, event.OutcomeSuccess
		e.Actor.ID = user
		e.Attrs["source_action"] = "sasl_login"
		putAttr(e.Attrs, "sasl_method", kv["sasl_method"])
		putAttr(e.Attrs, "sasl_sender", cleanAddress(kv["sasl_sender"]))
		return nil
	}
	e.Action, e.Outcome = event.ActionOther, event.OutcomeSuccess
	e.Attrs["source_action"] = "client"
	return nil
}

// pickup maps "QID: uid=1000 from=<jlee>": mail submitted on the server
// itself (sendmail, a web application, cron).
func (p Postfix) pickup(e *event.Event, l *postfixLine) error {
	kv, _ := postfixSpaceFields(l.rest)
	from := cleanAddress(kv["from"])
	e.Action, e.Outcome = event.ActionOther, event.OutcomeSuccess
	e.Attrs["source_action"] = "pickup"
	e.Actor.ID = from
	putAttr(e.Attrs, "uid", kv["uid"])
	if from != "" {
		e.Email = &event.Email{Sender: from}
	}
	return nil
}

// saslFailure maps "warning: host[ip]: SASL LOGIN authentication failed:
// reason[, sasl_username=u]"; other warnings are noise.
func (p Postfix) saslFailure(e *event.Event, rest string) bool {
	client, after, ok := strings.Cut(rest, ": ")
	if !ok || !strings.HasPrefix(after, "SASL ") {
		return false
	}
	mech, reason, ok := strings.Cut(strings.TrimPrefix(after, "SASL "), " authentication failed")
	if !ok || strings.Contains(mech, " ") {
		return false
	}
	reason = strings.TrimPrefix(reason, ":")
	var user string
	if i := strings.LastIndex(reason, ", sasl_username="); i >= 0 {
		user = strings.TrimSpace(reason[i+len(", sasl_username="):])
		reason = reason[:i]
	}
	host, ip := postfixClient(client)
	e.Action, e.Outcome = event.ActionLoginFailed, event.OutcomeFailure
	e.Attrs["source_action"] = "sasl_auth_failed"
	e.ClientIP = ip
	e.Actor.ID = user
	if user == "" {
		e.Attrs["user_unknown"] = "true"
	}
	putAttr(e.Attrs, "client_host", host)
	putAttr(e.Attrs, "sasl_method", mech)
	// The reason is the last SASL challenge (base64 "Password:") or the
	// authentication library's words; never the credentials.
	putAttr(e.Attrs, "reason", reason)
	return true
}

// verdict maps the lines access restrictions, checks, milters and proxies
// log:
//
//	reject: RCPT from host[ip]: 550 5.1.1 <r>: Recipient address rejected: …; from=<s> to=<r> proto=ESMTP helo=<h>
//	proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: queued as X; from=<s> to=<r> proto=ESMTP helo=<h>
//	reject: header Subject: … from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 reason
func (p Postfix) verdict(e *event.Event, l *postfixLine, verb, body string, outcome event.Outcome) error {
	head, tail := body, ""
	if i := postfixTailStart(body); i >= 0 {
		head, tail = body[:i], body[i+2:]
	}
	kv, after := postfixSpaceFields(tail)
	reply := strings.TrimSpace(strings.TrimPrefix(after, ":"))
	var client string
	for _, kind := range []string{"header ", "body "} {
		content, ok := strings.CutPrefix(head, kind)
		if !ok {
			continue
		}
		// body is a suffix of the line, so this is where content starts in it.
		at := len(l.raw) - len(body) + len(kind)
		// A header or body check: the matched text runs up to the client.
		if i := strings.LastIndex(content, " from "); i >= 0 {
			content, client = content[:i], content[i+len(" from "):]
		}
		e.Attrs["check"] = strings.TrimSpace(kind)
		keep := redactedText
		if name, _, ok := strings.Cut(content, ":"); ok && kind == "header " && len(name) <= 64 && !strings.ContainsAny(name, " \t") {
			keep = name + ": " + redactedText
			e.Attrs["header"] = name
		}
		if content != "" && at >= 0 && at+len(content) <= len(l.raw) && l.raw[at:at+len(content)] == content {
			l.raw = l.raw[:at] + keep + l.raw[at+len(content):]
		} else if content != "" {
			return errors.New("postfix check line: cannot locate the matched text to redact it") // unreachable: body is a suffix of the line
		}
		head = ""
		break
	}
	if head != "" {
		// "RCPT from host[ip]: reply" or "END-OF-MESSAGE: reply".
		stage, r, _ := strings.Cut(head, ": ")
		if s, c, ok := strings.Cut(stage, " from "); ok {
			stage, client = s, c
		}
		putAttr(e.Attrs, "stage", stage)
		reply = strings.TrimSpace(r)
	}
	host, ip := postfixClient(client)
	code, dsn, reason := postfixReply(reply)
	from := cleanAddress(kv["from"])
	e.Action, e.Outcome = event.ActionOther, outcome
	e.Attrs["source_action"] = verb
	e.Actor.ID = from
	e.ClientIP = ip
	putAttr(e.Attrs, "client_host", host)
	putAttr(e.Attrs, "smtp_code", code)
	putAttr(e.Attrs, "dsn", dsn)
	putAttr(e.Attrs, "reason", reason)
	putAttr(e.Attrs, "helo", cleanAddress(kv["helo"]))
	putAttr(e.Attrs, "proto", kv["proto"])
	em := &event.Email{Sender: from}
	if to := cleanAddress(kv["to"]); to != "" {
		em.Recipients = []string{to}
	}
	if em.Sender != "" || len(em.Recipients) > 0 {
		e.Email = em
	}
	return nil
}

// postfixTailStart finds the "; from=<…> to=<…> proto=… helo=<…>" that ends
// a verdict (VRFY rejects have no from=, CONNECT rejects only proto=): its
// last start, since the reason before it may itself hold "; ".
func postfixTailStart(s string) int {
	for _, k := range []string{"; from=", "; to=", "; proto="} {
		if i := strings.LastIndex(s, k); i >= 0 {
			return i
		}
	}
	return -1
}

// postfixReply splits an SMTP reply: "550 5.1.1 <r>: Recipient address
// rejected: …" → "550", "5.1.1", the rest.
func postfixReply(s string) (code, dsn, text string) {
	text = strings.TrimSpace(s)
	if len(text) >= 3 && isDigits(text[:3]) && (len(text) == 3 || text[3] == ' ') {
		code, text = text[:3], strings.TrimSpace(text[3:])
	}
	if tok, rest, _ := strings.Cut(text, " "); postfixIsDSN(tok) {
		dsn, text = tok, strings.TrimSpace(rest)
	}
	return code, dsn, text
}

func postfixIsDSN(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	return isDigits(parts[1]) && isDigits(parts[2]) && len(parts[1]) <= 3 && len(parts[2]) <= 3
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// postfixLeadingTag takes a "postfix/smtp[123]:" tag off a line that has no
// syslog header. Only tags with a '/' count, so that a message starting
// with "warning:" or a queue id is not mistaken for one.
func postfixLeadingTag(msg string) (tag, rest string) {
	tok, after, _ := strings.Cut(msg, " ")
	tok, ok := strings.CutSuffix(tok, ":")
	if !ok || !strings.Contains(tok, "/") {
		return "", msg
	}
	if i := strings.IndexByte(tok, '['); i > 0 && strings.HasSuffix(tok, "]") {
		tok = tok[:i]
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-_.", c) >= 0) {
			return "", msg
		}
	}
	return tok, after
}

// postfixQueueID splits "4F3A2B1C0D: rest" into the queue id and the rest.
// Short ids are 5 or more upper-case hex digits; long ids
// (enable_long_queue_ids) 10 or more letters and digits with a digit among
// them; NOQUEUE stands for a message that was never queued.
func postfixQueueID(msg string) (qid, rest string) {
	tok, after, ok := strings.Cut(msg, ": ")
	if !ok {
		if tok, ok = strings.CutSuffix(msg, ":"); !ok {
			return "", msg
		}
	}
	if tok == "NOQUEUE" || postfixShortQID(tok) || postfixLongQID(tok) {
		return tok, after
	}
	return "", msg
}

func postfixShortQID(s string) bool {
	if len(s) < 5 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func postfixLongQID(s string) bool {
	if len(s) < 10 || len(s) > 32 {
		return false
	}
	digit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return digit
}

// postfixClient reads "host[ip]", "host[ip]:port", "[ip]:port" (postscreen)
// or "unknown[unknown]"; ip is "" when the brackets hold no address.
func postfixClient(s string) (host, ip string) {
	s = strings.TrimSpace(s)
	i := strings.IndexByte(s, '[')
	j := strings.LastIndexByte(s, ']')
	if i < 0 || j < i {
		return s, ""
	}
	host = s[:i]
	if a, ok := cleanIP(s[i+1 : j]); ok {
		ip = a
	}
	return host, ip
}

// postfixCommaFields reads "k=v, k=<v>, … (detail)": the fields, first
// occurrence of a key winning, and the text after them.
func postfixCommaFields(s string) (map[string]string, string) {
	kv := map[string]string{}
	for s != "" {
		k, v, rest, ok := postfixField(s, func(s string) int {
			end := len(s)
			if i := strings.Index(s, ", "); i >= 0 {
				end = i
			}
			if i := strings.Index(s[:end], " ("); i >= 0 {
				end = i
			}
			return end
		})
		if !ok {
			return kv, strings.TrimSpace(s)
		}
		if _, dup := kv[k]; !dup {
			kv[k] = v
		}
		s = rest
		switch {
		case strings.HasPrefix(s, ", "):
			s = s[2:]
		case s != "":
			return kv, strings.TrimSpace(s)
		}
	}
	return kv, ""
}

// postfixSpaceFields reads "k=<v> k=v …" (postscreen separates them with
// ", "): the fields and the text after them (": 5.7.1 reason" after a
// header check's tail).
func postfixSpaceFields(s string) (map[string]string, string) {
	kv := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		k, v, rest, ok := postfixField(s, func(s string) int {
			if i := strings.IndexAny(s, " ,"); i >= 0 {
				return i
			}
			return len(s)
		})
		if !ok {
			return kv, s
		}
		if _, dup := kv[k]; !dup {
			kv[k] = v
		}
		s = rest
		if s == "" || (s[0] != ' ' && s[0] != ',') {
			return kv, s
		}
	}
}

// postfixField reads one "key=value" at the start of s. A value in angle
// brackets runs to the '>' (addresses may hold spaces and commas); any
// other ends where end says.
func postfixField(s string, end func(string) int) (k, v, rest string, ok bool) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return "", "", s, false
	}
	k = s[:eq]
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", "", s, false
		}
	}
	s = s[eq+1:]
	if strings.HasPrefix(s, "<") {
		if j := strings.IndexByte(s, '>'); j >= 0 {
			return k, s[:j+1], s[j+1:], true
		}
		return k, s, "", true
	}
	n := end(s)
	return k, s[:n], s[n:], true
}
