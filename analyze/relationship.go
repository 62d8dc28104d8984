package analyze

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/phiwatch/phiwatch/internal/store"
)

// The relationship rules compare the patient of an access with the person
// who opened the chart (and with the rest of the workforce), using the
// roster's home address, phone and birth date and the patient demographics
// feed. Each alerts once per person, patient and local day, and stays silent
// when the data it needs is absent (no roster entry for the actor, no
// patient record). Reasons name the patient by MRN or id, never by name.

// patientInfo is the part of patients_current these rules read.
type patientInfo struct {
	PatientID      string   `json:"patient_id"`
	MRN            string   `json:"mrn"`
	Identifiers    []string `json:"identifiers"`
	FamilyName     string   `json:"family_name"`
	GivenNames     string   `json:"given_names"`
	BirthDate      string   `json:"birth_date"` // YYYY-MM-DD or ""
	AddressLine    string   `json:"address_line"`
	PostalCode     string   `json:"postal_code"`
	Phones         []string `json:"phones"`
	Emails         []string `json:"emails"`
	Deceased       bool     `json:"deceased"`
	DeceasedAt     string   `json:"deceased_at"` // "YYYY-MM-DD hh:mm:ss.sss" UTC or ""
	Restricted     bool     `json:"restricted"`
	SecurityLabels []string `json:"security_labels"`
}

type patients map[string]patientInfo

// label names a patient in a reason: the MRN, else the patient id.
func (p patients) label(id string) string {
	if r, ok := p[id]; ok && r.MRN != "" {
		return r.MRN
	}
	return id
}

func loadPatients(ctx context.Context, q Querier, t Tenant, ids []string) (patients, error) {
	out := patients{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []patientInfo
	err := q.Select(ctx, &rows, `
SELECT patient_id, mrn, identifiers, family_name, given_names, ifNull(toString(birth_date), '') AS birth_date,
       address_line, postal_code, phones, emails, deceased, ifNull(toString(deceased_at), '') AS deceased_at,
       restricted, security_labels
FROM `+q.Database()+`.patients_current
WHERE tenant_id = {tenant:String} AND patient_id IN {ids:Array(String)}`, store.Params{"tenant": t.ID, "ids": chStrings(ids)})
	if err != nil {
		return nil, fmt.Errorf("read patient demographics: %w", err)
	}
	for _, r := range rows {
		out[r.PatientID] = r
	}
	return out, nil
}

// relData is what every relationship rule starts from.
type relData struct {
	*explainData
	patients patients
}

func loadRelData(ctx context.Context, q Querier, e Explainer, t Tenant, w Window) (*relData, error) {
	x, err := e.load(ctx, q, t, w)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, a := range x.Accesses {
		if !seen[a.PatientID] {
			seen[a.PatientID] = true
			ids = append(ids, a.PatientID)
		}
	}
	p, err := loadPatients(ctx, q, t, ids)
	if err != nil {
		return nil, err
	}
	return &relData{explainData: x, patients: p}, nil
}

// member is the actor's roster entry, when the actor links to one.
func (r *relData) member(a Access) (workforceMember, bool) {
	if a.UserID == "" {
		return workforceMember{}, false
	}
	m, ok := r.workforce[strings.ToLower(a.UserID)]
	return m, ok
}

// match is how a patient record and a roster entry coincide.
type match struct {
	nameBirth, email, phone, lastName, address bool
}

func compare(p patientInfo, m workforceMember) match {
	var mt match
	first, last := m.FirstName, m.LastName
	if last == "" {
		if f := strings.Fields(m.Name); len(f) >= 2 {
			first, last = f[0], f[len(f)-1]
		}
	}
	pFirst := ""
	if f := strings.Fields(p.GivenNames); len(f) > 0 {
		pFirst = f[0]
	}
	if f := strings.Fields(first); len(f) > 0 {
		first = f[0]
	}
	mt.lastName = normName(last) != "" && normName(last) == normName(p.FamilyName)
	mt.nameBirth = mt.lastName && normName(first) != "" && normName(first) == normName(pFirst) &&
		m.BirthDate != "" && m.BirthDate == p.BirthDate
	for _, e := range p.Emails {
		e = strings.ToLower(strings.TrimSpace(e))
		if e != "" && (e == strings.ToLower(m.Email) || e == strings.ToLower(m.M365UPN) || e == strings.ToLower(m.GoogleEmail)) {
			mt.email = true
		}
	}
	if ph := normPhone(m.Phone); ph != "" {
		for _, x := range p.Phones {
			if normPhone(x) == ph {
				mt.phone = true
			}
		}
	}
	street, postal := normStreet(m.HomeStreet), normPostal(m.HomePostal)
	mt.address = street != "" && postal != "" && street == normStreet(p.AddressLine) && postal == normPostal(p.PostalCode)
	return mt
}

// self: the same person by name and birth date, or by an email address. A
// shared phone is a household, not a person.
func (mt match) self() bool { return mt.nameBirth || mt.email }

// family: the same last name and the same home (address or phone). A last
// name alone is far too common to mean anything.
func (mt match) family() bool { return mt.lastName && (mt.address || mt.phone) }

func (mt match) facts() string {
	var f []string
	if mt.nameBirth {
		f = append(f, "name and birth date")
	}
	if mt.email {
		f = append(f, "email address")
	}
	if mt.lastName && !mt.nameBirth {
		f = append(f, "last name")
	}
	if mt.address {
		f = append(f, "home address (street and postal code)")
	}
	if mt.phone {
		f = append(f, "phone number")
	}
	return joinAnd(f)
}

func joinAnd(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normPhone keeps the last ten digits, so +1 (555) 010-2030 and 5550102030
// are one number; fewer than seven digits is no number.
func normPhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if len(d) < 7 {
		return ""
	}
	if len(d) > 10 {
		d = d[len(d)-10:]
	}
	return d
}

// streetAbbrev is the USPS abbreviation of a street word, or the word.
func streetAbbrev(w string) string {
	switch w {
	case "street":
		return "st"
	case "avenue", "av":
		return "ave"
	case "road":
		return "rd"
	case "drive":
		return "dr"
	case "lane":
		return "ln"
	case "boulevard":
		return "blvd"
	case "court":
		return "ct"
	case "apartment":
		return "apt"
	}
	return w
}

// normStreet makes "12 Oak Street, Apt. 3" and "12 oak st apt 3" equal.
func normStreet(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range f {
		f[i] = streetAbbrev(w)
	}
	return strings.Join(f, " ")
}

// normPostal compares US ZIP+4 by its five digits, other codes without spaces.
func normPostal(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if len(s) >= 5 && strings.Trim(s[:5], "0123456789") == "" {
		return s[:5]
	}
	return s
}

// relAlerts runs a per-access test over the groups and builds the alerts.
// judge returns ok=false to skip the group.
func relAlerts(t Tenant, rule string, r *relData, keep func(Access) bool,
	judge func(g *accessGroup, a Access) (sev string, score float32, reason string, expl []string, ok bool)) []store.AlertRow {
	var alerts []store.AlertRow
	for _, g := range groupAccesses(t, r.Accesses, keep) {
		if sev, score, reason, expl, ok := judge(g, g.accesses[0]); ok {
			alerts = append(alerts, accessAlert(t, rule, sev, score, g, reason, expl))
		}
	}
	return alerts
}

// relationshipNote says whether a clinical relationship explains an access.
func relationshipNote(a Access, hasSchedule bool) string {
	switch {
	case !hasSchedule:
		return NoScheduleNote
	case a.Explained:
		return "explained: " + a.Explanation
	}
	return "explained: no clinical relationship or role covers it"
}

// SelfLookup flags a workforce member opening their own chart: the patient
// has their name and birth date, or one of their roster email addresses.
// An explanation does not clear it: staff read their own record through the
// patient portal, not the EHR. Severity medium.
type SelfLookup struct{ Explainer }

// Rule implements Detector.
func (SelfLookup) Rule() string { return "self_lookup" }

// Detect implements Detector.
func (d SelfLookup) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	r, err := loadRelData(ctx, q, d.Explainer, t, w)
	if err != nil {
		return nil, err
	}
	return d.judge(t, r)
}

func (d SelfLookup) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	return relAlerts(t, d.Rule(), r, func(a Access) bool { return true },
		func(g *accessGroup, a Access) (string, float32, string, []string, bool) {
			m, ok := r.member(a)
			p, okp := r.patients[g.patient]
			if !ok || !okp {
				return "", 0, "", nil, false
			}
			mt := compare(p, m)
			if !mt.self() {
				return "", 0, "", nil, false
			}
			reason := fmt.Sprintf("%s opened their own chart (patient %s): the patient record has their %s.",
				displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), match{nameBirth: mt.nameBirth, email: mt.email}.facts())
			return SeverityMedium, 60, reason, []string{"patient record matches the actor's roster entry by " + match{nameBirth: mt.nameBirth, email: mt.email}.facts(),
				relationshipNote(a, r.HasSchedule)}, true
		}), nil
}

// FamilyMemberLookup flags a workforce member opening the chart of someone
// of their household: the same last name and the same home address
// (normalized street and postal code) or phone number. A clinical
// relationship lowers the severity (high → medium) but does not clear it:
// treating one's own family is a conflict of interest a reviewer should see.
type FamilyMemberLookup struct{ Explainer }

// Rule implements Detector.
func (FamilyMemberLookup) Rule() string { return "family_member_lookup" }

// Detect implements Detector.
func (d FamilyMemberLookup) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	r, err := loadRelData(ctx, q, d.Explainer, t, w)
	if err != nil {
		return nil, err
	}
	return d.judge(t, r)
}

func (d FamilyMemberLookup) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	return relAlerts(t, d.Rule(), r, func(a Access) bool { return true },
		func(g *accessGroup, a Access) (string, float32, string, []string, bool) {
			m, ok := r.member(a)
			p, okp := r.patients[g.patient]
			if !ok || !okp {
				return "", 0, "", nil, false
			}
			mt := compare(p, m)
			if mt.self() || !mt.family() {
				return "", 0, "", nil, false
			}
			facts := match{lastName: true, address: mt.address, phone: mt.phone}.facts()
			sev, score := SeverityHigh, float32(75)
			if a.Explained {
				sev, score = SeverityMedium, 55
			}
			reason := fmt.Sprintf("%s opened the chart of patient %s, who shares their %s: likely a family or household member.",
				displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), facts)
			return sev, score, reason, []string{"patient record and the actor's roster entry share: " + facts,
				relationshipNote(a, r.HasSchedule)}, true
		}), nil
}

// CoworkerLookup flags opening the chart of another workforce member of the
// practice (matched by name and birth date, email address or phone number)
// with no clinical relationship. Practices treat their own staff, so an
// explained access (the coworker's own appointment, with the actor or their
// department) raises nothing. Without schedule data the relationship cannot
// be checked: medium instead of high.
type CoworkerLookup struct{ Explainer }

// Rule implements Detector.
func (CoworkerLookup) Rule() string { return "coworker_lookup" }

// Detect implements Detector.
func (d CoworkerLookup) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	r, err := loadRelData(ctx, q, d.Explainer, t, w)
	if err != nil {
		return nil, err
	}
	return d.judge(t, r)
}

func (d CoworkerLookup) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	if len(r.workforce) == 0 {
		return nil, nil
	}
	return relAlerts(t, d.Rule(), r, func(a Access) bool { return !a.Explained },
		func(g *accessGroup, a Access) (string, float32, string, []string, bool) {
			p, ok := r.patients[g.patient]
			if !ok {
				return "", 0, "", nil, false
			}
			var how match
			found := false
			for uid, m := range r.workforce {
				if uid == strings.ToLower(a.UserID) {
					continue // their own chart is self_lookup's
				}
				mt := compare(p, m)
				if mt.nameBirth || mt.email || mt.phone {
					found, how = true, match{nameBirth: mt.nameBirth, email: mt.email, phone: mt.phone}
					break
				}
			}
			if !found {
				return "", 0, "", nil, false
			}
			sev, score := SeverityHigh, float32(75)
			if !r.HasSchedule {
				sev, score = SeverityMedium, 50
			}
			reason := fmt.Sprintf("%s opened the chart of patient %s, a coworker (the patient record matches a workforce member of the practice by %s), with no clinical relationship",
				displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), how.facts())
			if !r.HasSchedule {
				reason = fmt.Sprintf("%s opened the chart of patient %s, a coworker (the patient record matches a workforce member of the practice by %s); whether they had a clinical relationship could not be checked (no schedule data)",
					displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), how.facts())
			}
			return sev, score, reason + ".", append([]string{"patient record matches a roster entry by " + how.facts()}, a.Checked...), true
		}), nil
}

// RestrictedPatientAccess flags access to a restricted chart (restricted,
// or security label R, V or VIP) that no clinical relationship or role
// explains. Without schedule data it still alerts, at medium, saying the
// relationship could not be checked: these are the charts snooping targets.
type RestrictedPatientAccess struct{ Explainer }

// Rule implements Detector.
func (RestrictedPatientAccess) Rule() string { return "restricted_patient_access" }

// Detect implements Detector.
func (d RestrictedPatientAccess) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	r, err := loadRelData(ctx, q, d.Explainer, t, w)
	if err != nil {
		return nil, err
	}
	return d.judge(t, r)
}

func (d RestrictedPatientAccess) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	return relAlerts(t, d.Rule(), r, func(a Access) bool { return !a.Explained },
		func(g *accessGroup, a Access) (string, float32, string, []string, bool) {
			p, ok := r.patients[g.patient]
			if !ok {
				return "", 0, "", nil, false
			}
			why := restriction(p)
			if why == "" {
				return "", 0, "", nil, false
			}
			who := displayName(a.Who(), a.Name, a.Role)
			if !r.HasSchedule {
				return SeverityMedium, 50, fmt.Sprintf("%s opened the restricted chart of patient %s (%s); whether they had a clinical relationship could not be checked (no schedule data).",
					who, r.patients.label(g.patient), why), append([]string{"patient: " + why}, a.Checked...), true
			}
			return SeverityHigh, 80, fmt.Sprintf("%s opened the restricted chart of patient %s (%s) with no appointment, encounter or role that explains it.",
				who, r.patients.label(g.patient), why), append([]string{"patient: " + why}, a.Checked...), true
		}), nil
}

// restriction says why a chart is restricted, "" when it is not.
func restriction(p patientInfo) string {
	var labels []string
	for _, l := range p.SecurityLabels {
		code := l
		if i := strings.LastIndexByte(l, '|'); i >= 0 {
			code = l[i+1:]
		}
		switch c := strings.ToUpper(strings.TrimSpace(code)); c {
		case "R", "V", "VIP":
			labels = append(labels, c)
		}
	}
	switch {
	case len(labels) > 0:
		return "security label " + strings.Join(labels, ", ")
	case p.Restricted:
		return "marked restricted"
	}
	return ""
}

// DeceasedPatientAccess flags opening a chart after the patient's recorded
// death (deceased_at), unless the actor's role is HIM / release of
// information or billing, whose work continues after a death. A patient
// marked deceased without a date cannot be judged and raises nothing.
// Severity medium.
type DeceasedPatientAccess struct{ Explainer }

// Rule implements Detector.
func (DeceasedPatientAccess) Rule() string { return "deceased_patient_access" }

// Detect implements Detector.
func (d DeceasedPatientAccess) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	r, err := loadRelData(ctx, q, d.Explainer.withDefaults(), t, w)
	if err != nil {
		return nil, err
	}
	return d.judge(t, r)
}

func (d DeceasedPatientAccess) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	e := d.Explainer.withDefaults()
	died := map[string]time.Time{}
	for id, p := range r.patients {
		if p.DeceasedAt == "" {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05.000", p.DeceasedAt, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("deceased_at %q of patient %s: %w", p.DeceasedAt, id, err)
		}
		died[id] = at
	}
	if len(died) == 0 {
		return nil, nil
	}
	covered := func(role string) bool { return hasRole(e.HIMRoles, role) || hasRole(e.BillingRoles, role) }
	return relAlerts(t, d.Rule(), r, func(a Access) bool {
		at, ok := died[a.PatientID]
		return ok && a.Time.After(at) && !covered(a.Role)
	}, func(g *accessGroup, a Access) (string, float32, string, []string, bool) {
		at := died[g.patient]
		reason := fmt.Sprintf("%s opened the chart of patient %s on %s, %s after the patient's recorded death on %s.",
			displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), a.Time.In(t.Location).Format("Mon 2 Jan 2006"),
			plural(int(a.Time.Sub(at).Hours()/24), "day", "days"), at.In(t.Location).Format("2 Jan 2006"))
		role := a.Role
		if role == "" {
			role = "unknown"
		}
		return SeverityMedium, 55, reason, []string{"patient deceased at " + at.Format(time.RFC3339),
			fmt.Sprintf("role %s is HIM or billing: no", role)}, true
	}), nil
}
