package tools

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestRegistryList(t *testing.T) {
	fn := func(context.Context, Request) (Output, error) { return Output{}, nil }
	reg, err := NewRegistry(Func{ToolName: "B", Desc: "Bees.", Fn: fn}, Func{ToolName: "A", Desc: "Ants.", Fn: fn})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reg.Entries(), []Entry{{"A", "Ants."}, {"B", "Bees."}}; !slices.Equal(got, want) {
		t.Errorf("Entries() = %v, want %v", got, want)
	}
	var b strings.Builder
	if err := reg.WriteList(&b); err != nil {
		t.Fatal(err)
	}
	if want := "A[input]: Ants.\nB[input]: Bees.\n"; b.String() != want {
		t.Errorf("WriteList: %q, want %q", b.String(), want)
	}
	empty, _ := NewRegistry()
	if e := empty.Entries(); e == nil || len(e) != 0 {
		t.Errorf("empty Entries() = %#v, want []", e)
	}
}
