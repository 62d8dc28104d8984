package records

import (
	"strings"
	"testing"
	"time"
)

func d(s string) Date {
	v, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

// summary is a clock written compactly: notice[/state]@due, in order.
func summary(ds []Deadline) string {
	var parts []string
	for _, x := range ds {
		s := string(x.Notice)
		if x.State != "" {
			s += "/" + x.State
		}
		parts = append(parts, s+"@"+x.Due.String())
	}
	return strings.Join(parts, " ")
}

func TestBreachClock(t *testing.T) {
	tests := []struct {
		name string
		in   ClockInput
		want string
	}{
		{"year end, small: individuals cross the year, log due 1 March of the year after next",
			ClockInput{Discovered: d("2026-12-31"), Affected: 12},
			"individual@2027-03-01 hhs_annual_log@2027-03-01"},
		{"year end in a year before a leap year: 29 February",
			ClockInput{Discovered: d("2027-12-31"), Affected: 3},
			"individual@2028-02-29 hhs_annual_log@2028-02-29"},
		{"early in the year: the log waits until after the year ends",
			ClockInput{Discovered: d("2026-01-02"), Affected: 40},
			"individual@2026-03-03 hhs_annual_log@2027-03-01"},
		{"leap day inside the 60 days", ClockInput{Discovered: d("2028-01-15"), Affected: 1},
			"individual@2028-03-15 hhs_annual_log@2029-03-01"},
		{"discovered on a leap day", ClockInput{Discovered: d("2028-02-29"), Affected: 1},
			"individual@2028-04-29 hhs_annual_log@2029-03-01"},
		{"499: annual log, no media", ClockInput{Discovered: d("2026-06-01"), Affected: 499, ByState: map[string]int{"TX": 499}},
			"individual@2026-07-31 hhs_annual_log@2027-03-01"},
		{"500: HHS now, still no media (more than 500 in a state)", ClockInput{Discovered: d("2026-06-01"), Affected: 500, ByState: map[string]int{"TX": 500}},
			"individual@2026-07-31 hhs@2026-07-31"},
		{"501 in one state: HHS now and media there", ClockInput{Discovered: d("2026-06-01"), Affected: 501, ByState: map[string]int{"TX": 501}},
			"individual@2026-07-31 hhs@2026-07-31 media/TX@2026-07-31"},
		{"501 with states unknown: HHS now, no media yet", ClockInput{Discovered: d("2026-06-01"), Affected: 501},
			"individual@2026-07-31 hhs@2026-07-31"},
		{"several states: media only where more than 500 reside", ClockInput{Discovered: d("2026-12-31"), Affected: 813, ByState: map[string]int{"TX": 501, "OK": 300, "NM": 12}},
			"individual@2027-03-01 hhs@2027-03-01 media/TX@2027-03-01"},
		{"two states over 500, in state order", ClockInput{Discovered: d("2026-03-10"), Affected: 1400, ByState: map[string]int{"TX": 700, "OK": 600, "NM": 100}},
			"individual@2026-05-09 hhs@2026-05-09 media/OK@2026-05-09 media/TX@2026-05-09"},
		{"1000 spread so no state has more than 500: HHS now, no media", ClockInput{Discovered: d("2026-03-10"), Affected: 1000, ByState: map[string]int{"TX": 500, "OK": 500}},
			"individual@2026-05-09 hhs@2026-05-09"},
		{"business associate discovers: notify the covered entity within 60 days, nothing else",
			ClockInput{Discovered: d("2026-12-31"), Affected: 501, ByState: map[string]int{"TX": 501}, Role: BusinessAssociate},
			"covered_entity@2027-03-01"},
		{"covered entity told by a business associate (not its agent): its clock starts when told",
			ClockInput{Discovered: d("2026-03-01"), BADiscovered: d("2026-02-01"), Affected: 10},
			"individual@2026-04-30 hhs_annual_log@2027-03-01"},
		{"business associate is the covered entity's agent: its discovery starts the clock",
			ClockInput{Discovered: d("2026-03-01"), BADiscovered: d("2026-02-01"), BAIsAgent: true, Affected: 10},
			"individual@2026-04-02 hhs_annual_log@2027-03-01"},
		{"agent's discovery in December, covered entity told in January: the log year is the discovery's",
			ClockInput{Discovered: d("2027-01-20"), BADiscovered: d("2026-12-20"), BAIsAgent: true, Affected: 10},
			"individual@2027-02-18 hhs_annual_log@2027-03-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BreachClock(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if s := summary(got); s != tt.want {
				t.Errorf("clock = %s\nwant    %s", s, tt.want)
			}
			for _, x := range got {
				if x.Rule == "" || x.What == "" {
					t.Errorf("%s has no rule citation or explanation", x.Notice)
				}
			}
		})
	}
}

func TestBreachClockRejects(t *testing.T) {
	tests := []struct {
		name string
		in   ClockInput
		want string
	}{
		{"no discovery date", ClockInput{Affected: 3}, "discovery date"},
		{"negative", ClockInput{Discovered: d("2026-01-01"), Affected: -1}, "negative"},
		{"states exceed total", ClockInput{Discovered: d("2026-01-01"), Affected: 10, ByState: map[string]int{"TX": 11}}, "add up"},
		{"bad state", ClockInput{Discovered: d("2026-01-01"), Affected: 10, ByState: map[string]int{"Texas": 1}}, "two-letter"},
		{"bad role", ClockInput{Discovered: d("2026-01-01"), Role: "vendor"}, "role"},
		{"BA discovered after CE told", ClockInput{Discovered: d("2026-01-01"), BADiscovered: d("2026-02-01")}, "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BreachClock(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestAnnualLogDue(t *testing.T) {
	for year, want := range map[int]string{2025: "2026-03-01", 2026: "2027-03-01", 2027: "2028-02-29", 2099: "2100-03-01", 2399: "2400-02-29"} {
		if got := AnnualLogDue(year).String(); got != want {
			t.Errorf("AnnualLogDue(%d) = %s, want %s", year, got, want)
		}
	}
}

func TestDateJSON(t *testing.T) {
	var x struct {
		A Date `json:"a"`
		B Date `json:"b"`
		C Date `json:"c"`
	}
	if err := jsonUnmarshal(`{"a":"2026-12-31","b":"","c":"2026-12-31T23:30:00-05:00"}`, &x); err != nil {
		t.Fatal(err)
	}
	if x.A.String() != "2026-12-31" || !x.B.IsZero() || x.C.String() != "2027-01-01" {
		t.Fatalf("decoded %v %v %v", x.A, x.B, x.C)
	}
	if err := jsonUnmarshal(`{"a":"31/12/2026"}`, &x); err == nil {
		t.Fatal("a day-first date was accepted")
	}
	if got := NewDate(2026, time.March, 1).DaysUntil(NewDate(2026, time.April, 30)); got != 60 {
		t.Fatalf("DaysUntil = %d, want 60", got)
	}
}
