package input

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		end  error
	}{
		{"lines", "one\ntwo\r\n\nthree", []string{"one", "two", "", "three"}, io.EOF},
		{"empty", "", nil, io.EOF},
		{"too long", "ok\n" + strings.Repeat("x", 5000) + "\n", []string{"ok"}, bufio.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLines(strings.NewReader(tt.in), 64)
			defer l.Close()
			var got []string
			var err error
			for {
				var s string
				if s, err = l.Next(context.Background()); err != nil {
					break
				}
				got = append(got, s)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || !errors.Is(err, tt.end) {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.end)
			}
			if _, again := l.Next(context.Background()); !errors.Is(again, tt.end) {
				t.Errorf("after the end: %v, want %v", again, tt.end)
			}
		})
	}
}

// TestLinesCancel: a Next waiting on input that does not come ends with ctx.
func TestLinesCancel(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	l := NewLines(r, 64)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
	go w.Write([]byte("late\n"))
	if s, err := l.Next(context.Background()); err != nil || s != "late" {
		t.Errorf("after a cancelled Next: %q, %v", s, err)
	}
}
