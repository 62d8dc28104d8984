// Package reference reads the reference feeds that explain access events:
// who works at a practice (the roster) and, in later feeds, their accounts,
// the schedule and the patients. They are loaded straight into the store,
// not through the bus: they are small, versioned snapshots.
package reference

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// RosterColumns documents the roster CSV (docs/roster.md). The header row is
// required; column order is free and names are case-insensitive.
var RosterColumns = []struct{ Name, Meaning string }{
	{"user_id", "the person's primary account id (required, unique per tenant)"},
	{"name", "full name as reviewers should see it"},
	{"role", "job role, e.g. physician, nurse, front_desk, billing"},
	{"department", "department or site"},
	{"manager_id", "user_id of their manager (recertification goes to them)"},
	{"email", "work email address (matched to email audit logs)"},
	{"aliases", "their other account ids, separated by ';' (EHR user, VPN user, UPN…)"},
	{"hire_date", "YYYY-MM-DD"},
	{"termination_date", "YYYY-MM-DD; empty while employed"},
	{"tenant_id", "optional; must equal the tenant being imported"},
}

// Person is one roster line.
type Person struct {
	UserID, Name, Role, Department, ManagerID, Email string
	Aliases                                          []string
	HireDate, TerminationDate                        *time.Time
}

// ParseRoster reads a roster CSV. It rejects the whole file when any line
// is wrong, listing every problem with its line number: a half-imported
// roster would make terminated people look current.
func ParseRoster(r io.Reader, tenant string) ([]Person, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("roster: read header: %w", err)
	}
	col := map[string]int{}
	known := map[string]bool{}
	for _, c := range RosterColumns {
		known[c.Name] = true
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !known[h] {
			return nil, fmt.Errorf("roster: unknown column %q (known: %s)", h, columnNames())
		}
		col[h] = i
	}
	if _, ok := col["user_id"]; !ok {
		return nil, errors.New("roster: the header has no user_id column")
	}
	var people []Person
	var errs []error
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		p := Person{UserID: get("user_id"), Name: get("name"), Role: get("role"), Department: get("department"),
			ManagerID: get("manager_id"), Email: get("email")}
		if p.UserID == "" {
			errs = append(errs, fmt.Errorf("line %d: user_id is empty", line))
			continue
		}
		if prev, dup := seen[strings.ToLower(p.UserID)]; dup {
			errs = append(errs, fmt.Errorf("line %d: user_id %q already on line %d", line, p.UserID, prev))
			continue
		}
		seen[strings.ToLower(p.UserID)] = line
		if t := get("tenant_id"); t != "" && t != tenant {
			errs = append(errs, fmt.Errorf("line %d: tenant_id %q, but importing into %q", line, t, tenant))
			continue
		}
		for _, a := range strings.Split(get("aliases"), ";") {
			if a = strings.TrimSpace(a); a != "" {
				p.Aliases = append(p.Aliases, a)
			}
		}
		for _, d := range []struct {
			name string
			dst  **time.Time
		}{{"hire_date", &p.HireDate}, {"termination_date", &p.TerminationDate}} {
			v := get(d.name)
			if v == "" {
				continue
			}
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %q is not YYYY-MM-DD", line, d.name, v))
				continue
			}
			*d.dst = &t
		}
		people = append(people, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("roster rejected, nothing imported:\n%w", errors.Join(errs...))
	}
	if len(people) == 0 {
		return nil, errors.New("roster: no people in the file")
	}
	return people, nil
}

func columnNames() string {
	var names []string
	for _, c := range RosterColumns {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// RosterRows turns people into workforce rows of one import.
func RosterRows(tenant string, people []Person, importedBy, source string, at time.Time, retention time.Duration) ([]store.WorkforceRow, error) {
	if !event.ValidTenant(tenant) {
		return nil, fmt.Errorf("tenant %q: use 1-64 characters of a-z, 0-9, '-' or '_'", tenant)
	}
	if retention <= 0 {
		retention = store.DefaultRetention
	}
	at = at.UTC().Truncate(time.Millisecond)
	rows := make([]store.WorkforceRow, len(people))
	for i, p := range people {
		rows[i] = store.WorkforceRow{
			TenantID: tenant, UserID: p.UserID, Name: p.Name, Role: p.Role, Department: p.Department,
			ManagerID: p.ManagerID, Email: p.Email, Aliases: p.Aliases, HireDate: p.HireDate, TerminationDate: p.TerminationDate,
			ImportedAt: at, ImportedBy: importedBy, Source: source, RetainUntil: at.Add(retention),
		}
	}
	return rows, nil
}
