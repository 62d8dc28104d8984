package analyze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/phiwatch/phiwatch/internal/store"
)

// TenantsFile is the per-tenant tuning of the detectors (--tenants-file,
// docs/detectors-volume.md): each practice's time zone and opening hours,
// and per rule its thresholds, whether it runs, and who is allow-listed.
//
//	defaults:                    # every tenant, unless it says otherwise
//	  timezone: America/New_York
//	  practice_hours: mon-fri 07:00-19:00
//	tenants:
//	  riverside-family:
//	    rules:
//	      volume_distinct_patients:
//	        thresholds: {min_patients: 30, z: 4}
//	        allow:
//	          - roles: [him]
//	            reason: release of information is their job
//	            until: 2027-06-30
//	            approved_by: privacy officer J. Park
//	      email_mass_mailbox_access: {disabled: true}
type TenantsFile struct {
	Defaults TenantConfig            `yaml:"defaults"`
	Tenants  map[string]TenantConfig `yaml:"tenants"`
}

// TenantConfig is one tenant's tuning.
type TenantConfig struct {
	Timezone      string                `yaml:"timezone"`
	PracticeHours string                `yaml:"practice_hours"`
	Rules         map[string]RuleConfig `yaml:"rules"` // by rule name; "*" = every rule (allow-lists only)
}

// RuleConfig tunes one rule.
type RuleConfig struct {
	// Disabled turns the rule off; a tenant's own setting wins over the
	// defaults', so a tenant can turn back on what the defaults turned off.
	Disabled *bool `yaml:"disabled"`
	// Thresholds set the detector's fields by their snake_case names
	// (min_patients sets MinPatients); durations are Go durations ("12h").
	Thresholds map[string]any `yaml:"thresholds"`
	Allow      []AllowEntry   `yaml:"allow"`
}

// AllowEntry exempts users or roles from a rule. Its alerts are still
// written; each is recorded as suppressed by a suppression made from the
// entry (created_by "tenants file"), with the entry's reason and expiry, so
// the exemption is on the record like any other.
type AllowEntry struct {
	Users      []string `yaml:"users"` // workforce user ids (or raw account ids)
	Roles      []string `yaml:"roles"`
	Reason     string   `yaml:"reason"`
	Until      string   `yaml:"until"` // YYYY-MM-DD, at most a year ahead
	ApprovedBy string   `yaml:"approved_by"`

	until time.Time
}

// AllowRule is an allow-list entry with its rule.
type AllowRule struct {
	Rule string // "" = every rule
	AllowEntry
}

// allowListCreator marks the suppressions an allow-list made.
const allowListCreator = "tenants file"

// LoadTenantsFile reads and checks a tenants file: unknown keys, rules or
// thresholds, bad time zones or hours, allow entries without a reason or
// expiry are errors, so a typo cannot silently leave a rule untuned.
func LoadTenantsFile(data []byte, now time.Time) (*TenantsFile, error) {
	var f TenantsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("tenants file: %w", err)
	}
	if err := f.Defaults.check("defaults", now); err != nil {
		return nil, err
	}
	for _, id := range sortedKeysOf(f.Tenants) {
		c := f.Tenants[id]
		if err := c.check("tenant "+id, now); err != nil {
			return nil, err
		}
		f.Tenants[id] = c
	}
	return &f, nil
}

func (c *TenantConfig) check(where string, now time.Time) error {
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			return fmt.Errorf("tenants file, %s: timezone %q: %w", where, c.Timezone, err)
		}
	}
	if c.PracticeHours != "" {
		if _, err := ParsePracticeHours(c.PracticeHours); err != nil {
			return fmt.Errorf("tenants file, %s: %w", where, err)
		}
	}
	known := map[string]Detector{}
	for _, d := range BatchDetectors() {
		known[d.Rule()] = d
	}
	for _, rule := range sortedKeysOf(c.Rules) {
		rc := c.Rules[rule]
		d, ok := known[rule]
		switch {
		case rule == "*" && (rc.Disabled != nil || len(rc.Thresholds) > 0):
			return fmt.Errorf("tenants file, %s: rule \"*\" takes only an allow list", where)
		case rule != "*" && !ok:
			return fmt.Errorf("tenants file, %s: unknown rule %q (rules: %s)", where, rule, strings.Join(sortedKeysOf(known), ", "))
		case ok:
			if _, err := rc.tune(d); err != nil {
				return fmt.Errorf("tenants file, %s: %w", where, err)
			}
		}
		for i := range rc.Allow {
			if err := rc.Allow[i].check(now); err != nil {
				return fmt.Errorf("tenants file, %s, rule %s, allow entry %d: %w", where, rule, i+1, err)
			}
		}
		c.Rules[rule] = rc
	}
	return nil
}

func (e *AllowEntry) check(now time.Time) error {
	switch {
	case len(e.Users) == 0 && len(e.Roles) == 0:
		return errors.New("name users or roles")
	case strings.TrimSpace(e.Reason) == "":
		return errors.New("an allow entry needs a reason: it is the record of why these alerts are expected")
	case e.Until == "":
		return errors.New("an allow entry needs an expiry (until: YYYY-MM-DD): exemptions are re-decided at least yearly")
	}
	u, err := time.Parse(time.DateOnly, e.Until)
	if err != nil {
		return fmt.Errorf("until %q: want YYYY-MM-DD", e.Until)
	}
	e.until = u.AddDate(0, 0, 1) // through the whole day
	if e.until.Sub(now) > MaxSuppression {
		return fmt.Errorf("until %s is more than a year away: exemptions are re-decided at least yearly", e.Until)
	}
	return nil
}

// tune returns d with the thresholds set.
func (rc RuleConfig) tune(d Detector) (Detector, error) {
	if len(rc.Thresholds) == 0 {
		return d, nil
	}
	v := reflect.New(reflect.TypeOf(d)).Elem()
	v.Set(reflect.ValueOf(d))
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("rule %s has no thresholds", d.Rule())
	}
	for _, k := range sortedKeysOf(rc.Thresholds) {
		name := strings.ReplaceAll(k, "_", "")
		f := v.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, name) })
		if !f.IsValid() || !f.CanSet() || !tunable(f.Type()) {
			return nil, fmt.Errorf("rule %s has no threshold %q (it has: %s)", d.Rule(), k, strings.Join(thresholdNames(v.Type()), ", "))
		}
		if err := setThreshold(f, rc.Thresholds[k]); err != nil {
			return nil, fmt.Errorf("rule %s, threshold %s: %w", d.Rule(), k, err)
		}
	}
	return v.Interface().(Detector), nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func tunable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64, reflect.String:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// thresholdNames lists a detector's tunable fields in snake_case.
func thresholdNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, thresholdNames(f.Type)...)
		case f.IsExported() && tunable(f.Type):
			out = append(out, snake(f.Name))
		}
	}
	sort.Strings(out)
	return out
}

// snake turns MinHistoryDays into min_history_days and HIMRoles into
// him_roles.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			prevUpper := i > 0 && s[i-1] >= 'A' && s[i-1] <= 'Z'
			nextLower := i+1 < len(s) && s[i+1] >= 'a' && s[i+1] <= 'z'
			if i > 0 && (!prevUpper || nextLower) {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func setThreshold(f reflect.Value, val any) error {
	switch {
	case f.Type() == durationType:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("want a duration such as \"12h\", got %v", val)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as \"12h\", got %q", s)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
		n, ok := val.(int)
		if !ok || n <= 0 {
			return fmt.Errorf("want a positive whole number, got %v", val)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Uint64:
		n, ok := val.(int)
		if !ok || n <= 0 {
			return fmt.Errorf("want a positive whole number, got %v", val)
		}
		f.SetUint(uint64(n))
	case f.Kind() == reflect.Float64:
		var x float64
		switch n := val.(type) {
		case int:
			x = float64(n)
		case float64:
			x = n
		default:
			return fmt.Errorf("want a number, got %v", val)
		}
		if x <= 0 {
			return fmt.Errorf("want a positive number, got %v", val)
		}
		f.SetFloat(x)
	case f.Kind() == reflect.String:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("want text, got %v", val)
		}
		f.SetString(s)
	case f.Kind() == reflect.Slice:
		list, ok := val.([]any)
		if !ok {
			return fmt.Errorf("want a list, got %v", val)
		}
		out := reflect.MakeSlice(f.Type(), 0, len(list))
		for _, x := range list {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("want a list of text, got %v", x)
			}
			out = reflect.Append(out, reflect.ValueOf(s))
		}
		f.Set(out)
	}
	return nil
}

// merged is the tenant's own rule config over the defaults': its
// thresholds win key by key, its allow entries add to the defaults'.
func (f *TenantsFile) merged(tenant string) TenantConfig {
	var out TenantConfig
	if f == nil {
		return out
	}
	own, d := f.Tenants[tenant], f.Defaults
	out.Timezone, out.PracticeHours = d.Timezone, d.PracticeHours
	if own.Timezone != "" {
		out.Timezone = own.Timezone
	}
	if own.PracticeHours != "" {
		out.PracticeHours = own.PracticeHours
	}
	out.Rules = map[string]RuleConfig{}
	for _, src := range []map[string]RuleConfig{d.Rules, own.Rules} {
		for rule, rc := range src {
			m := out.Rules[rule]
			if rc.Disabled != nil {
				m.Disabled = rc.Disabled
			}
			if len(rc.Thresholds) > 0 && m.Thresholds == nil {
				m.Thresholds = map[string]any{}
			}
			for k, v := range rc.Thresholds {
				m.Thresholds[k] = v
			}
			m.Allow = append(m.Allow, rc.Allow...)
			out.Rules[rule] = m
		}
	}
	return out
}

// Resolve is a tenant as the detectors see it, and the detectors it runs:
// base gives the time zone and hours the file does not set, detectors are
// tuned copies of the given ones, disabled rules left out.
func (f *TenantsFile) Resolve(id string, base Tenant, detectors []Detector) (Tenant, []Detector, error) {
	c := f.merged(id)
	t := base
	t.ID = id
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return t, nil, fmt.Errorf("tenant %s: timezone %q: %w", id, c.Timezone, err)
		}
		t.Location = loc
	}
	if c.PracticeHours != "" {
		h, err := ParsePracticeHours(c.PracticeHours)
		if err != nil {
			return t, nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		t.Hours = h
	}
	out := make([]Detector, 0, len(detectors))
	for _, d := range detectors {
		rc, ok := c.Rules[d.Rule()]
		if !ok {
			out = append(out, d)
			continue
		}
		if rc.Disabled != nil && *rc.Disabled {
			continue
		}
		tuned, err := rc.tune(d)
		if err != nil {
			return t, nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		out = append(out, tuned)
	}
	return t, out, nil
}

// AllowList is a tenant's allow entries, defaults' included.
func (f *TenantsFile) AllowList(id string) []AllowRule {
	c := f.merged(id)
	var out []AllowRule
	for _, rule := range sortedKeysOf(c.Rules) {
		for _, e := range c.Rules[rule].Allow {
			r := rule
			if r == "*" {
				r = ""
			}
			out = append(out, AllowRule{Rule: r, AllowEntry: e})
		}
	}
	return out
}

// covers tells whether the entry exempts an alert's rule and actor.
func (a AllowRule) covers(rule, actor, role string) bool {
	if a.Rule != "" && a.Rule != rule {
		return false
	}
	for _, u := range a.Users {
		if strings.EqualFold(strings.TrimSpace(u), actor) {
			return true
		}
	}
	return role != "" && hasRole(a.Roles, normRole(role))
}

// key identifies the entry's content: a changed reason, expiry or list is a
// new decision, and a new suppression.
func (a AllowRule) key() string {
	return strings.Join([]string{a.Rule, strings.Join(a.Users, ","), strings.Join(a.Roles, ","), a.Reason, a.Until, a.ApprovedBy}, "\x1f")
}

func (a AllowRule) suppressionID(tenant, actor string) string {
	return alertID(tenant, "allow-list", a.Rule, actor, a.key())
}

// SyncAllowList turns a tenant's allow-list into suppressions: for each
// alert first seen in w that an entry in force covers, a suppression of
// that rule for that actor (reason, expiry and approver from the entry,
// created by "tenants file") is stored unless it exists; suppressions an
// earlier version of the file made are revoked when no entry makes them
// any more. ApplySuppressions, run after it, then records each suppressed
// alert. It returns the suppression versions written.
func SyncAllowList(ctx context.Context, s store.Store, tenant string, allow []AllowRule, w Window, now time.Time, keep time.Duration) (int, error) {
	existing, err := ListSuppressions(ctx, s, tenant)
	if err != nil {
		return 0, err
	}
	have := map[string]store.SuppressionRow{}
	for _, sp := range existing {
		if sp.CreatedBy == allowListCreator || strings.HasPrefix(sp.CreatedBy, allowListCreator+" ") {
			have[sp.SuppressionID] = sp
		}
	}
	var rows []store.SuppressionRow
	// Revoke what no entry makes any more.
	for _, id := range sortedKeysOf(have) {
		sp := have[id]
		if sp.Revoked {
			continue
		}
		still := false
		for _, a := range allow {
			if a.Rule == sp.Rule && a.suppressionID(tenant, sp.ActorID) == id {
				still = true
				break
			}
		}
		if !still {
			rows = append(rows, Revoke(sp, allowListCreator, "the allow entry is no longer in the tenants file", now))
		}
	}
	var live []AllowRule
	for _, a := range allow {
		if a.until.IsZero() {
			if err := a.check(now); err != nil {
				return 0, fmt.Errorf("allow entry of tenant %s: %w", tenant, err)
			}
		}
		if a.until.After(now) {
			live = append(live, a)
		}
	}
	if len(live) > 0 {
		var alerts []struct {
			Rule      string `json:"rule"`
			ActorID   string `json:"actor_id"`
			ActorRole string `json:"actor_role"`
		}
		err = s.Select(ctx, &alerts, `
SELECT DISTINCT rule, actor_id, toString(actor_role) AS actor_role
FROM `+s.Database()+`.alerts_current
WHERE tenant_id = {tenant:String} AND actor_id != '' AND first_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)}
ORDER BY rule, actor_id`, store.Params{"tenant": tenant, "from": chTime(w.From), "to": chTime(w.To)})
		if err != nil {
			return 0, fmt.Errorf("read alerts of tenant %s for its allow-list: %w", tenant, err)
		}
		made := map[string]bool{}
		for _, al := range alerts {
			for _, a := range live {
				if !a.covers(al.Rule, al.ActorID, al.ActorRole) {
					continue
				}
				id := a.suppressionID(tenant, al.ActorID)
				if _, ok := have[id]; ok || made[id] {
					continue
				}
				made[id] = true
				who := allowListCreator
				if a.ApprovedBy != "" {
					who += " (approved by " + a.ApprovedBy + ")"
				}
				sp, err := NewSuppression(SuppressionRequest{Tenant: tenant, Rule: a.Rule, ActorID: al.ActorID,
					Reason: "allow-list: " + a.Reason, CreatedBy: who, ExpiresAt: a.until}, now, keep)
				if err != nil {
					return 0, fmt.Errorf("allow entry of tenant %s for %s: %w", tenant, al.ActorID, err)
				}
				sp.SuppressionID = id
				rows = append(rows, sp)
			}
		}
	}
	if err := s.InsertSuppressions(ctx, rows); err != nil {
		return 0, fmt.Errorf("record the allow-list of tenant %s: %w", tenant, err)
	}
	return len(rows), nil
}
