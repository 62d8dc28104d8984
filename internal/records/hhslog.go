package records

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// HHSLog is the year's breaches of fewer than 500 individuals, which a
// covered entity reports to HHS together within 60 days after the year
// ends (164.408(c)): breaches determined as such whose clock started in
// year, in discovery order. Breaches still being assessed are left out
// (they are in the reminders), as are those reported at once.
func HHSLog(incidents []Versioned[Incident], year int) []Versioned[Incident] {
	var out []Versioned[Incident]
	for _, v := range incidents {
		in := v.Body
		if in.Determination != DeterminationBreach || in.Role == BusinessAssociate || in.Affected >= HHSImmediateAtLeast {
			continue
		}
		if in.clockInput().ClockStart().Year() == year {
			out = append(out, v)
		}
	}
	slicesSortByDiscovery(out)
	return out
}

// HHSLogHeader is the export's columns: what the HHS breach portal asks for
// of each breach.
var HHSLogHeader = []string{"incident_id", "discovered", "breach_start", "breach_end", "individuals_affected",
	"breach_type", "location_of_phi", "safeguards_in_place", "individual_notice_sent", "media_notice_sent",
	"actions_taken", "summary"}

// WriteHHSLogCSV writes the annual log of year as CSV.
func WriteHHSLogCSV(w io.Writer, incidents []Versioned[Incident], year int) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(HHSLogHeader); err != nil {
		return err
	}
	for _, v := range HHSLog(incidents, year) {
		in := v.Body
		var indiv, media []string
		for _, n := range in.Notices {
			switch n.Kind {
			case NoticeIndividual:
				indiv = append(indiv, n.SentOn.String())
			case NoticeMedia:
				media = append(media, n.State+" "+n.SentOn.String())
			}
		}
		rec := []string{v.ID, in.clockInput().ClockStart().String(), in.BreachStart.String(), in.BreachEnd.String(),
			strconv.Itoa(in.Affected), in.BreachType, in.Location, in.Safeguards, strings.Join(indiv, "; "),
			strings.Join(media, "; "), in.ActionsTaken, in.Summary}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write the HHS breach log: %w", err)
	}
	return nil
}

func slicesSortByDiscovery(xs []Versioned[Incident]) {
	slices.SortStableFunc(xs, func(a, b Versioned[Incident]) int {
		if c := a.Body.clockInput().ClockStart().Time().Compare(b.Body.clockInput().ClockStart().Time()); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
