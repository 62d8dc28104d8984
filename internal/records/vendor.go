package records

import (
	"errors"
	"fmt"
	"strings"
)

// KindVendor is the record kind of business associates (164.308(b), 164.504(e)).
const KindVendor Kind = "vendor"

// BAARenewalWindow is how many days before a BAA expires it is listed for renewal.
const BAARenewalWindow = 60

// Vendor is a business associate: what PHI it handles, its agreement and
// what happened to the data when it ended.
type Vendor struct {
	Name         string   `json:"name"`
	Services     string   `json:"services"`
	PHI          string   `json:"phi"` // what PHI it creates, receives, keeps or sends
	Systems      []string `json:"systems,omitempty"`
	Contact      string   `json:"contact,omitempty"`
	BAAStatus    string   `json:"baa_status"` // none, requested, signed, expired, terminated
	BAASigned    Date     `json:"baa_signed,omitzero"`
	BAAExpires   Date     `json:"baa_expires,omitzero"` // zero: no end date (evergreen)
	ReviewDue    Date     `json:"review_due,omitzero"`
	DueDiligence string   `json:"due_diligence,omitempty"` // security questionnaire, SOC 2, notes
	Owner        string   `json:"owner,omitempty"`
	TerminatedOn Date     `json:"terminated_on,omitzero"`
	// DataDisposition at termination (164.504(e)(2)(ii)(J)): returned,
	// destroyed, or infeasible (protections extended to what is kept).
	DataDisposition   string `json:"data_disposition,omitempty"`
	DataDispositionOn Date   `json:"data_disposition_on,omitzero"`
}

// Kind implements Body.
func (Vendor) Kind() Kind { return KindVendor }

// Validate implements Body.
func (v Vendor) Validate() error {
	if strings.TrimSpace(v.Name) == "" || strings.TrimSpace(v.Services) == "" || strings.TrimSpace(v.PHI) == "" {
		return errors.New("a business associate needs a name, its services and the PHI it handles")
	}
	switch v.BAAStatus {
	case "none", "requested":
	case "signed", "expired":
		if v.BAASigned.IsZero() {
			return errors.New("a signed BAA needs the day it was signed")
		}
		if !v.BAAExpires.IsZero() && v.BAAExpires.Before(v.BAASigned) {
			return errors.New("a BAA cannot expire before it was signed")
		}
	case "terminated":
		if v.TerminatedOn.IsZero() {
			return errors.New("a terminated BAA needs the termination day")
		}
		switch v.DataDisposition {
		case "returned", "destroyed", "infeasible":
		case "":
			return errors.New("at termination the PHI is returned or destroyed, or protections extended if infeasible (164.504(e)(2)(ii)(J)): record which")
		default:
			return fmt.Errorf("data_disposition %q: want returned, destroyed or infeasible", v.DataDisposition)
		}
		if v.DataDisposition != "infeasible" && v.DataDispositionOn.IsZero() {
			return fmt.Errorf("record the day the PHI was %s", v.DataDisposition)
		}
	default:
		return fmt.Errorf("baa_status %q: want none, requested, signed, expired or terminated", v.BAAStatus)
	}
	return nil
}

// Current reports whether the vendor has a BAA in force on day.
func (v Vendor) Current(day Date) bool {
	return v.BAAStatus == "signed" && !v.BAASigned.After(day) && (v.BAAExpires.IsZero() || !day.After(v.BAAExpires))
}

// VendorsDue lists what is owed for each active business associate: a BAA
// to obtain, a renewal within BAARenewalWindow days, a review.
func VendorsDue(vs []Versioned[Vendor], day Date) []DueItem {
	var out []DueItem
	for _, x := range vs {
		v := x.Body
		if v.BAAStatus == "terminated" {
			continue
		}
		switch {
		case v.BAAStatus == "none" || v.BAAStatus == "requested":
			out = append(out, dueItem(KindVendor, x.ID, "BAA missing: "+v.Name, v.Owner, day, day))
		case !v.BAAExpires.IsZero() && !day.Before(v.BAAExpires.AddDays(-BAARenewalWindow)):
			out = append(out, dueItem(KindVendor, x.ID, "BAA renewal: "+v.Name, v.Owner, v.BAAExpires, day))
		}
		if !v.ReviewDue.IsZero() {
			out = append(out, dueItem(KindVendor, x.ID, "Vendor review: "+v.Name, v.Owner, v.ReviewDue, day))
		}
	}
	return out
}
