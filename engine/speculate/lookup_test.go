package speculate

import (
	"context"
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name       string
		l          Lookup
		ids        []int
		k          int
		want       []int
		wantErrMsg bool
	}{
		{name: "no earlier occurrence", ids: []int{1, 2, 3, 4}, k: 3},
		{name: "the most recent 2-gram", ids: []int{1, 2, 3, 4, 8, 2, 3, 5, 9, 2, 3}, k: 3, want: []int{5, 9, 2}},
		{name: "a 3-gram beats a more recent 2-gram", ids: []int{7, 2, 3, 4, 8, 2, 3, 5, 7, 2, 3}, k: 2, want: []int{4, 8}},
		{name: "a 1-gram when nothing longer occurs", ids: []int{4, 6, 1, 5, 9, 4}, k: 2, want: []int{6, 1}},
		{name: "MinN refuses the 1-gram", l: Lookup{MinN: 2, MaxN: 3}, ids: []int{4, 6, 1, 5, 9, 4}, k: 2},
		{name: "MaxN longer than the ids", l: Lookup{MaxN: 9}, ids: []int{1, 2, 1, 2}, k: 5, want: []int{1, 2}},
		{name: "a repeating pattern overlaps the suffix", ids: []int{1, 2, 1, 2, 1}, k: 4, want: []int{2, 1}},
		{name: "the continuation stops at the end", ids: []int{5, 6, 7, 5, 6}, k: 8, want: []int{7, 5, 6}},
		{name: "k 0", ids: []int{1, 1, 1}, k: 0},
		{name: "one id", ids: []int{1}, k: 3},
		{name: "no ids", k: 3},
		{name: "MinN above MaxN", l: Lookup{MinN: 3, MaxN: 2}, ids: []int{1, 1}, k: 1, wantErrMsg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.l.Draft(context.Background(), tt.ids, tt.k)
			if (err != nil) != tt.wantErrMsg {
				t.Fatalf("error %v, want one: %v", err, tt.wantErrMsg)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Draft(%v, %d) = %v, want %v", tt.ids, tt.k, got, tt.want)
			}
		})
	}
}

// TestLookupCopies: the draft is a copy, so a caller appending to ids or to the
// draft does not change the other.
func TestLookupCopies(t *testing.T) {
	ids := []int{1, 2, 3, 1, 2}
	d, _ := Lookup{}.Draft(context.Background(), ids, 3)
	d[0] = 99
	if ids[2] != 3 {
		t.Error("the draft shares memory with ids")
	}
}

// FuzzLookup: a draft is at most k ids and is what followed an earlier
// occurrence of at least the last MinN ids.
func FuzzLookup(f *testing.F) {
	f.Add([]byte{1, 2, 3, 1, 2}, uint8(3), uint8(1), uint8(3))
	f.Add([]byte{7, 7, 7, 7}, uint8(8), uint8(2), uint8(4))
	f.Add([]byte("Plan: a\n:evidence0: = X[a]\nPlan: b\n:evidence"), uint8(8), uint8(1), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, k, minN, maxN uint8) {
		ids := make([]int, len(data))
		for i, b := range data {
			ids[i] = int(b % 16)
		}
		l := Lookup{MinN: int(minN % 5), MaxN: int(maxN % 6)}
		d, err := l.Draft(context.Background(), ids, int(k%12))
		if err != nil {
			return
		}
		if len(d) > int(k%12) {
			t.Fatalf("%d ids for k %d", len(d), k%12)
		}
		if len(d) == 0 {
			return
		}
		n := max(cmpOr(l.MinN, DefaultMinN), 1)
		for p := n; p+len(d) <= len(ids); p++ {
			if p < len(ids) && slices.Equal(ids[p:p+len(d)], d) && slices.Equal(ids[p-n:p], ids[len(ids)-n:]) {
				return
			}
		}
		t.Fatalf("draft %v of %v follows no earlier occurrence of the last %d ids", d, ids, n)
	})
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
