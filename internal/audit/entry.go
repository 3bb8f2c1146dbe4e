package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/clock"
)

// Actions written by the services. They are stable strings because auditors filter on them.
const (
	ActionCustomerCreate = "customer.create"
	ActionCustomerRead   = "customer.read"
	ActionCustomerReveal = "customer.reveal"
	ActionCustomerUpdate = "customer.update"
	ActionCustomerList   = "customer.list"
	ActionCustomerLookup = "customer.lookup"
	ActionCustomerSearch = "customer.search"
	ActionAPIKeyCreate   = "apikey.create"
	ActionAPIKeyRevoke   = "apikey.revoke"
	ActionAPIKeyList     = "apikey.list"
	ActionAuditRead      = "audit.read"
	ActionKeysRotate     = "keys.rotate"
	ActionInit           = "steward.init"
	ActionDemoLoad       = "demo.load"
	// ActionReadMissing is a read answered 404 or 410: see Service.Missing.
	ActionReadMissing = "read.missing"
)

// Entry is one audit record. Chain, Seq, PrevHash and Hash are filled in by Link when the
// entry is appended; everything else by the service that acts.
type Entry struct {
	ID         int64     `json:"id"` // storage order, for paging only; not covered by the hash
	Chain      int       `json:"chain"`
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	ActorID    string    `json:"actor_id"`
	ActorRole  string    `json:"actor_role"`
	Action     string    `json:"action"`
	CustomerID string    `json:"customer_id,omitempty"`
	Target     string    `json:"target,omitempty"` // what else was acted on, e.g. "apikey:abcd1234"
	Fields     []string  `json:"fields,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Outcome    string    `json:"outcome"`
	PrevHash   []byte    `json:"prev_hash"`
	Hash       []byte    `json:"hash"`
}

// Outcomes: a denied attempt is audited as well as a successful one.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	// OutcomeNotFound and OutcomeGone are reads that found nothing, or found that the
	// customer was erased: a probe of who is a customer is as much a read as a hit.
	OutcomeNotFound = "not_found"
	OutcomeGone     = "gone"
)

// New starts an entry for the actor and request in ctx. Times are truncated to microseconds
// because that is what every engine stores, and the hash must survive a round trip.
func New(ctx context.Context, action, customerID string, fields []string, purpose string) Entry {
	a, _ := authz.ActorFrom(ctx)
	var target string
	if r := Reason(ctx); r != "" {
		target = "reason:" + r
	}
	return Entry{
		Target:     target,
		Time:       clock.System(),
		ActorID:    a.ID,
		ActorRole:  a.Role,
		Action:     action,
		CustomerID: customerID,
		Fields:     fields,
		Purpose:    purpose,
		RequestID:  RequestID(ctx),
		Outcome:    OutcomeOK,
	}
}

// Canonical is the byte string the hash covers: every field except Hash, each length-prefixed
// so that no two different entries encode alike.
func (e *Entry) Canonical() []byte {
	b := make([]byte, 0, 256)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Chain))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	for _, s := range []string{e.ActorID, e.ActorRole, e.Action, e.CustomerID, e.Target, e.Purpose, e.RequestID, e.Outcome} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Fields)))
	for _, f := range e.Fields {
		b = appendString(b, f)
	}
	b = appendString(b, string(e.PrevHash))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Genesis is the previous hash of the first entry of every chain.
var Genesis = make([]byte, sha256.Size)

// Head is the newest position of one chain, kept by the store apart from the entries so that
// deleting the newest entries leaves a head that no longer matches.
type Head struct {
	Chain int
	Seq   int64
	Hash  []byte
}

// Link fills in e's position after head and computes its hash, returning the new head.
func Link(head Head, e *Entry) Head {
	prev := head.Hash
	if len(prev) == 0 {
		prev = Genesis
	}
	e.Chain = head.Chain
	e.Seq = head.Seq + 1
	e.PrevHash = prev
	sum := sha256.Sum256(e.Canonical())
	e.Hash = sum[:]
	return Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash}
}

// SealedHead is a chain's head as stored: the position, the position of another chain it
// anchors (see Checkpoint.Anchor), and a keyed MAC over both. The MAC is what vouches for the
// entries after the chain's last signed checkpoint: whoever can only write to the database can
// append entries and move the head along, but cannot compute the MAC, so entries written
// without the audit key fail verification wherever they are.
type SealedHead struct {
	Head
	Anchor Head
	MAC    []byte
}

// Checkpoint is a signed statement that a chain had reached Seq with Hash at Time. Signatures
// use an Ed25519 key held in the keyset, so a checkpoint cannot be forged by someone who can
// only write to the database.
//
// Anchor, when its Seq is above zero, is the committed head of another chain the checkpoint
// vouches for as well: the main trail's checkpoints anchor the access trail, which lives in a
// file of its own, so that deleting, truncating or replacing that file with an older copy
// leaves the main trail vouching for entries that are no longer there.
type Checkpoint struct {
	Chain     int       `json:"chain"`
	Seq       int64     `json:"seq"`
	Hash      []byte    `json:"hash"`
	Time      time.Time `json:"time"`
	Signature []byte    `json:"signature"`
	Anchor    Head      `json:"anchor"`
}

func (c *Checkpoint) message() []byte {
	m := "steward audit checkpoint v1|" + strconv.Itoa(c.Chain) + "|" +
		strconv.FormatInt(c.Seq, 10) + "|" + hex.EncodeToString(c.Hash) + "|" +
		strconv.FormatInt(c.Time.UnixMicro(), 10)
	if c.Anchor.Seq > 0 {
		// v1 checkpoints (no anchor) keep verifying; an anchor cannot be stripped from a
		// checkpoint without breaking its signature, because it is part of the message.
		m += "|anchor|" + strconv.Itoa(c.Anchor.Chain) + "|" + strconv.FormatInt(c.Anchor.Seq, 10) + "|" +
			hex.EncodeToString(c.Anchor.Hash)
	}
	return []byte(m)
}

// Sealer links entries, signs a checkpoint every Every entries and seals chain heads. Engines
// call it inside the transaction that appends, so entries, head and checkpoint commit together.
type Sealer struct {
	Key   ed25519.PrivateKey
	Every int64

	once sync.Once
	macs sync.Pool // keyed HMAC states, reset and reused: keying one costs as much as the MAC
}

// Append links e after head and returns the new head and, when one is due, a checkpoint
// that also vouches for anchor (the zero Head when the chain anchors nothing).
func (s *Sealer) Append(head Head, e *Entry, anchor Head) (Head, *Checkpoint) {
	next := Link(head, e)
	if !s.Due(next.Seq) {
		return next, nil
	}
	return next, s.Sign(next, e.Time, anchor)
}

// Due reports whether the entry at seq gets a checkpoint, so that an engine can look up
// what the checkpoint anchors only when one is due.
func (s *Sealer) Due(seq int64) bool {
	return s != nil && s.Key != nil && s.Every > 0 && seq%s.Every == 0
}

// Sign makes a checkpoint for head, anchoring anchor.
func (s *Sealer) Sign(head Head, at time.Time, anchor Head) *Checkpoint {
	c := &Checkpoint{Chain: head.Chain, Seq: head.Seq, Hash: head.Hash, Time: at.UTC().Truncate(time.Microsecond)}
	if anchor.Seq > 0 {
		c.Anchor = anchor
	}
	c.Signature = ed25519.Sign(s.Key, c.message())
	return c
}

// Seal returns the MAC of a head about to be written, or nil without a signing key (the head
// then vouches for nothing). It costs two SHA-256 compressions: unlike a signature, it can be
// paid on every transaction that appends.
func (s *Sealer) Seal(h SealedHead) []byte {
	if s == nil || s.Key == nil {
		return nil
	}
	s.once.Do(func() {
		key := HeadKey(s.Key)
		s.macs.New = func() any { return hmac.New(sha256.New, key) }
	})
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(headMessage(make([]byte, 0, 128), h))
	sum := m.Sum(nil)
	s.macs.Put(m)
	return sum
}

// Verify reports whether h carries the seal this sealer would give it. An engine checks the
// head it extends: extending a head it cannot vouch for, and sealing the result, would vouch
// for whatever someone without the key wrote before it.
func (s *Sealer) Verify(h SealedHead) bool {
	if s == nil || s.Key == nil || len(h.MAC) == 0 {
		return false
	}
	return hmac.Equal(h.MAC, s.Seal(h))
}

// HeadKey derives the key that seals chain heads from the audit signing key, so the keyset
// holds one secret for both. Verifying a sealed head needs it: unlike checkpoints, heads are
// not verifiable with the public key alone.
func HeadKey(signing ed25519.PrivateKey) []byte {
	m := hmac.New(sha256.New, signing.Seed())
	m.Write([]byte("steward audit head key v1"))
	return m.Sum(nil)
}

func headMAC(key []byte, h SealedHead) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(headMessage(make([]byte, 0, 128), h))
	return m.Sum(nil)
}

// headMessage appends what a head's MAC covers to b.
func headMessage(b []byte, h SealedHead) []byte {
	b = append(b, "steward audit head v1"...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Chain))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Seq))
	b = appendString(b, string(h.Hash))
	if h.Anchor.Seq > 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(h.Anchor.Chain))
		b = binary.BigEndian.AppendUint64(b, uint64(h.Anchor.Seq))
		b = appendString(b, string(h.Anchor.Hash))
	}
	return b
}
