package analyze

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Streaming detection: the rules that decide on one access (or one
// account's activity) against reference data run on events as they arrive
// on the bus, seconds after ingest accepted them, instead of waiting for
// the next scheduled run. They run the same decision code as the batch
// detectors (each rule's judge / judgeActivity), on the same in-memory
// structures, and so write alerts with the same ids: the scheduled run that
// follows rewrites the same rows of the alerts table (ReplacingMergeTree by
// detected_at), it does not add any.
//
// How the stream reaches the batch's answer without reading the events
// table: an access is kept in memory only when a rule fires on it alone;
// every rule's alerts are unions over such accesses (an alert's group is
// the accesses that each fire it), so re-judging the kept accesses of the
// person and day an arrival touches gives the batch run's alerts for them,
// counts across patients included (no_clinical_relationship's severity).
// Baselines, peer groups, windows over many events and history (after
// hours, VPN, email, dormant accounts) stay scheduled: see docs/detectors.md.

// accessRule is a rule decided on EHR patient accesses classified by the
// Explainer: the batch detector loads r for its window, the stream builds
// it from arrived events.
type accessRule interface {
	Detector
	judge(t Tenant, r *relData) ([]store.AlertRow, error)
}

// activityRule is a rule decided on any account activity.
type activityRule interface {
	Detector
	judgeActivity(t Tenant, idx *identity.Index, evs []terminatedRow) []store.AlertRow
}

// StreamingRules lists the rules of detectors that the stream evaluates;
// every other rule of detectors is scheduled only.
func StreamingRules(detectors []Detector) []string {
	var out []string
	for _, d := range detectors {
		switch d.(type) {
		case accessRule, activityRule:
			out = append(out, d.Rule())
		}
	}
	return out
}

// Stream evaluates the streaming rules on arriving events. One goroutine
// calls Process (or Consume); it is not safe for concurrent use.
type Stream struct {
	Store store.Store
	// Detectors are the scheduled run's detectors; the stream evaluates
	// those whose rule decides per access or per account activity, with
	// the same settings (each with its own Explainer).
	Detectors []Detector
	// Tenant, when set, resolves a tenant as the scheduled run does: its
	// settings (time zone) and its tuned detectors, from Detectors. It is
	// asked again at every reference refresh. Without it every tenant is
	// UTC with Detectors.
	Tenant    func(id string, detectors []Detector) (Tenant, []Detector, error)
	Retention time.Duration // of the alerts (default store.DefaultRetention)
	Refresh   time.Duration // how old cached reference data may get (default 1 minute)
	// Hold is how far behind the newest event (event time) the stream
	// keeps person-days for re-judging. A later event of a forgotten day
	// only raises alerts that are not stored yet. Default 48 hours.
	Hold time.Duration
	Log  *slog.Logger
	Now  func() time.Time
	// OnBatch, when set, is called after every batch Consume processed.
	OnBatch func(StreamBatch)

	tenants map[string]*streamTenant
}

// StreamBatch is what one Process call did.
type StreamBatch struct {
	Events int
	// Alerts are the alert versions written (new, or changed by the
	// batch's events).
	Alerts []store.AlertRow
	// Latencies are, for every written alert version and every event of
	// the batch in its evidence, the time from the event's arrival (its
	// received_at: when ingest accepted it) to the alert being stored.
	Latencies []time.Duration
	// Judged are, for every event with an arrival time, the time from its
	// arrival to the end of the batch that judged it, alert or not.
	Judged []time.Duration
	// Lag is the consumer's lag after the batch (-1 unknown); set by Consume.
	Lag int64
}

// streamTenant is the stream's memory of one tenant.
type streamTenant struct {
	t        Tenant
	acc      []accessRule
	act      []activityRule
	ref      *reference
	loadedAt time.Time
	patients patients
	absent   map[string]bool // patients with no demographics record
	// kept accesses and activity, by person and local day
	accesses map[string][]accessRow
	activity map[string][]terminatedRow
	seen     map[string]bool      // "a" or "t" + event ids kept as access or activity, for redelivered messages
	lastAt   map[string]time.Time // newest event time per key, for eviction
	written  map[string]uint64    // alert id → fingerprint of the version written
	writtenT map[string]time.Time
	dirty    map[string]bool // person-days whose alerts are not stored yet
	latest   time.Time
}

func (s *Stream) defaults() {
	if s.tenants == nil {
		s.tenants = map[string]*streamTenant{}
	}
	if s.Refresh <= 0 {
		s.Refresh = time.Minute
	}
	if s.Hold <= 0 {
		s.Hold = 48 * time.Hour
	}
	if s.Retention <= 0 {
		s.Retention = store.DefaultRetention
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Tenant == nil {
		s.Tenant = func(id string, ds []Detector) (Tenant, []Detector, error) {
			return Tenant{ID: id, Location: time.UTC, Hours: DefaultPracticeHours()}, ds, nil
		}
	}
}

func rules(ds []Detector) ([]accessRule, []activityRule) {
	var acc []accessRule
	var act []activityRule
	for _, d := range ds {
		switch r := d.(type) {
		case accessRule:
			acc = append(acc, r)
		case activityRule:
			act = append(act, r)
		}
	}
	return acc, act
}

// Process evaluates the streaming rules on evs and stores the alerts they
// raise or change. Events may come in any order and more than once.
func (s *Stream) Process(ctx context.Context, evs []event.Event) (StreamBatch, error) {
	s.defaults()
	res := StreamBatch{Events: len(evs), Lag: -1}
	byTenant := map[string][]event.Event{}
	var ids []string
	for _, e := range evs {
		if e.TenantID == "" {
			continue
		}
		if _, ok := byTenant[e.TenantID]; !ok {
			ids = append(ids, e.TenantID)
		}
		byTenant[e.TenantID] = append(byTenant[e.TenantID], e)
	}
	sort.Strings(ids)
	for _, id := range ids {
		alerts, lat, err := s.processTenant(ctx, id, byTenant[id])
		if err != nil {
			return res, fmt.Errorf("streaming rules for tenant %s: %w", id, err)
		}
		res.Alerts = append(res.Alerts, alerts...)
		res.Latencies = append(res.Latencies, lat...)
	}
	end := time.Now()
	for _, e := range evs {
		if !e.ReceivedAt.IsZero() {
			res.Judged = append(res.Judged, end.Sub(e.ReceivedAt))
		}
	}
	return res, nil
}

func (s *Stream) processTenant(ctx context.Context, id string, evs []event.Event) ([]store.AlertRow, []time.Duration, error) {
	st := s.tenants[id]
	if st == nil {
		st = &streamTenant{accesses: map[string][]accessRow{}, activity: map[string][]terminatedRow{}, seen: map[string]bool{},
			lastAt: map[string]time.Time{}, written: map[string]uint64{}, writtenT: map[string]time.Time{},
			dirty: map[string]bool{}}
		s.tenants[id] = st
	}
	// Late is judged against what was seen before this batch: a backlog's
	// batch spans days, and its own newest event must not make its oldest
	// ones late.
	lateBefore := st.latest.Add(-s.Hold)
	for i := range evs {
		evs[i].Time = evs[i].Time.UTC().Truncate(time.Millisecond) // as stored
		if evs[i].Time.After(st.latest) {
			st.latest = evs[i].Time
		}
	}
	var rows []accessRow
	var minT, maxT time.Time
	arrived := map[string]time.Time{}
	for i := range evs {
		e := &evs[i]
		if minT.IsZero() || e.Time.Before(minT) {
			minT = e.Time
		}
		if e.Time.After(maxT) {
			maxT = e.Time
		}
		if !e.ReceivedAt.IsZero() {
			arrived[e.EventID] = e.ReceivedAt
		}
		if e.SourceKind == event.KindEHR && e.PatientID != "" {
			rows = append(rows, accessRow{EventID: e.EventID, Time: e.Time, PatientID: e.PatientID, ActorID: e.Actor.ID,
				ActorName: e.Actor.Name, ActorRole: e.Actor.Role, ActorDept: e.Actor.Department,
				BreakGlass: e.BreakGlass, PurposeOfUse: e.PurposeOfUse})
		}
	}
	if len(evs) == 0 {
		return nil, nil, nil
	}
	if err := s.ensureReference(ctx, st, id, minT, maxT); err != nil {
		return nil, nil, err
	}
	t, accRules, actRules := st.t, st.acc, st.act
	if err := s.ensurePatients(ctx, st, t, rows); err != nil {
		return nil, nil, err
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Time.Equal(rows[j].Time) {
			return rows[i].Time.Before(rows[j].Time)
		}
		return rows[i].EventID < rows[j].EventID
	})
	touched := st.dirty        // a failed write's person-days are judged again
	fresh := map[string]bool{} // person-days with nothing kept before this batch
	// Accesses: keep those a rule fires on alone.
	if len(accRules) > 0 {
		who := &explainData{reference: st.ref}
		for _, r := range rows {
			if st.seen["a"+r.EventID] {
				continue
			}
			fires := false
			for _, rule := range accRules {
				if len(s.judge(t, rule, st.relData(t, rule, []accessRow{r}))) > 0 {
					fires = true
					break
				}
			}
			if !fires {
				continue
			}
			k := "a\x00" + who.access(r).Who() + "\x00" + r.Time.In(t.Location).Format(time.DateOnly)
			st.seen["a"+r.EventID] = true
			if len(st.accesses[k]) == 0 {
				fresh[k] = true
			}
			st.accesses[k] = append(st.accesses[k], r)
			st.keep(k, r.Time)
			touched[k] = true
		}
	}
	// Account activity, any source.
	if len(actRules) > 0 {
		for _, e := range evs {
			if e.Actor.ID == "" || st.seen["t"+e.EventID] {
				continue
			}
			row := terminatedRow{Day: e.Time.In(t.Location).Format(time.DateOnly), EventID: e.EventID, Time: e.Time,
				ActorID: e.Actor.ID, SourceKind: string(e.SourceKind), Action: string(e.Action), Outcome: string(e.Outcome),
				PatientID: e.PatientID, ClientIP: e.ClientIP}
			fires := false
			for _, r := range actRules {
				if len(r.judgeActivity(t, st.ref.idx, []terminatedRow{row})) > 0 {
					fires = true
					break
				}
			}
			if !fires {
				continue
			}
			k := "t\x00" + st.ref.idx.Resolve(e.Actor.ID).UserID + "\x00" + row.Day
			st.seen["t"+e.EventID] = true
			if len(st.activity[k]) == 0 {
				fresh[k] = true
			}
			st.activity[k] = append(st.activity[k], row)
			st.keep(k, e.Time)
			touched[k] = true
		}
	}
	// Re-judge every touched person-day on all it kept.
	var alerts []store.AlertRow
	lateIDs := map[string]bool{}
	for _, k := range sortedKeys(touched) {
		before := len(alerts)
		if accs := st.accesses[k]; len(accs) > 0 {
			sort.Slice(accs, func(i, j int) bool {
				if !accs[i].Time.Equal(accs[j].Time) {
					return accs[i].Time.Before(accs[j].Time)
				}
				return accs[i].EventID < accs[j].EventID
			})
			for _, rule := range accRules {
				alerts = append(alerts, s.judge(t, rule, st.relData(t, rule, accs))...)
			}
		}
		if rows := st.activity[k]; len(rows) > 0 {
			sort.Slice(rows, func(i, j int) bool {
				if !rows[i].Time.Equal(rows[j].Time) {
					return rows[i].Time.Before(rows[j].Time)
				}
				return rows[i].EventID < rows[j].EventID
			})
			for _, rule := range actRules {
				alerts = append(alerts, rule.judgeActivity(t, st.ref.idx, rows)...)
			}
		}
		// A late person-day (older than the hold, nothing kept of it) may
		// have been judged complete before: its alerts are written only
		// when they are new, never over a stored version.
		if fresh[k] && st.lastAt[k].Before(lateBefore) {
			for _, a := range alerts[before:] {
				lateIDs[a.AlertID] = true
			}
		}
	}
	if len(lateIDs) > 0 {
		stored, err := s.storedAlerts(ctx, t.ID, sortedKeys(lateIDs))
		if err != nil {
			return nil, nil, err
		}
		kept := alerts[:0]
		for _, a := range alerts {
			if !stored[a.AlertID] {
				kept = append(kept, a)
			}
		}
		alerts = kept
	}
	// Only versions that say something new are written.
	changed := alerts[:0]
	for _, a := range alerts {
		fp := fingerprint(a)
		if st.written[a.AlertID] == fp {
			continue
		}
		st.written[a.AlertID], st.writtenT[a.AlertID] = fp, a.LastSeen
		changed = append(changed, a)
	}
	var lat []time.Duration
	if len(changed) > 0 {
		stampAlerts(changed, s.Now(), s.Retention)
		if err := s.Store.InsertAlerts(ctx, changed); err != nil {
			// Forget the versions so a retry writes them again.
			for _, a := range changed {
				delete(st.written, a.AlertID)
			}
			return nil, nil, fmt.Errorf("store alerts: %w", err)
		}
		stored := time.Now()
		w := Window{From: changed[0].FirstSeen, To: changed[0].FirstSeen}
		for _, a := range changed {
			for _, id := range a.EvidenceEventIDs {
				if at, ok := arrived[id]; ok {
					lat = append(lat, stored.Sub(at))
				}
			}
			w.From, w.To = minTime(w.From, a.FirstSeen), maxTime(w.To, a.FirstSeen)
		}
		w.To = w.To.Add(time.Millisecond)
		s.followUp(ctx, t.ID, w)
	}
	clear(st.dirty)
	st.evict(s.Hold)
	return changed, lat, nil
}

// followUp does for the alerts just stored what the scheduled run does
// after its detectors: record the suppressions that cover them, so an
// allow-listed alert never reaches the worklist, and fold them into their
// actor's case. A failure is logged only: the alerts are stored, and the
// next scheduled run does both over its window again.
func (s *Stream) followUp(ctx context.Context, tenant string, w Window) {
	if _, err := ApplySuppressions(ctx, s.Store, tenant, w, s.Now()); err != nil {
		s.Log.Error("streaming detection could not apply suppressions; the scheduled run will", "tenant", tenant, "err", err)
		return
	}
	if _, err := BuildCases(ctx, s.Store, tenant, w, s.Now(), s.Retention); err != nil {
		s.Log.Error("streaming detection could not update cases; the scheduled run will", "tenant", tenant, "err", err)
	}
}

// judge runs one access rule; a rule that cannot decide (bad reference
// data, which the scheduled run reports as well) is logged and raises
// nothing, rather than stopping the stream for every other rule.
func (s *Stream) judge(t Tenant, r accessRule, d *relData) []store.AlertRow {
	alerts, err := r.judge(t, d)
	if err != nil {
		s.Log.Error("streaming rule failed", "rule", r.Rule(), "tenant", t.ID, "err", err)
		return nil
	}
	return alerts
}

// storedAlerts tells which of ids the alerts table holds.
func (s *Stream) storedAlerts(ctx context.Context, tenant string, ids []string) (map[string]bool, error) {
	var rows []struct {
		AlertID string `json:"alert_id"`
	}
	err := s.Store.Select(ctx, &rows, "SELECT DISTINCT alert_id FROM "+s.Store.Database()+".alerts WHERE tenant_id = {tenant:String} AND alert_id IN {ids:Array(String)}",
		store.Params{"tenant": tenant, "ids": chStrings(ids)})
	if err != nil {
		return nil, fmt.Errorf("read stored alerts: %w", err)
	}
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.AlertID] = true
	}
	return out, nil
}

func (st *streamTenant) keep(k string, at time.Time) {
	if at.After(st.lastAt[k]) {
		st.lastAt[k] = at
	}
}

// evict forgets person-days and written alerts older than hold before the
// newest event seen: an access arriving later than that is judged with
// what is left, and the scheduled run completes its alert.
func (st *streamTenant) evict(hold time.Duration) {
	cut := st.latest.Add(-hold)
	for k, at := range st.lastAt {
		if at.Before(cut) {
			for _, a := range st.accesses[k] {
				delete(st.seen, "a"+a.EventID)
			}
			for _, r := range st.activity[k] {
				delete(st.seen, "t"+r.EventID)
			}
			delete(st.accesses, k)
			delete(st.activity, k)
			delete(st.lastAt, k)
		}
	}
	for id, at := range st.writtenT {
		if at.Before(cut) {
			delete(st.written, id)
			delete(st.writtenT, id)
		}
	}
}

// relData is what rule judges: rows (in time order) classified by the
// rule's own Explainer, as its scheduled detector classifies them.
func (st *streamTenant) relData(t Tenant, rule accessRule, rows []accessRow) *relData {
	return &relData{explainData: explainerOf(rule).explain(st.ref, t, rows), patients: st.patients}
}

// explainerOf is the Explainer a rule classifies accesses with: its own
// when it embeds one, else the defaults (as its Detect uses).
func explainerOf(rule accessRule) Explainer {
	if e, ok := rule.(interface{ explainer() Explainer }); ok {
		return e.explainer()
	}
	return Explainer{}
}

// ensureReference (re)loads the tenant's reference data when it is older
// than Refresh or does not cover the visits that can explain accesses in
// [minT, maxT].
func (s *Stream) ensureReference(ctx context.Context, st *streamTenant, id string, minT, maxT time.Time) error {
	fresh := st.ref != nil && s.Now().Sub(st.loadedAt) < s.Refresh
	if !fresh {
		t, ds, err := s.Tenant(id, s.Detectors)
		if err != nil {
			return fmt.Errorf("resolve the tenant's detectors: %w", err)
		}
		st.t = t
		st.acc, st.act = rules(ds)
	}
	// The visits that can explain the accesses, for every rule's Explainer.
	from, to := Explainer{}.visitSpan(minT, maxT.Add(time.Millisecond))
	for _, r := range st.acc {
		f, u := explainerOf(r).visitSpan(minT, maxT.Add(time.Millisecond))
		from, to = minTime(from, f), maxTime(to, u)
	}
	ref := st.ref
	if fresh && !from.Before(ref.from) && !to.After(ref.to) {
		return nil
	}
	// Keep covering what was covered when it is near, so events in time
	// order (a replay, a backlog) extend the range instead of moving it.
	if ref != nil && ref.from.Before(from) && from.Sub(ref.from) < 90*24*time.Hour {
		from = ref.from
	}
	to = to.Add(30 * 24 * time.Hour) // a month ahead: one reload a month when events come in time order
	if ref != nil && ref.to.After(to) && ref.to.Sub(to) < 90*24*time.Hour {
		to = ref.to
	}
	start := time.Now()
	next, err := Explainer{}.loadReference(ctx, s.Store, id, from, to)
	if err != nil {
		return err
	}
	if !fresh || st.patients == nil {
		// Demographics change too: re-read them as they are accessed.
		st.patients, st.absent = patients{}, map[string]bool{}
	}
	st.ref, st.loadedAt = next, s.Now()
	visits := 0
	for _, vs := range next.visits {
		visits += len(vs)
	}
	s.Log.Debug("stream reference data loaded", "tenant", id, "workforce", len(next.workforce), "visit_links", visits,
		"from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ensurePatients loads the demographics of patients not cached yet.
func (s *Stream) ensurePatients(ctx context.Context, st *streamTenant, t Tenant, rows []accessRow) error {
	var missing []string
	want := map[string]bool{}
	for _, r := range rows {
		if _, ok := st.patients[r.PatientID]; !ok && !st.absent[r.PatientID] && !want[r.PatientID] {
			want[r.PatientID] = true
			missing = append(missing, r.PatientID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	got, err := loadPatients(ctx, s.Store, t, missing)
	if err != nil {
		return err
	}
	for _, id := range missing {
		if p, ok := got[id]; ok {
			st.patients[id] = p
		} else {
			// Remembered as absent, so it is not asked for on every
			// access; the next refresh asks again.
			st.absent[id] = true
		}
	}
	return nil
}

// fingerprint is what makes one version of an alert differ from another.
func fingerprint(a store.AlertRow) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%g\x00%s\x00%d\x00%d\x00%d\x00%s\x00%s\x00%s", a.Rule, a.Severity, a.Score, a.Reason, a.EvidenceCount,
		a.FirstSeen.UnixMilli(), a.LastSeen.UnixMilli(), strings.Join(a.PatientIDs, ","), strings.Join(a.Explanations, "\x01"),
		a.ActorName)
	return h.Sum64()
}

// Consume runs the stream on a consumer until ctx ends, or until the topic
// of the in-process bus is closed and drained. Messages are processed in
// micro-batches of whatever has arrived (at most maxBatch), and committed
// once their alerts are stored; a failed batch is retried with backoff, so
// a store outage delays alerts but loses none. Messages that are not
// events are skipped (the loader dead-letters them).
func (s *Stream) Consume(ctx context.Context, c bus.Consumer) error {
	s.defaults()
	const maxBatch = 2000
	type fetched struct {
		m   bus.Message
		err error
	}
	ch := make(chan fetched, maxBatch)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			m, err := c.Fetch(fctx)
			select {
			case ch <- fetched{m, err}:
			case <-fctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var fetchErr error
	for fetchErr == nil {
		var msgs []bus.Message
		select {
		case <-ctx.Done():
			return nil
		case f := <-ch:
			if f.err != nil {
				fetchErr = f.err
			} else {
				msgs = append(msgs, f.m)
			}
		}
	drain:
		for fetchErr == nil && len(msgs) < maxBatch {
			select {
			case f := <-ch:
				if f.err != nil {
					fetchErr = f.err
					break drain
				}
				msgs = append(msgs, f.m)
			default:
				break drain
			}
		}
		if len(msgs) > 0 {
			if err := s.handle(ctx, c, msgs); err != nil {
				return err
			}
		}
	}
	switch {
	case errors.Is(fetchErr, bus.ErrClosed):
		return nil
	case ctx.Err() != nil:
		return nil
	}
	return fmt.Errorf("read events for streaming detection: %w", fetchErr)
}

// handle processes one micro-batch, retrying until it is stored or ctx ends,
// then commits it.
func (s *Stream) handle(ctx context.Context, c bus.Consumer, msgs []bus.Message) error {
	evs := make([]event.Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := event.Decode(m.Value, false)
		if err != nil {
			s.Log.Warn("streaming detection skips a message that is not an event", "origin", m.Origin(), "err", err)
			continue
		}
		evs = append(evs, e)
	}
	backoff := 500 * time.Millisecond
	for {
		res, err := s.Process(ctx, evs)
		if err == nil {
			if err := c.Commit(ctx, msgs...); err != nil && ctx.Err() == nil {
				// Not fatal: the messages come again after a restart and
				// rewrite the same alerts.
				s.Log.Warn("streaming detection could not commit offsets", "err", err)
			}
			res.Events, res.Lag = len(msgs), c.Lag()
			if len(res.Alerts) > 0 {
				s.Log.Info("streaming alerts", "events", len(msgs), "alerts", len(res.Alerts))
			}
			if s.OnBatch != nil {
				s.OnBatch(res)
			}
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		s.Log.Error("streaming detection failed; retrying the batch", "events", len(evs), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
