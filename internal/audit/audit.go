// Package audit is phiwatch's self-audit: who used the API to look at what,
// when and why, written to the append-only audit_log table
// (docs/security.md). The API records every request to a tenant route
// (Middleware) and handlers record the patient-data actions explicitly
// (Note); a Note that cannot be stored makes the handler answer 503
// instead of the data, so nothing is seen without its record.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Entry is one row of the audit trail.
type Entry struct {
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`     // "" for actions outside a tenant (login, global token admin, probes of unknown tenants)
	Subject   string    `json:"subject"`    // principal subject: "token:<name>", "<iss>|<sub>"
	Name      string    `json:"actor_name"` // display name or token name
	Role      string    `json:"role"`
	Via       string    `json:"via"`    // token, oidc, session
	Action    string    `json:"action"` // one of the Action constants, or a feature's own "<noun>.<verb>"
	Target    string    `json:"target"` // what the action was about: patient id, case id, period, token id
	Reason    string    `json:"reason"`
	Method    string    `json:"method"`
	Route     string    `json:"route"` // the route pattern, e.g. /api/v1/tenants/:tenant/alerts
	Path      string    `json:"path"`  // the concrete path
	Status    int       `json:"status"`
	ClientIP  string    `json:"client_ip"`     // the peer address
	Forwarded string    `json:"forwarded_for"` // X-Forwarded-For as sent (untrusted)
	UserAgent string    `json:"user_agent"`
	RequestID string    `json:"request_id"`
	EntryID   string    `json:"entry_id"` // set by the auditor when empty
}

// Auditor stores entries. Record returns an error when the entry was not
// stored: callers guarding patient data fail closed on it.
type Auditor interface {
	Record(ctx context.Context, e Entry) error
}

// Actions recorded explicitly, besides the per-request ActionRequest.
const (
	ActionRequest        = "request"         // every request to a tenant route
	ActionRevealPHI      = "phi.reveal"      // one patient's name/MRN/birth date unmasked
	ActionReadEvents     = "events.read"     // raw access events listed
	ActionAuditExport    = "audit.export"    // the audit trail exported
	ActionEvidenceExport = "evidence.export" // review or recertification evidence exported
	ActionLogin          = "login"           // a session started
	ActionLoginFailed    = "login.failed"    // a login was refused
	ActionLogout         = "logout"          // a session ended
	ActionTokenCreate    = "token.create"    // an API token issued
	ActionTokenRevoke    = "token.revoke"    // an API token revoked
	ActionGrantChange    = "grant.change"    // a role grant added or changed
	ActionGrantRevoke    = "grant.revoke"    // a role grant removed
)

// Field limits: what a caller controls (user agent, reason, path) is cut so
// one request cannot bloat the trail.
const (
	maxReason = 2000
	maxField  = 512
)

// StoreAuditor writes entries to the audit_log table, one INSERT per
// entry, synchronously: when Record returns nil the row is stored.
type StoreAuditor struct {
	q   store.Querier
	now func() time.Time
}

// NewStoreAuditor writes to q's database.
func NewStoreAuditor(q store.Querier) *StoreAuditor {
	return &StoreAuditor{q: q, now: time.Now}
}

// Record inserts e.
func (a *StoreAuditor) Record(ctx context.Context, e Entry) error {
	return a.RecordBatch(ctx, []Entry{e})
}

// RecordBatch inserts entries in one statement. Values travel as query
// parameters (one array per column), never spliced into the statement, so
// a reason or user agent cannot change it.
func (a *StoreAuditor) RecordBatch(ctx context.Context, entries []Entry) error {
	if a == nil || a.q == nil {
		return errors.New("audit: no store")
	}
	if len(entries) == 0 {
		return nil
	}
	cols := make([][]string, len(auditColumns))
	var status []string
	for _, e := range entries {
		if e.Action == "" {
			return errors.New("audit: entry has no action")
		}
		if e.Time.IsZero() {
			e.Time = a.now()
		}
		if e.EntryID == "" {
			e.EntryID = NewID()
		}
		for i, v := range []string{cut(e.Tenant, 128), store.TimeParam(e.Time), cut(e.EntryID, 64), cut(e.Subject, maxField),
			cut(e.Name, maxField), cut(e.Role, 64), cut(e.Via, 32), cut(e.Action, 64), cut(e.Target, maxField), cut(e.Reason, maxReason),
			cut(e.Method, 16), cut(e.Route, maxField), cut(e.Path, maxField), "", cut(e.ClientIP, 64), cut(e.Forwarded, maxField),
			cut(e.UserAgent, maxField), cut(e.RequestID, 128)} {
			cols[i] = append(cols[i], v)
		}
		status = append(status, strconv.Itoa(max(0, min(e.Status, 65535))))
	}
	p := store.Params{}
	args := make([]string, len(auditColumns))
	sel := make([]string, len(auditColumns))
	for i, c := range auditColumns {
		switch c {
		case "status":
			p["a_"+c] = "[" + strings.Join(status, ",") + "]"
			args[i] = "{a_status:Array(UInt16)}"
		default:
			p["a_"+c] = store.ArrayParam(cols[i])
			args[i] = "{a_" + c + ":Array(String)}"
		}
		sel[i] = fmt.Sprintf("r.%d", i+1)
		if c == "time" {
			sel[i] = fmt.Sprintf("toDateTime64(r.%d, 3, 'UTC')", i+1)
		}
	}
	sql := fmt.Sprintf("INSERT INTO %s.audit_log (%s)\nSELECT %s\nFROM (SELECT arrayJoin(arrayZip(%s)) AS r)",
		a.q.Database(), strings.Join(auditColumns, ", "), strings.Join(sel, ", "), strings.Join(args, ", "))
	if err := a.q.Exec(ctx, sql, p); err != nil {
		return fmt.Errorf("write %d audit entries (%s %s): %w", len(entries), entries[0].Action, entries[0].Route, err)
	}
	return nil
}

// auditColumns are the columns RecordBatch writes, in its order.
var auditColumns = []string{"tenant_id", "time", "entry_id", "subject", "actor_name", "role", "via", "action", "target", "reason",
	"method", "route", "path", "status", "client_ip", "forwarded_for", "user_agent", "request_id"}

// NewID is a random 128-bit hex id for entries and requests.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// cut shortens s to at most n bytes on a rune boundary and drops invalid
// UTF-8 and NUL bytes.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
