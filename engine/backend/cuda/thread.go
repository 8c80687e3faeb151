//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"runtime"

	"gorgonia.org/cu"
)

// thread runs functions on one goroutine locked to its OS thread, where the CUDA
// context is current: a context is current per OS thread, and a call from any other
// thread fails with InvalidContext.
type thread struct {
	calls chan func()
	ctx   cu.CUContext
}

// startThread starts the goroutine and creates the context of device ordinal on it.
func startThread(ordinal int) (*thread, error) {
	t := &thread{calls: make(chan func())}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		dev, err := cu.GetDevice(ordinal)
		if err == nil {
			t.ctx, err = dev.MakeContext(cu.SchedBlockingSync)
		}
		if err != nil {
			started <- fmt.Errorf("cuda: create a context on device %d: %w", ordinal, err)
			return // the goroutine ends; the OS thread is dropped with it
		}
		started <- nil
		for fn := range t.calls {
			fn()
		}
		t.ctx.Destroy()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs fn on the context's thread and returns its error. Work already on the
// device cannot be interrupted, so ctx only stops Do from waiting for its turn.
func (t *thread) Do(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	select {
	case t.calls <- func() { done <- fn() }:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}

// stop ends the goroutine after destroying the context; t is unusable afterwards.
func (t *thread) stop() { close(t.calls) }
