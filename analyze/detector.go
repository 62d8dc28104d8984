// Package analyze holds phiwatch's detectors: rules that read stored events
// and reference data and write alerts that say, in words, why an access is
// unusual. The scheduled (SQL) detectors run per tenant over a window.
package analyze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Version is written on every alert, so a reviewer can tell which logic
// produced it.
const Version = "2026.11-1"

// Severity levels, lowest first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the levels in order.
var Severities = []string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Querier is what detectors need from the store.
type Querier interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Database() string
}

// Tenant is one practice as detectors see it.
type Tenant struct {
	ID       string
	Location *time.Location // local time of the practice
	Hours    PracticeHours
}

// Window is the time range a run examines, [From, To).
type Window struct{ From, To time.Time }

// Detector is one rule.
type Detector interface {
	Rule() string
	Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error)
}

// alertID is stable for the same rule and subject, so a re-run over the same
// window replaces the alert instead of adding one.
func alertID(tenant, rule string, key ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", tenant, rule)
	for _, k := range key {
		fmt.Fprintf(h, "\x00%s", k)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Runner runs detectors for tenants and stores their alerts.
type Runner struct {
	Store     store.Store
	Detectors []Detector
	Log       *slog.Logger
	Retention time.Duration
	Now       func() time.Time
}

// RunResult counts what a run found.
type RunResult struct {
	Alerts         int
	ByRule         map[string]int
	BySeverity     map[string]int
	ByRuleSeverity map[[2]string]int // {rule, severity}
}

// Run applies every detector to every tenant for the window.
func (r *Runner) Run(ctx context.Context, tenants []Tenant, w Window) (RunResult, error) {
	res := RunResult{ByRule: map[string]int{}, BySeverity: map[string]int{}, ByRuleSeverity: map[[2]string]int{}}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	keep := r.Retention
	if keep <= 0 {
		keep = store.DefaultRetention
	}
	for _, t := range tenants {
		for _, d := range r.Detectors {
			start := time.Now()
			alerts, err := d.Detect(ctx, r.Store, t, w)
			if err != nil {
				return res, fmt.Errorf("detector %s for tenant %s: %w", d.Rule(), t.ID, err)
			}
			stampAlerts(alerts, now(), keep)
			for i := range alerts {
				a := &alerts[i]
				res.ByRule[a.Rule]++
				res.BySeverity[a.Severity]++
				res.ByRuleSeverity[[2]string{a.Rule, a.Severity}]++
			}
			if err := r.Store.InsertAlerts(ctx, alerts); err != nil {
				return res, fmt.Errorf("store alerts of %s for tenant %s: %w", d.Rule(), t.ID, err)
			}
			res.Alerts += len(alerts)
			r.Log.Debug("detector ran", "rule", d.Rule(), "tenant", t.ID, "alerts", len(alerts), "duration", time.Since(start))
		}
	}
	return res, nil
}

// stampAlerts sets what every stored alert version carries besides the
// rule's findings: the logic's version, when it was written, how long it is
// kept. keep must be positive.
func stampAlerts(alerts []store.AlertRow, now time.Time, keep time.Duration) {
	at := now.UTC().Truncate(time.Millisecond)
	for i := range alerts {
		a := &alerts[i]
		a.DetectorVersion, a.DetectedAt = Version, at
		a.RetainUntil = a.FirstSeen.Add(keep)
	}
}

// TenantsWithEvents lists the tenants that have events in the window.
func TenantsWithEvents(ctx context.Context, q Querier, w Window) ([]string, error) {
	var rows []struct {
		TenantID string `json:"tenant_id"`
	}
	err := q.Select(ctx, &rows, "SELECT DISTINCT tenant_id FROM "+q.Database()+".events WHERE time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)} ORDER BY tenant_id",
		store.Params{"from": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.TenantID
	}
	return out, nil
}

// chTime formats a time as a ClickHouse DateTime64(3) parameter (UTC).
func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// displayName is how reasons name a person: "Dana Ortiz (front_desk)".
func displayName(id, name, role string) string {
	who := name
	if who == "" {
		who = id
	}
	if role != "" {
		who += " (" + strings.ReplaceAll(role, "_", " ") + ")"
	}
	return who
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
