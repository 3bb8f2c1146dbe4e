package segment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// Destination kinds.
const (
	// KindWebhook posts signed JSON to a URL.
	KindWebhook = "webhook"
	// KindSegment forwards identify and track calls to a Segment-compatible API.
	KindSegment = "segment"
)

// Destination receives a segment's members for a purpose, with only the fields on its
// allow-list. Its secret (the webhook signing key, or the write key of a Segment-compatible
// API) is sealed at rest and shown once, when the destination is created.
type Destination struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	SegmentID string    `json:"segment_id"`
	Purpose   string    `json:"purpose"`
	Fields    []string  `json:"fields"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`

	MasterVersion int    `json:"-"`
	Key           []byte `json:"-"`
	Secret        []byte `json:"-"` // sealed
}

// DestinationInput is what a client sends to create a destination.
type DestinationInput struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	SegmentID string   `json:"segment_id"`
	Purpose   string   `json:"purpose"`
	Fields    []string `json:"fields"`
	URL       string   `json:"url"`
	// Secret is the Segment-compatible API's write key; for a webhook it is generated.
	Secret string `json:"secret,omitempty"`
}

// CreatedDestination is the answer of a create: the destination and, this once, its secret.
type CreatedDestination struct {
	Destination
	SigningSecret string `json:"signing_secret,omitempty"`
}

// Delivery is one customer sent (or to be sent) to one destination: an upsert when they
// entered its segment, a removal when they left it, withdrew or were erased. It holds the
// customer id only: the payload is made from the vault when it is sent.
type Delivery struct {
	ID            int64      `json:"id"`
	DestinationID string     `json:"destination_id"`
	CustomerID    string     `json:"customer_id"`
	Action        string     `json:"action"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAt        time.Time  `json:"next_at"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	// Key is the idempotency key the receiver sees on every attempt.
	Key string `json:"idempotency_key"`
}

// Delivery actions and states.
const (
	ActionUpsert = "upsert"
	ActionRemove = "remove"

	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// MaxAttempts is how many times a delivery is tried before it goes to the dead-letter list.
const MaxAttempts = 8

// DestinationStore keeps destinations and their deliveries.
type DestinationStore interface {
	// CreateDestination stores d and queues an upsert for every current member of its
	// segment, in one transaction.
	CreateDestination(ctx context.Context, d Destination, entries []audit.Entry) error
	GetDestination(ctx context.Context, id string) (Destination, error)
	ListDestinations(ctx context.Context) ([]Destination, error)
	// ClaimDeliveries takes up to limit pending deliveries due at now, pushing their next
	// attempt to leaseUntil so that no other node sends them meanwhile.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Delivery, error)
	// FinishDelivery records an attempt's outcome with its audit entries.
	FinishDelivery(ctx context.Context, d Delivery, entries []audit.Entry) error
	// ListDeliveries lists a destination's deliveries in state (all when empty), newest first.
	ListDeliveries(ctx context.Context, destinationID, state string, limit int) ([]Delivery, error)
	// ReplayDelivery makes a dead (or delivered) delivery pending again, due now.
	ReplayDelivery(ctx context.Context, destinationID string, id int64, now time.Time) (Delivery, error)
}

// Keys makes and opens a destination's own data key, which seals its secret.
type Keys interface {
	NewDataKey(id string) (*vault.DataKey, vault.WrappedKey, error)
	OpenDataKey(ctx context.Context, id string, w vault.WrappedKey) (*vault.DataKey, error)
}

// Transport sends one request; implemented over an HTTP client by the composition root.
type Transport interface {
	// Post sends body to url with header and returns the response status.
	Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error)
}

// Audit actions of destinations.
const (
	ActionDestinationCreate = "destination.create"
	ActionDeliver           = "destination.deliver"
	ActionReplay            = "destination.replay"
)

const secretTable, secretField = "destinations", "secret"

func destSubject(id string) string { return "destination:" + id }

// CreateDestination validates and stores a destination bound to a segment, a purpose and a
// field allow-list. Needs customers.reveal for the purpose (deliveries carry values) and a
// role that may act for the segment's purpose too.
func (s *Service) CreateDestination(ctx context.Context, in DestinationInput) (CreatedDestination, error) {
	if in.Purpose == "" {
		return CreatedDestination{}, problem.InvalidField("purpose", "is required")
	}
	if _, ok := s.catalog.Purpose(in.Purpose); !ok {
		return CreatedDestination{}, problem.InvalidField("purpose", "unknown purpose %q", in.Purpose)
	}
	if _, err := authz.MayReveal(ctx, s.catalog, in.Purpose); err != nil {
		return CreatedDestination{}, err
	}
	if p, _ := s.catalog.Purpose(in.Purpose); p.GeneralizedOnly {
		return CreatedDestination{}, problem.InvalidField("purpose", "purpose %q sees generalised data only; it sends no one anywhere", in.Purpose)
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return CreatedDestination{}, problem.InvalidField("name", "must be 1 to 200 characters")
	}
	if in.Kind != KindWebhook && in.Kind != KindSegment {
		return CreatedDestination{}, problem.InvalidField("kind", "must be webhook or segment")
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return CreatedDestination{}, problem.InvalidField("url", "must be an http or https URL without credentials")
	}
	if in.SegmentID == "" {
		return CreatedDestination{}, problem.InvalidField("segment_id", "is required")
	}
	seg, err := s.Get(ctx, in.SegmentID)
	if err != nil {
		return CreatedDestination{}, problem.InvalidField("segment_id", "no such segment")
	}
	if p, _ := s.catalog.Purpose(seg.Purpose); p.GeneralizedOnly {
		return CreatedDestination{}, problem.InvalidField("segment_id", "segments for purpose %q are counted, never sent", seg.Purpose)
	}
	if len(in.Fields) > 50 {
		return CreatedDestination{}, problem.InvalidField("fields", "at most 50 fields")
	}
	for i, f := range in.Fields {
		fd, ok := s.catalog.Field(f)
		if !ok {
			return CreatedDestination{}, problem.InvalidField("fields", "fields[%d]: field %q is not declared in the data catalog", i, f)
		}
		if !fd.AllowsPurpose(in.Purpose) {
			return CreatedDestination{}, problem.InvalidField("fields", "fields[%d]: field %q may not be used for purpose %q", i, f, in.Purpose)
		}
	}
	secret := in.Secret
	out := CreatedDestination{}
	switch in.Kind {
	case KindWebhook:
		if secret != "" {
			return CreatedDestination{}, problem.InvalidField("secret", "a webhook's signing secret is generated; leave it out")
		}
		secret = "whsec_" + randomHex(24)
		out.SigningSecret = secret
	case KindSegment:
		if secret == "" || len(secret) > 256 {
			return CreatedDestination{}, problem.InvalidField("secret", "the write key of the Segment-compatible API is required")
		}
	}
	d := Destination{ID: ident.New(), Name: name, Kind: in.Kind, SegmentID: seg.ID, Purpose: in.Purpose, URL: u.String(),
		Fields: append([]string{}, in.Fields...), CreatedAt: s.now().UTC()}
	dk, wk, err := s.keys.NewDataKey(destSubject(d.ID))
	if err != nil {
		return CreatedDestination{}, err
	}
	if d.Secret, err = dk.Seal(secretTable, secretField, destSubject(d.ID), []byte(secret)); err != nil {
		return CreatedDestination{}, err
	}
	d.MasterVersion, d.Key = wk.MasterVersion, wk.Blob
	e := audit.New(ctx, ActionDestinationCreate, "", d.Fields, in.Purpose)
	e.Target = "destination:" + d.ID + " segment:" + seg.ID
	if err := s.dests.CreateDestination(ctx, d, []audit.Entry{e}); err != nil {
		return CreatedDestination{}, err
	}
	out.Destination = d
	return out, nil
}

// ListDestinations lists destinations; needs customers.read.
func (s *Service) ListDestinations(ctx context.Context) ([]Destination, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead); err != nil {
		return nil, err
	}
	return s.dests.ListDestinations(ctx)
}

// GetDestination returns one destination.
func (s *Service) GetDestination(ctx context.Context, id string) (Destination, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCustomersRead); err != nil {
		return Destination{}, err
	}
	if !ident.Valid(id) {
		return Destination{}, problem.NotFoundf("destination not found")
	}
	return s.dests.GetDestination(ctx, id)
}

// Deliveries lists a destination's deliveries; state "dead" is the dead-letter list.
func (s *Service) Deliveries(ctx context.Context, id, state string, limit int) ([]Delivery, error) {
	if _, err := s.GetDestination(ctx, id); err != nil {
		return nil, err
	}
	if state != "" && state != DeliveryPending && state != DeliveryDelivered && state != DeliveryDead {
		return nil, problem.InvalidField("state", "must be pending, delivered or dead")
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return s.dests.ListDeliveries(ctx, id, state, limit)
}

// Replay sends a delivery again (the dead-letter list's replay), with a fresh attempt count.
func (s *Service) Replay(ctx context.Context, destinationID string, deliveryID int64) (Delivery, error) {
	d, err := s.GetDestination(ctx, destinationID)
	if err != nil {
		return Delivery{}, err
	}
	if _, err := authz.MayReveal(ctx, s.catalog, d.Purpose); err != nil {
		return Delivery{}, err
	}
	dl, err := s.dests.ReplayDelivery(ctx, d.ID, deliveryID, s.now().UTC())
	if err != nil {
		return Delivery{}, err
	}
	e := audit.New(ctx, ActionReplay, dl.CustomerID, nil, d.Purpose)
	e.Target = "destination:" + d.ID + " delivery:" + strconv.FormatInt(dl.ID, 10)
	return dl, s.audit.AppendAudit(ctx, e)
}

// deliveryLease is how long a claimed delivery is held before another node may send it.
const deliveryLease = time.Minute

// Deliver sends the deliveries due now, at most limit, and returns how many it attempted.
// Each upsert decides the destination's purpose again at the moment of sending, and checks
// that the customer is still a member: one who may no longer be sent (withdrawn, objected,
// suppressed, erased) or who left is sent a removal instead.
func (s *Service) Deliver(ctx context.Context, limit int) (int, error) {
	now := s.now().UTC()
	due, err := s.dests.ClaimDeliveries(ctx, now, now.Add(deliveryLease), limit)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	dests := map[string]*Destination{}
	secrets := map[string]string{}
	for i := range due {
		dl := due[i]
		d, ok := dests[dl.DestinationID]
		if !ok {
			got, err := s.dests.GetDestination(ctx, dl.DestinationID)
			if err != nil {
				return i, err
			}
			d = &got
			dests[d.ID] = d
			if secrets[d.ID], err = s.openSecret(ctx, d); err != nil {
				return i, err
			}
		}
		if err := s.deliverOne(ctx, d, secrets[d.ID], dl); err != nil {
			return i, err
		}
	}
	return len(due), nil
}

func (s *Service) openSecret(ctx context.Context, d *Destination) (string, error) {
	dk, err := s.keys.OpenDataKey(ctx, destSubject(d.ID), vault.WrappedKey{MasterVersion: d.MasterVersion, Blob: d.Key})
	if err != nil {
		return "", err
	}
	b, err := dk.Open(secretTable, secretField, destSubject(d.ID), d.Secret)
	if err != nil {
		return "", problem.Wrap(problem.Internal, err, "destination secret does not open")
	}
	return string(b), nil
}

// Payload is what a webhook receives: the action, the customer's id and, for an upsert, the
// allowed fields.
type Payload struct {
	ID          string         `json:"id"`
	Action      string         `json:"action"`
	Destination string         `json:"destination_id"`
	Segment     string         `json:"segment_id"`
	Purpose     string         `json:"purpose"`
	CustomerID  string         `json:"customer_id"`
	Fields      map[string]any `json:"fields,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	SentAt      time.Time      `json:"sent_at"`
}

func (s *Service) deliverOne(ctx context.Context, d *Destination, secret string, dl Delivery) error {
	now := s.now().UTC()
	action, reason := dl.Action, ""
	var fields map[string]any
	if action == ActionUpsert {
		ds, err := s.decider.Decide(ctx, []string{dl.CustomerID}, []string{d.Purpose})
		if err != nil {
			return err
		}
		member, err := s.member(ctx, d.SegmentID, dl.CustomerID)
		if err != nil {
			return err
		}
		views, err := s.profiles.Present(ctx, []string{dl.CustomerID}, d.Purpose, d.Fields)
		if err != nil {
			return err
		}
		switch {
		case !ds[0][0]:
			action, reason = ActionRemove, "not_allowed"
		case !member:
			action, reason = ActionRemove, "left"
		case views[0] == nil:
			action, reason = ActionRemove, "gone"
		default:
			fields = views[0]
		}
	}
	body, header, err := s.request(d, secret, dl, action, reason, fields, now)
	if err != nil {
		return err
	}
	status, sendErr := s.send.Post(ctx, target(d), header, body)
	dl.Attempts++
	dl.LastStatus = status
	var entries []audit.Entry
	switch {
	case sendErr == nil && status >= 200 && status < 300:
		dl.State, dl.LastError, dl.DeliveredAt = DeliveryDelivered, "", &now
		var shown []string
		for f := range fields {
			shown = append(shown, f)
		}
		slices.Sort(shown)
		e := audit.New(ctx, ActionDeliver, dl.CustomerID, shown, d.Purpose)
		e.ActorID, e.ActorRole = "system", "system"
		e.Target = "destination:" + d.ID + " " + action
		entries = append(entries, e)
	default:
		dl.LastError = fmt.Sprintf("status %d", status)
		if sendErr != nil {
			dl.LastError = "not delivered: " + sendErr.Error()
		}
		if dl.Attempts >= MaxAttempts {
			dl.State = DeliveryDead
		} else {
			dl.NextAt = now.Add(Backoff(dl.Attempts))
		}
	}
	return s.dests.FinishDelivery(ctx, dl, entries)
}

// Backoff is the wait before attempt n+1: 30 seconds doubled per attempt, at most six hours,
// with up to a fifth added at random so that retries after an outage do not arrive together.
func Backoff(attempt int) time.Duration {
	d := 30 * time.Second << min(attempt-1, 10)
	d = min(d, 6*time.Hour)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// target is where a delivery goes: the webhook URL, or the identify endpoint of a
// Segment-compatible API.
func target(d *Destination) string {
	if d.Kind == KindSegment {
		return strings.TrimRight(d.URL, "/") + "/v1/batch"
	}
	return d.URL
}

// request builds a delivery's body and headers. A webhook's body is signed with HMAC-SHA256
// over "timestamp.body" (Steward-Signature: t=…,v1=…); a Segment-compatible destination gets
// an identify (upsert) and a track of "Audience Entered" or "Audience Exited" in one batch,
// authenticated with its write key.
func (s *Service) request(d *Destination, secret string, dl Delivery, action, reason string, fields map[string]any, now time.Time) ([]byte, map[string]string, error) {
	header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": dl.Key}
	if d.Kind == KindSegment {
		event := "Audience Entered"
		if action == ActionRemove {
			event = "Audience Exited"
		}
		batch := []map[string]any{}
		if action == ActionUpsert {
			batch = append(batch, map[string]any{"type": "identify", "userId": dl.CustomerID, "traits": fields, "messageId": dl.Key + "-identify",
				"timestamp": now})
		}
		batch = append(batch, map[string]any{"type": "track", "userId": dl.CustomerID, "event": event, "messageId": dl.Key + "-track",
			"properties": map[string]any{"audience_id": d.SegmentID, "destination_id": d.ID, "purpose": d.Purpose}, "timestamp": now})
		body, err := json.Marshal(map[string]any{"batch": batch, "sentAt": now})
		header["Authorization"] = "Basic " + basic(secret)
		return body, header, err
	}
	body, err := json.Marshal(Payload{ID: dl.Key, Action: action, Destination: d.ID, Segment: d.SegmentID, Purpose: d.Purpose,
		CustomerID: dl.CustomerID, Fields: fields, Reason: reason, SentAt: now})
	header["Steward-Signature"] = Sign([]byte(secret), now.Unix(), body)
	return body, header, err
}

// Sign is the Steward-Signature header of a webhook body sent at unix time ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a Steward-Signature header against body, refusing one older than
// tolerance at now: what a receiver does with every delivery.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts int64
	var sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			sig = v
		}
	}
	if ts == 0 || sig == "" || now.Sub(time.Unix(ts, 0)).Abs() > tolerance {
		return false
	}
	want := Sign(secret, ts, body)
	return hmac.Equal([]byte(want), []byte("t="+strconv.FormatInt(ts, 10)+",v1="+sig))
}

func basic(user string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":")) }

// Recipient is a destination as the privacy notice names it.
type Recipient struct {
	Name    string
	Purpose string
}

// Recipients lists every destination as a recipient, for the privacy notice and the records
// of processing: whoever receives customers' data must be named there.
func (s *Service) Recipients(ctx context.Context) ([]Recipient, error) {
	ds, err := s.dests.ListDestinations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Recipient, 0, len(ds))
	for _, d := range ds {
		host := d.URL
		if u, err := url.Parse(d.URL); err == nil {
			host = u.Host
		}
		out = append(out, Recipient{Name: d.Name + " (" + host + ")", Purpose: d.Purpose})
	}
	return out, nil
}
