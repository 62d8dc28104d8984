package records

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/review"
)

// ReviewIncidents opens an incident for each access a reviewer decides was
// inappropriate: the review workflow's review.IncidentOpener. The
// incident's id derives from the review period and item, so a retried
// decision finds the same incident; its discovery date is the decision's
// day, when the workforce first knew.
type ReviewIncidents struct{}

var _ review.IncidentOpener = ReviewIncidents{}

// OpenIncident implements review.IncidentOpener.
func (ReviewIncidents) OpenIncident(ctx context.Context, db review.DB, req review.IncidentRequest) (string, error) {
	at := req.RequestedAt
	if at.IsZero() {
		at = time.Now()
	}
	summary := req.Summary
	if summary == "" {
		summary = fmt.Sprintf("Inappropriate access by %s found in the %s log review", orDash(joinNonEmpty(req.ActorName, req.ActorID)), req.Period)
	}
	var details []string
	if req.Reason != "" {
		details = append(details, "Reviewer's reason: "+req.Reason)
	}
	if len(req.Rules) > 0 {
		details = append(details, "Rules: "+strings.Join(req.Rules, ", "))
	}
	if len(req.AlertIDs) > 0 {
		details = append(details, "Alerts: "+strings.Join(req.AlertIDs, ", "))
	}
	if len(details) > 0 {
		summary += "\n" + strings.Join(details, "\n")
	}
	return OpenIncident(ctx, db, IncidentRequest{Source: SourceReview, SourceID: req.Period + "." + req.ItemID, Summary: summary,
		Actor: req.RequestedBy, PatientIDs: req.PatientIDs, OpenedBy: req.RequestedBy, Discovered: DateOf(at)}, at)
}
