// Package reference reads the reference feeds that explain access events —
// who works at a practice (the roster), which accounts each system has, and
// the practice's patients, practitioners, roles, appointments and
// encounters (FHIR R4) — and stores each import as a new version of what it
// holds. Feeds are loaded straight into the store, not through the bus: they
// are small, versioned snapshots. docs/reference-feeds.md describes them.
package reference

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// RosterColumns documents the roster CSV (docs/roster.md). The header row is
// required; column order is free and names are case-insensitive. The first
// ten columns are the original format, which stays valid as it was.
var RosterColumns = []Column{
	{Name: "user_id", Required: true, Meaning: "the person's primary account id (required, unique per tenant)"},
	{Name: "name", Aliases: []string{"full_name"}, Meaning: "full name as reviewers should see it (default: first_name last_name)"},
	{Name: "role", Meaning: "job role, e.g. physician, nurse, front_desk, billing"},
	{Name: "department", Meaning: "department or site"},
	{Name: "manager_id", Aliases: []string{"manager"}, Meaning: "user_id of their manager (recertification goes to them)"},
	{Name: "email", Meaning: "work email address (matched to email audit logs)"},
	{Name: "aliases", Meaning: "their other account ids, separated by ';'"},
	{Name: "hire_date", Meaning: "YYYY-MM-DD"},
	{Name: "termination_date", Meaning: "YYYY-MM-DD; empty while employed"},
	{Name: "tenant_id", Meaning: "optional; must equal the tenant being imported"},
	{Name: "employee_id", Aliases: []string{"employee_number"}, Meaning: "HR employee number"},
	{Name: "first_name", Aliases: []string{"given_name"}, Meaning: "first (given) name"},
	{Name: "last_name", Aliases: []string{"family_name", "surname"}, Meaning: "last (family) name"},
	{Name: "job_title", Aliases: []string{"title"}, Meaning: "job title as HR writes it, e.g. Charge Nurse"},
	{Name: "npi", Meaning: "National Provider Identifier (clinicians; links FHIR Practitioners)"},
	{Name: "ehr_username", Meaning: "their user name in the EHR"},
	{Name: "m365_upn", Aliases: []string{"upn"}, Meaning: "their Microsoft 365 / Entra ID user principal name"},
	{Name: "vpn_username", Meaning: "their VPN user name"},
	{Name: "google_email", Meaning: "their Google Workspace address"},
	{Name: "phone", Meaning: "phone number (PII: snooping detection only)"},
	{Name: "home_street", Meaning: "home street address (PII: snooping detection only)"},
	{Name: "home_city", Meaning: "home city (PII: snooping detection only)"},
	{Name: "home_postal_code", Aliases: []string{"home_zip"}, Meaning: "home postal code (PII: snooping detection only)"},
	{Name: "birth_date", Aliases: []string{"dob", "date_of_birth"}, Meaning: "YYYY-MM-DD (PII: snooping detection only)"},
}

// Person is one roster line.
type Person struct {
	UserID, Name, Role, Department, ManagerID, Email string
	Aliases                                          []string
	HireDate, TerminationDate                        *time.Time

	EmployeeID, FirstName, LastName, JobTitle, NPI string
	// Per-system user names: explicit identity links (docs/identity.md).
	EHRUsername, M365UPN, VPNUsername, GoogleEmail string
	// Home address, phone and birth date are PII held only so detectors can
	// tell when someone opens the record of a relative, neighbour or
	// coworker (same address, same surname and address, the coworker's own
	// chart). They are never shown in lists.
	Phone, HomeStreet, HomeCity, HomePostalCode string
	BirthDate                                   *time.Time
}

// ParseRoster reads a roster CSV. It rejects the whole file when any line
// is wrong, listing every problem with its line number: a half-imported
// roster would make terminated people look current.
func ParseRoster(r io.Reader, tenant string) ([]Person, error) {
	return parseRoster(r, tenant, time.Now())
}

func parseRoster(r io.Reader, tenant string, now time.Time) ([]Person, error) {
	people, _, err := parseRosterFile(r, tenant, now)
	return people, err
}

// parseRosterFile also returns the canonical names of the columns the
// header had.
func parseRosterFile(r io.Reader, tenant string, now time.Time) ([]Person, map[string]bool, error) {
	f, err := openCSV(r, "roster", RosterColumns)
	if err != nil {
		return nil, nil, err
	}
	cols := map[string]bool{}
	for c := range f.col {
		cols[c] = true
	}
	var people []Person
	var errs []error
	seen := map[string]int{}
	for {
		row, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, problems := rosterPerson(row, tenant, now)
		if p.UserID != "" {
			if prev, dup := seen[strings.ToLower(p.UserID)]; dup {
				problems = append(problems, fmt.Sprintf("user_id %q already on line %d", p.UserID, prev))
			} else {
				seen[strings.ToLower(p.UserID)] = row.line
			}
		}
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("line %d: %s", row.line, strings.Join(problems, "; ")))
			continue
		}
		people = append(people, p)
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("roster rejected, nothing imported:\n%w", errors.Join(errs...))
	}
	if len(people) == 0 {
		return nil, nil, errors.New("roster: no people in the file")
	}
	return people, cols, nil
}

// rosterPerson reads one line, returning every problem it has.
func rosterPerson(row csvRow, tenant string, now time.Time) (Person, []string) {
	p := Person{
		UserID: row.get("user_id"), Name: row.get("name"), Role: row.get("role"), Department: row.get("department"),
		ManagerID: row.get("manager_id"), Email: row.get("email"), Aliases: row.list("aliases"),
		EmployeeID: row.get("employee_id"), FirstName: row.get("first_name"), LastName: row.get("last_name"),
		JobTitle: row.get("job_title"), NPI: row.get("npi"),
		EHRUsername: row.get("ehr_username"), M365UPN: row.get("m365_upn"), VPNUsername: row.get("vpn_username"),
		GoogleEmail: row.get("google_email"), Phone: row.get("phone"),
		HomeStreet: row.get("home_street"), HomeCity: row.get("home_city"), HomePostalCode: row.get("home_postal_code"),
	}
	if p.Name == "" {
		p.Name = strings.TrimSpace(p.FirstName + " " + p.LastName)
	}
	var problems []string
	if p.UserID == "" {
		problems = append(problems, "user_id is empty")
	}
	if t := row.get("tenant_id"); t != "" && t != tenant {
		problems = append(problems, fmt.Sprintf("tenant_id %q, but importing into %q", t, tenant))
	}
	for _, e := range []struct{ name, v string }{{"email", p.Email}, {"m365_upn", p.M365UPN}, {"google_email", p.GoogleEmail}} {
		if err := checkEmail(e.name, e.v); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if p.NPI != "" && !validNPI(p.NPI) {
		problems = append(problems, fmt.Sprintf("npi %q is not a 10-digit NPI", p.NPI))
	}
	for _, d := range []struct {
		name string
		dst  **time.Time
	}{{"hire_date", &p.HireDate}, {"termination_date", &p.TerminationDate}, {"birth_date", &p.BirthDate}} {
		t, err := row.date(d.name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		*d.dst = t
	}
	if p.HireDate != nil && p.TerminationDate != nil && p.TerminationDate.Before(*p.HireDate) {
		problems = append(problems, fmt.Sprintf("termination_date %s is before hire_date %s",
			p.TerminationDate.Format(time.DateOnly), p.HireDate.Format(time.DateOnly)))
	}
	if b := p.BirthDate; b != nil && (b.Year() < 1900 || b.After(now)) {
		problems = append(problems, fmt.Sprintf("birth_date %s is not a plausible birth date", b.Format(time.DateOnly)))
	}
	return p, problems
}

// validNPI checks the NPI's form and its Luhn check digit (computed with the
// 80840 prefix, as CMS specifies), which catches most typos.
func validNPI(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 24 // the doubled-and-summed digits of the 80840 prefix
	for i := 8; i >= 0; i-- {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if (8-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	check := int(s[9] - '0')
	return check >= 0 && check <= 9 && (sum+check)%10 == 0
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
			EmployeeID: p.EmployeeID, FirstName: p.FirstName, LastName: p.LastName, JobTitle: p.JobTitle, NPI: p.NPI,
			EHRUsername: p.EHRUsername, M365UPN: p.M365UPN, VPNUsername: p.VPNUsername, GoogleEmail: p.GoogleEmail,
			Phone: p.Phone, HomeStreet: p.HomeStreet, HomeCity: p.HomeCity, HomePostalCode: p.HomePostalCode, BirthDate: p.BirthDate,
			ImportedAt: at, ImportedBy: importedBy, Source: source, RetainUntil: at.Add(retention),
		}
	}
	return rows, nil
}
