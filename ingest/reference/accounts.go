package reference

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Systems an account inventory may describe.
var Systems = []string{"ehr", "m365", "vpn", "google", "other"}

// systemAliases are names exports and operators use for the same systems.
var systemAliases = map[string]string{
	"entra": "m365", "entra_id": "m365", "entraid": "m365", "azure_ad": "m365", "azuread": "m365", "o365": "m365", "office365": "m365",
	"google_workspace": "google", "gws": "google", "gsuite": "google",
}

// AccountColumns documents the account inventory CSV
// (docs/reference-feeds.md).
var AccountColumns = []Column{
	{Name: "system", Meaning: "ehr, m365, vpn, google or other (or --system for a file of one system)"},
	{Name: "account_id", Aliases: []string{"username", "login"}, Required: true, Meaning: "the account's sign-in name as the system's logs show it (required)"},
	{Name: "display_name", Aliases: []string{"name"}, Meaning: "display name"},
	{Name: "email", Aliases: []string{"mail"}, Meaning: "email address of the account"},
	{Name: "enabled", Meaning: "yes/no; empty: yes"},
	{Name: "created", Meaning: "when the account was created (RFC 3339 or YYYY-MM-DD)"},
	{Name: "last_login", Aliases: []string{"last_sign_in"}, Meaning: "last sign-in per the system (optional; empty or never: none)"},
	{Name: "roles", Meaning: "roles in the system, separated by ';'"},
	{Name: "groups", Meaning: "groups in the system, separated by ';'"},
	{Name: "privileged", Aliases: []string{"admin"}, Meaning: "yes/no: administrative or break-glass rights; empty: no"},
	{Name: "owner_user_id", Aliases: []string{"owner"}, Meaning: "roster user_id of the person the account belongs to (optional, explicit link)"},
	{Name: "tenant_id", Meaning: "optional; must equal the tenant being imported"},
}

// ParseAccounts reads an account inventory CSV. defaultSystem is the system
// of rows without a system cell ("" requires the column). Like the roster,
// a file with any bad line is rejected whole: each import is the complete
// inventory of the systems it names, so a dropped line would read as a
// deleted account and escape recertification.
func ParseAccounts(r io.Reader, tenant, defaultSystem string) ([]store.AccountRow, error) {
	if defaultSystem != "" {
		s, ok := normalizeSystem(defaultSystem)
		if !ok {
			return nil, fmt.Errorf("system %q: want one of %s", defaultSystem, strings.Join(Systems, ", "))
		}
		defaultSystem = s
	}
	f, err := openCSV(r, "account inventory", AccountColumns)
	if err != nil {
		return nil, err
	}
	if !f.has("system") && defaultSystem == "" {
		return nil, errors.New("account inventory: the header has no system column; add one or name the file's system (--system ehr|m365|vpn|google|other)")
	}
	var rows []store.AccountRow
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
		a, problems := accountRow(row, tenant, defaultSystem)
		if a.AccountID != "" && a.System != "" {
			k := a.System + "\x00" + strings.ToLower(a.AccountID)
			if prev, dup := seen[k]; dup {
				problems = append(problems, fmt.Sprintf("%s account %q already on line %d", a.System, a.AccountID, prev))
			} else {
				seen[k] = row.line
			}
		}
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("line %d: %s", row.line, strings.Join(problems, "; ")))
			continue
		}
		rows = append(rows, a)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("account inventory rejected, nothing imported:\n%w", errors.Join(errs...))
	}
	if len(rows) == 0 {
		return nil, errors.New("account inventory: no accounts in the file")
	}
	return rows, nil
}

func accountRow(row csvRow, tenant, defaultSystem string) (store.AccountRow, []string) {
	a := store.AccountRow{
		AccountID: row.get("account_id"), DisplayName: row.get("display_name"), Email: row.get("email"),
		Roles: row.list("roles"), Groups: row.list("groups"), OwnerUserID: row.get("owner_user_id"),
	}
	var problems []string
	sys := row.get("system")
	if sys == "" {
		sys = defaultSystem
	}
	if s, ok := normalizeSystem(sys); ok {
		a.System = s
	} else if sys == "" {
		problems = append(problems, "system is empty")
	} else {
		problems = append(problems, fmt.Sprintf("system %q: want one of %s", sys, strings.Join(Systems, ", ")))
	}
	if a.AccountID == "" {
		problems = append(problems, "account_id is empty")
	}
	if t := row.get("tenant_id"); t != "" && t != tenant {
		problems = append(problems, fmt.Sprintf("tenant_id %q, but importing into %q", t, tenant))
	}
	if err := checkEmail("email", a.Email); err != nil {
		problems = append(problems, err.Error())
	}
	var err error
	if a.Enabled, err = row.boolean("enabled", true); err != nil {
		problems = append(problems, err.Error())
	}
	if a.Privileged, err = row.boolean("privileged", false); err != nil {
		problems = append(problems, err.Error())
	}
	if a.Created, err = row.timestamp("created"); err != nil {
		problems = append(problems, err.Error())
	}
	if a.LastLogin, err = row.timestamp("last_login"); err != nil {
		problems = append(problems, err.Error())
	}
	return a, problems
}

func normalizeSystem(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if a, ok := systemAliases[s]; ok {
		return a, true
	}
	for _, k := range Systems {
		if s == k {
			return s, true
		}
	}
	return "", false
}

// AccountRows stamps parsed accounts as one import.
func AccountRows(tenant string, accounts []store.AccountRow, importedBy, source string, at time.Time, retention time.Duration) ([]store.AccountRow, error) {
	if !event.ValidTenant(tenant) {
		return nil, fmt.Errorf("tenant %q: use 1-64 characters of a-z, 0-9, '-' or '_'", tenant)
	}
	if retention <= 0 {
		retention = store.DefaultRetention
	}
	at = at.UTC().Truncate(time.Millisecond)
	out := make([]store.AccountRow, len(accounts))
	for i, a := range accounts {
		a.TenantID, a.ImportedAt, a.ImportedBy, a.Source, a.RetainUntil = tenant, at, importedBy, source, at.Add(retention)
		out[i] = a
	}
	return out, nil
}

// accountSystems lists the systems an import covers, for its summary.
func accountSystems(rows []store.AccountRow) []string {
	n := map[string]int{}
	for _, r := range rows {
		n[r.System]++
	}
	out := make([]string, 0, len(n))
	for s, c := range n {
		out = append(out, fmt.Sprintf("%s %d", s, c))
	}
	sort.Strings(out)
	return out
}
