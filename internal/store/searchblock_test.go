package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSearchBlocks: a block of any size, in either encoding, decodes to the numbers it was
// made of and answers for each number of its span whether it holds it; blocks are cut at span
// boundaries and per token.
func TestSearchBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 2, bitmapFrom - 1, bitmapFrom, bitmapFrom + 1, 200, spanSize} {
		span := int64(r.IntN(1000)) * spanSize
		set := map[int64]bool{}
		for len(set) < size {
			set[span+int64(r.IntN(spanSize))] = true
		}
		var nums []int64
		for x := range set {
			nums = append(nums, x)
		}
		slices.Sort(nums)
		b := block{first: nums[0], n: len(nums), nums: encodeBlock(nums)}
		if bm, err := b.bitmap(); err != nil || bm != (size > bitmapFrom) {
			t.Fatalf("%d numbers: bitmap %v, %v", size, bm, err)
		}
		got, err := b.decode(nil)
		if err != nil || !slices.Equal(got, nums) {
			t.Fatalf("%d numbers: decoded %d, %v", size, len(got), err)
		}
		for x := span - 2; x < span+spanSize+2; x++ {
			if b.has(x) != set[x] {
				t.Fatalf("%d numbers: has(%d) = %v", size, x, b.has(x))
			}
		}
	}
	rows := []tokenRow{{1, 5}, {1, 1023}, {1, 1024}, {2, 1024}, {2, 1025}}
	args := appendBlocks(nil, rows)
	if len(args) != 3*4 || args[1] != int64(5) || args[2] != 2 || args[5] != int64(1024) || args[9] != int64(1024) || args[10] != 2 {
		t.Fatalf("got blocks %v", args)
	}
	if _, err := (block{first: 5, n: 3, nums: []byte{0, 5}}).decode(nil); err == nil {
		t.Fatal("a block whose size does not match its count decoded")
	}
}
