//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"slices"

	"gorgonia.org/cu"
)

// A program is the device work of one Run, recorded by ops before anything is issued:
// kernel launches with their encoded parameters, and clears. Run compares it with the
// program of the previous Run of the same batch size: the first time a program repeats
// it is captured as a CUDA graph, and from then on an equal program replays the graph
// (one launch instead of one per operation). Any difference (another step function,
// other tensors) issues the work launch by launch, so correctness never rests on the
// caller keeping its step the same.
type program struct {
	ops   []devOp
	slots []uint64 // the parameters of every launch, end to end
	xh    xhGather // what the prompt products' float16 input holds after ops[:xhAt]
	xhAt  int
}

// xhGather is one gather of a prompt product's input into the float16 buffer: the
// kernel, the input, its permutation and the rows and inputs it covers.
type xhGather struct {
	kernel  string
	x, perm cu.DevicePtr
	rows, K int
}

// devOp is one launch (fn set) or one clear of n float32 values at p.
type devOp struct {
	fn           cu.Function
	name         string
	grid         [3]int
	block        int
	shared       int
	first, nslot int  // the launch's parameters: slots[first : first+nslot]
	early        bool // launched by launchEarly (program.launchEarly)
	p            cu.DevicePtr
	n            int
}

func (p *program) reset() {
	p.ops = p.ops[:0]
	p.slots = p.slots[:0]
	p.xh, p.xhAt = xhGather{}, 0
}

// holds reports whether the float16 input buffer holds g when the next operation runs:
// g was the last product's gather, and nothing was recorded after that product.
func (p *program) holds(g xhGather) bool {
	return p.xhAt > 0 && p.xhAt == len(p.ops) && p.xh == g
}

// gathered notes that the product just recorded read g (unless it wrote its own
// input, dst).
func (p *program) gathered(g xhGather, dst cu.DevicePtr) {
	p.xh, p.xhAt = g, len(p.ops)
	if dst == g.x {
		p.xhAt = 0
	}
}

func (p *program) clone() *program {
	return &program{ops: slices.Clone(p.ops), slots: slices.Clone(p.slots)}
}

func (p *program) equal(q *program) bool {
	return slices.Equal(p.slots, q.slots) && slices.EqualFunc(p.ops, q.ops, func(a, b devOp) bool {
		return a.name == b.name && a.grid == b.grid && a.block == b.block && a.shared == b.shared &&
			a.first == b.first && a.nslot == b.nslot && a.early == b.early && a.p == b.p && a.n == b.n
	})
}

// launch records kernel name with args (see device.launch for the argument types).
func (p *program) launch(d *device, name string, grid [3]int, block, shared int, args ...any) error {
	f, err := d.fn(name)
	if err != nil {
		return err
	}
	if err := d.allowShared(name, f, shared); err != nil {
		return err
	}
	first := len(p.slots)
	if p.slots, err = encode(name, p.slots, args); err != nil {
		p.slots = p.slots[:first]
		return err
	}
	p.ops = append(p.ops, devOp{fn: f, name: name, grid: grid, block: block, shared: shared, first: first, nslot: len(p.slots) - first})
	return nil
}

// launchEarly records kernel name as launch does, to be launched with programmatic
// stream serialization (host.go's launchEarly: the kernel waits for the one ahead of it
// itself).
func (p *program) launchEarly(d *device, name string, grid [3]int, block, shared int, args ...any) error {
	if err := p.launch(d, name, grid, block, shared, args...); err != nil {
		return err
	}
	p.ops[len(p.ops)-1].early = true
	return nil
}

// zero records the clearing of n float32 values at ptr.
func (p *program) zero(ptr cu.DevicePtr, n int) {
	p.ops = append(p.ops, devOp{p: ptr, n: n})
}

// issue puts the program on the device's stream, operation by operation.
func (p *program) issue(d *device) error {
	for _, o := range p.ops {
		if o.name == "" {
			if err := d.zero(o.p, o.n); err != nil {
				return err
			}
			continue
		}
		slots := p.slots[o.first : o.first+o.nslot]
		if o.early {
			if err := launchEarly(o.fn, o.grid, o.block, o.shared, d.stream, slots); err != nil {
				return fmt.Errorf("cuda: launch %s (grid %v, block %d, shared %d): %w", o.name, o.grid, o.block, o.shared, err)
			}
			continue
		}
		if err := d.launchSlots(o.fn, o.name, o.grid, o.block, o.shared, slots); err != nil {
			return err
		}
	}
	return nil
}

// captured is a program and the graph it was captured as.
type captured struct {
	prog *program
	g    graph
}

// execute runs the program just recorded for a batch of rows: the graph when the
// same program was captured for this batch size, a new graph when it repeats the
// previous Run's, else launch by launch.
func (b *Backend) execute(rows int) error {
	p, d := &b.prog, b.dev
	if len(p.ops) == 0 {
		return nil
	}
	if c := b.graphs[rows]; c != nil {
		if c.prog.equal(p) {
			return c.g.launch(d.stream)
		}
		c.g.destroy()
		delete(b.graphs, rows)
	}
	if last := b.seen[rows]; !b.noGraphs && last != nil && last.equal(p) {
		delete(b.seen, rows)
		if err := beginCapture(d.stream); err != nil {
			return err
		}
		err := p.issue(d)
		g, cerr := endCapture(d.stream)
		if err != nil || cerr != nil {
			if cerr == nil {
				g.destroy()
			}
			return fmt.Errorf("cuda: capture a step of %d operations: %w", len(p.ops), errors.Join(err, cerr))
		}
		b.graphs[rows] = &captured{prog: p.clone(), g: g}
		return g.launch(d.stream)
	}
	b.seen[rows] = p.clone()
	return p.issue(d)
}

// dropGraphs destroys every captured graph (on the thread).
func (b *Backend) dropGraphs() {
	for rows, c := range b.graphs {
		c.g.destroy()
		delete(b.graphs, rows)
	}
	clear(b.seen)
}
