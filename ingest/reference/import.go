package reference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Kind names a reference feed.
type Kind string

// The feeds.
const (
	KindRoster            Kind = "roster"
	KindAccounts          Kind = "accounts"
	KindPatients          Kind = "patients"
	KindPractitioners     Kind = "practitioners"
	KindPractitionerRoles Kind = "practitioner-roles"
	KindAppointments      Kind = "appointments"
	KindEncounters        Kind = "encounters"
)

// Kinds lists the feeds with their input format, for help text.
func Kinds() []struct {
	Kind   Kind
	Format string
} {
	return []struct {
		Kind   Kind
		Format string
	}{
		{KindRoster, "CSV, docs/roster.md"},
		{KindAccounts, "CSV, docs/reference-feeds.md"},
		{KindPatients, "FHIR R4 Patient, NDJSON or Bundle"},
		{KindPractitioners, "FHIR R4 Practitioner, NDJSON or Bundle"},
		{KindPractitionerRoles, "FHIR R4 PractitionerRole, NDJSON or Bundle"},
		{KindAppointments, "FHIR R4 Appointment, NDJSON or Bundle"},
		{KindEncounters, "FHIR R4 Encounter, NDJSON or Bundle"},
	}
}

// ParseKind reads a --kind value.
func ParseKind(s string) (Kind, error) {
	var names []string
	for _, k := range Kinds() {
		if strings.EqualFold(s, string(k.Kind)) {
			return k.Kind, nil
		}
		names = append(names, string(k.Kind))
	}
	return "", fmt.Errorf("unknown reference feed %q: want one of %s", s, strings.Join(names, ", "))
}

// Options describe one import.
type Options struct {
	Tenant     string
	Kind       Kind
	Source     string // the file, recorded with every row
	ImportedBy string // who imports it, recorded with every row
	Retention  time.Duration
	// System is the system of an account inventory without a system column.
	System string
	// Now stamps the import (default time.Now); tests fix it.
	Now func() time.Time
}

// Result says what an import did.
type Result struct {
	Kind     Kind
	Read     int    // records read from the file
	Imported int    // rows stored (one new version each)
	Detail   string // e.g. "3 terminated", "vpn 12, ehr 30"
	// Rejected lists the FHIR records that were not imported, with why.
	Rejected []RecordError
	// Notes are things the operator should know that did not stop the
	// import: other resource types skipped, repeated ids.
	Notes    []string
	Links    identity.BuildSummary
	LinksErr error // the import stored, but rebuilding identity links failed
}

// Summary is the import's one line for an operator.
func (r Result) Summary(tenant string) string {
	if r.Kind == KindRoster { // the wording phiwatch roster always printed
		return fmt.Sprintf("imported %d people (%s) into the roster of %s", r.Imported, r.Detail, tenant)
	}
	nouns := map[Kind][2]string{KindAccounts: {"account", "accounts"}, KindPatients: {"patient", "patients"},
		KindPractitioners: {"practitioner", "practitioners"}, KindPractitionerRoles: {"practitioner role", "practitioner roles"},
		KindAppointments: {"appointment", "appointments"}, KindEncounters: {"encounter", "encounters"}}[r.Kind]
	what := nouns[1]
	if r.Imported == 1 {
		what = nouns[0]
	}
	s := fmt.Sprintf("imported %d %s of %s", r.Imported, what, tenant)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	if n := len(r.Rejected); n > 0 {
		s += fmt.Sprintf("; %d of %d records rejected", n, r.Read)
	}
	return s
}

// Import reads one reference file and stores it as a new version, then
// rebuilds the tenant's identity links from the current reference data.
// The roster and account inventories are all or nothing (an error, nothing
// stored, when any line is bad); FHIR feeds store the resources they can
// read and list the rest in Result.Rejected, failing only when none is
// readable. The caller has migrated the store.
func Import(ctx context.Context, s store.Store, r io.Reader, o Options) (Result, error) {
	res := Result{Kind: o.Kind}
	if !event.ValidTenant(o.Tenant) {
		return res, fmt.Errorf("tenant %q: use 1-64 characters of a-z, 0-9, '-' or '_'", o.Tenant)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	at := now().UTC().Truncate(time.Millisecond)
	keep := o.Retention
	if keep <= 0 {
		keep = store.DefaultRetention
	}
	var insert func() error
	switch o.Kind {
	case KindRoster:
		people, cols, err := parseRosterFile(r, o.Tenant, at)
		if err != nil {
			return res, err
		}
		if res.Notes, err = clearedColumns(ctx, s, o.Tenant, cols); err != nil {
			return res, err
		}
		rows, err := RosterRows(o.Tenant, people, o.ImportedBy, o.Source, at, keep)
		if err != nil {
			return res, err
		}
		terminated := 0
		for _, p := range people {
			if p.TerminationDate != nil {
				terminated++
			}
		}
		res.Read, res.Imported, res.Detail = len(rows), len(rows), fmt.Sprintf("%d terminated", terminated)
		insert = func() error { return s.InsertWorkforce(ctx, rows) }
	case KindAccounts:
		accounts, err := ParseAccounts(r, o.Tenant, o.System)
		if err != nil {
			return res, err
		}
		rows, err := AccountRows(o.Tenant, accounts, o.ImportedBy, o.Source, at, keep)
		if err != nil {
			return res, err
		}
		res.Read, res.Imported, res.Detail = len(rows), len(rows), strings.Join(accountSystems(rows), ", ")
		insert = func() error { return s.InsertAccounts(ctx, rows) }
	case KindPatients:
		rows, rep, err := ReadPatients(r)
		if err := fhirImport(&res, "Patient", rows, rep, err); err != nil {
			return res, err
		}
		restricted := 0
		for i := range rows {
			p := &rows[i]
			p.TenantID, p.ImportedAt, p.ImportedBy, p.Source, p.RetainUntil = o.Tenant, at, o.ImportedBy, o.Source, at.Add(keep)
			if p.Restricted {
				restricted++
			}
		}
		res.Detail = fmt.Sprintf("%d restricted", restricted)
		insert = func() error { return s.InsertPatients(ctx, rows) }
	case KindPractitioners:
		rows, rep, err := ReadPractitioners(r)
		if err := fhirImport(&res, "Practitioner", rows, rep, err); err != nil {
			return res, err
		}
		for i := range rows {
			p := &rows[i]
			p.TenantID, p.ImportedAt, p.ImportedBy, p.Source, p.RetainUntil = o.Tenant, at, o.ImportedBy, o.Source, at.Add(keep)
		}
		insert = func() error { return s.InsertPractitioners(ctx, rows) }
	case KindPractitionerRoles:
		rows, rep, err := ReadPractitionerRoles(r)
		if err := fhirImport(&res, "PractitionerRole", rows, rep, err); err != nil {
			return res, err
		}
		for i := range rows {
			p := &rows[i]
			p.TenantID, p.ImportedAt, p.ImportedBy, p.Source, p.RetainUntil = o.Tenant, at, o.ImportedBy, o.Source, at.Add(keep)
		}
		insert = func() error { return s.InsertPractitionerRoles(ctx, rows) }
	case KindAppointments:
		rows, rep, err := ReadAppointments(r)
		if err := fhirImport(&res, "Appointment", rows, rep, err); err != nil {
			return res, err
		}
		for i := range rows {
			p := &rows[i]
			p.TenantID, p.ImportedAt, p.ImportedBy, p.Source, p.RetainUntil = o.Tenant, at, o.ImportedBy, o.Source, at.Add(keep)
		}
		insert = func() error { return s.InsertAppointments(ctx, rows) }
	case KindEncounters:
		rows, rep, err := ReadEncounters(r)
		if err := fhirImport(&res, "Encounter", rows, rep, err); err != nil {
			return res, err
		}
		for i := range rows {
			p := &rows[i]
			p.TenantID, p.ImportedAt, p.ImportedBy, p.Source, p.RetainUntil = o.Tenant, at, o.ImportedBy, o.Source, at.Add(keep)
		}
		insert = func() error { return s.InsertEncounters(ctx, rows) }
	default:
		_, err := ParseKind(string(o.Kind))
		return res, err
	}
	if err := insert(); err != nil {
		return res, fmt.Errorf("store the %s import: %w", o.Kind, err)
	}
	// Every import changes what account names mean, so the mapping the
	// detectors join is rebuilt now rather than left stale until some job
	// runs. A failure here does not undo the import, which is stored.
	res.Links, res.LinksErr = identity.Rebuild(ctx, s, o.Tenant, at, keep)
	if res.LinksErr != nil {
		res.LinksErr = fmt.Errorf("the %s import is stored, but rebuilding identity links failed (run phiwatch reference relink): %w", o.Kind, res.LinksErr)
	}
	return res, nil
}

// identityColumns are the roster columns identity resolution reads.
var identityColumns = []string{"email", "aliases", "employee_id", "npi", "ehr_username", "m365_upn", "vpn_username", "google_email"}

// clearedColumns warns about a roster file that lacks identity columns the
// current roster uses. Each import is the whole truth about each person, so
// an older-format export clears them (the earlier versions keep them); the
// operator should know before links quietly disappear.
func clearedColumns(ctx context.Context, s store.Store, tenant string, cols map[string]bool) ([]string, error) {
	var missing, exprs []string
	for _, c := range identityColumns {
		if !cols[c] {
			missing = append(missing, c)
			exprs = append(exprs, fmt.Sprintf("countIf(notEmpty(%s)) AS %s", c, c))
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	var got []map[string]uint64
	if err := s.Select(ctx, &got, "SELECT "+strings.Join(exprs, ", ")+" FROM "+s.Database()+".workforce_current WHERE tenant_id = {tenant:String}",
		store.Params{"tenant": tenant}); err != nil {
		return nil, fmt.Errorf("read the current roster of %s: %w", tenant, err)
	}
	var notes []string
	for _, c := range missing {
		if len(got) == 1 && got[0][c] > 0 {
			notes = append(notes, fmt.Sprintf("the file has no %s column, which %d people on the current roster have: this import clears it for them (earlier versions keep it)", c, got[0][c]))
		}
	}
	return notes, nil
}

// fhirImport folds a FHIR read into the result. It fails when the file
// could not be read or held no readable resource of the type; otherwise the
// caller stores the rows.
func fhirImport[T any](res *Result, typ string, rows []T, rep FHIRReport, err error) error {
	if err != nil {
		return err
	}
	res.Read = rep.Resources + len(rep.Rejected)
	res.Imported = len(rows)
	res.Rejected = rep.Rejected
	if len(rep.Skipped) > 0 {
		var kinds []string
		for t, n := range rep.Skipped {
			kinds = append(kinds, fmt.Sprintf("%s ×%d", t, n))
		}
		sort.Strings(kinds)
		res.Notes = append(res.Notes, fmt.Sprintf("skipped resources of other types (this import reads %s): %s", typ, strings.Join(kinds, ", ")))
	}
	if n := len(rep.Duplicates); n > 0 {
		ex := rep.Duplicates
		if len(ex) > 5 {
			ex = append(ex[:5:5], "…")
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%d ids appear more than once; the last one in the file is kept: %s", n, strings.Join(ex, ", ")))
	}
	if len(rows) == 0 {
		if len(rep.Rejected) > 0 {
			return fmt.Errorf("no %s resource could be read, nothing imported:\n%w", typ, errors.Join(recordErrors(rep.Rejected, 20)...))
		}
		found := ""
		if len(res.Notes) > 0 {
			found = " (" + res.Notes[0] + ")"
		}
		return fmt.Errorf("no %s resources in the file%s", typ, found)
	}
	return nil
}

// recordErrors lists at most max problems, and how many more there are.
func recordErrors(rs []RecordError, max int) []error {
	var out []error
	for i, r := range rs {
		if i == max {
			out = append(out, fmt.Errorf("… and %d more", len(rs)-max))
			break
		}
		out = append(out, r)
	}
	return out
}
