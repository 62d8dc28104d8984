package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// IncidentRequest is what an "inappropriate" decision hands to incident
// handling: the item, who the access was by, which patients, and why.
type IncidentRequest struct {
	Period      string
	ItemID      string
	Kind        string
	ActorID     string
	ActorName   string
	PatientIDs  []string
	Rules       []string
	AlertIDs    []string
	Summary     string
	Reason      string
	RequestedBy string
	RequestedAt time.Time
	RetainUntil Date
}

// IncidentOpener opens an incident for an inappropriate access and returns
// its id. The compliance records (internal/records) provide the real one;
// the lead wires it in.
type IncidentOpener interface {
	OpenIncident(ctx context.Context, db DB, req IncidentRequest) (incidentID string, err error)
}

// StoreIncidents is the default opener: it records the request in
// review_incident_requests, so no inappropriate access goes unrecorded
// before incident records exist. The id is stable per item, so a retried
// decision names the same request.
type StoreIncidents struct{}

// OpenIncident records the request.
func (StoreIncidents) OpenIncident(ctx context.Context, db DB, req IncidentRequest) (string, error) {
	h := sha256.Sum256([]byte(db.Tenant() + "\x00" + req.Period + "\x00" + req.ItemID + "\x00" + req.RequestedAt.String()))
	id := "ir-" + hex.EncodeToString(h[:8])
	row := struct {
		RequestID   string    `json:"request_id"`
		Period      string    `json:"period"`
		ItemID      string    `json:"item_id"`
		ActorID     string    `json:"actor_id"`
		ActorName   string    `json:"actor_name"`
		PatientIDs  []string  `json:"patient_ids"`
		Rules       []string  `json:"rules"`
		AlertIDs    []string  `json:"alert_ids"`
		Summary     string    `json:"summary"`
		Reason      string    `json:"reason"`
		RequestedBy string    `json:"requested_by"`
		RequestedAt time.Time `json:"requested_at"`
		RetainUntil Date      `json:"retain_until"`
	}{id, req.Period, req.ItemID, req.ActorID, req.ActorName, nonNil(req.PatientIDs), nonNil(req.Rules), nonNil(req.AlertIDs),
		req.Summary, req.Reason, req.RequestedBy, req.RequestedAt, req.RetainUntil}
	if err := db.Insert(ctx, "review_incident_requests", []any{row}); err != nil {
		return "", fmt.Errorf("record incident request for item %s: %w", req.ItemID, err)
	}
	return id, nil
}

// IncidentRequestRow is a recorded request as read back.
type IncidentRequestRow struct {
	RequestID   string    `json:"request_id"`
	Period      string    `json:"period"`
	ItemID      string    `json:"item_id"`
	ActorID     string    `json:"actor_id"`
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
}

// IncidentRequests lists the requests recorded for a period.
func IncidentRequests(ctx context.Context, db DB, period string) ([]IncidentRequestRow, error) {
	var out []IncidentRequestRow
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT request_id, period, item_id, actor_id, reason, requested_by, requested_at
FROM %s.review_incident_requests WHERE tenant_id = {tenant:String} AND period = {period:String} ORDER BY requested_at`, db.Database()),
		map[string]string{"period": period})
	if err != nil {
		return nil, fmt.Errorf("read incident requests of %s: %w", period, err)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
