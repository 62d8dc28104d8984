package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Record kinds of patient rights.
const (
	KindPatientRequest Kind = "patient_request"
	KindDisclosure     Kind = "disclosure"
)

// Patient request types.
const (
	RequestAccess                    = "access"                     // 164.524
	RequestAmendment                 = "amendment"                  // 164.526
	RequestRestriction               = "restriction"                // 164.522(a)
	RequestConfidentialCommunication = "confidential_communication" // 164.522(b)
)

// Patient request deadlines, in calendar days from receipt.
const (
	AccessDays         = 30 // 164.524(b)(2)
	AmendmentDays      = 60 // 164.526(b)(2)
	ExtensionDays      = 30 // one extension each, 164.524(b)(2)(iii), 164.526(b)(2)(ii)
	DefaultPolicyDays  = 30 // restriction and confidential communication: no deadline in the rule; the practice's own
	AccountingDays     = 60 // 164.528(c)(1), with one 30-day extension
	AccountingMaxYears = 6  // 164.528(a)
)

// PatientRequest is a request by a patient under the Privacy Rule and what
// became of it.
type PatientRequest struct {
	Type      string `json:"type"`
	PatientID string `json:"patient_id"`
	Received  Date   `json:"received"`
	Details   string `json:"details,omitempty"`
	Handler   string `json:"handler,omitempty"`
	// Extended: the one extension, with its reason, notified in writing
	// within the first period.
	Extended          bool   `json:"extended,omitempty"`
	ExtensionReason   string `json:"extension_reason,omitempty"`
	ExtensionNotified Date   `json:"extension_notified,omitzero"`
	// PolicyDays is the practice's own deadline for restriction and
	// confidential-communication requests (default 30).
	PolicyDays int `json:"policy_days,omitempty"`
	// SelfPayToHealthPlan: a restriction of disclosures to a health plan of
	// items paid for in full out of pocket, which must be agreed (164.522(a)(1)(vi)).
	SelfPayToHealthPlan bool   `json:"self_pay_to_health_plan,omitempty"`
	Status              string `json:"status"` // open, granted, partially_granted, denied, withdrawn
	Outcome             string `json:"outcome,omitempty"`
	DecidedOn           Date   `json:"decided_on,omitzero"`
}

// Kind implements Body.
func (PatientRequest) Kind() Kind { return KindPatientRequest }

// Due is the last day to act on the request.
func (r PatientRequest) Due() Date {
	days := 0
	switch r.Type {
	case RequestAccess:
		days = AccessDays
	case RequestAmendment:
		days = AmendmentDays
	default:
		days = r.PolicyDays
		if days == 0 {
			days = DefaultPolicyDays
		}
	}
	if r.Extended {
		days += ExtensionDays
	}
	return r.Received.AddDays(days)
}

// Rule is the citation of the request's deadline.
func (r PatientRequest) Rule() string {
	switch r.Type {
	case RequestAccess:
		return "45 CFR 164.524(b)(2)"
	case RequestAmendment:
		return "45 CFR 164.526(b)(2)"
	}
	return "practice policy (45 CFR 164.522 sets no deadline)"
}

// Validate implements Body.
func (r PatientRequest) Validate() error {
	switch r.Type {
	case RequestAccess, RequestAmendment, RequestRestriction, RequestConfidentialCommunication:
	default:
		return fmt.Errorf("type %q: want access, amendment, restriction or confidential_communication", r.Type)
	}
	if r.PatientID == "" {
		return errors.New("a request needs the patient id")
	}
	if r.Received.IsZero() {
		return errors.New("a request needs the day it was received: its deadline runs from it")
	}
	if r.PolicyDays < 0 || r.PolicyDays > 365 {
		return errors.New("policy_days must be from 1 to 365")
	}
	if r.Extended {
		if r.Type != RequestAccess && r.Type != RequestAmendment {
			return errors.New("only access and amendment requests can be extended")
		}
		if strings.TrimSpace(r.ExtensionReason) == "" || r.ExtensionNotified.IsZero() {
			return errors.New("an extension needs its reason and the day the patient was told in writing")
		}
		first := PatientRequest{Type: r.Type, Received: r.Received}.Due()
		if r.ExtensionNotified.After(first) {
			return fmt.Errorf("the extension must be notified within the first period, by %s", first)
		}
	}
	switch r.Status {
	case "open":
	case "granted", "partially_granted", "denied", "withdrawn":
		if r.DecidedOn.IsZero() {
			return fmt.Errorf("a request %s needs the day it was decided", r.Status)
		}
		if r.DecidedOn.Before(r.Received) {
			return errors.New("a request cannot be decided before it was received")
		}
		if (r.Status == "denied" || r.Status == "partially_granted") && strings.TrimSpace(r.Outcome) == "" {
			return errors.New("a denial needs its basis in the outcome (164.524(d)(2), 164.526(d)(1))")
		}
		if r.Status == "denied" && r.Type == RequestRestriction && r.SelfPayToHealthPlan {
			return errors.New("a restriction of disclosures to a health plan for care paid in full out of pocket must be agreed (164.522(a)(1)(vi))")
		}
	default:
		return fmt.Errorf("status %q: want open, granted, partially_granted, denied or withdrawn", r.Status)
	}
	return nil
}

// RequestsDue lists the open requests as due items.
func RequestsDue(reqs []Versioned[PatientRequest], day Date) []DueItem {
	var out []DueItem
	for _, v := range reqs {
		if v.Body.Status == "open" {
			out = append(out, dueItem(KindPatientRequest, v.ID, v.Body.Type+" request of patient "+v.Body.PatientID, v.Body.Handler, v.Body.Due(), day))
		}
	}
	return out
}

// Disclosure is a disclosure of a patient's PHI recorded by hand, with the
// content of an accounting entry (164.528(b)(2)).
type Disclosure struct {
	PatientID        string `json:"patient_id"`
	DisclosedOn      Date   `json:"disclosed_on"`
	Recipient        string `json:"recipient"`
	RecipientAddress string `json:"recipient_address,omitempty"`
	Description      string `json:"description"` // the PHI disclosed
	Purpose          string `json:"purpose"`     // or a copy of the request
	// Accountable is false for disclosures the accounting excludes
	// (164.528(a)(1): treatment, payment, operations, to the patient, by
	// authorization…), kept for the record.
	Accountable bool `json:"accountable"`
}

// Kind implements Body.
func (Disclosure) Kind() Kind { return KindDisclosure }

// Validate implements Body.
func (x Disclosure) Validate() error {
	if x.PatientID == "" || x.DisclosedOn.IsZero() {
		return errors.New("a disclosure needs the patient id and the day it was made")
	}
	if strings.TrimSpace(x.Recipient) == "" || strings.TrimSpace(x.Description) == "" || strings.TrimSpace(x.Purpose) == "" {
		return errors.New("a disclosure needs the recipient, a description of the PHI and the purpose (164.528(b)(2))")
	}
	return nil
}

// AccountingEntry is one line of an accounting of disclosures.
type AccountingEntry struct {
	Date        Date      `json:"date"`
	Time        time.Time `json:"time,omitzero"`
	Recipient   string    `json:"recipient"`
	Description string    `json:"description"`
	Purpose     string    `json:"purpose"`
	// Source is "recorded" (a disclosure record) or "log" (an event the
	// logs show left the practice: to be reviewed before it is given to
	// the patient, since the log cannot tell a treatment disclosure or one
	// to the patient from an accountable one).
	Source   string `json:"source"`
	RecordID string `json:"record_id,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	Actor    string `json:"actor,omitempty"`
}

// Accounting is the accounting of disclosures of a patient's PHI over the
// years (at most 6) up to asOf: accountable recorded disclosures, and the
// events in the logs that show PHI leaving the practice (exports, mail
// sent or forwarded outside, or a purpose of use that is not treatment,
// payment or operations).
func Accounting(ctx context.Context, db DB, patient string, asOf Date, years int) ([]AccountingEntry, error) {
	if patient == "" {
		return nil, errors.New("the accounting needs a patient id")
	}
	if years < 1 || years > AccountingMaxYears {
		return nil, fmt.Errorf("an accounting covers 1 to %d years (164.528(a))", AccountingMaxYears)
	}
	from := asOf.Time().AddDate(-years, 0, 0)
	to := asOf.AddDays(1).Time()
	var out []AccountingEntry
	recorded, err := List[Disclosure](ctx, db)
	if err != nil {
		return nil, err
	}
	for _, v := range recorded {
		x := v.Body
		if x.PatientID != patient || !x.Accountable || x.DisclosedOn.Time().Before(from) || !x.DisclosedOn.Time().Before(to) {
			continue
		}
		out = append(out, AccountingEntry{Date: x.DisclosedOn, Recipient: joinNonEmpty(x.Recipient, x.RecipientAddress),
			Description: x.Description, Purpose: x.Purpose, Source: "recorded", RecordID: v.ID})
	}
	var evs []struct {
		EventID    string    `json:"event_id"`
		Time       time.Time `json:"time"`
		ActorID    string    `json:"actor_id"`
		Action     string    `json:"action"`
		Resource   string    `json:"resource_type"`
		Purpose    string    `json:"purpose_of_use"`
		Recipients []string  `json:"email_recipients"`
		Device     string    `json:"device"`
		Source     string    `json:"source_system"`
	}
	err = db.Select(ctx, &evs, `
SELECT event_id, time, actor_id, action, resource_type, purpose_of_use, email_recipients, device, source_system
FROM `+db.Database()+`.events
WHERE tenant_id = {tenant:String} AND patient_id = {patient:String}
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND outcome != 'failure'
  AND (action IN ('export', 'send', 'forward') OR email_external
       OR (purpose_of_use != '' AND purpose_of_use NOT IN ('TREAT', 'ETREAT', 'BTG', 'ERTREAT', 'CAREMGT', 'CLINTRCH', 'HPAYMT', 'HOPERAT', 'PATRQT', 'PATADMIN')))
ORDER BY time, event_id
LIMIT `+fmt.Sprint(accountingEventLimit+1), store.Params{"patient": patient, "from": chTime(from), "to": chTime(to)})
	if err != nil {
		return nil, fmt.Errorf("read the disclosure events of the patient: %w", err)
	}
	if len(evs) > accountingEventLimit {
		return nil, fmt.Errorf("%w: more than %d disclosure events for the patient: shorten the period (years)", ErrInvalid, accountingEventLimit)
	}
	for _, e := range evs {
		rcpt := strings.Join(e.Recipients, ", ")
		if rcpt == "" {
			rcpt = "not in the log (" + joinNonEmpty(e.Device, e.Source) + ")"
		}
		purpose := e.Purpose
		if purpose == "" {
			purpose = "not in the log"
		}
		out = append(out, AccountingEntry{Date: DateOf(e.Time), Time: e.Time.UTC(), Recipient: rcpt,
			Description: e.Action + " of " + orDash(e.Resource), Purpose: purpose, Source: "log", EventID: e.EventID, Actor: e.ActorID})
	}
	slices.SortStableFunc(out, func(a, b AccountingEntry) int { return a.Date.Time().Compare(b.Date.Time()) })
	return out, nil
}

// accountingEventLimit bounds the log events one accounting reads; an
// accounting never silently leaves events out.
const accountingEventLimit = 10000

// AccessEntry is one access to a patient's record in the EHR.
type AccessEntry struct {
	Time       time.Time `json:"time"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	ActorRole  string    `json:"actor_role"`
	Action     string    `json:"action"`
	Outcome    string    `json:"outcome"`
	Resource   string    `json:"resource_type"`
	Purpose    string    `json:"purpose_of_use"`
	BreakGlass bool      `json:"break_glass"`
	Device     string    `json:"device"`
	ClientIP   string    `json:"client_ip"`
	Source     string    `json:"source_name"`
	EventID    string    `json:"event_id"`
}

// AccessReportLimit bounds one access report.
const AccessReportLimit = 50000

// AccessReport lists who touched a patient's record in the EHR in [from,
// to), oldest first: the report a patient may ask for, straight from the
// logged events.
func AccessReport(ctx context.Context, db DB, patient string, from, to time.Time) ([]AccessEntry, error) {
	if patient == "" {
		return nil, errors.New("the access report needs a patient id")
	}
	if !from.Before(to) {
		return nil, errors.New("the access report's from must be before its to")
	}
	var out []AccessEntry
	err := db.Select(ctx, &out, `
SELECT time, actor_id, actor_name, actor_role, action, outcome, resource_type, purpose_of_use, break_glass, device, client_ip, source_name, event_id
FROM `+db.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND patient_id = {patient:String}
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
ORDER BY time, event_id
LIMIT `+fmt.Sprint(AccessReportLimit), store.Params{"patient": patient, "from": chTime(from), "to": chTime(to)})
	if err != nil {
		return nil, fmt.Errorf("read the accesses to the patient's record: %w", err)
	}
	return out, nil
}

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
