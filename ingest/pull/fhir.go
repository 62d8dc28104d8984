package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FHIRREST pulls AuditEvents with FHIR search:
//
//	GET [base]/AuditEvent?date=ge<since>&date=lt<end>&_sort=date&_count=N
//
// and follows Bundle.link[next] (same origin only). The window end lags
// now by Lag, rounded down to a whole second, so events still being written
// are left for the next pass. After each page it flushes and checkpoints
// the latest time it handed (the high-water mark) and the ids it handed at
// that millisecond; the next query asks for ge that time and drops those
// ids. When a window is complete the checkpoint becomes its end.
//
// Results outside [since, end) are dropped client-side, so a server that
// ignores a date parameter neither repeats nor skips records. A server that
// ignores _sort is detected, by the first page's self link (which lists the
// parameters the server applied) or by a time earlier than the one before;
// the pass then checkpoints only at the window's end (going back to where it
// began if it had saved), since a crash mid-window could otherwise skip
// records. A server that neither honours _sort nor says so in its self link
// can lose records returned out of order when a crash comes before they do.
type FHIRREST struct {
	source
	Base            *url.URL
	TimeParam       string     // "date" (AuditEvent.recorded) or "_lastUpdated" (meta.lastUpdated)
	PageSize        int        // _count
	Params          url.Values // extra search parameters
	Lag             time.Duration
	InitialLookback time.Duration
	MaxPages        int // per pass, against a server whose next links never end
}

// fhirRESTState is the fhir-rest checkpoint.
type fhirRESTState struct {
	// Since: every AuditEvent with a time before it has been published.
	// Millisecond precision: the query's granularity.
	Since time.Time `json:"since"`
	// SeenAtSince are the ids published whose time, to the millisecond, is
	// Since: the next query includes that millisecond and drops them.
	SeenAtSince []string `json:"seen_at_since,omitempty"`
}

// NewFHIRREST makes a fhir-rest puller.
func NewFHIRREST(id SourceID, base *url.URL, hc *Client, d Deps) *FHIRREST {
	return &FHIRREST{source: newSource(id, hc, d), Base: base, TimeParam: "date", PageSize: 100,
		Lag: 2 * time.Minute, InitialLookback: 24 * time.Hour, MaxPages: 10000}
}

// fhirBundle is the part of a search result Bundle the puller reads.
type fhirBundle struct {
	ResourceType string `json:"resourceType"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
	Issue []fhirIssue `json:"issue"`
}

func (b *fhirBundle) selfLink() string {
	for _, l := range b.Link {
		if l.Relation == "self" {
			return l.URL
		}
	}
	return ""
}

// sortHonoured reads a search's self link, which FHIR servers fill with
// the parameters they actually applied: when it lists the time parameter
// but not _sort, the server ignored _sort. Without such a link, sorting is
// assumed.
func sortHonoured(self, tp string) bool {
	u, err := url.Parse(self)
	if err != nil || self == "" {
		return true
	}
	q := u.Query()
	return !q.Has(tp) || q.Get("_sort") == tp
}

type fhirIssue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics"`
	Details     struct {
		Text string `json:"text"`
	} `json:"details"`
}

func issueText(is []fhirIssue) string {
	var parts []string
	for _, i := range is {
		t := i.Details.Text
		if t == "" {
			t = i.Diagnostics
		}
		if len(t) > 200 {
			t = t[:200] + "…"
		}
		parts = append(parts, strings.TrimSpace(i.Severity+" "+i.Code+": "+t))
	}
	return strings.Join(parts, "; ")
}

// fhirResourceProbe reads what the puller needs of an entry.
type fhirResourceProbe struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Recorded     string `json:"recorded"`
	Meta         struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Issue []fhirIssue `json:"issue"`
}

// fhirInstant formats t for a search parameter: UTC, milliseconds.
func fhirInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// recordKey identifies a record for the boundary sets: its id, or a hash of
// its bytes when it has none.
func recordKey(id string, raw []byte) string {
	if id != "" {
		return id
	}
	h := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(h[:12])
}

// Pull implements Puller.
func (p *FHIRREST) Pull(ctx context.Context) (time.Time, error) {
	var st fhirRESTState
	found, err := p.ckpt.Load(p.id, &st)
	if err != nil {
		return time.Time{}, err
	}
	now := p.now()
	if !found {
		st.Since = now.Add(-p.InitialLookback).UTC().Truncate(time.Second)
		p.log.Info("no checkpoint yet; starting from the initial lookback", "since", st.Since)
	}
	end := now.Add(-p.Lag).UTC().Truncate(time.Second)
	if !end.After(st.Since) {
		return st.Since, nil
	}
	tp := p.TimeParam
	q := url.Values{}
	for k, vs := range p.Params {
		q[k] = slices.Clone(vs)
	}
	q.Add(tp, "ge"+fhirInstant(st.Since))
	q.Add(tp, "lt"+fhirInstant(end))
	q.Set("_sort", tp)
	if p.PageSize > 0 {
		q.Set("_count", strconv.Itoa(p.PageSize))
	}
	next := p.Base.JoinPath("AuditEvent")
	next.RawQuery = q.Encode()

	// pos is where the saved checkpoint stands, for the lag metric.
	since, pos := st.Since, st.Since
	seenAtSince := make(map[string]bool, len(st.SeenAtSince))
	for _, id := range st.SeenAtSince {
		seenAtSince[id] = true
	}
	// The high-water mark of this pass and the ids handed at it.
	hwm, hwmIDs := st.Since, maps.Clone(seenAtSince)
	var prev time.Time
	sorted := true
	visited := map[string]bool{}
	var handed, skipped int
	for page := 1; next != nil; page++ {
		if page > p.MaxPages {
			return pos, invalidResponse("gave up after %d pages in one pass: the server's next links do not end", p.MaxPages)
		}
		if visited[next.String()] {
			return pos, invalidResponse("the server's next link returns to page %s: paging loops", RedactURL(next.String()))
		}
		visited[next.String()] = true
		resp, err := p.http.Do(ctx, &Request{URL: next.String(), Auth: true, Header: http.Header{"Accept": {"application/fhir+json"}}})
		if err != nil {
			return pos, fmt.Errorf("search page %d: %w", page, err)
		}
		var b fhirBundle
		if err := json.Unmarshal(resp.Body, &b); err != nil {
			return pos, invalidResponse("search page %d from %s is not JSON: %v", page, RedactURL(next.String()), err)
		}
		switch b.ResourceType {
		case "Bundle":
		case "OperationOutcome":
			return pos, invalidResponse("search page %d: the server answered with an OperationOutcome: %s", page, issueText(b.Issue))
		default:
			return pos, invalidResponse("search page %d: expected a Bundle, got resourceType %q", page, b.ResourceType)
		}
		if page == 1 && sorted && !sortHonoured(b.selfLink(), tp) {
			// The self link lists the parameters the server used; _sort
			// is not among them.
			sorted = false
			p.log.Warn("the FHIR server ignored _sort=" + tp + " (its self link does not list it); checkpointing only at the end of each window")
		}
		for i, e := range b.Entry {
			var r fhirResourceProbe
			if err := json.Unmarshal(e.Resource, &r); err != nil {
				return pos, invalidResponse("search page %d entry %d: resource is not a JSON object: %v", page, i, err)
			}
			switch r.ResourceType {
			case "AuditEvent":
			case "OperationOutcome":
				// A search warning, such as a parameter the server ignored.
				p.log.Warn("the FHIR server attached a warning to the search", "page", page, "issues", issueText(r.Issue))
				continue
			default:
				continue // _include'd context, not an audit record
			}
			key := recordKey(r.ID, e.Resource)
			ts := r.Recorded
			if tp == "_lastUpdated" {
				ts = r.Meta.LastUpdated
			}
			t, terr := time.Parse(time.RFC3339Nano, ts)
			if terr == nil {
				t = t.UTC().Truncate(time.Millisecond)
				switch {
				case t.Before(since) || !t.Before(end):
					// Outside the window: published by an earlier pass, or
					// the next pass's. Paging goes on even past the end:
					// only a sorted server would guarantee nothing in the
					// window follows.
					skipped++
					continue
				case t.Equal(since) && seenAtSince[key]:
					skipped++ // published by a pass that stopped at this millisecond
					continue
				case t.Equal(hwm) && hwmIDs[key]:
					skipped++ // repeated by the server within this pass
					continue
				}
				if t.Before(prev) && sorted {
					sorted = false
					p.log.Warn("the FHIR server does not sort by "+tp+"; checkpointing only at the end of each window", "page", page)
					// Checkpoints saved earlier in this pass assumed sorted
					// results. Go back to where the pass began: a crash then
					// re-sends this window (duplicates that collapse)
					// rather than skipping what came out of order.
					if !pos.Equal(st.Since) {
						if err := p.ckpt.Save(p.id, st); err != nil {
							return pos, err
						}
						pos = st.Since
					}
				}
				prev = t
			}
			if err := p.handle(ctx, e.Resource, p.origin(fmt.Sprintf("page %d entry %d", page, i))); err != nil {
				return pos, err
			}
			handed++
			if terr != nil {
				continue // the parser dead-letters it; it cannot move the mark
			}
			switch {
			case t.After(hwm):
				hwm, hwmIDs = t, map[string]bool{key: true}
			case t.Equal(hwm):
				hwmIDs[key] = true
			}
		}
		next = nil
		for _, l := range b.Link {
			if l.Relation == "next" && l.URL != "" {
				if next, err = resolveSameOrigin(p.Base, resp.URL, l.URL, "next link"); err != nil {
					return pos, err
				}
			}
		}
		if next == nil {
			break
		}
		if !sorted {
			if err := p.sink.Flush(ctx); err != nil {
				return pos, sinkErr(err)
			}
			continue
		}
		if err := p.commit(ctx, fhirRESTState{Since: hwm, SeenAtSince: slices.Sorted(maps.Keys(hwmIDs))}); err != nil {
			return pos, err
		}
		pos = hwm
	}
	// The window is complete: everything before end is published.
	if err := p.commit(ctx, fhirRESTState{Since: end}); err != nil {
		return pos, err
	}
	p.log.Debug("fhir-rest pass complete", "handed", handed, "skipped", skipped, "through", end)
	return end, nil
}
