package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sort"
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
	stored      []SealedHead
	checkpoints map[[2]int64]*Checkpoint
	// anchors are positions of one chain that another chain's checkpoints or sealed heads
	// vouch for, with what vouches (for the report).
	anchors map[[2]int64]anchor
	pub     ed25519.PublicKey
	headKey []byte
	checked int64
}

type anchor struct {
	hash []byte
	by   string
}

// NewVerifier starts a verification against the signed checkpoints, whose signatures are
// checked with pub, and the stored heads, whose seals are checked with headKey (see HeadKey).
// A checkpoint that does not verify is reported by Finish; a head that does not verify only
// vouches for nothing, so the entries after the chain's last checkpoint fail instead.
func NewVerifier(checkpoints []Checkpoint, heads []SealedHead, pub ed25519.PublicKey, headKey []byte) *Verifier {
	v := &Verifier{heads: map[int]Head{}, stored: heads, checkpoints: map[[2]int64]*Checkpoint{},
		anchors: map[[2]int64]anchor{}, pub: pub, headKey: headKey}
	for i := range checkpoints {
		c := &checkpoints[i]
		v.checkpoints[[2]int64{int64(c.Chain), c.Seq}] = c
		if c.Anchor.Seq > 0 {
			v.anchors[[2]int64{int64(c.Anchor.Chain), c.Anchor.Seq}] = anchor{c.Anchor.Hash,
				fmt.Sprintf("the signed checkpoint at chain %d entry %d", c.Chain, c.Seq)}
		}
	}
	for _, h := range heads {
		if h.Anchor.Seq > 0 && v.sealed(h) {
			v.anchors[[2]int64{int64(h.Anchor.Chain), h.Anchor.Seq}] = anchor{h.Anchor.Hash,
				fmt.Sprintf("the sealed head of chain %d", h.Chain)}
		}
	}
	return v
}

// sealed reports whether h carries a valid seal.
func (v *Verifier) sealed(h SealedHead) bool {
	return len(v.headKey) > 0 && len(h.MAC) > 0 && hmac.Equal(h.MAC, headMAC(v.headKey, h))
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
	if a, ok := v.anchors[[2]int64{int64(e.Chain), e.Seq}]; ok && !bytes.Equal(a.hash, e.Hash) {
		return &Break{e.Chain, e.Seq, "differs from what " + a.by + " vouches for (trail rewritten or replaced)"}
	}
	v.heads[e.Chain] = Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash}
	v.checked++
	return nil
}

// Checked is the number of entries verified so far.
func (v *Verifier) Checked() int64 { return v.checked }

// Finish compares what was read with the stored heads and the signed checkpoints, which is how
// a removal of the newest entries, or a rewritten chain, shows up. Last it requires every
// entry to be vouched for, by a signed checkpoint at or after it or by its chain's sealed
// head: entries written by someone without the audit key are named here.
func (v *Verifier) Finish() error {
	heads := v.stored
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
	for _, c := range v.sortedCheckpoints() {
		if !ed25519.Verify(v.pub, c.message(), c.Signature) {
			return &Break{c.Chain, c.Seq, "checkpoint signature does not verify"}
		}
		got := v.heads[c.Chain]
		if got.Seq < c.Seq {
			return &Break{c.Chain, got.Seq + 1, fmt.Sprintf("missing (a signed checkpoint covers entry %d)", c.Seq)}
		}
	}
	for _, k := range sortedKeys(v.anchors) {
		chain, seq := int(k[0]), k[1]
		if got := v.heads[chain]; got.Seq < seq {
			return &Break{chain, got.Seq + 1, fmt.Sprintf("missing (%s vouches for %d entries of this chain: "+
				"the trail was deleted, truncated or replaced by an older copy)", v.anchors[k].by, seq)}
		}
	}
	return v.vouched()
}

// vouched requires every chain's entries to end at a signed checkpoint or at a head sealed
// with the head key. A chain with no stored head, or whose head was written without the key,
// is vouched for only up to its last checkpoint.
func (v *Verifier) vouched() error {
	stored := map[int]SealedHead{}
	for _, h := range v.stored {
		stored[h.Chain] = h
	}
	chains := make([]int, 0, len(v.heads))
	for c := range v.heads {
		chains = append(chains, c)
	}
	sort.Ints(chains)
	for _, chain := range chains {
		got := v.heads[chain]
		if h, ok := stored[chain]; ok && h.Seq == got.Seq && bytes.Equal(h.Hash, got.Hash) && v.sealed(h) {
			continue
		}
		var last int64
		for k := range v.checkpoints {
			if int(k[0]) == chain && k[1] <= got.Seq && k[1] > last {
				last = k[1]
			}
		}
		if last < got.Seq {
			return &Break{chain, last + 1, "vouched for by no signed checkpoint and no sealed chain head " +
				"(written without the audit key)"}
		}
	}
	return nil
}

func (v *Verifier) sortedCheckpoints() []*Checkpoint {
	out := make([]*Checkpoint, 0, len(v.checkpoints))
	for _, k := range sortedKeys(v.checkpoints) {
		out = append(out, v.checkpoints[k])
	}
	return out
}

func sortedKeys[T any](m map[[2]int64]T) [][2]int64 {
	keys := make([][2]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}
