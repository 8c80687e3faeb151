package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestShowProgress: the bar on a line; with watch over an unfinished job,
// drawn in place until ctx ends, then the line ended; a done job watched is
// one line; an unknown job is ErrUnknownJob.
func TestShowProgress(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, sqliteDSN(t))
	w := newWorld(t, 0)
	if _, err := q.Submit(ctx, w.job("j", 3, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	p, err := q.Progress(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := q.ShowProgress(ctx, "j", &b, 40, false, time.Hour); err != nil || b.String() != Bar(p, 40)+"\n" {
		t.Errorf("once: %q, %v; want %q", b.String(), err, Bar(p, 40)+"\n")
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	b.Reset()
	frame := &stopAfter{w: &b, n: 1, stop: stop} // ctx ends once the first frame is drawn
	if err := q.ShowProgress(wctx, "j", frame, 40, true, time.Hour); err != nil {
		t.Fatalf("watch: %v", err)
	}
	if want := "\r" + Bar(p, 40) + "\n"; b.String() != want {
		t.Errorf("watch drew %q, want %q", b.String(), want)
	}

	work(t, q, "j")
	b.Reset()
	if err := q.ShowProgress(ctx, "j", &b, 40, true, time.Hour); err != nil || !strings.HasSuffix(b.String(), "done\n") || strings.Contains(b.String(), "\r") {
		t.Errorf("a done job, watched: %q, %v", b.String(), err)
	}
	if err := q.ShowProgress(ctx, "nope", &b, 40, false, time.Hour); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("unknown job: %v", err)
	}
}

// stopAfter writes to w and calls stop after its nth write.
type stopAfter struct {
	w    *strings.Builder
	n    int
	stop func()
}

func (s *stopAfter) Write(p []byte) (int, error) {
	if s.n--; s.n == 0 {
		s.stop()
	}
	return s.w.Write(p)
}
