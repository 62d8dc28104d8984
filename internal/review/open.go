package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// EnsurePeriod opens the tenant's review of month if it is not open yet,
// and returns it. It is idempotent: an open period is returned as it is,
// and a period interrupted while opening is finished with the seed it
// recorded, so the worklist and sample are the same as they would have
// been.
func (s *Service) EnsurePeriod(ctx context.Context, db DB, month Month, by string) (Period, error) {
	p, err := s.Period(ctx, db, month.String())
	switch {
	case err == nil && p.State != PeriodOpening:
		return p, nil
	case err == nil:
		// Interrupted: finish below with the recorded seed.
	case errors.Is(err, ErrNotFound):
		st, err := s.TenantSettings(ctx, db)
		if err != nil {
			return Period{}, err
		}
		seed, err := NewSeed()
		if err != nil {
			return Period{}, fmt.Errorf("draw a sample seed: %w", err)
		}
		now := s.Now()
		p = Period{Period: month.String(), MonthStart: DateOf(month.Start()), DueDate: month.DueDate(int(st.DueDay)),
			State: PeriodOpening, Seed: seed, SampleSize: st.SampleSize, SampleMethod: SampleMethod, OpenedAt: now, OpenedBy: by,
			Action: "opening", Actor: by, Reason: "review period opened", VersionAt: now, RetainUntil: s.retainUntil(month.End())}
		if err := s.writePeriod(ctx, db, p); err != nil {
			return Period{}, err
		}
	default:
		return Period{}, err
	}
	items, err := s.buildWorklist(ctx, db, p)
	if err != nil {
		return Period{}, err
	}
	if err := s.writeItems(ctx, db, items); err != nil {
		return Period{}, err
	}
	if err := s.queueJIT(ctx, db, p, items); err != nil {
		return Period{}, err
	}
	p.State, p.Action, p.Reason = PeriodOpen, "opened", fmt.Sprintf("worklist of %d items written", len(items))
	p.VersionAt = after(p.VersionAt, s.Now())
	if err := s.writePeriod(ctx, db, p); err != nil {
		return Period{}, err
	}
	return p, nil
}

type caseRow struct {
	CaseID      string    `json:"case_id"`
	ActorID     string    `json:"actor_id"`
	ActorName   string    `json:"actor_name"`
	RiskScore   float64   `json:"risk_score"`
	MaxSeverity string    `json:"max_severity"`
	AlertIDs    []string  `json:"alert_ids"`
	Rules       []string  `json:"rules"`
	FirstSeen   time.Time `json:"first_seen"`
	Summary     string    `json:"summary"`
}

type alertRow struct {
	AlertID    string    `json:"alert_id"`
	Rule       string    `json:"rule"`
	Severity   string    `json:"severity"`
	Score      float64   `json:"score"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	PatientIDs []string  `json:"patient_ids"`
	FirstSeen  time.Time `json:"first_seen"`
	Reason     string    `json:"reason"`
}

type sampleRow struct {
	EventID   string    `json:"event_id"`
	Time      time.Time `json:"time"`
	ActorID   string    `json:"actor_id"`
	ActorName string    `json:"actor_name"`
	PatientID string    `json:"patient_id"`
	Action    string    `json:"action"`
}

// buildWorklist reads the month's open cases, the alerts outside them and
// the sample, and ranks them.
func (s *Service) buildWorklist(ctx context.Context, db DB, p Period) ([]Item, error) {
	month, err := ParseMonth(p.Period)
	if err != nil {
		return nil, err
	}
	params := store.Params{"from": chTime(month.Start()), "to": chTime(month.End()), "seed": p.Seed,
		"n": strconv.FormatUint(uint64(p.SampleSize), 10)}
	dbn := db.Database()
	var cases []caseRow
	if err := db.Select(ctx, &cases, fmt.Sprintf(`SELECT case_id, actor_id, actor_name, risk_score, max_severity, alert_ids, rules, first_seen, summary
FROM %s.cases_current
WHERE tenant_id = {tenant:String} AND status = 'open' AND first_seen < {to:DateTime64(3)} AND last_seen >= {from:DateTime64(3)}`, dbn), params); err != nil {
		return nil, fmt.Errorf("read the month's cases: %w", err)
	}
	var alerts []alertRow
	if err := db.Select(ctx, &alerts, fmt.Sprintf(`SELECT alert_id, rule, severity, score, actor_id, actor_name, patient_ids, first_seen, reason
FROM %s.alerts_current
WHERE tenant_id = {tenant:String} AND first_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)}
  AND alert_id NOT IN (SELECT alert_id FROM %s.alert_suppressions WHERE tenant_id = {tenant:String})`, dbn, dbn), params); err != nil {
		return nil, fmt.Errorf("read the month's alerts: %w", err)
	}
	var samples []sampleRow
	if p.SampleSize > 0 {
		if err := db.Select(ctx, &samples, fmt.Sprintf(`SELECT event_id, time, actor_id, actor_name, patient_id, toString(action) AS action
FROM %s.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND patient_id != ''
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND event_id NOT IN (SELECT arrayJoin(evidence_event_ids) FROM %s.alerts_current WHERE tenant_id = {tenant:String})
ORDER BY lower(hex(SHA256(concat({seed:String}, ':', event_id)))), event_id
LIMIT {n:UInt32}`, dbn, dbn), params); err != nil {
			return nil, fmt.Errorf("draw the sample of unflagged accesses: %w", err)
		}
	}
	return s.worklist(db.Tenant(), p, cases, alerts, samples), nil
}

// worklist turns the rows into ranked items.
func (s *Service) worklist(tenant string, p Period, cases []caseRow, alerts []alertRow, samples []sampleRow) []Item {
	byID := map[string]alertRow{}
	for _, a := range alerts {
		byID[a.AlertID] = a
	}
	inCase := map[string]bool{}
	base := Item{Period: p.Period, MonthStart: p.MonthStart, State: StateUnassigned, Action: "created", Actor: p.OpenedBy,
		Reason: "worklist of " + p.Period, VersionAt: p.VersionAt, RetainUntil: p.RetainUntil}
	var flagged, sampled []Item
	for _, c := range cases {
		it := base
		it.Kind, it.RefID, it.ItemID = KindCase, c.CaseID, ItemID(tenant, p.Period, KindCase, c.CaseID)
		it.RiskScore, it.Severity, it.ActorID, it.ActorName = c.RiskScore, c.MaxSeverity, c.ActorID, c.ActorName
		it.Rules, it.AlertIDs, it.Summary, it.FirstSeen = nonNil(c.Rules), nonNil(c.AlertIDs), c.Summary, c.FirstSeen
		var patients []string
		for _, id := range c.AlertIDs {
			inCase[id] = true
			for _, pid := range byID[id].PatientIDs {
				if !slices.Contains(patients, pid) {
					patients = append(patients, pid)
				}
			}
		}
		it.PatientIDs = nonNil(patients)
		flagged = append(flagged, it)
	}
	for _, a := range alerts {
		if inCase[a.AlertID] {
			continue
		}
		it := base
		it.Kind, it.RefID, it.ItemID = KindAlert, a.AlertID, ItemID(tenant, p.Period, KindAlert, a.AlertID)
		it.RiskScore, it.Severity, it.ActorID, it.ActorName = a.Score, a.Severity, a.ActorID, a.ActorName
		it.Rules, it.AlertIDs, it.PatientIDs, it.Summary, it.FirstSeen = []string{a.Rule}, []string{a.AlertID}, nonNil(a.PatientIDs), a.Reason, a.FirstSeen
		flagged = append(flagged, it)
	}
	for _, e := range samples {
		it := base
		it.Kind, it.RefID, it.ItemID = KindSample, e.EventID, ItemID(tenant, p.Period, KindSample, e.EventID)
		it.ActorID, it.ActorName, it.PatientIDs, it.FirstSeen = e.ActorID, e.ActorName, []string{e.PatientID}, e.Time
		it.Rules, it.AlertIDs = []string{}, []string{}
		// The patient stays out of the summary, which e-mails and exports
		// carry; the item's patient_ids hold it.
		it.Summary = fmt.Sprintf("sampled unflagged access: %s, %s of a patient record at %s", orName(e.ActorName, e.ActorID), e.Action, e.Time.UTC().Format(time.RFC3339))
		sampled = append(sampled, it)
	}
	return rankItems(flagged, sampled)
}

// queueJIT queues the just-in-time notice to each flagged actor, when the
// tenant has it on.
func (s *Service) queueJIT(ctx context.Context, db DB, p Period, items []Item) error {
	st, err := s.TenantSettings(ctx, db)
	if err != nil || !st.JITNotice {
		return err
	}
	var ns []Notification
	for _, it := range items {
		if it.Kind == KindSample || it.ActorID == "" {
			continue
		}
		who, err := s.person(ctx, db, it.ActorID)
		if err != nil {
			return err
		}
		ns = append(ns, Notification{NotificationID: NotificationID(db.Tenant(), NoticeJIT, p.Period, it.ActorID, it.ItemID),
			Period: p.Period, Kind: NoticeJIT, Recipient: it.ActorID, RecipientEmail: who.Email,
			Subject: "Your access to patient records is being reviewed",
			Body: fmt.Sprintf("Hello %s,\n\nAn access to patient records under your account was flagged for the privacy review of %s:\n%s\n\n"+
				"Access patient records only when your work requires it. Your privacy officer may contact you.\n", orName(who.Name, it.ActorID), p.Period, strings.ReplaceAll(strings.Join(it.Rules, ", "), "_", " "))})
	}
	return s.Queue(ctx, db, ns)
}

// person is a roster entry (name, e-mail, manager).
type person struct {
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	ManagerID string `json:"manager_id"`
}

func (s *Service) person(ctx context.Context, db DB, userID string) (person, error) {
	var out []person
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT user_id, name, email, manager_id FROM %s.workforce_current
WHERE tenant_id = {tenant:String} AND user_id = {user:String}`, db.Database()), store.Params{"user": userID})
	if err != nil {
		return person{}, fmt.Errorf("read roster entry %s: %w", userID, err)
	}
	if len(out) == 0 {
		return person{UserID: userID}, nil
	}
	return out[0], nil
}

func orName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
