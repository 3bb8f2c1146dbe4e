package store

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// search_tokens holds a token's customer numbers in blocks: one row per token and block,
// keyed by the token and the block's first number, every number of a block lying in the same
// span of spanSize numbers. A move of a thousand customers' lists writes each of their
// tokens once per span it touches instead of once per customer: the rows a create cost the
// index fell by more than half, since customers share most of their tokens (a town, a mail
// domain, a name's sound), and a block is written whole, never read back to be extended.
// A span may hold several blocks of a token (one per move that reached it, one per token a
// changed profile gained); a number's block is found among those whose first number lies in
// its span at or below it.
const (
	spanBits = 10
	spanSize = 1 << spanBits
	// bitmapFrom is how many numbers make a block a bitmap of its span (spanSize/8 bytes)
	// instead of a sorted list of two-byte offsets: the bitmap is the smaller from there.
	bitmapFrom = spanSize / 16
)

// spanOf is the first number of num's span.
func spanOf(num int64) int64 { return num &^ (spanSize - 1) }

// block is one row of search_tokens: a token's numbers within one span, as n and an encoding
// (encodeBlock) of their offsets from the span's start.
type block struct {
	first int64
	n     int
	nums  []byte
}

// encodeBlock encodes nums, sorted, distinct and of one span: their offsets in the span as
// big-endian two-byte integers, or as a bitmap of the span once that is smaller.
func encodeBlock(nums []int64) []byte {
	if len(nums) > bitmapFrom {
		b := make([]byte, spanSize/8)
		for _, x := range nums {
			o := x & (spanSize - 1)
			b[o>>3] |= 1 << (o & 7)
		}
		return b
	}
	b := make([]byte, 0, 2*len(nums))
	for _, x := range nums {
		b = binary.BigEndian.AppendUint16(b, uint16(x&(spanSize-1)))
	}
	return b
}

// bitmap reports whether the block is stored as a bitmap, checking that its encoding is one
// encodeBlock writes.
func (b block) bitmap() (bool, error) {
	switch {
	case len(b.nums) == 2*b.n && b.n > 0:
		return false, nil
	case len(b.nums) == spanSize/8 && b.n > bitmapFrom:
		return true, nil
	}
	return false, fmt.Errorf("search block of token at %d: %d bytes for %d numbers", b.first, len(b.nums), b.n)
}

// decode appends the block's numbers to out, in order.
func (b block) decode(out []int64) ([]int64, error) {
	bm, err := b.bitmap()
	if err != nil {
		return out, err
	}
	base := spanOf(b.first)
	if !bm {
		for i := 0; i < len(b.nums); i += 2 {
			out = append(out, base+int64(binary.BigEndian.Uint16(b.nums[i:])))
		}
		return out, nil
	}
	for i, c := range b.nums {
		for c != 0 {
			out = append(out, base+int64(i*8+bits.TrailingZeros8(c)))
			c &= c - 1
		}
	}
	return out, nil
}

// has reports whether the block holds num, without decoding it.
func (b block) has(num int64) bool {
	if spanOf(num) != spanOf(b.first) || num < b.first {
		return false
	}
	o := num & (spanSize - 1)
	if bm, err := b.bitmap(); err != nil {
		return false
	} else if bm {
		return b.nums[o>>3]&(1<<(o&7)) != 0
	}
	lo, hi := 0, b.n
	for lo < hi {
		m := (lo + hi) / 2
		v := int64(binary.BigEndian.Uint16(b.nums[2*m:]))
		switch {
		case v == o:
			return true
		case v < o:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// appendBlocks appends the rows (token, first, n, nums) of search_tokens that hold rows, which
// are sorted by token and number and distinct: one block per token and span.
func appendBlocks(args []any, rows []tokenRow) []any {
	var nums []int64
	for i := 0; i < len(rows); {
		j := i
		nums = nums[:0]
		for j < len(rows) && rows[j].token == rows[i].token && spanOf(rows[j].num) == spanOf(rows[i].num) {
			nums = append(nums, rows[j].num)
			j++
		}
		args = append(args, rows[i].token, nums[0], len(nums), encodeBlock(nums))
		i = j
	}
	return args
}
