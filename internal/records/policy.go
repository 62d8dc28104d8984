package records

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Record kinds of policies and procedures (164.316).
const (
	KindPolicy    Kind = "policy"
	KindPolicyAck Kind = "policy_ack"
)

// Policy is a policy or procedure. Each record version is a version of the
// document; a workforce acknowledgement names the version it is for.
type Policy struct {
	Title       string `json:"title"`
	Rule        string `json:"rule"` // the section it serves, e.g. 164.308(a)(5)
	Markdown    string `json:"markdown"`
	Status      string `json:"status"` // draft, approved, published, retired
	ApprovedBy  string `json:"approved_by,omitempty"`
	ApprovedOn  Date   `json:"approved_on,omitzero"`
	PublishedOn Date   `json:"published_on,omitzero"`
	ReviewDue   Date   `json:"review_due,omitzero"`
	Owner       string `json:"owner,omitempty"`
}

// Kind implements Body.
func (Policy) Kind() Kind { return KindPolicy }

var ruleSection = regexp.MustCompile(`^16[04]\.\d{3}(\([a-zA-Z0-9]+\))*$`)

// Validate implements Body.
func (p Policy) Validate() error {
	if strings.TrimSpace(p.Title) == "" || strings.TrimSpace(p.Markdown) == "" {
		return errors.New("a policy needs a title and its text")
	}
	if !ruleSection.MatchString(p.Rule) {
		return fmt.Errorf("rule %q: name the section it serves, e.g. 164.308(a)(5)", p.Rule)
	}
	switch p.Status {
	case "draft", "retired":
	case "approved", "published":
		if p.ApprovedBy == "" || p.ApprovedOn.IsZero() {
			return fmt.Errorf("a policy %s needs its approver and approval day", p.Status)
		}
		if p.Status == "published" && (p.PublishedOn.IsZero() || p.ReviewDue.IsZero()) {
			return errors.New("a published policy needs the publication day and when it is next reviewed")
		}
		if !p.ReviewDue.IsZero() && p.ReviewDue.After(p.ApprovedOn.AddYears(1)) {
			return errors.New("a policy is reviewed at least yearly: review_due is at most a year after approval")
		}
	default:
		return fmt.Errorf("status %q: want draft, approved, published or retired", p.Status)
	}
	return nil
}

// PolicyAck is a workforce member's acknowledgement of one version of a policy.
type PolicyAck struct {
	PolicyID      string `json:"policy_id"`
	PolicyVersion uint32 `json:"policy_version"`
	Person        string `json:"person"`
	AckedOn       Date   `json:"acked_on"`
}

// Kind implements Body.
func (PolicyAck) Kind() Kind { return KindPolicyAck }

// Validate implements Body.
func (a PolicyAck) Validate() error {
	if a.PolicyID == "" || a.PolicyVersion == 0 || a.Person == "" || a.AckedOn.IsZero() {
		return errors.New("an acknowledgement needs the policy, its version, the person and the day")
	}
	return nil
}

// AckID is the record id of a person's acknowledgement of a policy version:
// one per person and version.
func AckID(policyID string, version uint32, person string) string {
	return "ack-" + safeID(policyID) + "-v" + strconv.FormatUint(uint64(version), 10) + "-" + safeID(person)
}

// AckCoverage is who of people has and has not acknowledged the current
// version of a policy.
func AckCoverage(p Versioned[Policy], acks []Versioned[PolicyAck], people []string) (acked, missing []string) {
	have := map[string]bool{}
	for _, a := range acks {
		if a.Body.PolicyID == p.ID && a.Body.PolicyVersion == p.Version {
			have[a.Body.Person] = true
		}
	}
	for _, person := range people {
		if have[person] {
			acked = append(acked, person)
		} else {
			missing = append(missing, person)
		}
	}
	return acked, missing
}

// PoliciesDue lists the published policies' reviews.
func PoliciesDue(ps []Versioned[Policy], day Date) []DueItem {
	var out []DueItem
	for _, v := range ps {
		if v.Body.Status == "published" && !v.Body.ReviewDue.IsZero() {
			out = append(out, dueItem(KindPolicy, v.ID, "Review of "+v.Body.Title, v.Body.Owner, v.Body.ReviewDue, day))
		}
	}
	return out
}
