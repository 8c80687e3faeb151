package input

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		in    string
		limit int64
		err   error
	}{
		{"", 4, nil},
		{"abcd", 4, nil},
		{"abcde", 4, ErrTooLarge},
	} {
		b, err := Read(ctx, strings.NewReader(tt.in), tt.limit)
		if !errors.Is(err, tt.err) || (err == nil && string(b) != tt.in) {
			t.Errorf("Read(%q, %d) = %q, %v; want the input or %v", tt.in, tt.limit, b, err, tt.err)
		}
	}
}

// TestReadGivesWay: a read that never ends returns when the context does.
func TestReadGivesWay(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("interrupted")
	done := make(chan error, 1)
	go func() {
		_, err := Read(ctx, r, 10)
		done <- err
	}()
	cancel(stop)
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("err %v, want the context's cause", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not give way to the context")
	}
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte("from the file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := File(ctx, strings.NewReader("stdin"), path, 100); err != nil || string(b) != "from the file" {
		t.Errorf("File(path) = %q, %v", b, err)
	}
	if b, err := File(ctx, strings.NewReader("stdin"), "-", 100); err != nil || string(b) != "stdin" {
		t.Errorf("File(-) = %q, %v", b, err)
	}
	if _, err := File(ctx, nil, filepath.Join(t.TempDir(), "none"), 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
		err   error
	}{
		{[]string{"who", "won?"}, "unread", "who won?", nil},
		{[]string{"- x"}, "unread", "- x", nil},
		{[]string{"-", "x"}, "unread", "- x", nil},
		{nil, "from stdin\n", "from stdin\n", nil},
		{[]string{"-"}, "from stdin", "from stdin", nil},
		{[]string{"-"}, "far too long", "", ErrTooLarge},
		{[]string{""}, "unread", "", nil},
	} {
		got, err := Text(context.Background(), strings.NewReader(tt.stdin), tt.args, 11)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Text(%q) with stdin %q = %q, %v; want %q, %v", tt.args, tt.stdin, got, err, tt.want, tt.err)
		}
	}
}
