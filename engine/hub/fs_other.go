//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package hub

import "context"

// Elsewhere the free space is not known (no check before a pull) and there is no
// lock between processes: the blob's atomic rename still keeps the cache sound.
var (
	freeSpace func(dir string) (int64, bool)
	lockFile  func(ctx context.Context, path string) (func(), error)
)
