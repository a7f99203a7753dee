package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultWebhookTimeout bounds one webhook POST when no timeout is set.
const DefaultWebhookTimeout = 10 * time.Second

// maxResponseBytes is how much of a receiver's answer is read: enough for
// any error text, and a bound against a receiver that streams without end.
const maxResponseBytes = 64 << 10

// userAgent names opsflow to receivers (and to their logs).
const userAgent = "opsflow-notify/1"

// poster POSTs JSON to one webhook URL and classifies the outcome. The
// three webhook channels share it so that redirects, timeouts, limits and
// the meaning of status codes are decided once.
type poster struct {
	channel  string
	url      string
	redacted string // scheme://host only: webhook URLs embed their secret
	client   *http.Client
	timeout  time.Duration
}

func newPoster(channel, rawURL string, timeout time.Duration, client *http.Client) (*poster, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("notify: %s URL: %w", channel, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("notify: %s URL must be an absolute http(s) URL", channel)
	}
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	var c http.Client
	if client != nil {
		c = *client // a copy: CheckRedirect below must not change the caller's client
	}
	c.CheckRedirect = sameHostRedirect
	return &poster{
		channel:  channel,
		url:      u.String(),
		redacted: u.Scheme + "://" + u.Host,
		client:   &c,
		timeout:  timeout,
	}, nil
}

// sameHostRedirect follows only 307 and 308 (which keep the method and the
// body) to the same scheme and host. Any other redirect is answered with
// the redirect response itself, which post reports as a permanent failure:
// a webhook that moves to another host must be reconfigured by a person,
// never followed with a signed payload, and a 301/302/303 would silently
// turn the POST into a GET that "succeeds" without delivering anything.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	switch {
	case len(via) >= 3,
		req.URL.Scheme != first.URL.Scheme,
		req.URL.Host != first.URL.Host,
		req.Response == nil,
		req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect:
		return http.ErrUseLastResponse
	}
	return nil
}

// post sends body and returns the receiver's status and (bounded) answer
// on a 2xx; otherwise a *DeliveryError.
func (p *poster) post(ctx context.Context, body []byte, header http.Header) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, permanent(p.channel, 0, fmt.Errorf("request: %w", err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)

	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = p.redacted
		}
		return 0, nil, transient(p.channel, 0, err)
	}
	defer resp.Body.Close()
	// A body that breaks off changes nothing: the status decides. (A 2xx
	// whose body breaks off is still a delivery — the receiver said yes.)
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, answer, nil
	}
	return resp.StatusCode, answer, p.statusError(resp, answer)
}

// statusError classifies a non-2xx answer: 408, 425, 429 and 5xx may pass
// on a later attempt; other 4xx (a revoked webhook, a rejected payload) and
// an unfollowed redirect will not.
func (p *poster) statusError(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	msg := fmt.Sprintf("%s answered %s", p.redacted, resp.Status)
	if s := snippet(answer); s != "" {
		msg += ": " + s
	}
	if code/100 == 3 {
		loc := resp.Header.Get("Location")
		if u, err := url.Parse(loc); err == nil {
			loc = u.Scheme + "://" + u.Host
		}
		return permanent(p.channel, code, fmt.Errorf("%s; redirect to %s not followed (update the webhook URL)", msg, loc))
	}
	de := classifyStatus(p.channel, code, errors.New(msg))
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		de.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return de
}

func classifyStatus(channel string, code int, err error) *DeliveryError {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return transient(channel, code, err)
	case code >= 400:
		return permanent(channel, code, err)
	}
	return transient(channel, code, err)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if neither.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippet is the start of a receiver's answer on one line, for last_error.
func snippet(b []byte) string {
	const n = 200
	return cut(strings.Join(strings.Fields(string(b)), " "), n)
}

// cut shortens s to at most n bytes (Slack and Teams count characters,
// so bytes are on the safe side), ending with an ellipsis when cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
