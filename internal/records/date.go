package records

import (
	"encoding/json"
	"fmt"
	"time"
)

// Date is a calendar day with no time of day or zone, written YYYY-MM-DD:
// HIPAA's clocks count calendar days from a date (discovery, receipt), not
// hours from an instant. The zero Date is "not set" and is written "".
type Date struct{ t time.Time }

const dateLayout = "2006-01-02"

// NewDate is the day y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf is the UTC calendar day of t.
func DateOf(t time.Time) Date {
	if t.IsZero() {
		return Date{}
	}
	u := t.UTC()
	return NewDate(u.Year(), u.Month(), u.Day())
}

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Time is midnight UTC at the start of the day.
func (d Date) Time() time.Time { return d.t }

// Year is the date's calendar year.
func (d Date) Year() int { return d.t.Year() }

// AddDays is the date n calendar days later (earlier for n < 0).
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }

// After reports whether d is a later day than o.
func (d Date) After(o Date) bool { return d.t.After(o.t) }

// DaysUntil is the number of calendar days from d to o (negative when o is earlier).
func (d Date) DaysUntil(o Date) int { return int(o.t.Sub(d.t).Hours() / 24) }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(dateLayout)
}

// MarshalJSON writes "YYYY-MM-DD", or "" when unset.
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD", "" (unset) or an RFC 3339 time (its UTC day).
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date: want a \"YYYY-MM-DD\" string")
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalText reads what UnmarshalJSON reads, unquoted (CSV cells, query strings).
func (d *Date) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" {
		*d = Date{}
		return nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		*d = DateOf(t)
		return nil
	}
	p, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// AddYears is the same day n years later (29 February becomes 1 March in a
// common year).
func (d Date) AddYears(n int) Date { return Date{d.t.AddDate(n, 0, 0)} }
