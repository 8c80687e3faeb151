package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// Loader loads the served model and returns it with the function that releases it
// (nil when there is nothing to release). It is called on the first request, and
// again on the first request after the model was unloaded for idleness. ctx ends
// when the server shuts down during the load.
type Loader func(ctx context.Context) (llm engine.LLM, release func() error, err error)

// ErrClosed is returned for requests that reach a server after Shutdown.
var ErrClosed = errors.New("server is shutting down")

// phase is where the model is in its life.
type phase int

const (
	unloaded  phase = iota
	loading         // Loader running
	ready           // loaded
	unloading       // release running
	failed          // the last load failed
	closed          // the server shut down
)

// keeper loads the model on demand and unloads it after an idle time, as ollama's
// scheduler does. A load or an unload runs on a goroutine of its own, so requests
// can wait for it with their own ctx; every request that finds it running waits for
// that one rather than starting another.
type keeper struct {
	load      Loader
	keepAlive time.Duration // < 0: never unload
	onLoad    func(d time.Duration, err error)
	onUnload  func(err error)

	mu      sync.Mutex
	phase   phase
	llm     engine.LLM
	release func() error
	err     error         // why the last load failed
	change  chan struct{} // closed when the running load or unload ends
	cancel  context.CancelFunc
	users   int // requests holding the loaded model
	timer   *time.Timer
	idleGen int // advanced whenever an armed idle timer must not fire

	loadedAt time.Time // when the loaded model finished loading
	expires  time.Time // when the armed idle timer fires; zero when none is armed
}

// acquire returns the loaded model, loading it first if need be, and done, which
// the caller must call when it no longer uses the model.
func (k *keeper) acquire(ctx context.Context) (llm engine.LLM, done func(), err error) {
	k.mu.Lock()
	for {
		switch k.phase {
		case closed:
			k.mu.Unlock()
			return nil, nil, ErrClosed
		case ready:
			k.users++
			k.disarm()
			llm := k.llm
			k.mu.Unlock()
			return llm, sync.OnceFunc(k.leave), nil
		case unloaded, failed:
			k.start()
		}
		change := k.change
		k.mu.Unlock()
		select {
		case <-change:
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
		k.mu.Lock()
		if k.phase == failed && k.change == change { // the load this request waited for
			err := k.err
			k.mu.Unlock()
			return nil, nil, err
		}
	}
}

// start runs the loader. k.mu is held.
func (k *keeper) start() {
	ctx, cancel := context.WithCancel(context.Background())
	k.phase, k.cancel, k.change = loading, cancel, make(chan struct{})
	change := k.change
	go func() {
		defer cancel()
		begin := time.Now()
		llm, release, err := k.load(ctx)
		if err == nil && llm == nil {
			err = errors.New("the loader returned no model")
		}
		if err != nil {
			err = fmt.Errorf("loading the model: %w", err)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		defer close(change)
		if k.phase == closed {
			if err == nil && release != nil {
				k.onUnload(release())
			}
			return
		}
		k.onLoad(time.Since(begin), err)
		if err != nil {
			k.phase, k.err = failed, err
			return
		}
		k.phase, k.llm, k.release, k.err, k.loadedAt = ready, llm, release, nil, time.Now()
		if k.users == 0 {
			k.arm() // the requests that waited may all have gone
		}
	}()
}

// leave ends one request's use of the model.
func (k *keeper) leave() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users--
	if k.users == 0 && k.phase == ready {
		k.arm()
	}
}

// arm starts the idle timer. k.mu is held.
func (k *keeper) arm() {
	if k.keepAlive < 0 {
		return
	}
	k.idleGen++
	gen := k.idleGen
	k.expires = time.Now().Add(k.keepAlive)
	k.timer = time.AfterFunc(k.keepAlive, func() { k.idle(gen) })
}

// disarm stops the idle timer. k.mu is held.
func (k *keeper) disarm() {
	k.idleGen++
	k.expires = time.Time{}
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
}

// idle unloads the model when the timer that fired is still the current one.
func (k *keeper) idle(gen int) {
	k.mu.Lock()
	if gen != k.idleGen || k.users > 0 || k.phase != ready {
		k.mu.Unlock()
		return
	}
	k.timer, k.expires, k.loadedAt = nil, time.Time{}, time.Time{}
	release := k.release
	k.phase, k.llm, k.release, k.change = unloading, nil, nil, make(chan struct{})
	change := k.change
	k.mu.Unlock()

	// Released outside the lock, so /health answers meanwhile; a request that comes
	// now waits for the memory to be free before loading again.
	var err error
	if release != nil {
		err = release()
	}
	k.onUnload(err)
	k.mu.Lock()
	defer k.mu.Unlock()
	close(change)
	if k.phase == unloading {
		k.phase = unloaded
	}
}

// status reports the phase and, after a failed load, its error.
func (k *keeper) status() (phase, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.phase, k.err
}

// snapshot is the model's state for GET /api/ps.
type snapshot struct {
	phase             phase
	err               error
	loadedAt, expires time.Time // zero when not loaded, or when no unload is due
}

func (k *keeper) snapshot() snapshot {
	k.mu.Lock()
	defer k.mu.Unlock()
	return snapshot{phase: k.phase, err: k.err, loadedAt: k.loadedAt, expires: k.expires}
}

// close unloads the model for good, cancelling a load that is running and waiting
// for it or for an unload to end. No request may hold the model.
func (k *keeper) close() error {
	k.mu.Lock()
	prev, change, release := k.phase, k.change, k.release
	k.phase, k.llm, k.release, k.loadedAt = closed, nil, nil, time.Time{}
	k.disarm()
	if prev == loading {
		k.cancel()
	}
	k.mu.Unlock()
	switch prev {
	case loading, unloading:
		<-change // the load's goroutine releases what it loaded
	case ready:
		if release != nil {
			err := release()
			k.onUnload(err)
			return err
		}
		k.onUnload(nil)
	}
	return nil
}
