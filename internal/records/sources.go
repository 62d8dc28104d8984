package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence"
	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
)

// EvidenceSource adds another workflow's evidence to a binder: the monthly
// log review and the access recertification keep their own tables.
type EvidenceSource interface {
	BinderFiles(ctx context.Context, db DB, from, to Date) ([]EvidenceFile, error)
}

// EvidenceFile is one file an EvidenceSource adds.
type EvidenceFile struct {
	Name  string
	Title string
	Count int // rows, or -1 for a document
	Body  []byte
}

// ReviewEvidence is the monthly log reviews whose month starts in the
// period: a summary of each period (state, due day, sign-off, on time),
// and each period's evidence CSV and PDF report as the review exports them.
type ReviewEvidence struct{ Service *review.Service }

// BinderFiles implements EvidenceSource.
func (r ReviewEvidence) BinderFiles(ctx context.Context, db DB, from, to Date) ([]EvidenceFile, error) {
	rdb, ok := db.(review.DB)
	if !ok || r.Service == nil {
		return nil, errors.New("review evidence: needs the review service and a store that runs statements")
	}
	periods, err := r.Service.Periods(ctx, rdb)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	var files []EvidenceFile
	for _, p := range periods {
		start, err := ParseDate(string(p.MonthStart))
		if err != nil || start.Before(from) || start.After(to) {
			continue
		}
		signed, onTime := "", ""
		if p.SignedOffAt != nil {
			signed = p.SignedOffAt.UTC().Format(time.RFC3339)
			due, _ := ParseDate(string(p.DueDate))
			onTime = strconv.FormatBool(!DateOf(*p.SignedOffAt).After(due))
		}
		rows = append(rows, []string{p.Period, p.State, string(p.DueDate), p.SignedOffBy, signed, onTime, strconv.Itoa(int(p.Amendments))})
		var csvBuf, pdfBuf bytes.Buffer
		if err := r.Service.ExportCSV(ctx, rdb, p.Period, &csvBuf); err != nil {
			return nil, err
		}
		if err := r.Service.ExportPDF(ctx, rdb, p.Period, &pdfBuf); err != nil {
			return nil, err
		}
		files = append(files,
			EvidenceFile{Name: "review/" + p.Period + ".csv", Title: "Log review " + p.Period + ": every item and decision", Count: bytes.Count(csvBuf.Bytes(), []byte("\n")) - 1, Body: csvBuf.Bytes()},
			EvidenceFile{Name: "review/" + p.Period + ".pdf", Title: "Log review " + p.Period + ": report", Count: -1, Body: pdfBuf.Bytes()})
	}
	var sum bytes.Buffer
	if err := evidence.WriteCSV(&sum, []string{"period", "state", "due", "signed_off_by", "signed_off_at", "on_time", "amendments"}, orEmpty(rows)); err != nil {
		return nil, err
	}
	return append([]EvidenceFile{{Name: "review/periods.csv", Title: "Monthly log reviews of the period", Count: len(rows), Body: sum.Bytes()}}, files...), nil
}

// RecertEvidence is the access recertification campaigns due in the
// period: a summary and each campaign's evidence CSV.
type RecertEvidence struct{}

// BinderFiles implements EvidenceSource.
func (RecertEvidence) BinderFiles(ctx context.Context, db DB, from, to Date) ([]EvidenceFile, error) {
	cs, err := recert.List(ctx, db)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	var files []EvidenceFile
	for _, c := range cs {
		due, err := ParseDate(c.DueDate)
		if err != nil || due.Before(from) || due.After(to.AddDays(90)) {
			continue // a campaign of the period's last quarter may fall due after it
		}
		signed := ""
		if c.SignedOffAt != nil {
			signed = c.SignedOffAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{c.CampaignID, c.Quarter, c.Status, c.DueDate, c.SignedOffBy, signed})
		items, err := recert.Items(ctx, db, c.CampaignID, recert.ItemFilter{})
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := recert.WriteCSV(&buf, c, items); err != nil {
			return nil, fmt.Errorf("recertification evidence of %s: %w", c.CampaignID, err)
		}
		files = append(files, EvidenceFile{Name: "recert/" + c.CampaignID + ".csv", Title: "Recertification " + c.Quarter + ": every account and decision",
			Count: len(items), Body: buf.Bytes()})
	}
	var sum bytes.Buffer
	if err := evidence.WriteCSV(&sum, []string{"campaign", "quarter", "status", "due", "signed_off_by", "signed_off_at"}, orEmpty(rows)); err != nil {
		return nil, err
	}
	return append([]EvidenceFile{{Name: "recert/campaigns.csv", Title: "Access recertification campaigns of the period", Count: len(rows), Body: sum.Bytes()}}, files...), nil
}
