package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/problem"
)

// Limits of Segment's HTTP API, kept so that a client built for Segment never meets a
// different limit here.
const (
	MaxEventBytes  = 32 << 10
	MaxBatchBytes  = 500 << 10
	MaxBatchEvents = 2500
	// maxIDLength bounds identifiers and message ids: longer ones are not ids but payloads.
	maxIDLength = 256
	// maxNameLength bounds event, page and screen names.
	maxNameLength = 200
)

// Message types of the tracking API.
const (
	TypeIdentify = "identify"
	TypeTrack    = "track"
	TypePage     = "page"
	TypeScreen   = "screen"
	TypeGroup    = "group"
	TypeAlias    = "alias"
	// KindBatch is the request kind of /v1/batch, whose messages carry their own types.
	KindBatch = "batch"
)

// Kinds lists the request kinds of the tracking API, each served at /v1/{kind}.
var Kinds = []string{TypeIdentify, TypeTrack, TypePage, TypeScreen, TypeGroup, TypeAlias, KindBatch}

// ShortKinds maps the browser library's short paths (/v1/t …) to request kinds.
var ShortKinds = map[string]string{"i": TypeIdentify, "t": TypeTrack, "p": TypePage, "s": TypeScreen, "g": TypeGroup, "a": TypeAlias, "b": KindBatch}

// Message is one parsed tracking message. Only what Steward may keep survives parsing:
// everything else in the wire message is ignored.
type Message struct {
	Type        string
	MessageID   string
	UserID      string
	AnonymousID string
	PreviousID  string
	GroupID     string
	// Name is the track event's name, or the page or screen name.
	Name       string
	Category   string // page category
	Properties map[string]any
	Traits     map[string]any
	Context    Context
	// Timestamp is when the message happened, corrected for the client's clock skew.
	Timestamp time.Time
	// Size is the message's size on the wire, in bytes.
	Size int
	// CustomerID, set only inside Steward (never from the wire), names the customer a
	// message is recorded for when it comes from a till that knows them.
	CustomerID string
	// FillContact, set only inside Steward, says that the e-mail address and phone number in
	// Context.Traits are contact details the customer gave (at a till, say): they fill the
	// profile where it holds none, so the customer is found by them like any other.
	FillContact bool
	// Platform, set only inside Steward, names the connected platform (a source) that
	// reported the message, so that the consent records it causes name it as their origin.
	Platform string
}

// Context is the part of a message's context Steward reads.
type Context struct {
	IP          string
	UserAgent   string
	Locale      string
	DeviceID    string
	Library     string
	LibraryVer  string
	ExternalIDs []ExternalID
	// Page and Campaign hold the browser page and UTM parameters (URLs may identify people,
	// so they are sealed with the event).
	Page     map[string]any
	Campaign map[string]any
	Traits   map[string]any
	// Consent holds context.consent.categoryPreferences as sent.
	Consent map[string]bool
}

// ExternalID is one entry of context.externalIds.
type ExternalID struct {
	ID   string
	Type string
}

// Request is a parsed tracking request.
type Request struct {
	WriteKey string
	Messages []Message
}

// wireMessage is a message as it arrives. Unknown members are ignored, as Segment does.
type wireMessage struct {
	Type              string         `json:"type"`
	MessageID         flexString     `json:"messageId"`
	UserID            flexString     `json:"userId"`
	AnonymousID       flexString     `json:"anonymousId"`
	PreviousID        flexString     `json:"previousId"`
	GroupID           flexString     `json:"groupId"`
	Event             *string        `json:"event"`
	Name              *string        `json:"name"`
	Category          *string        `json:"category"`
	Properties        map[string]any `json:"properties"`
	Traits            map[string]any `json:"traits"`
	Context           map[string]any `json:"context"`
	Timestamp         string         `json:"timestamp"`
	OriginalTimestamp string         `json:"originalTimestamp"`
	SentAt            string         `json:"sentAt"`
	WriteKey          string         `json:"writeKey"`
}

type wireBatch struct {
	Batch    []json.RawMessage `json:"batch"`
	Context  map[string]any    `json:"context"`
	SentAt   string            `json:"sentAt"`
	WriteKey string            `json:"writeKey"`
}

// flexString accepts a string or a number (several SDKs send numeric user ids) and treats
// null as absent.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
		*f = ""
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = flexString(b)
	default:
		return errNotString
	}
	return nil
}

var errNotString = errors.New("must be a string")

// Parse reads the body of a tracking request of kind (a message type, or KindBatch) received
// at receivedAt. Every problem is Invalid (or TooLarge) and names where it is; nothing of a
// bad request is used.
func Parse(kind string, body []byte, receivedAt time.Time) (*Request, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, problem.InvalidField("body", "is empty; a JSON object is required")
	}
	if kind != KindBatch {
		if len(body) > MaxEventBytes {
			return nil, problem.New(problem.TooLarge, "a single message must be at most %d bytes", MaxEventBytes)
		}
		var w wireMessage
		if err := decodeStrict(body, &w); err != nil {
			return nil, wireError("", err)
		}
		if w.Type == "" {
			w.Type = kind
		}
		if w.Type != kind {
			return nil, problem.InvalidField("type", "is %q but this endpoint takes %q", clip(w.Type), kind)
		}
		m, err := w.message(nil, "", receivedAt, len(body))
		if err != nil {
			return nil, err
		}
		return &Request{WriteKey: w.WriteKey, Messages: []Message{m}}, nil
	}
	if len(body) > MaxBatchBytes {
		return nil, problem.New(problem.TooLarge, "a batch must be at most %d bytes", MaxBatchBytes)
	}
	var wb wireBatch
	if err := decodeStrict(body, &wb); err != nil {
		return nil, wireError("", err)
	}
	if wb.Batch == nil {
		return nil, problem.InvalidField("batch", "is required: an array of messages")
	}
	if len(wb.Batch) == 0 {
		return nil, problem.InvalidField("batch", "is empty")
	}
	if len(wb.Batch) > MaxBatchEvents {
		return nil, problem.New(problem.TooLarge, "a batch must hold at most %d messages", MaxBatchEvents)
	}
	req := &Request{WriteKey: wb.WriteKey, Messages: make([]Message, 0, len(wb.Batch))}
	for i, raw := range wb.Batch {
		at := fmt.Sprintf("batch[%d]", i)
		if len(raw) > MaxEventBytes {
			return nil, problem.New(problem.TooLarge, "%s: a message must be at most %d bytes", at, MaxEventBytes)
		}
		var w wireMessage
		if err := decodeStrict(raw, &w); err != nil {
			return nil, wireError(at+".", err)
		}
		if !knownType(w.Type) {
			if w.Type == "" {
				return nil, problem.InvalidField(at+".type", "is required")
			}
			return nil, problem.InvalidField(at+".type", "is not a message type (identify, track, page, screen, group, alias)")
		}
		if w.SentAt == "" {
			w.SentAt = wb.SentAt
		}
		if req.WriteKey == "" {
			req.WriteKey = w.WriteKey
		}
		m, err := w.message(wb.Context, at+".", receivedAt, len(raw))
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, m)
	}
	return req, nil
}

func knownType(t string) bool {
	switch t {
	case TypeIdentify, TypeTrack, TypePage, TypeScreen, TypeGroup, TypeAlias:
		return true
	}
	return false
}

// decodeStrict decodes one JSON object with numbers kept exact and nothing after it.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var errTrailing = errors.New("trailing data")

// wireError turns a decoding error into an Invalid problem that says where, never what.
func wireError(prefix string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "must be a JSON object")
		}
		return problem.WrongJSONType(prefix+field, te)
	case errors.Is(err, errNotString):
		return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "ids (messageId, userId, anonymousId, previousId, groupId) must be strings or numbers")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "malformed JSON: unexpected end")
	case errors.Is(err, errTrailing):
		return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "must hold a single JSON object")
	}
	return problem.InvalidField(strings.TrimSuffix(prefix, ".")+orBody(prefix), "malformed JSON")
}

func orBody(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return ""
}

// message checks a wire message and turns it into a Message, merging the batch context under
// the message's own.
func (w *wireMessage) message(batchCtx map[string]any, at string, receivedAt time.Time, size int) (Message, error) {
	m := Message{Type: w.Type, Properties: w.Properties, Traits: w.Traits, Size: size}
	var err error
	ids := []struct {
		name string
		in   flexString
		out  *string
	}{
		{"messageId", w.MessageID, &m.MessageID}, {"userId", w.UserID, &m.UserID}, {"anonymousId", w.AnonymousID, &m.AnonymousID},
		{"previousId", w.PreviousID, &m.PreviousID}, {"groupId", w.GroupID, &m.GroupID},
	}
	for _, id := range ids {
		s := strings.TrimSpace(string(id.in))
		if len(s) > maxIDLength || !utf8.ValidString(s) {
			return m, problem.InvalidField(at+id.name, "must be valid UTF-8 of at most %d bytes", maxIDLength)
		}
		*id.out = s
	}
	if m.UserID == "" && m.AnonymousID == "" {
		return m, problem.InvalidField(at+"userId", "userId or anonymousId is required")
	}
	switch m.Type {
	case TypeTrack:
		if w.Event == nil || strings.TrimSpace(*w.Event) == "" {
			return m, problem.InvalidField(at+"event", "is required for track messages")
		}
		m.Name = strings.TrimSpace(*w.Event)
	case TypePage, TypeScreen:
		if w.Name != nil {
			m.Name = strings.TrimSpace(*w.Name)
		}
		if w.Category != nil {
			m.Category = strings.TrimSpace(*w.Category)
		}
	case TypeAlias:
		if m.PreviousID == "" || m.UserID == "" {
			return m, problem.InvalidField(at+"previousId", "alias needs previousId and userId")
		}
	case TypeGroup:
		if m.GroupID == "" {
			return m, problem.InvalidField(at+"groupId", "is required for group messages")
		}
	}
	if utf8.RuneCountInString(m.Name) > maxNameLength || utf8.RuneCountInString(m.Category) > maxNameLength {
		return m, problem.InvalidField(at+"event", "names must be at most %d characters", maxNameLength)
	}
	if m.Context, err = parseContext(mergeContext(batchCtx, w.Context), at+"context."); err != nil {
		return m, err
	}
	if m.Timestamp, err = correctedTime(w, at, receivedAt); err != nil {
		return m, err
	}
	return m, nil
}

func mergeContext(batch, own map[string]any) map[string]any {
	if len(batch) == 0 {
		return own
	}
	out := make(map[string]any, len(batch)+len(own))
	for k, v := range batch {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// parseContext reads the members of context Steward uses, checking their types.
func parseContext(c map[string]any, at string) (Context, error) {
	var out Context
	if c == nil {
		return out, nil
	}
	str := func(name string, v any) (string, error) {
		if v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", problem.InvalidField(at+name, "must be a string")
		}
		if len(s) > 2048 {
			return "", problem.InvalidField(at+name, "must be at most 2048 bytes")
		}
		return strings.TrimSpace(s), nil
	}
	obj := func(name string, v any) (map[string]any, error) {
		if v == nil {
			return nil, nil
		}
		o, ok := v.(map[string]any)
		if !ok {
			return nil, problem.InvalidField(at+name, "must be an object")
		}
		return o, nil
	}
	var err error
	if out.IP, err = str("ip", c["ip"]); err != nil {
		return out, err
	}
	if out.UserAgent, err = str("userAgent", c["userAgent"]); err != nil {
		return out, err
	}
	if out.Locale, err = str("locale", c["locale"]); err != nil {
		return out, err
	}
	dev, err := obj("device", c["device"])
	if err != nil {
		return out, err
	}
	if out.DeviceID, err = str("device.id", dev["id"]); err != nil {
		return out, err
	}
	lib, err := obj("library", c["library"])
	if err != nil {
		return out, err
	}
	if out.Library, err = str("library.name", lib["name"]); err != nil {
		return out, err
	}
	if out.LibraryVer, err = str("library.version", lib["version"]); err != nil {
		return out, err
	}
	if out.Page, err = obj("page", c["page"]); err != nil {
		return out, err
	}
	if out.Campaign, err = obj("campaign", c["campaign"]); err != nil {
		return out, err
	}
	if out.Traits, err = obj("traits", c["traits"]); err != nil {
		return out, err
	}
	consent, err := obj("consent", c["consent"])
	if err != nil {
		return out, err
	}
	if prefs, err := obj("consent.categoryPreferences", consent["categoryPreferences"]); err != nil {
		return out, err
	} else if prefs != nil {
		out.Consent = make(map[string]bool, len(prefs))
		for k, v := range prefs {
			b, ok := v.(bool)
			if !ok {
				return out, problem.InvalidField(at+"consent.categoryPreferences."+clip(k), "must be true or false")
			}
			if len(out.Consent) < 64 {
				out.Consent[clip(k)] = b
			}
		}
	}
	if ext, ok := c["externalIds"]; ok && ext != nil {
		list, ok := ext.([]any)
		if !ok {
			return out, problem.InvalidField(at+"externalIds", "must be an array")
		}
		for i, e := range list {
			o, ok := e.(map[string]any)
			if !ok {
				return out, problem.InvalidField(fmt.Sprintf("%sexternalIds[%d]", at, i), "must be an object with id and type")
			}
			id, err := idString(o["id"])
			if err != nil {
				return out, problem.InvalidField(fmt.Sprintf("%sexternalIds[%d].id", at, i), "%s", err.Error())
			}
			typ, _ := o["type"].(string)
			if id != "" && len(out.ExternalIDs) < 16 {
				out.ExternalIDs = append(out.ExternalIDs, ExternalID{ID: id, Type: typ})
			}
		}
	}
	return out, nil
}

func idString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		if len(x) > maxIDLength {
			return "", fmt.Errorf("must be at most %d bytes", maxIDLength)
		}
		return strings.TrimSpace(x), nil
	case json.Number:
		return x.String(), nil
	}
	return "", errors.New("must be a string")
}

// maxFuture is how far ahead of the server's clock a corrected timestamp may be before it is
// taken to be wrong and replaced by the time of receipt.
const maxFuture = 24 * time.Hour

// correctedTime applies Segment's clock-skew correction: when the client says when it sent
// the message, the event happened receivedAt − (sentAt − originalTimestamp) by the server's
// clock. Without sentAt the client's timestamp is used as it is, and without any timestamp
// the time of receipt.
func correctedTime(w *wireMessage, at string, receivedAt time.Time) (time.Time, error) {
	parse := func(name, s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return t, problem.InvalidField(at+name, "must be an ISO 8601 date and time")
		}
		return t, nil
	}
	orig, err := parse("originalTimestamp", w.OriginalTimestamp)
	if err != nil {
		return orig, err
	}
	ts, err := parse("timestamp", w.Timestamp)
	if err != nil {
		return ts, err
	}
	sent, err := parse("sentAt", w.SentAt)
	if err != nil {
		return sent, err
	}
	base := orig
	if base.IsZero() {
		base = ts
	}
	var out time.Time
	switch {
	case base.IsZero():
		out = receivedAt
	case !sent.IsZero():
		out = receivedAt.Add(-sent.Sub(base))
	default:
		out = base
	}
	if out.After(receivedAt.Add(maxFuture)) || out.Year() < 1970 {
		out = receivedAt
	}
	return out.UTC().Truncate(time.Microsecond), nil
}

// clip shortens client-chosen names quoted in errors and counters.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return strconv.Quote(s[:64])
}
