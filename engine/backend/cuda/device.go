//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/kernels"
)

// device is the state owned by the context's thread: loaded modules, the stream all
// work goes to, and every device allocation still live. Its methods must run on that
// thread (inside thread.Do).
type device struct {
	name         string
	major, minor int
	sms          int
	hopper       bool  // the sm_90a modules (kernels.Hopper: gptq_ws3, gptq_ws4, gptq_wr3, gptq_wr4) are loaded
	hopperErr    error // why the driver refused them, on compute capability 9.0
	stream       cu.Stream
	modules      []cu.Module
	entries      map[string]cu.Module // kernel name to the module defining it
	fns          map[string]cu.Function
	sharedMax    int                    // dynamic and static shared memory a block may have (opt-in)
	sharedSet    map[string]int         // kernels allowed more than 48 KB of dynamic shared memory, and how much
	live         map[cu.DevicePtr]int64 // allocations not yet freed, for Close
}

func newDevice(ordinal int) (*device, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	d := &device{entries: map[string]cu.Module{}, fns: map[string]cu.Function{}, sharedSet: map[string]int{}, live: map[cu.DevicePtr]int64{}}
	if d.name, err = dev.Name(); err != nil {
		return nil, fmt.Errorf("cuda: device %d name: %w", ordinal, err)
	}
	attrs, err := dev.Attributes(cu.ComputeCapabilityMajor, cu.ComputeCapabilityMinor, cu.MultiprocessorCount)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d attributes: %w", ordinal, err)
	}
	d.major, d.minor, d.sms = attrs[0], attrs[1], attrs[2]
	if d.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return nil, fmt.Errorf("cuda: create stream: %w", err)
	}
	if d.sharedMax, err = sharedOptin(); err != nil {
		d.stream.Destroy()
		return nil, err
	}
	for _, name := range kernels.Names {
		ptx, err := kernels.PTX(name, d.major, d.minor)
		if err != nil {
			d.close()
			return nil, err
		}
		m, err := cu.LoadData(ptx)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("cuda: load kernel module %s on %s (compute %d.%d): %w", name, d.name, d.major, d.minor, err)
		}
		d.add(name, m)
	}
	if kernels.HasSM90a(d.major, d.minor) {
		d.hopperErr = d.loadHopper()
		d.hopper = d.hopperErr == nil
	}
	return d, nil
}

// add records module m, loaded from kernel module name, and its entries.
func (d *device) add(name string, m cu.Module) {
	d.modules = append(d.modules, m)
	for e, info := range kernels.Entries {
		if info.Module == name {
			d.entries[e] = m
		}
	}
}

// loadHopper loads the sm_90a modules. They only add kernels (the prompt products
// on wgmma) that the others stand in for, so a driver that refuses them leaves the
// device working without them.
func (d *device) loadHopper() error {
	for _, name := range kernels.Hopper {
		ptx, err := kernels.PTXSM90a(name)
		if err != nil {
			return err
		}
		m, err := cu.LoadData(ptx)
		if err != nil {
			return fmt.Errorf("cuda: load the sm_90a kernel module %s on %s: %w", name, d.name, err)
		}
		d.add(name, m)
	}
	return nil
}

// fn returns the kernel named name from the module that defines it.
func (d *device) fn(name string) (cu.Function, error) {
	if f, ok := d.fns[name]; ok {
		return f, nil
	}
	m, ok := d.entries[name]
	if !ok {
		return cu.Function{}, fmt.Errorf("cuda: no kernel %s in the loaded modules", name)
	}
	f, err := m.Function(name)
	if err != nil {
		return cu.Function{}, fmt.Errorf("cuda: kernel %s: %w", name, err)
	}
	d.fns[name] = f
	return f, nil
}

// allowShared lets launches of kernel name (function f) ask for shared bytes of
// dynamic shared memory: past the default 48 KB the kernel must be allowed first,
// within what the device gives a block beside the kernel's static shared memory.
func (d *device) allowShared(name string, f cu.Function, shared int) error {
	if shared <= 48<<10 || d.sharedSet[name] >= shared {
		return nil
	}
	static, err := f.Attribute(cu.SharedSizeBytes)
	if err != nil {
		return fmt.Errorf("cuda: kernel %s: %w", name, err)
	}
	if static+shared > d.sharedMax {
		return fmt.Errorf("cuda: kernel %s: %d bytes of dynamic shared memory beside %d static, over the %d a block of %s may have", name, shared, static, d.sharedMax, d.name)
	}
	if err := setMaxShared(f, shared); err != nil {
		return fmt.Errorf("cuda: kernel %s: %w", name, err)
	}
	d.sharedSet[name] = shared
	return nil
}

// alloc allocates n bytes; what names the buffer in errors.
func (d *device) alloc(what string, n int64) (cu.DevicePtr, error) {
	if n <= 0 {
		n = 1
	}
	p, err := cu.MemAlloc(n)
	if err != nil {
		if errors.Is(err, cu.OutOfMemory) {
			free, total, _ := cu.MemInfo()
			return 0, fmt.Errorf("cuda: allocate %s (%s): out of device memory (%s free of %s)", what, size(n), size(free), size(total))
		}
		return 0, fmt.Errorf("cuda: allocate %s (%s): %w", what, size(n), err)
	}
	d.live[p] = n
	return p, nil
}

func (d *device) free(p cu.DevicePtr) {
	if _, ok := d.live[p]; ok {
		cu.MemFree(p)
		delete(d.live, p)
	}
}

func (d *device) close() {
	for p := range d.live {
		d.free(p)
	}
	for _, m := range d.modules {
		m.Unload()
	}
	d.modules = nil
	d.stream.Destroy()
}

// launch runs kernel name on the stream. Arguments are device pointers, ints (passed
// as int32), uint32, uint64 and float32: the driver reads each parameter from an
// 8-byte slot, little end first.
func (d *device) launch(name string, grid [3]int, block, shared int, args ...any) error {
	f, err := d.fn(name)
	if err != nil {
		return err
	}
	if err := d.allowShared(name, f, shared); err != nil {
		return err
	}
	slots, err := encode(name, nil, args)
	if err != nil {
		return err
	}
	return d.launchSlots(f, name, grid, block, shared, slots)
}

// encode appends the 8-byte parameter slots of args to slots, after checking their
// number and kinds against the kernel's PTX entry (kernels.Entries): the driver
// reads each parameter with the size the PTX gives it, so a missing, extra or
// mistyped argument would otherwise shift every parameter after it.
func encode(name string, slots []uint64, args []any) ([]uint64, error) {
	var buf [32]kernels.Kind
	kinds := buf[:0]
	first := len(slots)
	for i, a := range args {
		switch v := a.(type) {
		case cu.DevicePtr:
			slots, kinds = append(slots, uint64(v)), append(kinds, kernels.Pointer)
		case int:
			if v > math.MaxInt32 || v < math.MinInt32 {
				return slots[:first], fmt.Errorf("cuda: launch %s: argument %d (%d) overflows int32", name, i, v)
			}
			slots, kinds = append(slots, uint64(uint32(int32(v)))), append(kinds, kernels.Int32)
		case uint32:
			slots, kinds = append(slots, uint64(v)), append(kinds, kernels.Int32)
		case uint64:
			slots, kinds = append(slots, v), append(kinds, kernels.Int64)
		case float32:
			slots, kinds = append(slots, uint64(math.Float32bits(v))), append(kinds, kernels.Float32)
		default:
			return slots[:first], fmt.Errorf("cuda: launch %s: argument %d has unsupported type %T", name, i, a)
		}
	}
	if err := kernels.CheckLaunch(name, kinds...); err != nil {
		return slots[:first], fmt.Errorf("cuda: %w", err)
	}
	return slots, nil
}

func (d *device) launchSlots(f cu.Function, name string, grid [3]int, block, shared int, slots []uint64) error {
	params := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		params[i] = unsafe.Pointer(&slots[i])
	}
	if err := f.Launch(grid[0], grid[1], grid[2], block, 1, 1, shared, d.stream, params); err != nil {
		return fmt.Errorf("cuda: launch %s (grid %v, block %d, shared %d): %w", name, grid, block, shared, err)
	}
	return nil
}

// sync waits for the stream; asynchronous kernel failures surface here.
func (d *device) sync(after string) error {
	if err := d.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: %s: %w", after, err)
	}
	return nil
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// zero clears n float32 values at p on the stream.
func (d *device) zero(p cu.DevicePtr, n int) error {
	if err := cu.MemsetD32Async(p, 0, int64(n), d.stream); err != nil {
		return fmt.Errorf("cuda: clear %d floats: %w", n, err)
	}
	return nil
}
