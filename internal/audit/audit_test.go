package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// trail builds n linked entries on one chain with a checkpoint every 4.
func trail(t *testing.T, n int) ([]Entry, Head, []Checkpoint, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
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
		head, cp = s.Append(head, &e)
		if cp != nil {
			cps = append(cps, *cp)
		}
		out = append(out, e)
	}
	return out, head, cps, pub
}

func verify(entries []Entry, heads []Head, cps []Checkpoint, pub ed25519.PublicKey) error {
	v := NewVerifier(cps, pub)
	v.Every = 4
	for i := range entries {
		if err := v.Add(&entries[i]); err != nil {
			return err
		}
	}
	return v.Finish(heads)
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
			es, head, cps, pub := trail(t, 10)
			es = tt.tamper(es, &head, cps)
			err := verify(es, []Head{head}, cps, pub)
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
