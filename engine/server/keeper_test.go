package server

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// countingKeeper returns a keeper whose loads take a second of (fake) time and a
// count of its loads and releases.
func countingKeeper(keepAlive time.Duration) (*keeper, *[2]int) {
	var n [2]int
	k := &keeper{
		keepAlive: keepAlive,
		load: func(ctx context.Context) (engine.LLM, func() error, error) {
			n[0]++
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &fakeLLM{reply: echo}, func() error { n[1]++; return nil }, nil
		},
		onLoad:   func(time.Duration, error) {},
		onUnload: func(error) {},
	}
	return k, &n
}

func TestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		k, n := countingKeeper(5 * time.Minute)
		// Two requests while the model loads share one load.
		dones := make(chan func(), 2)
		for range 2 {
			go func() {
				_, done, err := k.acquire(ctx)
				if err != nil {
					t.Error(err)
				}
				dones <- done
			}()
		}
		synctest.Wait()
		if p, _ := k.status(); p != loading {
			t.Errorf("phase %d while loading", p)
		}
		first, second := <-dones, <-dones
		if n[0] != 1 {
			t.Errorf("%d loads for two requests", n[0])
		}
		// In use, the model stays however long the request takes.
		time.Sleep(time.Hour)
		first()
		first() // done twice counts once
		time.Sleep(time.Hour)
		synctest.Wait()
		if p, _ := k.status(); p != ready || n[1] != 0 {
			t.Fatalf("phase %d, %d releases while a request holds the model", p, n[1])
		}
		second()
		time.Sleep(5*time.Minute - time.Nanosecond)
		synctest.Wait()
		if p, _ := k.status(); p != ready {
			t.Fatalf("unloaded before the keep-alive ended (phase %d)", p)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if p, _ := k.status(); p != unloaded || n[1] != 1 {
			t.Fatalf("phase %d, %d releases after the keep-alive", p, n[1])
		}
		// The next request loads it again; a request within the keep-alive keeps it.
		_, done, err := k.acquire(ctx)
		if err != nil || n[0] != 2 {
			t.Fatalf("reload: %v, %d loads", err, n[0])
		}
		done()
		time.Sleep(4 * time.Minute)
		_, done, _ = k.acquire(ctx)
		done()
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		if p, _ := k.status(); p != ready || n[0] != 2 {
			t.Errorf("phase %d, %d loads: a request within the keep-alive should restart it", p, n[0])
		}
		if err := k.close(); err != nil || n[1] != 2 {
			t.Errorf("close: %v, %d releases", err, n[1])
		}
		if _, _, err := k.acquire(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("acquire after close: %v", err)
		}
	})
}

func TestKeepAliveNever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, n := countingKeeper(-1)
		_, done, err := k.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done()
		time.Sleep(1000 * time.Hour)
		synctest.Wait()
		if p, _ := k.status(); p != ready || n[1] != 0 {
			t.Errorf("phase %d, %d releases with keep-alive -1", p, n[1])
		}
		k.close()
	})
}

// TestWaiterGivesUp: a request that stops waiting leaves the load running; the model
// loaded for nobody unloads after the keep-alive.
func TestWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, n := countingKeeper(time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second/2)
		defer cancel()
		if _, _, err := k.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("acquire = %v, want its deadline", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if p, _ := k.status(); p != ready {
			t.Errorf("phase %d: the load should have finished", p)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if p, _ := k.status(); p != unloaded || n[1] != 1 {
			t.Errorf("phase %d, %d releases", p, n[1])
		}
	})
}

// TestCloseWhileLoading: close cancels the load and waits for it; the waiting
// request is told the server is closing.
func TestCloseWhileLoading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := countingKeeper(time.Minute)
		errs := make(chan error, 1)
		go func() {
			_, _, err := k.acquire(context.Background())
			errs <- err
		}()
		synctest.Wait()
		if err := k.close(); err != nil {
			t.Error(err)
		}
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("waiting request got %v, want ErrClosed", err)
		}
	})
}
