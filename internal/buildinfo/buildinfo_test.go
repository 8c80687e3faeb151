package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		bi       *debug.BuildInfo
		ok       bool
		backends []string
		want     string
	}{
		{bi, true, []string{"cpu", "cuda"}, "v1.2.3, commit abc123+dirty, cuda: yes (backends: cpu, cuda)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, []string{"cpu"}, "(devel), commit unknown, cuda: no (backends: cpu)"},
		{nil, false, nil, "(unknown), commit unknown, cuda: no (backends: )"},
	}
	for _, tt := range tests {
		if got := version(tt.bi, tt.ok, tt.backends); got != tt.want {
			t.Errorf("version = %q, want %q", got, tt.want)
		}
	}
	if Version([]string{"cpu"}) == "" {
		t.Error("empty version")
	}
}
