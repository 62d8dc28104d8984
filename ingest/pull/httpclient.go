package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client defaults.
const (
	defaultMaxAttempts   = 5
	defaultBaseDelay     = 500 * time.Millisecond
	defaultMaxDelay      = 30 * time.Second
	defaultMaxRetryAfter = 5 * time.Minute
	defaultMaxBody       = 64 << 20
	defaultTimeout       = 60 * time.Second
	// errorBodySnippet bounds how much of an error response is quoted: enough
	// for an OAuth error or an OperationOutcome's text, not a page of PHI.
	errorBodySnippet = 300
)

// Client makes HTTP calls to a source API: bearer authentication, retries
// with exponential backoff and jitter on 429, 5xx and network errors
// (honouring Retry-After), one token refresh on 401, a timeout per attempt
// and a response size limit. Its zero value (plus Log) is usable.
type Client struct {
	HTTP *http.Client
	Auth TokenSource // attached to requests with Auth set; nil: none

	MaxAttempts   int           // attempts per call; default 5
	BaseDelay     time.Duration // first backoff; default 500ms
	MaxDelay      time.Duration // backoff cap; default 30s
	MaxRetryAfter time.Duration // cap on a server's Retry-After; default 5m
	MaxBody       int64         // bytes read of a response; default 64 MiB
	Timeout       time.Duration // per attempt (for streams: with no data); default 60s
	UserAgent     string

	Log     *slog.Logger
	Now     func() time.Time                                 // for HTTP-date Retry-After; default time.Now
	Sleep   func(ctx context.Context, d time.Duration) error // default sleepCtx
	Jitter  func(d time.Duration) time.Duration              // default: uniform in [d/2, d]
	OnRetry func(reason string)                              // counts retries; may be nil
}

// Request is one API call. Body is re-sent on every attempt.
type Request struct {
	Method string // default GET
	URL    string
	Header http.Header
	Body   []byte
	Auth   bool // attach the client's bearer token
}

// Response is a successful (2xx) response, its body read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL // the final URL, after redirects
}

// HTTPError is a non-2xx response that was not (or no longer) retried.
type HTTPError struct {
	Method, URL string // URL redacted
	Status      int
	Body        string // the start of the response body
	Header      http.Header
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Do makes the call and reads the body, retrying as the Client says. A
// non-2xx final answer is an *HTTPError.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	var out *Response
	err := c.exchange(ctx, req, false, func(resp *http.Response) error {
		limit := orDefault(c.MaxBody, defaultMaxBody)
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return &readError{fmt.Errorf("%s %s: read response: %w", method(req), RedactURL(req.URL), redactTransportError(err))}
		}
		if int64(len(body)) > limit {
			return withReason("invalid_response", fmt.Errorf("%s %s: response larger than %d bytes; refusing it", method(req), RedactURL(req.URL), limit))
		}
		out = &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL}
		return nil
	})
	return out, err
}

// Stream makes the call and hands a 2xx response's body to read. Retries
// happen only until a 2xx arrives: once read has the body, a failure is
// returned (the caller knows how far it got). The body fails when no data
// arrives for the Client's Timeout, rather than bounding the whole
// download, which can rightly take long.
func (c *Client) Stream(ctx context.Context, req *Request, read func(body io.Reader) error) error {
	return c.exchange(ctx, req, true, func(resp *http.Response) error { return read(resp.Body) })
}

func method(req *Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

// exchange runs the retry loop and calls handle with the first 2xx response.
func (c *Client) exchange(ctx context.Context, req *Request, stream bool, handle func(*http.Response) error) error {
	maxAttempts := orDefault(c.MaxAttempts, defaultMaxAttempts)
	refreshed := false
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, retryReason, err := c.attempt(ctx, req, stream, handle, &refreshed)
		if err == nil {
			return nil
		}
		lastErr = err
		if retryReason == "" {
			return err
		}
		if retryReason == "auth_refresh" {
			// The refresh is not a failure of the API: it does not use up
			// an attempt.
			attempt--
			c.retried(retryReason)
			continue
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, lastErr)
		}
		if wait < 0 {
			wait = c.backoff(attempt)
		}
		c.retried(retryReason)
		c.log().Warn("source API call failed; retrying", "method", method(req), "url", RedactURL(req.URL),
			"reason", retryReason, "attempt", attempt, "retry_in", wait, "err", err)
		sleep := c.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) retried(reason string) {
	if c.OnRetry != nil {
		c.OnRetry(reason)
	}
}

// backoff is the wait before attempt+1: exponential, capped, jittered so
// many pullers that failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := orDefault(c.BaseDelay, defaultBaseDelay)
	maxD := orDefault(c.MaxDelay, defaultMaxDelay)
	for i := 1; i < attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	if c.Jitter != nil {
		return c.Jitter(d)
	}
	return d/2 + rand.N(d/2+1)
}

// attempt makes one request. It returns the error and, when the call may
// be retried, why (wait is the server's Retry-After, or -1 for backoff).
func (c *Client) attempt(ctx context.Context, req *Request, stream bool, handle func(*http.Response) error, refreshed *bool) (wait time.Duration, retryReason string, err error) {
	// The token first: fetching it has its own client, timeouts and
	// retries, which must not eat into this attempt's timeout.
	var token string
	if req.Auth && c.Auth != nil {
		if token, err = c.Auth.Token(ctx); err != nil {
			return 0, "", err
		}
	}
	timeout := orDefault(c.Timeout, defaultTimeout)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// For Do the timer bounds the whole attempt; for Stream, idleReader
	// resets it on every read, so it bounds a stall instead.
	timer := time.AfterFunc(timeout, cancel)
	defer timer.Stop()

	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(actx, method(req), req.URL, body)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method(req), RedactURL(req.URL), err)
	}
	for k, vs := range req.Header {
		hreq.Header[k] = vs
	}
	if c.UserAgent != "" {
		hreq.Header.Set("User-Agent", c.UserAgent)
	}
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.httpClient().Do(hreq)
	if err != nil {
		err = redactTransportError(err)
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		if actx.Err() != nil {
			return -1, "timeout", fmt.Errorf("%s %s: no answer within %s: %w", method(req), RedactURL(req.URL), timeout, context.DeadlineExceeded)
		}
		return -1, "network", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if stream {
			resp.Body = &idleReader{r: resp.Body, timer: timer, d: timeout}
		}
		if err := handle(resp); err != nil {
			if ctx.Err() != nil {
				return 0, "", ctx.Err()
			}
			var rerr *readError
			retry := ""
			if errors.As(err, &rerr) {
				retry = "network" // the body broke off before Do had it whole
			}
			if actx.Err() != nil {
				return -1, retry, fmt.Errorf("%s %s: response stalled for %s: %w", method(req), RedactURL(req.URL), timeout, context.DeadlineExceeded)
			}
			return -1, retry, err
		}
		return 0, "", nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodySnippet))
	herr := &HTTPError{Method: method(req), URL: RedactURL(req.URL), Status: resp.StatusCode,
		Body: strings.Join(strings.Fields(string(snippet)), " "), Header: resp.Header}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && req.Auth && c.Auth != nil && !*refreshed:
		// The token expired or was revoked early: get a new one, once.
		*refreshed = true
		c.Auth.Invalidate(token)
		return 0, "auth_refresh", herr
	case resp.StatusCode == http.StatusUnauthorized && req.Auth && c.Auth != nil:
		return 0, "", &AuthError{Op: "call the API", Err: fmt.Errorf("the API refused a freshly issued access token (check the client's permissions and scope): %w", herr)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return c.retryAfter(resp.Header), "rate_limited", herr
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return c.retryAfter(resp.Header), "server_error", herr
	}
	return 0, "", herr
}

// retryAfter reads Retry-After (delay-seconds or an HTTP-date), capped; -1
// when absent or unreadable.
func (c *Client) retryAfter(h http.Header) time.Duration {
	d, ok := ParseRetryAfter(h.Get("Retry-After"), c.now())
	if !ok {
		return -1
	}
	return min(d, orDefault(c.MaxRetryAfter, defaultMaxRetryAfter))
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (a date in the past means now).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}

// readError is a response body that broke off while Do read it whole;
// the call is retried.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// idleReader resets the attempt's timer on every read that returns data.
type idleReader struct {
	r     io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	return n, err
}

func (r *idleReader) Close() error { return r.r.Close() }

// secretParams are query parameters whose values are credentials: the
// signatures of pre-signed download URLs (S3, Azure SAS, GCS) and tokens.
var secretParams = []string{"sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
	"x-goog-signature", "x-goog-credential", "token", "access_token", "code", "key", "client_secret", "assertion", "se", "skoid", "sktid"}

// RedactURL renders a URL for logs and errors: user info dropped and the
// values of credential-like query parameters replaced.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			for _, s := range secretParams {
				if strings.EqualFold(k, s) {
					q[k] = []string{"REDACTED"}
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactTransportError rewrites net/http's error, which quotes the full URL.
func redactTransportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	return err
}

func isNetworkError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sameOrigin reports whether u has the scheme, host and port of base: a
// bearer token is only ever sent back to the origin it was issued for.
func sameOrigin(base, u *url.URL) bool {
	return strings.EqualFold(base.Scheme, u.Scheme) && strings.EqualFold(hostPort(base), hostPort(u))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Hostname() + ":443"
	case "http":
		return u.Hostname() + ":80"
	}
	return u.Host
}

// resolveSameOrigin resolves ref (absolute or relative, as APIs give paging
// links) against from and refuses another origin than base's.
func resolveSameOrigin(base, from *url.URL, ref, what string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, invalidResponse("%s %q is not a URL: %v", what, RedactURL(ref), err)
	}
	u := from.ResolveReference(r)
	if !sameOrigin(base, u) {
		return nil, invalidResponse("refusing to follow the %s to %s: it leaves the configured origin %s://%s, and the access token must not go there",
			what, RedactURL(u.String()), base.Scheme, base.Host)
	}
	return u, nil
}
