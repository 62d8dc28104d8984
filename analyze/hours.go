package analyze

import (
	"fmt"
	"strings"
	"time"
)

// PracticeHours are a practice's opening hours, the fallback baseline for
// people without enough history of their own.
type PracticeHours struct {
	Open, Close int     // hours of the day, [Open, Close)
	Days        [7]bool // by time.Weekday
	text        string
}

// DefaultPracticeHours are Monday to Friday, 07:00 to 19:00.
func DefaultPracticeHours() PracticeHours {
	h, _ := ParsePracticeHours("mon-fri 07:00-19:00")
	return h
}

var weekdays = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParsePracticeHours reads "mon-fri 07:00-19:00" (days: a range, or a comma
// list such as "mon,tue,thu"; whole hours).
func ParsePracticeHours(s string) (PracticeHours, error) {
	var h PracticeHours
	days, hours, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), " ")
	if !ok {
		return h, fmt.Errorf("practice hours %q: want e.g. \"mon-fri 07:00-19:00\"", s)
	}
	for _, part := range strings.Split(days, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok1 := weekdays[a]
		to, ok2 := from, true
		if isRange {
			to, ok2 = weekdays[b]
		}
		if !ok1 || !ok2 {
			return h, fmt.Errorf("practice hours %q: unknown day in %q (use sun, mon, … sat)", s, part)
		}
		for d := from; ; d = (d + 1) % 7 {
			h.Days[d] = true
			if d == to {
				break
			}
		}
	}
	var oh, om, ch, cm int
	if _, err := fmt.Sscanf(hours, "%d:%d-%d:%d", &oh, &om, &ch, &cm); err != nil || oh < 0 || ch > 24 || oh >= ch || om != 0 || cm != 0 {
		return h, fmt.Errorf("practice hours %q: want whole hours like 07:00-19:00", s)
	}
	h.Open, h.Close = oh, ch
	h.text = s
	return h, nil
}

// Contains reports whether local time t is within practice hours.
func (h PracticeHours) Contains(t time.Time) bool {
	return h.Days[t.Weekday()] && t.Hour() >= h.Open && t.Hour() < h.Close
}

func (h PracticeHours) String() string {
	if h.text != "" {
		return h.text
	}
	return fmt.Sprintf("%02d:00-%02d:00", h.Open, h.Close)
}
