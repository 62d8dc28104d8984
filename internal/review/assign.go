package review

import (
	"fmt"
	"sort"
)

// Assignment is one item given to one reviewer.
type Assignment struct {
	ItemID   string
	Reviewer Reviewer
}

// Balance assigns the items, in the order given (rank order), to the
// reviewers: each item goes to the eligible reviewer with the fewest open
// items so far (load holds each reviewer's current open count by id; ties
// go to the reviewer listed first). A reviewer is never given an item
// about their own activity; items nobody may take are returned unassigned.
func Balance(items []Item, reviewers []Reviewer, load map[string]int) (out []Assignment, unassigned []string) {
	count := make(map[string]int, len(reviewers))
	for _, r := range reviewers {
		count[r.ID] = load[r.ID]
	}
	for _, it := range items {
		best := -1
		for i, r := range reviewers {
			if r.about(it) {
				continue
			}
			if best < 0 || count[r.ID] < count[reviewers[best].ID] {
				best = i
			}
		}
		if best < 0 {
			unassigned = append(unassigned, it.ItemID)
			continue
		}
		count[reviewers[best].ID]++
		out = append(out, Assignment{ItemID: it.ItemID, Reviewer: reviewers[best]})
	}
	return out, unassigned
}

// checkReviewers rejects an empty list, empty or repeated ids.
func checkReviewers(rs []Reviewer) error {
	if len(rs) == 0 {
		return fmt.Errorf("%w: name at least one reviewer", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.ID == "" {
			return fmt.Errorf("%w: every reviewer needs an id", ErrInvalid)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: reviewer %q is listed twice", ErrInvalid, r.ID)
		}
		seen[r.ID] = true
	}
	return nil
}

// rankItems orders flagged items riskiest first (then earliest, then id)
// and numbers them from 1; samples follow in sample order.
func rankItems(flagged, samples []Item) []Item {
	sort.SliceStable(flagged, func(i, j int) bool {
		a, b := flagged[i], flagged[j]
		if a.RiskScore != b.RiskScore {
			return a.RiskScore > b.RiskScore
		}
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		return a.RefID < b.RefID
	})
	out := append(flagged, samples...)
	for i := range out {
		out[i].Rank = uint32(i + 1)
	}
	return out
}
