//go:build !unix

package research

import "os"

// lock does nothing where flock(2) is missing: two jobs started on one journal
// there both answer the questions it lacks.
func lock(*os.File) error { return nil }

// syncDir does nothing where a folder cannot be opened for syncing.
func syncDir(string) error { return nil }
