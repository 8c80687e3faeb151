// Package buildinfo describes the running binary: its module version, the VCS
// commit it was built from and the compute backends it has.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
)

// Version is the module's version, the commit (with "+dirty" for uncommitted
// changes) and whether backends, those the build registered, include CUDA.
func Version(backends []string) string {
	bi, ok := debug.ReadBuildInfo()
	return version(bi, ok, backends)
}

func version(bi *debug.BuildInfo, ok bool, backends []string) string {
	v, commit, dirty := "(unknown)", "unknown", ""
	if ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	cuda := "no"
	if slices.Contains(backends, "cuda") {
		cuda = "yes"
	}
	return fmt.Sprintf("%s, commit %s%s, cuda: %s (backends: %s)", v, commit, dirty, cuda, strings.Join(backends, ", "))
}
