package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// Break describes the first place where the trail stops being what was written.
type Break struct {
	Chain  int
	Seq    int64
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit trail broken at chain %d entry %d: %s", b.Chain, b.Seq, b.Reason)
}

// Verifier checks entries fed to it in (chain, seq) order, as engines return them, without
// holding the trail in memory.
type Verifier struct {
	// Every, when set, is the checkpoint interval the trail was written with: a checkpoint
	// must exist at every multiple of it, so deleting checkpoints is detected too.
	Every       int64
	heads       map[int]Head
	checkpoints map[[2]int64]*Checkpoint
	pub         ed25519.PublicKey
	checked     int64
}

// NewVerifier starts a verification against the signed checkpoints, whose signatures are
// checked with pub. A checkpoint that does not verify is reported by Finish.
func NewVerifier(checkpoints []Checkpoint, pub ed25519.PublicKey) *Verifier {
	v := &Verifier{heads: map[int]Head{}, checkpoints: map[[2]int64]*Checkpoint{}, pub: pub}
	for i := range checkpoints {
		c := &checkpoints[i]
		v.checkpoints[[2]int64{int64(c.Chain), c.Seq}] = c
	}
	return v
}

// Add checks e against the entry before it in its chain. The first failure is returned as a
// *Break naming the entry; an edited entry fails its own hash, a removed or inserted entry
// breaks the sequence or the link, and a reordered entry does both.
func (v *Verifier) Add(e *Entry) error {
	h := v.heads[e.Chain]
	prev := h.Hash
	if len(prev) == 0 {
		prev = Genesis
	}
	if e.Seq != h.Seq+1 {
		if e.Seq <= h.Seq {
			return &Break{e.Chain, e.Seq, fmt.Sprintf("out of order or repeated (after entry %d)", h.Seq)}
		}
		return &Break{e.Chain, h.Seq + 1, fmt.Sprintf("missing (next present entry is %d)", e.Seq)}
	}
	if !bytes.Equal(e.PrevHash, prev) {
		return &Break{e.Chain, e.Seq, "does not link to the entry before it"}
	}
	sum := sha256.Sum256(e.Canonical())
	if !bytes.Equal(e.Hash, sum[:]) {
		return &Break{e.Chain, e.Seq, "content does not match its hash (edited)"}
	}
	if c, ok := v.checkpoints[[2]int64{int64(e.Chain), e.Seq}]; ok && !bytes.Equal(c.Hash, e.Hash) {
		return &Break{e.Chain, e.Seq, "differs from the signed checkpoint (chain rewritten)"}
	}
	v.heads[e.Chain] = Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash}
	v.checked++
	return nil
}

// Checked is the number of entries verified so far.
func (v *Verifier) Checked() int64 { return v.checked }

// Finish compares what was read with the stored heads and the signed checkpoints, which is how
// a removal of the newest entries, or a rewritten chain, shows up.
func (v *Verifier) Finish(heads []Head) error {
	for _, sh := range heads {
		got := v.heads[sh.Chain]
		if sh.Seq == 0 && got.Seq == 0 {
			continue
		}
		if got.Seq < sh.Seq {
			return &Break{sh.Chain, got.Seq + 1, fmt.Sprintf("missing (the chain head says %d entries)", sh.Seq)}
		}
		if got.Seq > sh.Seq {
			return &Break{sh.Chain, sh.Seq + 1, "present beyond the recorded chain head (inserted)"}
		}
		if !bytes.Equal(got.Hash, sh.Hash) {
			return &Break{sh.Chain, sh.Seq, "does not match the recorded chain head"}
		}
	}
	if v.Every > 0 {
		for _, sh := range heads {
			for k := v.Every; k <= sh.Seq; k += v.Every {
				if _, ok := v.checkpoints[[2]int64{int64(sh.Chain), k}]; !ok {
					return &Break{sh.Chain, k, "signed checkpoint missing (removed, or the chain was rewritten)"}
				}
			}
		}
	}
	for _, c := range v.checkpoints {
		if !ed25519.Verify(v.pub, c.message(), c.Signature) {
			return &Break{c.Chain, c.Seq, "checkpoint signature does not verify"}
		}
		got := v.heads[c.Chain]
		if got.Seq < c.Seq {
			return &Break{c.Chain, got.Seq + 1, fmt.Sprintf("missing (a signed checkpoint covers entry %d)", c.Seq)}
		}
	}
	return nil
}
