package backendtest

import (
	"fmt"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// testPaged checks the optional engine.PagedBackend (skipped where the backend
// lacks it): RoPE at each row's own position, and attention over block tables
// with grouped-query heads, for three sequences in scattered blocks, two sharing a
// prefix, through prompt chunks and decode rows in the same steps; then misuse.
func testPaged(t *testing.T, open Open) {
	b := open(t)
	_, ok := b.(engine.PagedBackend)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("backend has no paged cache")
	}
	for _, c := range []struct{ heads, kvHeads, hd int }{{4, 2, 64}, {2, 1, 128}} {
		t.Run(fmt.Sprintf("%dh/%dkv/%dd", c.heads, c.kvHeads, c.hd), func(t *testing.T) {
			s := opShape
			s.Heads, s.KVHeads, s.HeadDim, s.Hidden = c.heads, c.kvHeads, c.hd, c.heads*c.hd
			h := newHarness(t, open, s, 11)
			pb := h.b.(engine.PagedBackend)
			const bs, blocks = 8, 40
			cache, err := pb.NewPagedCache(ctx, c.kvHeads, c.hd, blocks, bs)
			if err != nil {
				t.Fatal(err)
			}
			qc, kc := c.heads*c.hd, c.kvHeads*c.hd
			tq, qv := h.table(qc, 0, 1)
			tk, kv := h.table(kc, 0, 1)
			tv, vv := h.table(kc, 0, 1)
			q, k, v, d := h.act(qc), h.act(kc), h.act(kc), h.act(qc)
			// Sequence 2 starts with sequence 0's first two blocks (16 positions).
			tables := [][]int32{{17, 3, 30, 8}, {5, 22, 39, 1}, {17, 3, 12, 0}}
			// ks[s][p] is the key sequence s has at position p.
			ks, vs := make([][][]float64, 3), make([][][]float64, 3)
			steps := [][]struct{ seq, from, n int }{
				{{0, 0, 20}, {1, 0, 9}},
				{{0, 20, 1}, {1, 9, 5}, {2, 16, 4}},
				{{0, 21, 1}, {1, 14, 1}, {2, 20, 1}},
				{{2, 21, 7}, {0, 22, 1}},
			}
			for i, st := range steps {
				b := engine.Batch{Tables: tables}
				for _, part := range st {
					for p := part.from; p < part.from+part.n; p++ {
						b.Pos, b.Seq = append(b.Pos, int32(p)), append(b.Seq, int32(part.seq))
					}
				}
				b.IDs = h.ids(len(b.Pos))
				if err := pb.RunBatch(ctx, b, func(o engine.Ops) {
					o.Embed(q, tq)
					o.Embed(k, tk)
					o.Embed(v, tv)
					o.RoPE(q, c.hd, 10000)
					o.RoPE(k, c.hd, 10000)
					o.Attention(d, q, k, v, cache)
				}); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				for r := range b.IDs {
					sq, p := b.Seq[r], int(b.Pos[r])
					if sq == 2 && len(ks[2]) == 0 {
						ks[2], vs[2] = append([][]float64(nil), ks[0][:16]...), append([][]float64(nil), vs[0][:16]...)
					}
					ks[sq] = append(ks[sq][:p], ropeRef(rows(kv, b.IDs[r:r+1]), p, c.hd, 10000)[0])
					vs[sq] = append(vs[sq][:p], rows(vv, b.IDs[r:r+1])[0])
				}
				got := h.read(d, len(b.IDs))
				var want [][]float64
				for r := range b.IDs {
					sq, p := b.Seq[r], int(b.Pos[r])
					qr := ropeRef(rows(qv, b.IDs[r:r+1]), p, c.hd, 10000)
					want = append(want, attentionRef(qr, ks[sq][:p+1], vs[sq][:p+1], p, c.heads, c.kvHeads, c.hd)[0])
				}
				expectClose(t, fmt.Sprintf("step %d (%d rows)", i, len(b.IDs)), got, want, 5e-3)
			}
			attend := func(o engine.Ops) { o.Attention(d, q, k, v, cache) }
			for _, m := range []struct {
				name string
				b    engine.Batch
			}{
				{"a position past the table", engine.Batch{IDs: []int32{1}, Pos: []int32{8}, Seq: []int32{0}, Tables: [][]int32{{2}}}},
				{"a block outside the pool", engine.Batch{IDs: []int32{1}, Pos: []int32{0}, Seq: []int32{0}, Tables: [][]int32{{blocks}}}},
				{"a sequence without a table", engine.Batch{IDs: []int32{1}, Pos: []int32{0}, Seq: []int32{1}, Tables: [][]int32{{2}}}},
				{"mismatched lengths", engine.Batch{IDs: []int32{1, 2}, Pos: []int32{0}, Seq: []int32{0}, Tables: [][]int32{{2}}}},
				{"a position past the context", engine.Batch{IDs: []int32{1}, Pos: []int32{int32(s.Context)}, Seq: []int32{0}, Tables: [][]int32{{2}}}},
			} {
				if err := pb.RunBatch(ctx, m.b, attend); err == nil {
					t.Errorf("RunBatch with %s: accepted", m.name)
				}
			}
			if err := h.b.Run(ctx, []int32{1}, 0, attend); err == nil {
				t.Error("Run with a paged cache: accepted")
			}
		})
	}
}
