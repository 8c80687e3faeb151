package reaper

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// arg0 marks a process started as a reaper: os.Args is [arg0, path, argv...].
const arg0 = "agent-reaper"

// The file descriptors the reaper gets besides stdio: ctl is a pipe whose other
// end the caller holds, so that its closing (a stop, or the caller's death) tells
// the reaper to kill everything; status is where the reaper reports how the
// program ended.
const (
	ctlFD    = 3
	statusFD = 4
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of <linux/prctl.h>.
const prSetChildSubreaper = 36

func init() {
	if len(os.Args) >= 3 && os.Args[0] == arg0 {
		// syscall.Exit, not os.Exit: a race-enabled binary's os.Exit waits a
		// second for race reports, on every call; the reaper has nothing to flush.
		syscall.Exit(serve(os.Args[1], os.Args[2:]))
	}
}

// cleanupLimit bounds how long the reaper keeps trying to kill processes that
// will not die (a setuid program it may not signal).
const cleanupLimit = 5 * time.Second

// serve is the reaper: it runs path with argv, waits for it to exit or for a
// stop, then kills every remaining descendant and reports on the status pipe.
func serve(path string, argv []string) int {
	var st syscall.Stat_t
	if syscall.Fstat(ctlFD, &st) != nil || syscall.Fstat(statusFD, &st) != nil {
		fmt.Fprintln(os.Stderr, "agent-reaper: started without its pipes")
		return 2
	}
	ctl := os.NewFile(ctlFD, "ctl")
	status := os.NewFile(statusFD, "status")
	syscall.CloseOnExec(ctlFD)
	syscall.CloseOnExec(statusFD)
	report := func(format string, args ...any) int {
		fmt.Fprintf(status, format+"\n", args...)
		status.Close()
		return 0
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return report("start: cannot become a child subreaper: %v", errno)
	}
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() { <-sigs; halt() }()
	go func() { io.Copy(io.Discard, ctl); halt() }()

	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		return report("start %s: %v", path, err)
	}
	exited := make(chan syscall.WaitStatus, 1)
	go func() {
		for {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || wpid == pid {
				exited <- ws
				return
			}
			// An orphan that had already exited: reaped, nothing more to do.
		}
	}()
	var ws syscall.WaitStatus
	stopped := false
	select {
	case ws = <-exited:
	case <-stop:
		stopped = true
		syscall.Kill(pid, syscall.SIGKILL)
		ws = <-exited
	}
	left := killAll()
	var line string
	switch {
	case stopped:
		line = "stopped"
	case ws.Signaled():
		line = fmt.Sprintf("signal %d", int(ws.Signal()))
	default:
		line = fmt.Sprintf("exit %d", ws.ExitStatus())
	}
	if len(left) > 0 {
		line += fmt.Sprintf("\nleft %s", strings.Trim(fmt.Sprint(left), "[]"))
	}
	return report("%s", line)
}

// killAll kills and reaps every child until none is left: the grandchildren of a
// killed child become this process's children in turn, since it is a subreaper.
// Only this process reaps its children, so a pid it found cannot be reused
// before it signals it. It returns the pids still alive after cleanupLimit (-1
// for children it could not find).
func killAll() []int {
	deadline := time.Now().Add(cleanupLimit)
	for {
		kids := children()
		if time.Now().After(deadline) {
			// A fork bomb, processes it may not signal, or no /proc to find
			// them in.
			if len(kids) == 0 {
				kids = []int{-1}
			}
			return kids
		}
		killed := 0
		for _, k := range kids {
			if syscall.Kill(k, syscall.SIGKILL) == nil {
				killed++
			}
		}
		flags := syscall.WNOHANG
		if killed > 0 {
			flags = 0 // one of them will exit
		}
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, flags, nil)
		switch {
		case errors.Is(err, syscall.ECHILD):
			return nil
		case errors.Is(err, syscall.EINTR), wpid > 0:
		default:
			// A child appeared after the scan, or one would not die: look again.
			time.Sleep(time.Millisecond)
		}
	}
}

// children returns the pids whose parent is this process, from /proc.
func children() []int {
	self := os.Getpid()
	var kids []int
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			return scan(self)
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				kids = append(kids, pid)
			}
		}
	}
	return kids
}

// scan finds the children of parent by reading every /proc/PID/stat, for kernels
// without /proc/PID/task/TID/children.
func scan(parent int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			kids = append(kids, pid)
		}
	}
	return kids
}

// Cmd is a program prepared to run under a reaper.
type Cmd struct {
	*exec.Cmd
	ctl, status *os.File
	once        sync.Once
}

// Command prepares cmd, whose Path is the program (resolved) and Args its argv,
// to run under a reaper: it becomes a re-execution of this binary that runs the
// program. Stdin, Stdout, Stderr, Env and Dir reach the program unchanged; the
// reaper runs in a process group of its own. Stop kills the program and
// everything it started (a cmd of exec.CommandContext gets it as its Cancel).
// Call Close when done.
func Command(cmd *exec.Cmd) (*Cmd, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("reaper: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, fmt.Errorf("reaper: %w", err)
	}
	r := &Cmd{Cmd: cmd, ctl: ctlW, status: statusR}
	cmd.Args = append([]string{arg0, cmd.Path}, cmd.Args...)
	cmd.Path = "/proc/self/exe"
	cmd.Err = nil // a failed LookPath was the caller's to check
	cmd.ExtraFiles = []*os.File{ctlR, statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Cancel != nil {
		cmd.Cancel = func() error { r.Stop(); return nil }
	}
	return r, nil
}

// Start starts the reaper and closes the pipe ends it inherited.
func (r *Cmd) Start() error {
	err := r.Cmd.Start()
	for _, f := range r.Cmd.ExtraFiles {
		f.Close()
	}
	return err
}

// Stop tells the reaper to kill the program and everything it started.
func (r *Cmd) Stop() { r.once.Do(func() { r.ctl.Close() }) }

// Wait waits for the reaper, and so for every process of the program, and
// returns how the program ended: nil, an *ExitError, ErrStopped, or the error of
// starting it.
func (r *Cmd) Wait() error {
	werr := r.Cmd.Wait()
	r.Stop()
	defer r.status.Close()
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(r.status, 1<<16))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		if werr == nil {
			werr = errors.New("exited without a report")
		}
		return fmt.Errorf("reaper: %w", werr)
	}
	var left error
	if len(lines) > 1 {
		if pids, ok := strings.CutPrefix(lines[1], "left "); ok {
			left = fmt.Errorf("%w: %s", ErrSurvivors, pids)
		}
	}
	word, rest, _ := strings.Cut(lines[0], " ")
	var err error
	switch word {
	case "exit":
		code, _ := strconv.Atoi(rest)
		if code != 0 {
			err = &ExitError{Code: code}
		}
	case "signal":
		n, _ := strconv.Atoi(rest)
		err = &ExitError{Code: -1, Signal: syscall.Signal(n)}
	case "stopped":
		err = ErrStopped
	default:
		err = errors.New(lines[0])
	}
	if errors.Is(werr, exec.ErrWaitDelay) && err == nil {
		err = werr
	}
	return errors.Join(err, left)
}

// Run starts the reaper and waits for it.
func (r *Cmd) Run() error {
	if err := r.Start(); err != nil {
		return err
	}
	return r.Wait()
}

// Close releases the pipes; it stops the reaper if it still runs. Call it
// after Wait, or, where something else started and waited for the process (an
// MCP transport), once that is done.
func (r *Cmd) Close() {
	r.Stop()
	r.status.Close()
	for _, f := range r.Cmd.ExtraFiles {
		f.Close()
	}
}
