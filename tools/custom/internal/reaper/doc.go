// Package reaper runs a program so that no process it starts outlives it: the
// program runs under a small reaper process, a re-execution of the current binary
// that makes itself a child subreaper (Linux's PR_SET_CHILD_SUBREAPER). Every
// process the program leaves behind, daemons that double-fork or call setsid
// included, becomes the reaper's child when its parent dies, and the reaper kills
// and reaps them all when the program exits or the call is stopped, before it
// exits itself. A caller that waits for the reaper therefore knows the whole tree
// is gone.
//
// The reaper entry point runs from this package's init, before main, when the
// binary is started as a reaper; any binary that imports the package (the agent,
// a test binary) can therefore serve as its own reaper with no hook in main.
//
// The package does its work on Linux only; other systems have no subreaper.
package reaper
