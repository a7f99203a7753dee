package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// SlackConfig configures a Slack incoming webhook.
type SlackConfig struct {
	// URL is the webhook URL Slack issued (https://hooks.slack.com/…). It
	// is a secret: errors name only its host.
	URL     string
	Timeout time.Duration // default DefaultWebhookTimeout
	Client  *http.Client  // default: a plain http.Client; redirects are always restricted
}

// Slack posts messages to a Slack incoming webhook as Block Kit: the title
// as a link, the facts as fields and a button to the page to act on, with
// a plain "text" for notifications and clients without blocks. An incoming
// webhook posts to one channel, so the recipient in the message only
// shapes the wording.
type Slack struct{ p *poster }

// NewSlack checks cfg and returns the channel.
func NewSlack(cfg SlackConfig) (*Slack, error) {
	p, err := newPoster("slack", cfg.URL, cfg.Timeout, cfg.Client)
	if err != nil {
		return nil, err
	}
	return &Slack{p: p}, nil
}

// Send posts r. Slack answers 200 "ok"; 429 and 5xx are transient, other
// 4xx (e.g. 404 channel_not_found, 410 channel_is_archived) permanent.
func (s *Slack) Send(ctx context.Context, r Rendered) error {
	body, err := json.Marshal(slackPayload(r))
	if err != nil {
		return permanent("slack", 0, fmt.Errorf("%w: encode: %v", ErrInvalidMessage, err))
	}
	_, _, err = s.p.post(ctx, body, nil)
	return err
}

// Slack's limits: 3000 characters in a section's text, 2000 in a field,
// 10 fields per section, 50 blocks per message.
const (
	slackTextMax  = 3000
	slackFieldMax = 2000
	slackFields   = 10
)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackElem `json:"elements,omitempty"`
}

type slackElem struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

func slackPayload(r Rendered) slackMessage {
	head := fmt.Sprintf("*<%s|%s>*", r.Link, slackEscape(r.Title))
	blocks := []slackBlock{{Type: "section", Text: &slackText{"mrkdwn", cut(head, slackTextMax)}}}
	if len(r.Digest) > 0 {
		blocks = append(blocks, slackDigest(r.Digest)...)
	} else if len(r.Facts) > 0 {
		var fields []slackText
		for _, f := range r.Facts {
			if len(fields) == slackFields {
				break
			}
			fields = append(fields, slackText{"mrkdwn", cut("*"+slackEscape(f.Label)+"*\n"+slackEscape(f.Value), slackFieldMax)})
		}
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	blocks = append(blocks, slackBlock{Type: "actions", Elements: []slackElem{{
		Type: "button", Text: slackText{"plain_text", r.Button}, URL: r.Link,
	}}})
	return slackMessage{Text: slackEscape(r.Title) + " " + r.Link, Blocks: blocks}
}

// slackDigest lists the digest's tasks, one section per heading.
func slackDigest(sections []DigestSection) []slackBlock {
	var out []slackBlock
	for _, sec := range sections {
		var b strings.Builder
		fmt.Fprintf(&b, "*%s (%d)*", slackEscape(sec.Heading), len(sec.Lines))
		for _, l := range sec.Lines {
			fmt.Fprintf(&b, "\n• <%s|%s> — %s", l.Link, slackEscape(l.Task), slackEscape(l.Process))
			if l.Due != "" {
				fmt.Fprintf(&b, ", due %s", slackEscape(l.Due))
			}
		}
		out = append(out, slackBlock{Type: "section", Text: &slackText{"mrkdwn", cut(b.String(), slackTextMax)}})
	}
	return out
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to, so a title cannot forge a link or a mention (<!channel>).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
