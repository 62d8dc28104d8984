package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// AlertFilter narrows an alert listing.
type AlertFilter struct {
	From, To    time.Time
	MinSeverity string // "", low, medium, high, critical
	Rule        string
	Limit       int
	Offset      int
}

// Alert is an alert as the API shows it.
type Alert struct {
	AlertID          string    `json:"alert_id"`
	Rule             string    `json:"rule"`
	Severity         string    `json:"severity"`
	Score            float64   `json:"score"`
	ActorID          string    `json:"actor_id"`
	ActorName        string    `json:"actor_name"`
	ActorRole        string    `json:"actor_role"`
	PatientIDs       []string  `json:"patient_ids"`
	FirstSeen        time.Time `json:"first_seen"`
	LastSeen         time.Time `json:"last_seen"`
	Reason           string    `json:"reason"`
	EvidenceEventIDs []string  `json:"evidence_event_ids"`
	EvidenceCount    uint32    `json:"evidence_count"`
	Explanations     []string  `json:"explanations"`
	DetectorVersion  string    `json:"detector_version"`
	DetectedAt       time.Time `json:"detected_at"`
	// SuppressedBy are the suppressions (not revoked) that matched the
	// alert: why it is quiet. Empty for an alert on the worklist.
	SuppressedBy []SuppressedBy `json:"suppressed_by"`
}

// SuppressedBy is a suppression that matched an alert.
type SuppressedBy struct {
	SuppressionID string    `json:"suppression_id"`
	Reason        string    `json:"reason"`
	CreatedBy     string    `json:"created_by"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// alertColumns are the columns an Alert is read from.
const alertColumns = `alert_id, rule, severity, score, actor_id, actor_name, actor_role, patient_ids, first_seen, last_seen,
       reason, evidence_event_ids, evidence_count, explanations, detector_version, detected_at`

// addSuppressions fills in SuppressedBy from the record of matches
// (alert_suppressions) and the suppressions still in force.
func addSuppressions(ctx context.Context, q *store.TenantStore, alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.AlertID
	}
	var rows []struct {
		AlertID string `json:"alert_id"`
		SuppressedBy
	}
	err := q.Select(ctx, &rows, fmt.Sprintf(`
SELECT m.alert_id AS alert_id, s.suppression_id AS suppression_id, s.reason AS reason, s.created_by AS created_by, s.expires_at AS expires_at
FROM (SELECT DISTINCT alert_id, suppression_id FROM %[1]s.alert_suppressions
      WHERE tenant_id = {tenant:String} AND alert_id IN {ids:Array(String)}) AS m
INNER JOIN (SELECT suppression_id, reason, created_by, expires_at FROM %[1]s.suppressions_current
            WHERE tenant_id = {tenant:String} AND NOT revoked) AS s ON m.suppression_id = s.suppression_id
ORDER BY alert_id, suppression_id`, q.Database()), store.Params{"ids": chStrings(ids)})
	if err != nil {
		return fmt.Errorf("read the suppressions of the alerts: %w", err)
	}
	by := map[string][]SuppressedBy{}
	for _, r := range rows {
		by[r.AlertID] = append(by[r.AlertID], r.SuppressedBy)
	}
	for i := range alerts {
		alerts[i].SuppressedBy = by[alerts[i].AlertID]
		if alerts[i].SuppressedBy == nil {
			alerts[i].SuppressedBy = []SuppressedBy{}
		}
	}
	return nil
}

// chStrings renders a ClickHouse Array(String) parameter value.
func chStrings(ss []string) string {
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = "'" + q.Replace(s) + "'"
	}
	return "[" + strings.Join(parts, ",") + "]"
}

var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// listAlerts reads one page of a tenant's current alerts, most severe and
// most recent first. The tenant is always a bound parameter.
func listAlerts(ctx context.Context, q *store.TenantStore, f AlertFilter) ([]Alert, error) {
	where := []string{"tenant_id = {tenant:String}", "first_seen >= {from:DateTime64(3)}", "first_seen < {to:DateTime64(3)}"}
	p := store.Params{"from": chTime(f.From), "to": chTime(f.To),
		"limit": strconv.Itoa(f.Limit), "offset": strconv.Itoa(f.Offset)}
	if f.MinSeverity != "" {
		var levels []string
		for s, r := range severityRank {
			if r >= severityRank[f.MinSeverity] {
				levels = append(levels, "'"+s+"'")
			}
		}
		where = append(where, "severity IN ("+strings.Join(levels, ",")+")")
	}
	if f.Rule != "" {
		where = append(where, "rule = {rule:String}")
		p["rule"] = f.Rule
	}
	var out []Alert
	err := q.Select(ctx, &out, fmt.Sprintf(`
SELECT %s
FROM %s.alerts_current
WHERE %s
ORDER BY multiIf(severity = 'critical', 4, severity = 'high', 3, severity = 'medium', 2, 1) DESC, first_seen DESC, alert_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}`, alertColumns, q.Database(), strings.Join(where, " AND ")), p)
	if err != nil {
		return nil, err
	}
	return out, addSuppressions(ctx, q, out)
}

// EventFilter narrows an event listing: by actor or by patient.
type EventFilter struct {
	From, To       time.Time
	Actor, Patient string
	// PatientRef selects a patient by the opaque reference of mask.go
	// (keyed by MaskKey) instead of Patient.
	PatientRef    string
	MaskKey       []byte
	Limit, Offset int
}

// Event is an access event as the API shows it (raw record left out).
type Event struct {
	EventID      string            `json:"event_id"`
	Time         time.Time         `json:"time"`
	SourceKind   string            `json:"source_kind"`
	SourceSystem string            `json:"source_system"`
	ActorID      string            `json:"actor_id"`
	ActorName    string            `json:"actor_name"`
	ActorRole    string            `json:"actor_role"`
	Action       string            `json:"action"`
	Outcome      string            `json:"outcome"`
	PatientID    string            `json:"patient_id"`
	ResourceType string            `json:"resource_type"`
	ResourceID   string            `json:"resource_id"`
	ClientIP     string            `json:"client_ip"`
	Device       string            `json:"device"`
	PurposeOfUse string            `json:"purpose_of_use"`
	BreakGlass   bool              `json:"break_glass"`
	Attrs        map[string]string `json:"attrs"`
}

func listEvents(ctx context.Context, q *store.TenantStore, f EventFilter) ([]Event, error) {
	where := []string{"tenant_id = {tenant:String}", "time >= {from:DateTime64(3)}", "time < {to:DateTime64(3)}"}
	p := store.Params{"from": chTime(f.From), "to": chTime(f.To),
		"limit": strconv.Itoa(f.Limit), "offset": strconv.Itoa(f.Offset)}
	if f.Actor != "" {
		where = append(where, "actor_id = {actor:String}")
		p["actor"] = f.Actor
	}
	if f.Patient != "" {
		where = append(where, "patient_id = {patient:String}")
		p["patient"] = f.Patient
	}
	if f.PatientRef != "" {
		where = append(where, "patient_id != ''", refExpr("patient_id")+" = {patient_ref:String}")
		p["patient_ref"], p["mask_key"] = f.PatientRef, hex.EncodeToString(f.MaskKey)
	}
	var out []Event
	err := q.Select(ctx, &out, fmt.Sprintf(`
SELECT event_id, time, source_kind, source_system, actor_id, actor_name, actor_role, action, outcome,
       patient_id, resource_type, resource_id, client_ip, device, purpose_of_use, break_glass, attrs
FROM %s.events
WHERE %s
ORDER BY time DESC, event_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}`, q.Database(), strings.Join(where, " AND ")), p)
	return out, err
}

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
