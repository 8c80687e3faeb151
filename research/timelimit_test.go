package research

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestWithTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel, limit := WithTimeLimit(context.Background(), time.Minute, "--timeout")
		defer cancel()
		var tl *TimeLimitError
		if !errors.As(limit, &tl) || tl.Limit != time.Minute || tl.Setting != "--timeout" {
			t.Fatalf("limit %v", limit)
		}
		if TimedOut(ctx, limit) {
			t.Fatal("timed out before the limit")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !TimedOut(ctx, limit) {
			t.Fatalf("not timed out after the limit: %v", context.Cause(ctx))
		}
	})
}

func TestWithTimeLimitNone(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel, limit := WithTimeLimit(parent, 0, "--timeout")
	defer cancel()
	if limit != nil || ctx != parent {
		t.Fatalf("a zero limit gave %v and a new context", limit)
	}
	stop()
	if TimedOut(ctx, limit) {
		t.Error("a cancel without a limit counts as timed out")
	}
}
