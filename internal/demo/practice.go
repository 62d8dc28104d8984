// Package demo generates a small medical practice's month — roster,
// patients, a schedule, and the EHR, email and VPN logs that schedule
// produces, in the sources' own formats — with a handful of injected
// suspicious cases whose alerts the demo (and its test) expects.
package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Tenant is the demo practice's tenant id.
const Tenant = "riverside-family"

// Person is one member of staff.
type Person struct {
	ID, Name, Role, Department, Email, Manager string
	VPN                                        bool   // works remotely some evenings
	VPNUser                                    string // ASA user name, when it differs
	Start, End                                 int    // usual hours
	Evenings                                   bool   // reviews charts 19–21 some weekdays (physicians)
	Terminated                                 int    // day index of termination, -1 if employed

	// Home and birth details, for the family, coworker and self-lookup
	// rules that compare the roster with patient demographics.
	First, Last, Phone, Street, Zip, Birth string
}

// Case is an injected suspicious activity and the alert it should raise.
type Case struct {
	Name    string
	Rule    string
	ActorID string // roster user_id the alert names
	Day     time.Time
}

var firstNames = []string{"Dana", "Jamie", "Morgan", "Priya", "Luis", "Grace", "Omar", "Hannah", "Wei", "Carlos", "Aisha", "Ben",
	"Sofia", "Tom", "Nadia", "Ray", "Elena", "Kofi", "Maya", "Ivan", "Rosa", "Sam", "Leah", "Victor", "Zoe", "Noah", "Ava", "Eli"}
var lastNames = []string{"Ortiz", "Lee", "Khan", "Patel", "Garcia", "Kim", "Haddad", "Novak", "Chen", "Silva", "Bello", "Ward",
	"Rossi", "Brooks", "Aziz", "Dunn", "Petrov", "Mensah", "Cohen", "Ivanov", "Diaz", "Reyes", "Stone", "Moreau", "Fischer", "Tan"}

// staff builds the roster. Names are fixed for the people the injected
// cases are about, so the demo's output reads the same every run.
func staff(r *rand.Rand) []Person {
	ps := []Person{
		{ID: "mkhan", Name: "Morgan Khan", Role: "practice_manager", Department: "Administration", Start: 8, End: 17, Terminated: -1},
		{ID: "dortiz", Name: "Dana Ortiz", Role: "front_desk", Department: "Front office", Manager: "mkhan", Start: 8, End: 17, VPN: true, Terminated: -1},
		{ID: "jlee", Name: "Jamie Lee", Role: "nurse", Department: "Clinical", Manager: "mkhan", Start: 7, End: 16, VPN: true, VPNUser: "vpn-jlee", Terminated: 12},
		{ID: "sreyes", Name: "Sam Reyes", Role: "billing", Department: "Billing", Manager: "mkhan", Start: 9, End: 17, Terminated: -1},
		{ID: "aweber", Name: "Ava Weber", Role: "medical_assistant", Department: "Clinical", Manager: "mkhan", Start: 8, End: 16, Terminated: 5},
		{ID: "hbrooks", Name: "Hannah Brooks", Role: "nurse", Department: "Clinical", Manager: "mkhan", Start: 7, End: 16, Terminated: -1},
		{ID: "rmedina", Name: "Rosa Medina", Role: "him", Department: "Health information", Manager: "mkhan", Start: 8, End: 17, Terminated: -1},
	}
	roles := []struct {
		role, dept    string
		n, start, end int
	}{
		{"physician", "Clinical", 4, 8, 17}, {"nurse", "Clinical", 4, 7, 16}, {"medical_assistant", "Clinical", 4, 8, 16},
		{"front_desk", "Front office", 3, 8, 17}, {"billing", "Billing", 2, 9, 17},
	}
	used := map[string]bool{}
	for _, p := range ps {
		used[p.ID] = true
	}
	for _, rl := range roles {
		for range rl.n {
			var first, last, id string
			for {
				first, last = firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
				id = strings.ToLower(first[:1] + last)
				if !used[id] {
					break
				}
			}
			used[id] = true
			p := Person{ID: id, Name: first + " " + last, Role: rl.role, Department: rl.dept, Manager: "mkhan",
				Start: rl.start, End: rl.end, Terminated: -1}
			if rl.role == "physician" {
				p.Manager, p.VPN, p.Evenings = "", true, true
			}
			ps = append(ps, p)
		}
	}
	for i := range ps {
		p := &ps[i]
		p.Email = strings.ReplaceAll(strings.ToLower(p.Name), " ", ".") + "@riverside.example"
		p.First, p.Last, _ = strings.Cut(p.Name, " ")
		// Staff live on Oak Street and have 555-01xx phones; patients get
		// other streets and numbers, so only the planted households match.
		p.Phone = fmt.Sprintf("617-555-%04d", 100+i)
		p.Street, p.Zip = fmt.Sprintf("%d Oak Street", 10+i*7), "02140"
		p.Birth = fmt.Sprintf("%d-%02d-%02d", 1965+i%30, 1+i%12, 1+i%27)
	}
	return ps
}

// RosterCSV renders the roster in phiwatch's roster format (docs/roster.md).
func RosterCSV(ps []Person, start time.Time) string {
	var b strings.Builder
	b.WriteString("user_id,name,role,department,manager_id,email,aliases,hire_date,termination_date,first_name,last_name,phone,home_street,home_postal_code,birth_date\n")
	for _, p := range ps {
		aliases := []string{strings.ToUpper(p.ID)}
		if p.VPNUser != "" {
			aliases = append(aliases, p.VPNUser)
		}
		term := ""
		if p.Terminated >= 0 {
			term = start.AddDate(0, 0, p.Terminated).Format("2006-01-02")
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", p.ID, p.Name, p.Role, p.Department, p.Manager, p.Email,
			strings.Join(aliases, ";"), "2020-01-06", term, p.First, p.Last, p.Phone, p.Street, p.Zip, p.Birth)
	}
	return b.String()
}
