package mailcatch

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is one received mail: the SMTP envelope, the headers, and the
// decoded text and HTML parts. A mail that does not parse is still kept
// (with ParseError set): a catcher that drops what it does not understand
// would hide exactly the bugs it is there to show.
type Message struct {
	ID       int       `json:"id"`
	Received time.Time `json:"received"`
	Helo     string    `json:"helo"` // the client's EHLO/HELO name

	// From and To are the envelope (MAIL FROM, RCPT TO): who the mail
	// was really sent to, Bcc included.
	From string   `json:"from"`
	To   []string `json:"to"`

	// Header holds the raw header fields; Subject is decoded (RFC 2047).
	Header    mail.Header `json:"header"`
	Subject   string      `json:"subject"`
	MessageID string      `json:"message_id"`
	Text      string      `json:"text,omitempty"` // the first text/plain part, decoded
	HTML      string      `json:"html,omitempty"` // the first text/html part, decoded
	// ContentTypes lists the media types of the message and its parts,
	// depth first, e.g. ["multipart/alternative", "text/plain", "text/html"].
	ContentTypes []string `json:"content_types"`

	ParseError string `json:"parse_error,omitempty"`
	Raw        []byte `json:"-"`
}

// HeaderFrom returns the decoded From header (not the envelope sender).
func (m Message) HeaderFrom() string { return decodeHeader(m.Header.Get("From")) }

// HeaderTo returns the decoded To header.
func (m Message) HeaderTo() string { return decodeHeader(m.Header.Get("To")) }

// maxParts bounds how many MIME parts are looked at, against a mail that
// nests parts without end.
const maxParts = 100

func parse(raw []byte) Message {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.ParseError = err.Error()
		return m
	}
	m.Header = msg.Header
	m.Subject = decodeHeader(msg.Header.Get("Subject"))
	m.MessageID = msg.Header.Get("Message-Id")
	budget := maxParts
	if err := m.walk(msg.Header, msg.Body, &budget); err != nil {
		m.ParseError = err.Error()
	}
	return m
}

// header is the part of a MIME header walk needs; mail.Header and
// textproto.MIMEHeader both provide it.
type header interface{ Get(string) string }

// walk decodes one entity: a leaf's body into Text or HTML, a multipart's
// parts recursively.
func (m *Message) walk(h header, body io.Reader, budget *int) error {
	if *budget--; *budget < 0 {
		return errors.New("too many MIME parts")
	}
	mediatype, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediatype, params = "text/plain", nil // RFC 2045 default
	}
	m.ContentTypes = append(m.ContentTypes, mediatype)
	if strings.HasPrefix(mediatype, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart, not NextPart: NextPart decodes quoted-printable
			// itself and hides the header, and base64 would still be left
			// to us; decoding both here keeps one path.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := m.walk(p.Header, p, budget); err != nil {
				return err
			}
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return nil
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMessageBytes))
	if err != nil {
		return fmt.Errorf("decode %s part: %w", mediatype, err)
	}
	// Charsets other than UTF-8 are kept as bytes: opsflow sends UTF-8,
	// and this is a development tool, not a mail reader.
	switch {
	case mediatype == "text/plain" && m.Text == "":
		m.Text = string(data)
	case mediatype == "text/html" && m.HTML == "":
		m.HTML = string(data)
	}
	return nil
}

var wordDecoder = mime.WordDecoder{}

func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
