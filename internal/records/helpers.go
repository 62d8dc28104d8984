package records

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func sortByDue(ts []Versioned[CalendarTask]) {
	slices.SortStableFunc(ts, func(a, b Versioned[CalendarTask]) int {
		return cmp.Or(a.Body.Due.Time().Compare(b.Body.Due.Time()), strings.Compare(a.ID, b.ID))
	})
}
