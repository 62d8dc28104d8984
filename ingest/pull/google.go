package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Google pulls the Google Workspace Admin SDK Reports API:
//
//	GET [base]/admin/reports/v1/activity/users/all/applications/{app}
//	    ?startTime=…&endTime=…&maxResults=…&pageToken=…
//
// handing each items[] activity to the sink. The API returns activities
// newest first and has no ascending order, so a pass reads a fixed window
// [since, end], end lagging now by Lag (activities reach the API late), from
// its end backwards. After each page the checkpoint records how far down
// the window got: every activity later than Low is published, plus the ids
// (uniqueQualifier) at Low itself. A restart re-queries [since, Low] and
// drops those ids; a finished window moves since to end, remembering the ids
// at end. Both window edges are applied client-side, so whether the API
// treats startTime or endTime as inclusive does not matter. Should the API
// ever return activities out of order, the pass goes back to the checkpoint
// it started from and saves again only at the window's end.
type Google struct {
	source
	Base            *url.URL // https://admin.googleapis.com
	Applications    []string // login, gmail, admin, drive, token, …
	CustomerID      string   // optional
	PageSize        int      // maxResults, at most 1000
	Lag             time.Duration
	InitialLookback time.Duration
}

// NewGoogle makes a google-reports puller.
func NewGoogle(id SourceID, base *url.URL, hc *Client, d Deps) *Google {
	return &Google{source: newSource(id, hc, d), Base: base, Applications: []string{"login"},
		PageSize: 1000, Lag: 20 * time.Minute, InitialLookback: 24 * time.Hour}
}

// googleState is the google-reports checkpoint.
type googleState struct {
	Applications map[string]*googleAppState `json:"applications"`
}

type googleAppState struct {
	// Since: every activity before it is published; so are those at it
	// whose ids are in SeenAtSince.
	Since       time.Time     `json:"since"`
	SeenAtSince []string      `json:"seen_at_since,omitempty"`
	Window      *googleWindow `json:"window,omitempty"` // a window read part-way
}

// googleWindow is a window [Since, End] read from End down to Low: every
// activity in (Low, End] is published, plus the SeenAtLow ids at Low.
// SeenAtEnd are the ids published at End, which become SeenAtSince.
type googleWindow struct {
	End       time.Time `json:"end"`
	SeenAtEnd []string  `json:"seen_at_end,omitempty"`
	Low       time.Time `json:"low"`
	SeenAtLow []string  `json:"seen_at_low,omitempty"`
}

type googleActivities struct {
	Items         []json.RawMessage `json:"items"`
	NextPageToken string            `json:"nextPageToken"`
	Error         *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type googleActivityProbe struct {
	ID struct {
		Time            string          `json:"time"`
		UniqueQualifier json.RawMessage `json:"uniqueQualifier"`
	} `json:"id"`
}

func googleTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func toSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// Pull implements Puller.
func (p *Google) Pull(ctx context.Context) (time.Time, error) {
	var st googleState
	if _, err := p.ckpt.Load(p.id, &st); err != nil {
		return time.Time{}, err
	}
	if st.Applications == nil {
		st.Applications = map[string]*googleAppState{}
	}
	now := p.now()
	for _, app := range p.Applications {
		if st.Applications[app] == nil {
			st.Applications[app] = &googleAppState{Since: now.Add(-p.InitialLookback).UTC().Truncate(time.Second)}
			p.log.Info("no checkpoint yet for this application; starting from the initial lookback", "application", app, "since", st.Applications[app].Since)
		}
	}
	pos := func() time.Time {
		var oldest time.Time
		for _, app := range p.Applications {
			if t := st.Applications[app].Since; oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
		return oldest
	}
	end := now.Add(-p.Lag).UTC().Truncate(time.Millisecond)
	for _, app := range p.Applications {
		if err := p.pullApp(ctx, &st, app, end); err != nil {
			return pos(), fmt.Errorf("application %s: %w", app, err)
		}
	}
	return pos(), nil
}

func (p *Google) pullApp(ctx context.Context, st *googleState, app string, end time.Time) error {
	as := st.Applications[app]
	startWindow, saved := as.Window, false
	w := as.Window
	if w == nil {
		if !end.After(as.Since) {
			return nil
		}
		// Low at End with nothing seen there: nothing of the window is
		// read yet.
		w = &googleWindow{End: end, Low: end}
	}
	since, seenAtSince := as.Since, toSet(as.SeenAtSince)
	// What earlier passes published of this window, and how far this
	// pass got (low moves down as activities arrive newest first).
	startLow, startSeenAtLow := w.Low, toSet(w.SeenAtLow)
	seenAtEnd, low, seenAtLow := toSet(w.SeenAtEnd), w.Low, toSet(w.SeenAtLow)
	sorted := true
	q := url.Values{
		"startTime":  {googleTime(since)},
		"endTime":    {googleTime(low.Add(time.Millisecond))}, // inclusive of Low either way
		"maxResults": {strconv.Itoa(p.PageSize)},
	}
	if p.CustomerID != "" {
		q.Set("customerId", p.CustomerID)
	}
	u := p.Base.JoinPath("admin", "reports", "v1", "activity", "users", "all", "applications", app)
	seenTokens := map[string]bool{}
	for page := 1; ; page++ {
		u.RawQuery = q.Encode()
		resp, err := p.http.Do(ctx, &Request{URL: u.String(), Auth: true})
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		var res googleActivities
		if err := json.Unmarshal(resp.Body, &res); err != nil {
			return invalidResponse("page %d is not JSON: %v", page, err)
		}
		if res.Error != nil {
			return invalidResponse("page %d: %s", page, res.Error.Message)
		}
		for i, item := range res.Items {
			var a googleActivityProbe
			if err := json.Unmarshal(item, &a); err != nil {
				return invalidResponse("page %d item %d is not a JSON object: %v", page, i, err)
			}
			key := strings.Trim(string(a.ID.UniqueQualifier), `"`)
			if key == "" || key == "null" {
				key = recordKey("", item)
			}
			t, err := time.Parse(time.RFC3339Nano, a.ID.Time)
			if err != nil {
				return invalidResponse("page %d item %d: id.time %q is not a time", page, i, a.ID.Time)
			}
			t = t.UTC().Truncate(time.Millisecond)
			switch {
			case t.Before(since) || t.After(w.End) || t.After(startLow):
				continue // outside what is left of the window
			case t.Equal(since) && seenAtSince[key],
				t.Equal(startLow) && startSeenAtLow[key],
				t.Equal(low) && seenAtLow[key]:
				continue // published already (or repeated by the API in this pass)
			}
			switch {
			case t.Before(low):
				low, seenAtLow = t, map[string]bool{key: true}
			case t.Equal(low):
				seenAtLow[key] = true
			case sorted:
				sorted = false
				p.log.Warn("the Reports API returned activities out of time order; checkpointing only at the end of the window", "application", app, "page", page)
				// What this pass saved assumed newest-first order: go back
				// to where it began, so a crash re-sends rather than skips.
				if saved {
					as.Window = startWindow
					if err := p.ckpt.Save(p.id, st); err != nil {
						return err
					}
				}
			}
			if err := p.handle(ctx, item, p.origin(fmt.Sprintf("%s page %d item %d", app, page, i))); err != nil {
				return err
			}
			if t.Equal(w.End) {
				seenAtEnd[key] = true
			}
		}
		if res.NextPageToken == "" {
			break
		}
		if seenTokens[res.NextPageToken] {
			return invalidResponse("page %d: nextPageToken repeats an earlier one: paging loops", page)
		}
		seenTokens[res.NextPageToken] = true
		q.Set("pageToken", res.NextPageToken)
		if !sorted {
			continue
		}
		as.Window = &googleWindow{End: w.End, SeenAtEnd: sortedKeys(seenAtEnd), Low: low, SeenAtLow: sortedKeys(seenAtLow)}
		if err := p.commit(ctx, st); err != nil {
			return err
		}
		saved = true
	}
	st.Applications[app] = &googleAppState{Since: w.End, SeenAtSince: sortedKeys(seenAtEnd)}
	return p.commit(ctx, st)
}
