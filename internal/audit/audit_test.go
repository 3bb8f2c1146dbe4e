package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// trail builds n linked entries on one chain with a checkpoint every 4, and the chain's
// sealed head as an engine stores it.
func trail(t *testing.T, n int) ([]Entry, SealedHead, []Checkpoint, *Sealer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sealer{Key: priv, Every: 4}
	var head Head
	var cps []Checkpoint
	var out []Entry
	for i := 0; i < n; i++ {
		e := Entry{Time: time.Unix(1700000000+int64(i), 0).UTC(), ActorID: "k1", ActorRole: "support",
			Action: ActionCustomerRead, CustomerID: fmt.Sprintf("c%d", i), Fields: []string{"email"}, Outcome: OutcomeOK}
		var cp *Checkpoint
		head, cp = s.Append(head, &e, Head{})
		if cp != nil {
			cps = append(cps, *cp)
		}
		out = append(out, e)
	}
	sh := SealedHead{Head: head}
	sh.MAC = s.Seal(sh)
	return out, sh, cps, s
}

func verify(entries []Entry, heads []SealedHead, cps []Checkpoint, s *Sealer) error {
	v := NewVerifier(cps, heads, s.Key.Public().(ed25519.PublicKey), HeadKey(s.Key))
	v.Every = 4
	for i := range entries {
		if err := v.Add(&entries[i]); err != nil {
			return err
		}
	}
	return v.Finish()
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(es []Entry, h *Head, cps []Checkpoint) []Entry
		wantSeq int64
	}{
		{"intact", func(es []Entry, h *Head, cps []Checkpoint) []Entry { return es }, 0},
		{"edited field", func(es []Entry, h *Head, cps []Checkpoint) []Entry { es[4].Purpose = "marketing_email"; return es }, 5},
		{"edited actor", func(es []Entry, h *Head, cps []Checkpoint) []Entry { es[2].ActorID = "k2"; return es }, 3},
		{"deleted middle", func(es []Entry, h *Head, cps []Checkpoint) []Entry { return append(es[:3:3], es[4:]...) }, 4},
		{"deleted newest", func(es []Entry, h *Head, cps []Checkpoint) []Entry { return es[:len(es)-1] }, 10},
		{"deleted newest and head rewound", func(es []Entry, h *Head, cps []Checkpoint) []Entry {
			*h = Head{Chain: 0, Seq: 7, Hash: es[6].Hash}
			return es[:7]
		}, 8},
		{"inserted", func(es []Entry, h *Head, cps []Checkpoint) []Entry {
			extra := es[5]
			extra.CustomerID = "forged"
			return append(es[:6:6], append([]Entry{extra}, es[6:]...)...)
		}, 6},
		{"reordered", func(es []Entry, h *Head, cps []Checkpoint) []Entry {
			// Engines return entries by sequence number, so reordering means two entries
			// trade positions while the sequence numbers stay in place.
			es[3], es[4] = es[4], es[3]
			es[3].Seq, es[4].Seq = 4, 5
			return es
		}, 4},
		{"relinked after edit", func(es []Entry, h *Head, cps []Checkpoint) []Entry {
			// An attacker who can write the database edits entry 2 and recomputes every hash
			// after it, including the head; only the signed checkpoints catch it.
			es[1].Action = ActionCustomerCreate
			var head Head
			for i := range es {
				head = Link(head, &es[i])
			}
			*h = head
			return es
		}, 4},
		{"checkpoint removed", func(es []Entry, h *Head, cps []Checkpoint) []Entry { cps[1] = cps[0]; return es }, 8},
		{"forged checkpoint", func(es []Entry, h *Head, cps []Checkpoint) []Entry { cps[0].Signature[0] ^= 1; return es }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, head, cps, s := trail(t, 10)
			es = tt.tamper(es, &head.Head, cps)
			err := verify(es, []SealedHead{head}, cps, s)
			if tt.wantSeq == 0 {
				if err != nil {
					t.Fatalf("got %v, want intact", err)
				}
				return
			}
			var b *Break
			if !errors.As(err, &b) {
				t.Fatalf("got %v, want a *Break", err)
			}
			if b.Seq != tt.wantSeq {
				t.Errorf("got break at %d (%s), want %d", b.Seq, b.Reason, tt.wantSeq)
			}
		})
	}
}

// TestVerifyRequiresEveryEntryVouchedFor: entries linked correctly but by someone without
// the audit key — into a chain with no entries yet, or after its last checkpoint — fail at
// the first entry nothing signed or sealed vouches for.
func TestVerifyRequiresEveryEntryVouchedFor(t *testing.T) {
	forge := func(es []Entry, head Head, n int) ([]Entry, Head) {
		for i := 0; i < n; i++ {
			e := Entry{Time: time.Unix(1800000000, 0).UTC(), ActorID: "forger", ActorRole: "owner",
				Action: ActionCustomerRead, CustomerID: "forged", Outcome: OutcomeOK}
			head = Link(head, &e)
			es = append(es, e)
		}
		return es, head
	}
	t.Run("empty chain", func(t *testing.T) {
		_, real, _, s := trail(t, 0)
		es, head := forge(nil, real.Head, 2)
		// The forger moves the head along but cannot seal it.
		err := verify(es, []SealedHead{{Head: head, MAC: real.MAC}}, nil, s)
		wantBreak(t, err, 1)
	})
	t.Run("no stored head", func(t *testing.T) {
		_, _, _, s := trail(t, 0)
		es, _ := forge(nil, Head{Chain: 3}, 1)
		wantBreak(t, verify(es, nil, nil, s), 1)
	})
	t.Run("after the last checkpoint", func(t *testing.T) {
		es, real, cps, s := trail(t, 10)
		es, head := forge(es, real.Head, 1)
		wantBreak(t, verify(es, []SealedHead{{Head: head, MAC: real.MAC}}, cps, s), 9)
	})
	t.Run("sealed with another key", func(t *testing.T) {
		es, _, cps, s := trail(t, 10)
		_, _, _, other := trail(t, 0)
		es, head := forge(es, Head{Seq: 10, Hash: es[9].Hash}, 1)
		sh := SealedHead{Head: head}
		sh.MAC = other.Seal(sh)
		wantBreak(t, verify(es, []SealedHead{sh}, cps, s), 9)
	})
}

// TestVerifyChecksAnchors: a chain whose positions another chain's checkpoint or sealed head
// vouch for fails when it falls short of them or differs at them.
func TestVerifyChecksAnchors(t *testing.T) {
	access, _, _, s := trail(t, 3)
	for i := range access {
		access[i].Chain = 1
	}
	// Relink the access entries on chain 1 so they are a chain of their own.
	var h Head = Head{Chain: 1}
	for i := range access {
		h = Link(h, &access[i])
	}
	accessHead := SealedHead{Head: h}
	accessHead.MAC = s.Seal(accessHead)
	var main []Entry
	var mh Head
	var cps []Checkpoint
	for i := 0; i < 4; i++ {
		e := Entry{Time: time.Unix(1700000000, 0).UTC(), ActorID: "k1", Action: ActionCustomerCreate, Outcome: OutcomeOK}
		var cp *Checkpoint
		mh, cp = s.Append(mh, &e, Head{Chain: 1, Seq: 2, Hash: access[1].Hash})
		if cp != nil {
			cps = append(cps, *cp)
		}
		main = append(main, e)
	}
	mainHead := SealedHead{Head: mh, Anchor: Head{Chain: 1, Seq: 3, Hash: access[2].Hash}}
	mainHead.MAC = s.Seal(mainHead)
	check := func(access []Entry, heads []SealedHead) error {
		return verify(append(append([]Entry(nil), main...), access...), append([]SealedHead{mainHead}, heads...), cps, s)
	}
	if err := check(access, []SealedHead{accessHead}); err != nil {
		t.Fatalf("intact: %v", err)
	}
	// Deleted: no entries and no head of chain 1.
	wantBreak(t, check(nil, nil), 1)
	// Truncated to before the checkpoint's anchor, head rewound and sealed by the old head.
	old := SealedHead{Head: Head{Chain: 1, Seq: 1, Hash: access[0].Hash}}
	old.MAC = s.Seal(old)
	wantBreak(t, check(access[:1], []SealedHead{old}), 2)
	// Truncated past the checkpoint's anchor but short of the head's.
	mid := SealedHead{Head: Head{Chain: 1, Seq: 2, Hash: access[1].Hash}}
	mid.MAC = s.Seal(mid)
	wantBreak(t, check(access[:2], []SealedHead{mid}), 3)
	// Stripping the anchor from the checkpoint breaks its signature.
	cps[0].Anchor = Head{}
	wantBreak(t, check(access, []SealedHead{accessHead}), 4)
}

func wantBreak(t *testing.T, err error, seq int64) {
	t.Helper()
	var b *Break
	if !errors.As(err, &b) {
		t.Fatalf("got %v, want a *Break", err)
	}
	if b.Seq != seq {
		t.Errorf("got break at %d (%s), want %d", b.Seq, b.Reason, seq)
	}
}

func TestCanonicalIsUnambiguous(t *testing.T) {
	a := Entry{ActorID: "ab", ActorRole: "c"}
	b := Entry{ActorID: "a", ActorRole: "bc"}
	if string(a.Canonical()) == string(b.Canonical()) {
		t.Fatal("different entries encode alike")
	}
	c := Entry{Fields: []string{"a,b"}}
	d := Entry{Fields: []string{"a", "b"}}
	if string(c.Canonical()) == string(d.Canonical()) {
		t.Fatal("different field lists encode alike")
	}
}

// BenchmarkSealHead is what sealed heads add to every appending transaction: checking the
// seal of the head read, and sealing the head written.
func BenchmarkSealHead(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s := &Sealer{Key: priv, Every: 256}
	h := SealedHead{Head: Head{Chain: 0, Seq: 12345, Hash: make([]byte, 32)}, Anchor: Head{Chain: 1, Seq: 999, Hash: make([]byte, 32)}}
	h.MAC = s.Seal(h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !s.Verify(h) {
			b.Fatal("seal does not verify")
		}
		h.MAC = s.Seal(h)
	}
}
