package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TeamsConfig configures a Microsoft Teams incoming webhook.
type TeamsConfig struct {
	// URL is the webhook URL: a Teams Workflows webhook
	// ("When a Teams webhook request is received") or a legacy Office 365
	// connector URL. It is a secret: errors name only its host.
	URL     string
	Timeout time.Duration // default DefaultWebhookTimeout
	Client  *http.Client  // default: a plain http.Client; redirects are always restricted
}

// Teams posts messages to a Microsoft Teams incoming webhook as an
// Adaptive Card (version 1.4) wrapped in a "message" activity — the format
// both Workflows webhooks and the older Office 365 connectors accept: the
// title, the lead facts as a FactSet and an Action.OpenUrl button.
//
// Teams renders a subset of Markdown in card text. Square brackets in
// user-typed values are escaped so a title cannot become a disguised link;
// other Markdown (*bold*) in a title shows as formatting, which is harmless.
type Teams struct{ p *poster }

// NewTeams checks cfg and returns the channel.
func NewTeams(cfg TeamsConfig) (*Teams, error) {
	p, err := newPoster("teams", cfg.URL, cfg.Timeout, cfg.Client)
	if err != nil {
		return nil, err
	}
	return &Teams{p: p}, nil
}

// Send posts r. Workflows webhooks answer 202, connectors 200 "1"; 429 and
// 5xx are transient, other 4xx permanent.
//
// Office 365 connectors also answer 200 when Teams itself refused the
// message, with a body such as "Webhook message delivery failed with
// error: Microsoft Teams endpoint returned HTTP error 429 …" (Microsoft
// documents that only a numeric body means success). Send reads that body
// and classifies the embedded status, so a throttled or oversized card is
// not recorded as sent.
func (t *Teams) Send(ctx context.Context, r Rendered) error {
	body, err := json.Marshal(teamsPayload(r))
	if err != nil {
		return permanent("teams", 0, fmt.Errorf("%w: encode: %v", ErrInvalidMessage, err))
	}
	_, answer, err := t.p.post(ctx, body, nil)
	if err != nil {
		return err
	}
	return teamsHiddenFailure(answer)
}

var teamsEmbeddedStatus = regexp.MustCompile(`HTTP error (\d{3})`)

func teamsHiddenFailure(answer []byte) error {
	if !bytes.Contains(bytes.ToLower(answer), []byte("delivery failed")) {
		return nil
	}
	err := errors.New("Teams answered 200 but: " + snippet(answer))
	if m := teamsEmbeddedStatus.FindSubmatch(answer); m != nil {
		code, _ := strconv.Atoi(string(m[1]))
		return classifyStatus("teams", code, err)
	}
	return transient("teams", 0, err)
}

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []teamsItem   `json:"body"`
	Actions []teamsAction `json:"actions"`
	MSTeams struct {
		Width string `json:"width"`
	} `json:"msteams"`
}

// teamsItem is a TextBlock or a FactSet; unused fields are omitted.
type teamsItem struct {
	Type    string      `json:"type"`
	Text    string      `json:"text,omitempty"`
	Weight  string      `json:"weight,omitempty"`
	Size    string      `json:"size,omitempty"`
	Wrap    bool        `json:"wrap,omitempty"`
	Spacing string      `json:"spacing,omitempty"`
	Facts   []teamsFact `json:"facts,omitempty"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsFacts bounds a FactSet; a card over about 28 KB is refused.
const teamsFacts = 20

func teamsPayload(r Rendered) teamsMessage {
	body := []teamsItem{{Type: "TextBlock", Text: teamsEscape(r.Title), Weight: "Bolder", Size: "Medium", Wrap: true}}
	if len(r.Digest) > 0 {
		for _, sec := range r.Digest {
			body = append(body, teamsItem{Type: "TextBlock", Text: fmt.Sprintf("%s (%d)", sec.Heading, len(sec.Lines)), Weight: "Bolder", Wrap: true, Spacing: "Medium"})
			var facts []teamsFact
			for _, l := range sec.Lines {
				if len(facts) == teamsFacts {
					break
				}
				v := teamsEscape(l.Process)
				if l.Due != "" {
					v += ", due " + l.Due
				}
				facts = append(facts, teamsFact{Title: teamsEscape(cut(l.Task, 200)), Value: cut(v, 1000)})
			}
			body = append(body, teamsItem{Type: "FactSet", Facts: facts})
		}
	} else if len(r.Facts) > 0 {
		var facts []teamsFact
		for _, f := range r.Facts {
			facts = append(facts, teamsFact{Title: f.Label, Value: teamsEscape(cut(f.Value, 1000))})
		}
		body = append(body, teamsItem{Type: "FactSet", Facts: facts})
	}
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body:    body,
		Actions: []teamsAction{{Type: "Action.OpenUrl", Title: r.Button, URL: r.Link}},
	}
	card.MSTeams.Width = "Full"
	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	}
}

// teamsEscape keeps user text from forming Markdown links ([text](url)).
func teamsEscape(s string) string {
	return strings.NewReplacer(`[`, `\[`, `]`, `\]`).Replace(s)
}
