//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gorgonia.org/cu"

	"github.com/rewoo-agent/agent/engine"
)

// TestDeviceOrdinal opens every visible GPU by ordinal through the registry (what
// --device cuda:N does) and checks that the first ordinal past them is a clear
// error that opens nothing.
func TestDeviceOrdinal(t *testing.T) {
	n, err := Devices(ctx)
	if err != nil || n == 0 {
		t.Skipf("no GPU: %d devices, %v", n, err)
	}
	for i := range n {
		b, err := engine.OpenBackend(ctx, "cuda", i)
		if err != nil {
			t.Fatalf("cuda:%d: %v", i, err)
		}
		t.Logf("cuda:%d is %s", i, b.Name())
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
	for _, bad := range []int{n, n + 2, -1} {
		_, err := engine.OpenBackend(ctx, "cuda", bad)
		want := fmt.Sprintf("cuda:%d: no such device (this machine has %d)", bad, n)
		if !errors.Is(err, engine.ErrNoDevice) || err.Error() != want {
			t.Errorf("cuda:%d: %v, want %q", bad, err, want)
		}
		if _, err := Open(ctx, bad); !errors.Is(err, engine.ErrNoDevice) {
			t.Errorf("Open(%d): %v, want ErrNoDevice", bad, err)
		}
	}
	if name, err := engine.PickBackend(ctx); name != "cuda" || err != nil {
		t.Errorf("auto picks %q (%v), want cuda on a machine with a GPU", name, err)
	}
}

// TestVisibleDevices runs this test binary again with CUDA_VISIBLE_DEVICES naming
// only the last GPU (by UUID, which means the same GPU whatever this process's own
// CUDA_VISIBLE_DEVICES): the child must see exactly one device, cuda:0, and it must
// be that GPU, so nothing in the backend looks past the variable.
func TestVisibleDevices(t *testing.T) {
	if os.Getenv("AGENT_CUDA_CHILD") == "1" {
		n, err := Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := cu.GetDevice(0)
		if err != nil {
			t.Fatal(err)
		}
		id, err := dev.UUID()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("child: devices=%d uuid=%s\n", n, id)
		return
	}
	n, err := Devices(ctx)
	if err != nil || n == 0 {
		t.Skipf("no GPU: %d devices, %v", n, err)
	}
	last, err := cu.GetDevice(n - 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := last.UUID()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestVisibleDevices$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENT_CUDA_CHILD=1", "CUDA_VISIBLE_DEVICES=GPU-"+want.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if line := fmt.Sprintf("child: devices=1 uuid=%s", want); !strings.Contains(string(out), line) {
		t.Fatalf("CUDA_VISIBLE_DEVICES=GPU-%s: child said\n%s\nwant %q", want, out, line)
	}
}

// TestLaunchChecked: a launch whose arguments do not match the kernel's PTX entry is
// refused with the kernel named, before the driver reads any parameter, and the
// device works on.
func TestLaunchChecked(t *testing.T) {
	b := open(t, small)
	x, err := b.NewActivation(ctx, 1, 256)
	if err != nil {
		t.Fatal(err)
	}
	p := x.(*tensor).p
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{p, p, p}, "cuda: kernels: launch of add with 3 arguments: its PTX entry takes 4"},
		{[]any{p, p, p, 256, 1}, "cuda: kernels: launch of add with 5 arguments: its PTX entry takes 4"},
		{[]any{p, p, 256, 256}, "cuda: kernels: launch of add: argument 2 is a 32-bit integer, but parameter add_param_2 is .u64 (8 bytes)"},
		{[]any{p, p, p, float32(256)}, "cuda: kernels: launch of add: argument 3 is a float32, but parameter add_param_3 is .u32 (4 bytes)"},
	} {
		err := b.th.Do(ctx, func() error { return b.dev.launch("add", [3]int{1, 1, 1}, 256, 0, c.args...) })
		if err == nil || err.Error() != c.want {
			t.Errorf("launch add%v: %v, want %q", c.args, err, c.want)
		}
	}
	err = b.th.Do(ctx, func() error {
		if err := b.dev.launch("add", [3]int{1, 1, 1}, 256, 0, p, p, p, 256); err != nil {
			return err
		}
		return b.dev.sync("add")
	})
	if err != nil {
		t.Fatalf("a well-formed launch after the refusals: %v", err)
	}
}
