package pull

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// FHIRBulk pulls AuditEvents with a FHIR Bulk Data export:
//
//  1. kick-off: GET [base]/$export?_type=AuditEvent&_since=<since> with
//     Prefer: respond-async → 202 and a status URL (Content-Location);
//  2. poll the status URL: 202 (honouring Retry-After, logging X-Progress)
//     until 200 with the manifest (transactionTime, output[]);
//  3. download each AuditEvent NDJSON file (with the token only when the
//     manifest says requiresAccessToken) and hand each line to the sink;
//  4. set since to the manifest's transactionTime.
//
// The checkpoint holds the export in progress: its status URL as soon as it
// is known (a restart resumes polling instead of starting another export),
// then the manifest's files, and for each file how many lines were flushed
// and whether it is done. A restart re-downloads a partly read file and
// skips the lines already flushed (an export's files do not change), so
// nothing is sent twice.
type FHIRBulk struct {
	source
	Base            *url.URL
	ExportPath      string     // "$export", or "Group/<id>/$export"
	Params          url.Values // extra kick-off parameters, e.g. _typeFilter
	PollInterval    time.Duration
	ExportTimeout   time.Duration // an export running longer is abandoned
	InitialLookback time.Duration
	FlushEvery      int // lines between checkpoints within a file
	MaxLine         int // longer lines are handed truncated (and dead-lettered)
}

// NewFHIRBulk makes a fhir-bulk puller.
func NewFHIRBulk(id SourceID, base *url.URL, hc *Client, d Deps) *FHIRBulk {
	return &FHIRBulk{source: newSource(id, hc, d), Base: base, ExportPath: "$export",
		PollInterval: 30 * time.Second, ExportTimeout: 6 * time.Hour, InitialLookback: 24 * time.Hour,
		FlushEvery: 1000, MaxLine: 4 << 20}
}

// bulkState is the fhir-bulk checkpoint.
type bulkState struct {
	// Since is the transactionTime of the last completed export, as the
	// server wrote it: the next export's _since.
	Since  string      `json:"since"`
	Export *bulkExport `json:"export,omitempty"`
}

type bulkExport struct {
	StatusURL       string     `json:"status_url"`
	Since           string     `json:"since"` // the _since it was started with
	StartedAt       time.Time  `json:"started_at"`
	TransactionTime string     `json:"transaction_time,omitempty"` // set once the manifest arrived
	RequiresToken   bool       `json:"requires_access_token,omitempty"`
	Files           []bulkFile `json:"files,omitempty"`
}

type bulkFile struct {
	URL   string `json:"url"`
	Lines int64  `json:"lines_flushed"` // lines (counting blank ones) already flushed
	Done  bool   `json:"done,omitempty"`
}

type bulkManifest struct {
	TransactionTime     string `json:"transactionTime"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"output"`
	Error []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"error"`
}

func parseInstant(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Pull implements Puller.
func (p *FHIRBulk) Pull(ctx context.Context) (time.Time, error) {
	var st bulkState
	found, err := p.ckpt.Load(p.id, &st)
	if err != nil {
		return time.Time{}, err
	}
	if !found {
		st.Since = fhirInstant(p.now().Add(-p.InitialLookback))
		p.log.Info("no checkpoint yet; exporting from the initial lookback", "since", st.Since)
	}
	pos := parseInstant(st.Since)
	if st.Export == nil {
		if err := p.kickOff(ctx, &st); err != nil {
			return pos, err
		}
	} else {
		p.log.Info("resuming the bulk export in progress", "started_at", st.Export.StartedAt, "files", len(st.Export.Files))
	}
	ex := st.Export
	if ex.TransactionTime == "" {
		if err := p.poll(ctx, &st); err != nil {
			return pos, err
		}
	}
	for i := range ex.Files {
		if ex.Files[i].Done {
			continue
		}
		if err := p.download(ctx, &st, i); err != nil {
			return pos, err
		}
	}
	status := ex.StatusURL
	st = bulkState{Since: ex.TransactionTime}
	if err := p.commit(ctx, st); err != nil {
		return pos, err
	}
	// Tell the server the files may go; failing that, they expire anyway.
	if _, err := p.http.Do(ctx, &Request{Method: http.MethodDelete, URL: status, Auth: true}); err != nil && ctx.Err() == nil {
		p.log.Debug("deleting the completed export on the server failed", "err", err)
	}
	return parseInstant(st.Since), nil
}

func (p *FHIRBulk) kickOff(ctx context.Context, st *bulkState) error {
	q := url.Values{}
	for k, vs := range p.Params {
		q[k] = slices.Clone(vs)
	}
	q.Set("_type", "AuditEvent")
	if st.Since != "" {
		q.Set("_since", st.Since)
	}
	u := p.Base.JoinPath(p.ExportPath)
	u.RawQuery = q.Encode()
	resp, err := p.http.Do(ctx, &Request{URL: u.String(), Auth: true,
		Header: http.Header{"Accept": {"application/fhir+json"}, "Prefer": {"respond-async"}}})
	if err != nil {
		return fmt.Errorf("start the bulk export: %w", err)
	}
	loc := resp.Header.Get("Content-Location")
	if resp.Status != http.StatusAccepted || loc == "" {
		return invalidResponse("start the bulk export: expected 202 Accepted with a Content-Location status URL, got HTTP %d", resp.Status)
	}
	status, err := resolveSameOrigin(p.Base, resp.URL, loc, "export status URL")
	if err != nil {
		return err
	}
	st.Export = &bulkExport{StatusURL: status.String(), Since: st.Since, StartedAt: p.now().UTC()}
	// Saved before polling: a restart resumes this export rather than
	// starting another one.
	if err := p.ckpt.Save(p.id, st); err != nil {
		return err
	}
	p.log.Info("bulk export started", "since", st.Since, "status", RedactURL(status.String()))
	return nil
}

// abandon forgets the export in progress, so the next pass starts a new
// one from the same since. Records of it already flushed may be sent again;
// their event ids make that harmless.
func (p *FHIRBulk) abandon(ctx context.Context, st *bulkState, why error) error {
	if st.Export != nil {
		if _, err := p.http.Do(ctx, &Request{Method: http.MethodDelete, URL: st.Export.StatusURL, Auth: true}); err != nil && ctx.Err() == nil {
			p.log.Debug("cancelling the export on the server failed", "err", err)
		}
	}
	st.Export = nil
	if err := p.ckpt.Save(p.id, st); err != nil {
		return errors.Join(why, err)
	}
	return fmt.Errorf("%w; a new export starts at the next pass", why)
}

func (p *FHIRBulk) poll(ctx context.Context, st *bulkState) error {
	ex := st.Export
	for {
		if p.now().Sub(ex.StartedAt) > p.ExportTimeout {
			return p.abandon(ctx, st, fmt.Errorf("the bulk export started at %s did not complete within export_timeout %s", ex.StartedAt.Format(time.RFC3339), p.ExportTimeout))
		}
		resp, err := p.http.Do(ctx, &Request{URL: ex.StatusURL, Auth: true, Header: http.Header{"Accept": {"application/json"}}})
		var he *HTTPError
		switch {
		case errors.As(err, &he) && he.Status >= 400 && he.Status < 500 && he.Status != http.StatusTooManyRequests && he.Status != http.StatusUnauthorized:
			// 404/410: expired or deleted; other 4xx: the export failed.
			return p.abandon(ctx, st, fmt.Errorf("bulk export status: %w", err))
		case err != nil:
			return fmt.Errorf("bulk export status: %w", err)
		}
		if resp.Status == http.StatusAccepted {
			wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), p.now())
			if !ok {
				wait = p.PollInterval
			}
			wait = min(wait, orDefault(p.http.MaxRetryAfter, defaultMaxRetryAfter))
			p.log.Debug("bulk export in progress", "progress", resp.Header.Get("X-Progress"), "next_poll_in", wait)
			if err := p.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if resp.Status != http.StatusOK {
			return invalidResponse("bulk export status: unexpected HTTP %d", resp.Status)
		}
		var m bulkManifest
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			return invalidResponse("bulk export manifest is not JSON: %v", err)
		}
		if parseInstant(m.TransactionTime).IsZero() {
			return invalidResponse("bulk export manifest has no valid transactionTime (%q)", m.TransactionTime)
		}
		statusURL, _ := url.Parse(ex.StatusURL)
		var files []bulkFile
		for _, o := range m.Output {
			if o.Type != "AuditEvent" {
				continue
			}
			u, err := url.Parse(o.URL)
			if err != nil {
				return invalidResponse("bulk export manifest: output url %q is not a URL", RedactURL(o.URL))
			}
			u = statusURL.ResolveReference(u)
			if m.RequiresAccessToken && !sameOrigin(p.Base, u) {
				return invalidResponse("bulk export manifest: file %s requires the access token but is on another origin than %s; refusing to send the token there", RedactURL(u.String()), p.Base.Host)
			}
			files = append(files, bulkFile{URL: u.String()})
		}
		if len(m.Error) > 0 {
			p.log.Warn("the bulk export reports errors (OperationOutcome files on the server)", "error_files", len(m.Error))
		}
		ex.TransactionTime, ex.RequiresToken, ex.Files = m.TransactionTime, m.RequiresAccessToken, files
		if err := p.ckpt.Save(p.id, st); err != nil {
			return err
		}
		p.log.Info("bulk export complete on the server; downloading", "transaction_time", m.TransactionTime, "files", len(files))
		return nil
	}
}

// download hands the lines of file i not yet flushed to the sink,
// checkpointing every FlushEvery lines and at the end.
func (p *FHIRBulk) download(ctx context.Context, st *bulkState, i int) error {
	f := &st.Export.Files[i]
	skip := f.Lines
	err := p.http.Stream(ctx, &Request{URL: f.URL, Auth: st.Export.RequiresToken, Header: http.Header{"Accept": {"application/fhir+ndjson"}}},
		func(body io.Reader) error {
			br := bufio.NewReaderSize(body, 64<<10)
			var lineNo int64
			pending := 0
			for {
				line, truncated, rerr := readLineMax(br, p.MaxLine)
				if rerr == io.EOF && len(line) == 0 {
					break
				}
				if rerr != nil && rerr != io.EOF {
					return fmt.Errorf("download %s: %w", RedactURL(f.URL), redactTransportError(rerr))
				}
				lineNo++
				if lineNo > skip && len(bytes.TrimSpace(line)) > 0 {
					if truncated {
						p.log.Warn("bulk export line longer than the limit; handing it truncated", "file", i+1, "line", lineNo, "limit", p.MaxLine)
					}
					if err := p.handle(ctx, line, p.origin(fmt.Sprintf("file %d line %d", i+1, lineNo))); err != nil {
						return err
					}
					pending++
				}
				if pending >= p.FlushEvery {
					f.Lines = lineNo
					if err := p.commit(ctx, st); err != nil {
						return err
					}
					pending = 0
				}
				if rerr == io.EOF {
					break
				}
			}
			f.Lines, f.Done = lineNo, true
			return nil
		})
	if err != nil {
		f.Done = false
		return fmt.Errorf("bulk export file %d: %w", i+1, err)
	}
	return p.commit(ctx, st)
}

// readLineMax reads one line without its end; a line longer than limit
// comes back cut to limit, truncated set, the rest skipped.
func readLineMax(br *bufio.Reader, limit int) (line []byte, truncated bool, err error) {
	for {
		frag, isPrefix, e := br.ReadLine()
		if room := limit - len(line); len(frag) > room {
			line = append(line, frag[:max(room, 0)]...)
			truncated = true
		} else {
			line = append(line, frag...)
		}
		if e != nil || !isPrefix {
			return line, truncated, e
		}
	}
}
