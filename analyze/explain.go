package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Explainer classifies EHR patient accesses as explained or not, after
// explanation-based auditing (Fabbri & LeFevre): most accesses in a practice
// are explained by a clinical relationship — the person, or someone of their
// department, saw the patient around that time — or by a role whose job
// covers the access. What stays unexplained is what a reviewer should read.
//
// The zero value uses the defaults; set a field to override it.
type Explainer struct {
	Days           int      // an appointment or encounter within ±Days explains an access (default 14)
	FrontDeskRoles []string // roles explained on the day of the patient's appointment (default front_desk, registration, reception, scheduler)
	BillingRoles   []string // roles explained for BillingDays after an encounter (default billing, coding, biller, coder)
	BillingDays    int      // (default 30)
	HIMRoles       []string // health information management / release of information: their job is any chart (default him, health_information_management, release_of_information, roi, medical_records)
}

// explainer lets the stream find the Explainer a rule embeds.
func (e Explainer) explainer() Explainer { return e }

func (e Explainer) withDefaults() Explainer {
	if e.Days <= 0 {
		e.Days = 14
	}
	if e.BillingDays <= 0 {
		e.BillingDays = 30
	}
	if e.FrontDeskRoles == nil {
		e.FrontDeskRoles = []string{"front_desk", "registration", "reception", "scheduler"}
	}
	if e.BillingRoles == nil {
		e.BillingRoles = []string{"billing", "coding", "biller", "coder"}
	}
	if e.HIMRoles == nil {
		e.HIMRoles = []string{"him", "health_information_management", "release_of_information", "roi", "medical_records"}
	}
	return e
}

// Access is one EHR patient access with its explanation.
type Access struct {
	EventID      string
	Time         time.Time
	PatientID    string
	ActorID      string // as the event carries it
	UserID       string // the workforce member identity resolution links it to; "" when unlinked
	Name         string // roster name when linked, else the event's
	Role         string // roster role when linked, else the event's (normalized: lower case, underscores)
	Department   string
	BreakGlass   bool
	PurposeOfUse string
	Explained    bool
	Explanation  string   // why it is explained, in words; "" when it is not
	Checked      []string // every check made, with its outcome, for the alert's explanations
}

// Who is the person key of an access: the workforce user, else the raw actor
// id (lower case, as identity resolution compares them).
func (a Access) Who() string {
	if a.UserID != "" {
		return a.UserID
	}
	return strings.ToLower(strings.TrimSpace(a.ActorID))
}

// ExplainResult is the classification of a tenant's accesses in a window.
type ExplainResult struct {
	Tenant string
	// HasSchedule is false when the tenant has no appointments and no
	// encounters loaded at all. Then nothing can be explained by a clinical
	// relationship, Share is 0 and must not be reported as a metric, and the
	// rules that depend on explanations stay silent: a tenant without
	// reference feeds would otherwise see every access flagged.
	HasSchedule  bool
	Appointments uint64 // loaded for the tenant, any time
	Encounters   uint64
	Accesses     []Access // in time order
	Explained    int
	Share        float64 // Explained / len(Accesses); 0 without accesses or schedule data
}

// NoScheduleNote is the explanation line of a tenant without schedule data.
const NoScheduleNote = "no schedule data: the practice has no appointments or encounters loaded, so clinical relationships could not be checked"

// visit is an appointment or an encounter, with its participants resolved
// to workforce members.
type visit struct {
	kind     string // "appointment" or "encounter"
	id       string
	at       time.Time
	patients []string
	pracRefs []string        // lower-case practitioner ids and Practitioner/<id> refs, for unlinked actors
	users    map[string]bool // participant workforce user ids
	depts    map[string]bool // their departments
}

type visitRow struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Patients []string  `json:"patients"`
	Pracs    []string  `json:"pracs"`
	Roles    []string  `json:"roles"`
}

type accessRow struct {
	EventID      string    `json:"event_id"`
	Time         time.Time `json:"time"`
	PatientID    string    `json:"patient_id"`
	ActorID      string    `json:"actor_id"`
	ActorName    string    `json:"actor_name"`
	ActorRole    string    `json:"actor_role"`
	ActorDept    string    `json:"actor_department"`
	BreakGlass   bool      `json:"break_glass"`
	PurposeOfUse string    `json:"purpose_of_use"`
}

// workforceMember is the roster entry the explained-access and relationship
// rules read, PII included (it never reaches an alert).
type workforceMember struct {
	UserID      string `json:"user_id"`
	Name        string `json:"name"`
	Role        string `json:"role"`
	Department  string `json:"department"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"`
	M365UPN     string `json:"m365_upn"`
	GoogleEmail string `json:"google_email"`
	Phone       string `json:"phone"`
	HomeStreet  string `json:"home_street"`
	HomePostal  string `json:"home_postal_code"`
	BirthDate   string `json:"birth_date"` // YYYY-MM-DD or ""
}

// explainData is everything Explain loads, kept for the relationship rules.
type explainData struct {
	ExplainResult
	*reference
}

// reference is a tenant's reference data as the access rules read it: the
// batch detectors load it for their window, the stream keeps it cached
// (stream.go). Both classify accesses against it with the same code.
type reference struct {
	appointments, encounters uint64
	idx                      *identity.Index
	workforce                map[string]workforceMember // by lower-case user id
	visits                   map[string][]*visit        // by patient; visits starting in [from, to)
	from, to                 time.Time
}

// Explain classifies every EHR patient access of the tenant in the window.
func (e Explainer) Explain(ctx context.Context, q Querier, t Tenant, w Window) (ExplainResult, error) {
	d, err := e.load(ctx, q, t, w)
	if err != nil {
		return ExplainResult{}, err
	}
	return d.ExplainResult, nil
}

// visitSpan is the range of visit times that can explain accesses in
// [from, to): Days either side, BillingDays before.
func (e Explainer) visitSpan(from, to time.Time) (time.Time, time.Time) {
	e = e.withDefaults()
	return from.AddDate(0, 0, -max(e.Days, e.BillingDays)), to.AddDate(0, 0, e.Days)
}

func (e Explainer) load(ctx context.Context, q Querier, t Tenant, w Window) (*explainData, error) {
	from, to := e.visitSpan(w.From, w.To)
	ref, err := e.loadReference(ctx, q, t.ID, from, to)
	if err != nil {
		return nil, err
	}
	var rows []accessRow
	err = q.Select(ctx, &rows, `
SELECT event_id, time, patient_id, actor_id, actor_name, toString(actor_role) AS actor_role,
       toString(actor_department) AS actor_department, break_glass, toString(purpose_of_use) AS purpose_of_use
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND patient_id != ''
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
ORDER BY time, event_id`, store.Params{"tenant": t.ID, "from": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return nil, fmt.Errorf("read patient accesses: %w", err)
	}
	return e.explain(ref, t, rows), nil
}

// loadReference reads what classifying accesses needs: the schedule counts,
// the roster, the identity index and the visits starting in [from, to).
func (e Explainer) loadReference(ctx context.Context, q Querier, tenant string, from, to time.Time) (*reference, error) {
	db := q.Database()
	ref := &reference{workforce: map[string]workforceMember{}, from: from, to: to}
	var counts []struct {
		Appointments uint64 `json:"appointments"`
		Encounters   uint64 `json:"encounters"`
	}
	p := store.Params{"tenant": tenant}
	err := q.Select(ctx, &counts, `
SELECT (SELECT count() FROM `+db+`.appointments_current WHERE tenant_id = {tenant:String}) AS appointments,
       (SELECT count() FROM `+db+`.encounters_current WHERE tenant_id = {tenant:String}) AS encounters`, p)
	if err != nil {
		return nil, fmt.Errorf("count schedule data: %w", err)
	}
	if len(counts) == 1 {
		ref.appointments, ref.encounters = counts[0].Appointments, counts[0].Encounters
	}
	var wf []workforceMember
	err = q.Select(ctx, &wf, `
SELECT user_id, name, toString(role) AS role, toString(department) AS department, first_name, last_name,
       email, m365_upn, google_email, phone, home_street, home_postal_code, ifNull(toString(birth_date), '') AS birth_date
FROM `+db+`.workforce_current WHERE tenant_id = {tenant:String}`, p)
	if err != nil {
		return nil, fmt.Errorf("read the roster: %w", err)
	}
	for _, m := range wf {
		ref.workforce[strings.ToLower(m.UserID)] = m
	}
	// The Go identity API reads the same reference data identity_links_current
	// is built from, and resolves Practitioner/<id> references too, so it
	// holds even before the tenant's links were first rebuilt.
	if ref.idx, err = identity.NewResolver(q).Load(ctx, tenant); err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	if ref.hasSchedule() {
		if ref.visits, err = e.loadVisits(ctx, q, ref, tenant, from, to); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

func (ref *reference) hasSchedule() bool { return ref.appointments+ref.encounters > 0 }

// explain classifies rows (in time order) against ref: the decision both
// the batch run and the stream make.
func (e Explainer) explain(ref *reference, t Tenant, rows []accessRow) *explainData {
	e = e.withDefaults()
	d := &explainData{ExplainResult: ExplainResult{Tenant: t.ID, Appointments: ref.appointments, Encounters: ref.encounters,
		HasSchedule: ref.hasSchedule()}, reference: ref}
	d.Accesses = make([]Access, 0, len(rows))
	for _, r := range rows {
		a := d.access(r)
		e.classify(&a, ref.visits[a.PatientID], d.HasSchedule, t.Location)
		if a.Explained {
			d.Explained++
		}
		d.Accesses = append(d.Accesses, a)
	}
	if d.HasSchedule && len(d.Accesses) > 0 {
		d.Share = float64(d.Explained) / float64(len(d.Accesses))
	}
	return d
}

// access resolves the actor of one event to a workforce member, falling
// back to what the event says about them.
func (d *explainData) access(r accessRow) Access {
	a := Access{EventID: r.EventID, Time: r.Time, PatientID: r.PatientID, ActorID: r.ActorID,
		Name: r.ActorName, Role: normRole(r.ActorRole), Department: r.ActorDept,
		BreakGlass: r.BreakGlass, PurposeOfUse: r.PurposeOfUse}
	if l := d.idx.Resolve(r.ActorID); l.Linked() {
		a.UserID = l.UserID
		if m, ok := d.workforce[strings.ToLower(l.UserID)]; ok {
			if m.Name != "" {
				a.Name = m.Name
			}
			if m.Role != "" {
				a.Role = normRole(m.Role)
			}
			if m.Department != "" {
				a.Department = m.Department
			}
		}
	}
	return a
}

func (e Explainer) loadVisits(ctx context.Context, q Querier, d *reference, tenant string, from, to time.Time) (map[string][]*visit, error) {
	db := q.Database()
	p := store.Params{"tenant": tenant, "from": chTime(from), "to": chTime(to)}
	var appts, encs []visitRow
	err := q.Select(ctx, &appts, `
SELECT appointment_id AS id, toString(status) AS status, assumeNotNull(start_time) AS at, patient_ids AS patients,
       practitioner_ids AS pracs, practitioner_role_ids AS roles
FROM `+db+`.appointments_current
WHERE tenant_id = {tenant:String} AND start_time IS NOT NULL
  AND start_time >= {from:DateTime64(3)} AND start_time < {to:DateTime64(3)}`, p)
	if err != nil {
		return nil, fmt.Errorf("read appointments: %w", err)
	}
	err = q.Select(ctx, &encs, `
SELECT encounter_id AS id, toString(status) AS status, assumeNotNull(coalesce(period_start, period_end)) AS at,
       [patient_id] AS patients, practitioner_ids AS pracs, practitioner_role_ids AS roles
FROM `+db+`.encounters_current
WHERE tenant_id = {tenant:String} AND coalesce(period_start, period_end) IS NOT NULL
  AND coalesce(period_start, period_end) >= {from:DateTime64(3)} AND coalesce(period_start, period_end) < {to:DateTime64(3)}`, p)
	if err != nil {
		return nil, fmt.Errorf("read encounters: %w", err)
	}
	resolved := map[string]string{} // reference → user id ("" unlinked)
	resolve := func(ref string) string {
		u, ok := resolved[ref]
		if !ok {
			u = d.idx.Resolve(ref).UserID
			resolved[ref] = u
		}
		return u
	}
	out := map[string][]*visit{}
	add := func(kind string, rows []visitRow) {
		for _, r := range rows {
			// An entry made in error never happened; a cancelled or missed
			// appointment still explains the desk that handled it.
			if r.Status == "entered-in-error" {
				continue
			}
			v := &visit{kind: kind, id: r.ID, at: r.At, patients: r.Patients, users: map[string]bool{}, depts: map[string]bool{}}
			var users []string
			for _, id := range r.Pracs {
				v.pracRefs = append(v.pracRefs, strings.ToLower(id), "practitioner/"+strings.ToLower(id))
				users = append(users, resolve("Practitioner/"+id))
			}
			for _, id := range r.Roles {
				users = append(users, resolve("PractitionerRole/"+id))
			}
			for _, u := range users {
				if u == "" {
					continue
				}
				v.users[strings.ToLower(u)] = true
				if m, ok := d.workforce[strings.ToLower(u)]; ok && m.Department != "" {
					v.depts[strings.ToLower(m.Department)] = true
				}
			}
			for _, pid := range r.Patients {
				out[pid] = append(out[pid], v)
			}
		}
	}
	add("appointment", appts)
	add("encounter", encs)
	for _, vs := range out {
		sort.Slice(vs, func(i, j int) bool { return vs[i].at.Before(vs[j].at) })
	}
	return out, nil
}

// classify decides whether one access is explained, and records every check.
func (e Explainer) classify(a *Access, visits []*visit, hasSchedule bool, loc *time.Location) {
	explain := func(why string) {
		if !a.Explained {
			a.Explained, a.Explanation = true, why
		}
	}
	him := hasRole(e.HIMRoles, a.Role)
	if him {
		explain(fmt.Sprintf("role %s covers release of information for any chart", a.Role))
	}
	if !hasSchedule {
		a.Checked = append(a.Checked, NoScheduleNote)
		if him {
			a.Checked = append(a.Checked, fmt.Sprintf("role %s covers any chart: yes", a.Role))
		}
		return
	}
	window := time.Duration(e.Days) * 24 * time.Hour
	who := strings.ToLower(a.UserID)
	raw := strings.ToLower(strings.TrimSpace(a.ActorID))
	dept := strings.ToLower(a.Department)
	near := map[string]int{}
	for _, v := range visits {
		if diff := a.Time.Sub(v.at); diff > window || diff < -window {
			continue
		}
		near[v.kind]++
		switch {
		case who != "" && v.users[who], who == "" && containsString(v.pracRefs, raw):
			explain(fmt.Sprintf("%s %s on %s: they are a participant", v.kind, v.id, v.at.In(loc).Format("2 Jan 2006")))
		case dept != "" && v.depts[dept]:
			explain(fmt.Sprintf("%s %s on %s: a participant is of their department (%s)", v.kind, v.id, v.at.In(loc).Format("2 Jan 2006"), a.Department))
		}
	}
	for _, kind := range []string{"appointment", "encounter"} {
		what := "none"
		if n := near[kind]; n > 0 {
			what = fmt.Sprintf("%d, none with them or their department", n)
			if a.Explained && strings.HasPrefix(a.Explanation, kind) {
				what = fmt.Sprintf("%d: %s", n, a.Explanation)
			}
		}
		a.Checked = append(a.Checked, fmt.Sprintf("%ss ±%d days: %s", kind, e.Days, what))
	}
	day := a.Time.In(loc).Format("2006-01-02")
	switch {
	case hasRole(e.FrontDeskRoles, a.Role):
		ok := false
		for _, v := range visits {
			if v.kind == "appointment" && v.at.In(loc).Format("2006-01-02") == day {
				ok = true
				explain(fmt.Sprintf("role %s covers the patient's appointment day (appointment %s on %s)", a.Role, v.id, v.at.In(loc).Format("2 Jan 2006 15:04")))
				break
			}
		}
		a.Checked = append(a.Checked, fmt.Sprintf("role %s covers appointment days: %s", a.Role, yesNo(ok)))
	case hasRole(e.BillingRoles, a.Role):
		ok := false
		for _, v := range visits {
			if v.kind == "encounter" && !a.Time.Before(v.at) && a.Time.Sub(v.at) <= time.Duration(e.BillingDays)*24*time.Hour {
				ok = true
				explain(fmt.Sprintf("role %s covers %d days after encounter %s on %s", a.Role, e.BillingDays, v.id, v.at.In(loc).Format("2 Jan 2006")))
				break
			}
		}
		a.Checked = append(a.Checked, fmt.Sprintf("role %s covers %d days after an encounter: %s", a.Role, e.BillingDays, yesNo(ok)))
	case him:
		a.Checked = append(a.Checked, fmt.Sprintf("role %s covers any chart: yes", a.Role))
	default:
		role := a.Role
		if role == "" {
			role = "unknown"
		}
		a.Checked = append(a.Checked, fmt.Sprintf("role %s: no role-based explanation", role))
	}
}

// normRole makes "Front Desk", "front-desk" and "front_desk" one role.
func normRole(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(r)
}

func hasRole(roles []string, role string) bool {
	if role == "" {
		return false
	}
	for _, r := range roles {
		if normRole(r) == role {
			return true
		}
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// NoClinicalRelationship flags clinical staff opening a chart with no
// explanation: no appointment or encounter of the patient within ±Days with
// them or their department. One alert per person, patient and local day;
// the severity grows with the number of such patients the person opened
// that day. Silent for a tenant without schedule data.
type NoClinicalRelationship struct {
	Explainer
	ClinicalRoles []string // roles judged (default physician, nurse, medical_assistant, nurse_practitioner, physician_assistant, provider, clinician)
}

// Rule implements Detector.
func (NoClinicalRelationship) Rule() string { return "no_clinical_relationship" }

// Detect implements Detector.
func (d NoClinicalRelationship) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	x, err := d.Explainer.load(ctx, q, t, w)
	if err != nil {
		return nil, err
	}
	groups := d.groups(t, x)
	if len(groups) == 0 {
		return nil, nil
	}
	pats, err := loadPatients(ctx, q, t, groupPatients(groups))
	if err != nil {
		return nil, err
	}
	return d.judge(t, &relData{explainData: x, patients: pats})
}

// groups are the person-patient-days the rule alerts on.
func (d NoClinicalRelationship) groups(t Tenant, x *explainData) []*accessGroup {
	if !x.HasSchedule {
		return nil
	}
	roles := d.ClinicalRoles
	if roles == nil {
		roles = []string{"physician", "nurse", "medical_assistant", "nurse_practitioner", "physician_assistant", "provider", "clinician"}
	}
	return groupAccesses(t, x.Accesses, func(a Access) bool { return !a.Explained && hasRole(roles, a.Role) })
}

func (d NoClinicalRelationship) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	groups := d.groups(t, r.explainData)
	if len(groups) == 0 {
		return nil, nil
	}
	perDay := map[string]int{} // person+day → unexplained patients
	for _, g := range groups {
		perDay[g.who+"\x00"+g.day]++
	}
	days := d.Explainer.withDefaults().Days
	alerts := make([]store.AlertRow, 0, len(groups))
	for _, g := range groups {
		n := perDay[g.who+"\x00"+g.day]
		sev, score := SeverityLow, float32(35)
		switch {
		case n >= 5:
			sev, score = SeverityHigh, 80
		case n >= 2:
			sev, score = SeverityMedium, 55
		}
		a := g.accesses[0]
		reason := fmt.Sprintf("%s opened the chart of patient %s with no appointment or encounter with them or their department within %d days",
			displayName(a.Who(), a.Name, a.Role), r.patients.label(g.patient), days)
		if n > 1 {
			reason += fmt.Sprintf("; that day they opened %s with no such relationship", plural(n, "chart", "charts"))
		}
		alerts = append(alerts, accessAlert(t, d.Rule(), sev, score, g, reason+".", a.Checked))
	}
	return alerts, nil
}

// BreakGlassUnexplained flags emergency ("break the glass") access to a
// patient who had no encounter within ±Hours of it: an emergency leaves an
// encounter behind. Break-glass is an event with break_glass set or a purpose
// of use ETREAT or BTG. Silent for a tenant without encounters loaded.
type BreakGlassUnexplained struct {
	Hours int // (default 24)
}

// Rule implements Detector.
func (BreakGlassUnexplained) Rule() string { return "break_glass_unexplained" }

// Detect implements Detector.
func (d BreakGlassUnexplained) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	x, err := Explainer{}.load(ctx, q, t, w)
	if err != nil {
		return nil, err
	}
	groups := d.groups(t, x)
	if len(groups) == 0 {
		return nil, nil
	}
	pats, err := loadPatients(ctx, q, t, groupPatients(groups))
	if err != nil {
		return nil, err
	}
	return d.judge(t, &relData{explainData: x, patients: pats})
}

func (d BreakGlassUnexplained) hours() int {
	if d.Hours <= 0 {
		return 24
	}
	return d.Hours
}

// groups are the person-patient-days of break-glass accesses with no
// encounter of the patient within ±Hours. The encounters are the visits the
// explainer loaded (entered-in-error left out), which span at least ±14 days
// around the accesses.
func (d BreakGlassUnexplained) groups(t Tenant, x *explainData) []*accessGroup {
	if x.Encounters == 0 {
		return nil
	}
	span := time.Duration(d.hours()) * time.Hour
	return groupAccesses(t, x.Accesses, func(a Access) bool {
		pou := strings.ToUpper(a.PurposeOfUse)
		if !a.BreakGlass && pou != "ETREAT" && pou != "BTG" {
			return false
		}
		for _, v := range x.visits[a.PatientID] {
			if diff := a.Time.Sub(v.at); v.kind == "encounter" && diff <= span && diff >= -span {
				return false
			}
		}
		return true
	})
}

func (d BreakGlassUnexplained) judge(t Tenant, r *relData) ([]store.AlertRow, error) {
	groups := d.groups(t, r.explainData)
	hours := d.hours()
	alerts := make([]store.AlertRow, 0, len(groups))
	for _, g := range groups {
		a := g.accesses[0]
		how := "break-the-glass"
		if !a.BreakGlass {
			how = "emergency (purpose of use " + strings.ToUpper(a.PurposeOfUse) + ")"
		}
		reason := fmt.Sprintf("%s used %s access to open the chart of patient %s at %s, but the patient has no encounter within %d hours of it.",
			displayName(a.Who(), a.Name, a.Role), how, r.patients.label(g.patient), a.Time.In(t.Location).Format("15:04 on Mon 2 Jan 2006"), hours)
		expl := []string{fmt.Sprintf("encounters ±%d hours: none", hours), fmt.Sprintf("break-glass accesses that day: %d", len(g.accesses))}
		alerts = append(alerts, accessAlert(t, d.Rule(), SeverityHigh, 75, g, reason, expl))
	}
	return alerts, nil
}

// accessGroup is one person's accesses to one patient on one local day: the
// unit every access rule alerts on.
type accessGroup struct {
	who, patient, day string
	accesses          []Access
}

// groupAccesses groups the accesses keep selects, in a stable order.
func groupAccesses(t Tenant, accs []Access, keep func(Access) bool) []*accessGroup {
	byKey := map[string]*accessGroup{}
	var out []*accessGroup
	for _, a := range accs {
		if !keep(a) {
			continue
		}
		day := a.Time.In(t.Location).Format("2006-01-02")
		k := a.Who() + "\x00" + a.PatientID + "\x00" + day
		g := byKey[k]
		if g == nil {
			g = &accessGroup{who: a.Who(), patient: a.PatientID, day: day}
			byKey[k] = g
			out = append(out, g)
		}
		g.accesses = append(g.accesses, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].who != out[j].who {
			return out[i].who < out[j].who
		}
		if out[i].day != out[j].day {
			return out[i].day < out[j].day
		}
		return out[i].patient < out[j].patient
	})
	return out
}

func groupPatients(gs []*accessGroup) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range gs {
		if !seen[g.patient] {
			seen[g.patient] = true
			out = append(out, g.patient)
		}
	}
	return out
}

// accessAlert builds the alert of one group.
func accessAlert(t Tenant, rule, severity string, score float32, g *accessGroup, reason string, explanations []string) store.AlertRow {
	first, last := g.accesses[0], g.accesses[len(g.accesses)-1]
	var eids []string
	for _, a := range g.accesses {
		if len(eids) < 200 {
			eids = append(eids, a.EventID)
		}
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, rule, g.who, g.patient, g.day), Rule: rule,
		Severity: severity, Score: score, ActorID: g.who, ActorName: first.Name, ActorRole: first.Role,
		PatientIDs: []string{g.patient}, FirstSeen: first.Time.UTC(), LastSeen: last.Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(g.accesses)), Explanations: append([]string(nil), explanations...),
	}
}
