package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// M365 pulls the Office 365 Management Activity API:
//
//	POST /api/v1.0/{tenant}/activity/feed/subscriptions/start?contentType=…  (once per type)
//	GET  /api/v1.0/{tenant}/activity/feed/subscriptions/content?contentType=…&startTime=…&endTime=…
//	     (paged by the NextPageUri header) → content blobs {contentId, contentUri, contentCreated}
//	GET  contentUri → a JSON array of audit records, each handed to the sink
//
// Listings filter on contentCreated, when a blob became available, and a
// blob can show up in a listing a while after that time. So each pass lists
// from Overlap before the point the last pass listed through, up to now, and
// skips blobs it has already processed: the checkpoint keeps, per content
// type, that point and the ids of the blobs processed since Overlap before
// it (older ids can no longer be listed and are forgotten). Blobs are
// processed in contentCreated order and checkpointed one by one, so a
// restart re-fetches only the blob it was in the middle of.
//
// The API keeps content for 7 days and lists at most 24 hours per call:
// longer catch-ups are walked in 24-hour windows, and a checkpoint older
// than 7 days resumes at the oldest content still there, logging the gap.
type M365 struct {
	source
	Base            *url.URL // https://manage.office.com, or the GCC / GCC High / DoD endpoint
	TenantID        string   // the Azure AD tenant (directory) id
	ContentTypes    []string
	Overlap         time.Duration
	InitialLookback time.Duration
}

// NewM365 makes an m365-activity puller.
func NewM365(id SourceID, base *url.URL, tenantID string, hc *Client, d Deps) *M365 {
	return &M365{source: newSource(id, hc, d), Base: base, TenantID: tenantID,
		ContentTypes: []string{"Audit.Exchange", "Audit.AzureActiveDirectory"},
		Overlap:      12 * time.Hour, InitialLookback: 24 * time.Hour}
}

// Limits of the Management Activity API.
const (
	m365Retention = 7 * 24 * time.Hour
	m365MaxWindow = 24 * time.Hour
	// m365RetentionMargin keeps a catch-up start clear of the 7-day edge,
	// which moves while the listing runs.
	m365RetentionMargin = 10 * time.Minute
	m365TimeFormat      = "2006-01-02T15:04:05"
)

// m365State is the m365-activity checkpoint.
type m365State struct {
	ContentTypes map[string]*m365TypeState `json:"content_types"`
}

type m365TypeState struct {
	// ListedThrough: every blob listed with contentCreated before it was
	// processed, as of that listing.
	ListedThrough time.Time `json:"listed_through"`
	// LastContentCreated is the newest blob processed (for operators).
	LastContentCreated time.Time `json:"last_content_created,omitzero"`
	// Processed maps the ids of blobs processed with contentCreated on or
	// after ListedThrough-Overlap to their contentCreated.
	Processed map[string]time.Time `json:"processed,omitempty"`
}

type m365Blob struct {
	ContentType    string `json:"contentType"`
	ContentID      string `json:"contentId"`
	ContentURI     string `json:"contentUri"`
	ContentCreated string `json:"contentCreated"`
	created        time.Time
}

// m365Error is the API's error body.
type m365Error struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func parseM365Time(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s) // no zone: UTC
	return t, err
}

func (p *M365) feedURL(op string, q url.Values) string {
	u := p.Base.JoinPath("api", "v1.0", p.TenantID, "activity", "feed", op)
	// PublisherIdentifier puts the calls in this tenant's own throttling
	// quota instead of a shared one.
	q.Set("PublisherIdentifier", p.TenantID)
	u.RawQuery = q.Encode()
	return u.String()
}

// Pull implements Puller.
func (p *M365) Pull(ctx context.Context) (time.Time, error) {
	var st m365State
	if _, err := p.ckpt.Load(p.id, &st); err != nil {
		return time.Time{}, err
	}
	if st.ContentTypes == nil {
		st.ContentTypes = map[string]*m365TypeState{}
	}
	now := p.now().UTC().Truncate(time.Second)
	for _, ct := range p.ContentTypes {
		if st.ContentTypes[ct] == nil {
			st.ContentTypes[ct] = &m365TypeState{ListedThrough: now.Add(-min(p.InitialLookback, m365Retention-m365RetentionMargin))}
			p.log.Info("no checkpoint yet for this content type; starting from the initial lookback", "content_type", ct, "since", st.ContentTypes[ct].ListedThrough)
		}
	}
	pos := func() time.Time {
		var oldest time.Time
		for _, ct := range p.ContentTypes {
			if t := st.ContentTypes[ct].ListedThrough; oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
		return oldest
	}
	if err := p.ensureSubscriptions(ctx); err != nil {
		return pos(), err
	}
	for _, ct := range p.ContentTypes {
		if err := p.pullType(ctx, &st, ct, now); err != nil {
			return pos(), fmt.Errorf("%s: %w", ct, err)
		}
	}
	return pos(), nil
}

// ensureSubscriptions starts the subscriptions that are not enabled. It
// runs every pass: cheap, and it heals a subscription disabled meanwhile.
func (p *M365) ensureSubscriptions(ctx context.Context) error {
	resp, err := p.http.Do(ctx, &Request{URL: p.feedURL("subscriptions/list", url.Values{}), Auth: true})
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	var subs []struct {
		ContentType string `json:"contentType"`
		Status      string `json:"status"`
	}
	if err := json.Unmarshal(resp.Body, &subs); err != nil {
		return invalidResponse("list subscriptions: the answer is not a JSON array: %v", err)
	}
	enabled := map[string]bool{}
	for _, s := range subs {
		enabled[s.ContentType] = strings.EqualFold(s.Status, "enabled")
	}
	for _, ct := range p.ContentTypes {
		if enabled[ct] {
			continue
		}
		_, err := p.http.Do(ctx, &Request{Method: http.MethodPost, URL: p.feedURL("subscriptions/start", url.Values{"contentType": {ct}}),
			Auth: true, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("{}")})
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusBadRequest && strings.Contains(he.Body, "AF20024") {
			err = nil // "The subscription is already enabled": started meanwhile.
		}
		if err != nil {
			return fmt.Errorf("start the %s subscription: %w", ct, err)
		}
		p.log.Info("subscription started", "content_type", ct)
	}
	return nil
}

func (p *M365) pullType(ctx context.Context, st *m365State, ct string, now time.Time) error {
	ts := st.ContentTypes[ct]
	if ts.Processed == nil {
		ts.Processed = map[string]time.Time{}
	}
	start := ts.ListedThrough.Add(-p.Overlap)
	if oldest := now.Add(-m365Retention + m365RetentionMargin); start.Before(oldest) {
		if ts.ListedThrough.Before(oldest) {
			p.log.Error("the checkpoint is older than the 7 days the API keeps content: audit records from the gap are lost",
				"content_type", ct, "gap_from", ts.ListedThrough, "gap_to", oldest)
		}
		start = oldest
	}
	for ws := start; ws.Before(now); {
		we := ws.Add(m365MaxWindow)
		if we.After(now) {
			we = now
		}
		blobs, err := p.list(ctx, ct, ws, we)
		if err != nil {
			return err
		}
		for _, b := range blobs {
			if _, done := ts.Processed[b.ContentID]; done {
				continue
			}
			if err := p.fetchBlob(ctx, ct, b); err != nil {
				return err
			}
			ts.Processed[b.ContentID] = b.created
			if b.created.After(ts.LastContentCreated) {
				ts.LastContentCreated = b.created
			}
			if err := p.commit(ctx, st); err != nil {
				return err
			}
		}
		if we.After(ts.ListedThrough) {
			ts.ListedThrough = we
		}
		for id, c := range ts.Processed {
			if c.Before(ts.ListedThrough.Add(-p.Overlap)) {
				delete(ts.Processed, id)
			}
		}
		if err := p.commit(ctx, st); err != nil {
			return err
		}
		ws = we
	}
	return nil
}

// list returns the blobs of one window, all pages, oldest first.
func (p *M365) list(ctx context.Context, ct string, start, end time.Time) ([]m365Blob, error) {
	next := p.feedURL("subscriptions/content", url.Values{"contentType": {ct},
		"startTime": {start.UTC().Format(m365TimeFormat)}, "endTime": {end.UTC().Format(m365TimeFormat)}})
	var all []m365Blob
	visited := map[string]bool{}
	for page := 1; next != ""; page++ {
		if visited[next] {
			return nil, invalidResponse("list content: NextPageUri returns to an earlier page")
		}
		visited[next] = true
		resp, err := p.http.Do(ctx, &Request{URL: next, Auth: true})
		if err != nil {
			return nil, fmt.Errorf("list content page %d: %w", page, err)
		}
		var blobs []m365Blob
		if err := json.Unmarshal(resp.Body, &blobs); err != nil {
			var e m365Error
			if json.Unmarshal(resp.Body, &e) == nil && e.Error.Code != "" {
				return nil, invalidResponse("list content page %d: %s %s", page, e.Error.Code, e.Error.Message)
			}
			return nil, invalidResponse("list content page %d: the answer is not a JSON array: %v", page, err)
		}
		for _, b := range blobs {
			if b.ContentID == "" || b.ContentURI == "" {
				return nil, invalidResponse("list content page %d: a blob without contentId or contentUri", page)
			}
			t, err := parseM365Time(b.ContentCreated)
			if err != nil {
				return nil, invalidResponse("list content page %d: blob %s has contentCreated %q: %v", page, b.ContentID, b.ContentCreated, err)
			}
			b.created = t
			all = append(all, b)
		}
		next = ""
		if n := resp.Header.Get("NextPageUri"); n != "" {
			u, err := resolveSameOrigin(p.Base, resp.URL, n, "NextPageUri")
			if err != nil {
				return nil, err
			}
			next = u.String()
		}
	}
	// Oldest first, so that a checkpoint after each blob never passes one
	// still to do.
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].created.Equal(all[j].created) {
			return all[i].created.Before(all[j].created)
		}
		return all[i].ContentID < all[j].ContentID
	})
	return all, nil
}

// fetchBlob hands every record of one content blob to the sink.
func (p *M365) fetchBlob(ctx context.Context, ct string, b m365Blob) error {
	u, err := resolveSameOrigin(p.Base, p.Base, b.ContentURI, "contentUri")
	if err != nil {
		return err
	}
	if q := u.Query(); q.Get("PublisherIdentifier") == "" {
		q.Set("PublisherIdentifier", p.TenantID)
		u.RawQuery = q.Encode()
	}
	resp, err := p.http.Do(ctx, &Request{URL: u.String(), Auth: true})
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone) {
		// Gone for good; retrying would block the content type forever.
		p.log.Error("content blob listed but no longer available: its audit records are lost",
			"content_type", ct, "content_id", b.ContentID, "content_created", b.created, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetch content %s: %w", b.ContentID, err)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(resp.Body, &recs); err != nil {
		return invalidResponse("content %s is not a JSON array of records: %v", b.ContentID, err)
	}
	for i, r := range recs {
		if err := p.handle(ctx, r, p.origin(fmt.Sprintf("%s content %s record %d", ct, b.ContentID, i))); err != nil {
			return err
		}
	}
	return nil
}
