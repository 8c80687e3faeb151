//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
// only the last GPU: the child must see exactly one device, cuda:0, and it must be
// that GPU (same UUID), so nothing in the backend looks past the variable.
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
	cmd.Env = append(os.Environ(), "AGENT_CUDA_CHILD=1", "CUDA_VISIBLE_DEVICES="+strconv.Itoa(n-1))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if line := fmt.Sprintf("child: devices=1 uuid=%s", want); !strings.Contains(string(out), line) {
		t.Fatalf("CUDA_VISIBLE_DEVICES=%d: child said\n%s\nwant %q", n-1, out, line)
	}
}
