package records

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence"
)

// KindInfo describes a record kind for exports.
type KindInfo struct {
	Kind  Kind
	Title string
	// current writes the current versions as CSV; history the versions
	// changed in a period. Both return the number of records.
	current func(ctx context.Context, db DB, w io.Writer) (int, error)
	history func(ctx context.Context, db DB, from, to time.Time, w io.Writer) (int, error)
}

func kindInfo[T Body](title string) KindInfo {
	return KindInfo{Kind: kindOf[T](), Title: title,
		current: func(ctx context.Context, db DB, w io.Writer) (int, error) {
			rs, err := List[T](ctx, db)
			if err != nil {
				return 0, err
			}
			return len(rs), WriteCSV(w, rs)
		},
		history: func(ctx context.Context, db DB, from, to time.Time, w io.Writer) (int, error) {
			rs, err := Versions[T](ctx, db, from, to)
			if err != nil {
				return 0, err
			}
			return len(rs), WriteCSV(w, rs)
		}}
}

// Kinds lists every record kind, in the binder's order.
func Kinds() []KindInfo {
	return []KindInfo{
		kindInfo[RiskAnalysis]("Risk analysis"),
		kindInfo[Risk]("Risks and treatment"),
		kindInfo[Policy]("Policies and procedures"),
		kindInfo[PolicyAck]("Policy acknowledgements"),
		kindInfo[Course]("Training courses"),
		kindInfo[Assignment]("Training assignments"),
		kindInfo[Completion]("Training completions"),
		kindInfo[Vendor]("Business associates"),
		kindInfo[Incident]("Incidents and breaches"),
		kindInfo[PatientRequest]("Patient rights requests"),
		kindInfo[Disclosure]("Recorded disclosures"),
		kindInfo[CalendarTask]("Audit calendar"),
		kindInfo[Finding]("Findings and corrective actions"),
		kindInfo[Sanction]("Sanctions"),
	}
}

// BinderPeriod is the period a binder covers, both days included, and
// the other workflows whose evidence it holds.
type BinderPeriod struct {
	From, To  Date
	Generated time.Time
	Sources   []EvidenceSource
	// Workflows feed the status page (see TenantStatusWith).
	Workflows Workflows
}

// BinderFile is one file of a binder and what it holds.
type BinderFile struct {
	Name  string
	Title string
	Count int // records or rows; -1 for a document
}

// WriteBinder writes the evidence binder of db's tenant for a period as a
// ZIP: index.md and summary.pdf first (the compliance status and what is
// in the binder), then per kind the current records (records/KIND.csv) and
// every version changed in the period (history/KIND.csv), each incident
// as a document with its breach clock, the HHS annual log of each year of
// the period, the audit calendar of the period, the policies' texts and
// the training status, then what each of p.Sources adds (the monthly log
// reviews, the recertification campaigns). It returns the files written.
func WriteBinder(ctx context.Context, db DB, w io.Writer, p BinderPeriod) ([]BinderFile, error) {
	if p.From.IsZero() || p.To.IsZero() || p.To.Before(p.From) {
		return nil, fmt.Errorf("%w: a binder needs a period whose from is not after its to", ErrInvalid)
	}
	if p.Generated.IsZero() {
		p.Generated = time.Now()
	}
	day := p.To
	zw := zip.NewWriter(w)
	var files []BinderFile
	add := func(name, title string, count int, body []byte) error {
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: p.Generated.UTC()}
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := f.Write(body); err != nil {
			return err
		}
		files = append(files, BinderFile{Name: name, Title: title, Count: count})
		return nil
	}
	from, to := p.From.Time(), p.To.AddDays(1).Time()
	for _, k := range Kinds() {
		var buf bytes.Buffer
		n, err := k.current(ctx, db, &buf)
		if err != nil {
			return nil, err
		}
		if err := add("records/"+string(k.Kind)+".csv", k.Title+": current", n, buf.Bytes()); err != nil {
			return nil, err
		}
		buf.Reset()
		if n, err = k.history(ctx, db, from, to, &buf); err != nil {
			return nil, err
		}
		if err := add("history/"+string(k.Kind)+".csv", k.Title+": every change in the period", n, buf.Bytes()); err != nil {
			return nil, err
		}
	}

	incidents, err := List[Incident](ctx, db)
	if err != nil {
		return nil, err
	}
	var dl [][]string
	for _, v := range incidents {
		if err := add("incidents/"+v.ID+".md", "Incident "+v.ID+": "+v.Body.Title, -1, []byte(IncidentMarkdown(v, day))); err != nil {
			return nil, err
		}
		for _, s := range v.Body.Deadlines(day) {
			dl = append(dl, []string{v.ID, string(s.Notice), s.State, s.Due.String(), s.Status, s.SentOn.String(), s.Rule})
		}
	}
	var buf bytes.Buffer
	if err := evidence.WriteCSV(&buf, []string{"incident_id", "notice", "state", "due", "status", "sent_on", "rule"}, orEmpty(dl)); err != nil {
		return nil, err
	}
	if err := add("breach/deadlines.csv", "Breach clock of every incident", len(dl), buf.Bytes()); err != nil {
		return nil, err
	}
	for y := p.From.Year(); y <= p.To.Year(); y++ {
		buf.Reset()
		if err := WriteHHSLogCSV(&buf, incidents, y); err != nil {
			return nil, err
		}
		if err := add(fmt.Sprintf("breach/hhs-annual-log-%d.csv", y), fmt.Sprintf("HHS log of %d breaches affecting fewer than 500", y),
			len(HHSLog(incidents, y)), buf.Bytes()); err != nil {
			return nil, err
		}
	}

	tasks, err := List[CalendarTask](ctx, db)
	if err != nil {
		return nil, err
	}
	cal, n := CalendarMarkdown(tasks, p.From, p.To)
	if err := add("calendar/calendar.md", "Audit calendar of the period", n, []byte(cal)); err != nil {
		return nil, err
	}

	policies, err := List[Policy](ctx, db)
	if err != nil {
		return nil, err
	}
	for _, v := range policies {
		doc := fmt.Sprintf("# %s\n\nRule: %s · version %d · status %s · approved by %s on %s · published %s · review due %s\n\n%s\n",
			v.Body.Title, v.Body.Rule, v.Version, v.Body.Status, orDash(v.Body.ApprovedBy), orDash(v.Body.ApprovedOn.String()),
			orDash(v.Body.PublishedOn.String()), orDash(v.Body.ReviewDue.String()), v.Body.Markdown)
		if err := add(fmt.Sprintf("policies/%s-v%d.md", v.ID, v.Version), "Policy "+v.Body.Title, -1, []byte(doc)); err != nil {
			return nil, err
		}
	}

	courses, _ := List[Course](ctx, db)
	assignments, _ := List[Assignment](ctx, db)
	completions, err := List[Completion](ctx, db)
	if err != nil {
		return nil, err
	}
	var tr [][]string
	for _, s := range Training(courses, assignments, completions, day) {
		tr = append(tr, []string{s.AssignmentID, s.Assignment.CourseID, s.Assignment.Person, s.Assignment.Role,
			s.Assignment.Due.String(), s.Status, s.CompletedOn.String()})
	}
	buf.Reset()
	if err := evidence.WriteCSV(&buf, []string{"assignment_id", "course_id", "person", "role", "due", "status", "completed_on"}, orEmpty(tr)); err != nil {
		return nil, err
	}
	if err := add("training/status.csv", "Training status of every assignment", len(tr), buf.Bytes()); err != nil {
		return nil, err
	}

	for _, src := range p.Sources {
		efs, err := src.BinderFiles(ctx, db, p.From, p.To)
		if err != nil {
			return nil, fmt.Errorf("evidence binder: %w", err)
		}
		for _, f := range efs {
			if err := add(f.Name, f.Title, f.Count, f.Body); err != nil {
				return nil, err
			}
		}
	}

	st, err := TenantStatusWith(ctx, db, day, p.Workflows)
	if err != nil {
		return nil, err
	}
	js, _ := json.MarshalIndent(st, "", "  ")
	if err := add("status.json", "Compliance status on "+day.String(), -1, js); err != nil {
		return nil, err
	}
	buf.Reset()
	if err := evidence.WritePDF(&buf, binderReport(st, p, files)); err != nil {
		return nil, err
	}
	pdf := buf.Bytes()
	idx := binderIndex(st, p, files)
	// The index lists itself and the summary too.
	if err := add("summary.pdf", "Summary (PDF)", -1, pdf); err != nil {
		return nil, err
	}
	if err := add("index.md", "This index", -1, []byte(idx)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("write the evidence binder: %w", err)
	}
	return files, nil
}

func orEmpty(rows [][]string) [][]string {
	if rows == nil {
		return [][]string{}
	}
	return rows
}

func statusFacts(st Status) []evidence.Fact {
	recert := "none due yet"
	if st.RecertPeriod != "" {
		recert = st.RecertPeriod + " " + map[bool]string{true: "done", false: "NOT done"}[st.RecertDone]
	}
	return []evidence.Fact{
		{Label: "Monthly log reviews on time (12 months)", Value: fmt.Sprintf("%d of %d", st.ReviewsOnTime, st.ReviewsDue)},
		{Label: "Latest access recertification", Value: recert},
		{Label: "Training complete", Value: fmt.Sprintf("%.0f%% (%d overdue)", st.TrainingPercent, st.TrainingOverdue)},
		{Label: "Business associates with a BAA in force", Value: fmt.Sprintf("%d of %d", st.VendorsCurrent, st.Vendors)},
		{Label: "Open incidents", Value: strconv.Itoa(st.OpenIncidents)},
		{Label: "Breach notices overdue", Value: strconv.Itoa(st.NoticesOverdue)},
		{Label: "Risk treatments overdue", Value: strconv.Itoa(st.RisksOverdue)},
	}
}

func binderReport(st Status, p BinderPeriod, files []BinderFile) evidence.Report {
	due := &evidence.Table{Header: []string{"Due", "What", "Owner", "Status"}, Widths: []float64{2, 7, 3, 2}}
	for _, it := range append(append([]DueItem{}, st.Overdue...), st.Next...) {
		due.Rows = append(due.Rows, []string{it.Due.String(), it.Title, it.Owner, it.Status})
	}
	contents := &evidence.Table{Header: []string{"File", "Contents", "Records"}, Widths: []float64{5, 7, 2}}
	for _, f := range files {
		contents.Rows = append(contents.Rows, []string{f.Name, f.Title, countText(f.Count)})
	}
	return evidence.Report{
		Title:     "HIPAA compliance evidence binder: " + st.Tenant,
		Subtitle:  fmt.Sprintf("Period %s to %s", p.From, p.To),
		Generated: p.Generated,
		Sections: []evidence.Section{
			{Heading: "Compliance status on " + st.Day.String(), Facts: statusFacts(st)},
			{Heading: "Overdue and due in the next 30 days", Table: due},
			{Heading: "Contents", Table: contents},
		},
	}
}

func countText(n int) string {
	if n < 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func binderIndex(st Status, p BinderPeriod, files []BinderFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# HIPAA compliance evidence binder: %s\n\nPeriod: %s to %s. Generated %s by phiwatch.\n\n",
		st.Tenant, p.From, p.To, p.Generated.UTC().Format(time.RFC3339))
	b.WriteString("Every record is kept as append-only versions: the history files hold each change of the period with who made it, when and why.\n\n")
	fmt.Fprintf(&b, "## Compliance status on %s\n\n", st.Day)
	for _, f := range statusFacts(st) {
		fmt.Fprintf(&b, "- %s: %s\n", f.Label, f.Value)
	}
	b.WriteString("\n## Overdue\n\n")
	writeDue(&b, st.Overdue)
	b.WriteString("\n## Due in the next 30 days\n\n")
	writeDue(&b, st.Next)
	b.WriteString("\n## Contents\n\n| file | contents | records |\n|---|---|---|\n")
	for _, f := range files {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.Name, mdCell(f.Title), countText(f.Count))
	}
	b.WriteString("| summary.pdf | Summary (PDF) | |\n| index.md | This index | |\n")
	return b.String()
}

func writeDue(b *strings.Builder, items []DueItem) {
	if len(items) == 0 {
		b.WriteString("Nothing.\n")
		return
	}
	b.WriteString("| due | what | owner | record |\n|---|---|---|---|\n")
	for _, it := range items {
		fmt.Fprintf(b, "| %s | %s | %s | %s %s |\n", it.Due, mdCell(it.Title), mdCell(it.Owner), it.Kind, it.ID)
	}
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
}

// IncidentMarkdown documents an incident: intake, timeline, the four-factor
// assessment, the determination and the breach clock as of day.
func IncidentMarkdown(v Versioned[Incident], day Date) string {
	in := v.Body
	var b strings.Builder
	fmt.Fprintf(&b, "# Incident %s: %s\n\nVersion %d, last changed %s by %s (%s).\n\n", v.ID, in.Title, v.Version,
		v.ChangedAt.UTC().Format(time.RFC3339), v.Actor, v.Reason)
	fmt.Fprintf(&b, "- Status: %s\n- Source: %s %s\n- Opened by: %s\n- Discovered: %s\n- Patients involved: %d\n- Individuals affected: %d\n",
		in.Status, in.Source, in.SourceID, in.OpenedBy, in.Discovered, len(in.PatientIDs), in.Affected)
	if len(in.ByState) > 0 {
		var parts []string
		for _, st := range sortedKeys(in.ByState) {
			parts = append(parts, fmt.Sprintf("%s %d", st, in.ByState[st]))
		}
		fmt.Fprintf(&b, "- Residents by state: %s\n", strings.Join(parts, ", "))
	}
	if in.Role == BusinessAssociate {
		b.WriteString("- The practice acts as a business associate for this breach\n")
	}
	if in.Summary != "" {
		fmt.Fprintf(&b, "\n## Summary\n\n%s\n", in.Summary)
	}
	b.WriteString("\n## Investigation timeline\n\n")
	if len(in.Timeline) == 0 {
		b.WriteString("No entries.\n")
	}
	for _, e := range in.Timeline {
		fmt.Fprintf(&b, "- %s, %s: %s\n", e.At.UTC().Format(time.RFC3339), e.Actor, strings.ReplaceAll(e.Note, "\n", " "))
	}
	b.WriteString("\n## Risk assessment (45 CFR 164.402(2))\n\n")
	if a := in.Assessment; a == nil {
		b.WriteString("Not assessed yet: a breach is presumed until it is.\n")
	} else {
		fmt.Fprintf(&b, "Assessed by %s on %s.\n\n| factor | risk | notes |\n|---|---|---|\n", a.AssessedBy, a.AssessedOn)
		for _, f := range a.factors() {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", f.name, orDash(f.f.Risk), mdCell(f.f.Notes))
		}
		fmt.Fprintf(&b, "\nThe factors support: %s.\n", orDash(a.Suggest()))
	}
	b.WriteString("\n## Determination\n\n")
	if in.Determination == "" {
		b.WriteString("Not determined.\n")
	} else {
		fmt.Fprintf(&b, "%s, by %s on %s.", in.Determination, in.DeterminedBy, in.DeterminedOn)
		if in.Exception != "" {
			fmt.Fprintf(&b, " Exception: %s.", breachExceptions[in.Exception])
		}
		fmt.Fprintf(&b, "\n\n%s\n", in.Rationale)
	}
	fmt.Fprintf(&b, "\n## Breach clock as of %s\n\n", day)
	if dls := in.Deadlines(day); len(dls) == 0 {
		b.WriteString("No notification is required.\n")
	} else {
		b.WriteString("| notice | due | status | sent | rule |\n|---|---|---|---|---|\n")
		for _, s := range dls {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s.label(), s.Due, s.Status, orDash(s.SentOn.String()), s.Rule)
		}
	}
	if len(in.Notices) > 0 {
		b.WriteString("\n## Notices sent\n\n")
		for _, n := range in.Notices {
			what := string(n.Kind)
			if n.State != "" {
				what += " (" + n.State + ")"
			}
			fmt.Fprintf(&b, "- %s on %s by %s, %d recipients\n", what, n.SentOn, orDash(n.Method), n.Count)
		}
	}
	if !in.ClosedOn.IsZero() {
		fmt.Fprintf(&b, "\nClosed on %s.\n", in.ClosedOn)
	}
	return b.String()
}

// CalendarMarkdown is the audit calendar of the tasks due in [from, to] as
// a table, and how many there are.
func CalendarMarkdown(tasks []Versioned[CalendarTask], from, to Date) (string, int) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Audit calendar %s to %s\n\n| due | task | owner | status | completed | by | evidence |\n|---|---|---|---|---|---|---|\n", from, to)
	var in []Versioned[CalendarTask]
	for _, v := range tasks {
		if !v.Body.Due.Before(from) && !v.Body.Due.After(to) {
			in = append(in, v)
		}
	}
	sortByDue(in)
	for _, v := range in {
		t := v.Body
		status := t.Status
		if t.Status == "done" && !t.OnTime() {
			status = "done late"
		} else if t.Status == "open" && to.After(t.Due) {
			status = "OVERDUE"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", t.Due, mdCell(t.Title), mdCell(orDash(t.Owner)), status,
			orDash(t.CompletedOn.String()), mdCell(orDash(t.CompletedBy)), mdCell(orDash(t.Evidence)))
	}
	return b.String(), len(in)
}
