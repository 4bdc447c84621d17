package soak

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// worker is one worker slot: the reference worker binary, restarted
// after each kill, with counters over all its processes.
type worker struct {
	name, bin, dir string
	env            []string

	// audits counts audit records written (lines on stdout), retries the
	// messages given back after a transient failure, duplicates the
	// deliveries acknowledged as duplicates, deadLetters the messages
	// audited as dead-lettered.
	audits, retries, duplicates, deadLetters atomic.Int64

	mu    sync.Mutex
	cur   *exec.Cmd
	done  chan struct{}
	procs int
	// ending is set while a signal of ours ends the current process;
	// crashed is closed when a process ends otherwise, with why.
	ending  bool
	crashed chan struct{}
	crash   string
	// peakRSS is the largest peak resident set of its processes, in KiB.
	peakRSS int64
	exits   []string
}

func newWorker(name, bin, dir string, env []string) *worker {
	return &worker{name: name, bin: bin, dir: dir, env: env, crashed: make(chan struct{})}
}

// start runs a new process of the worker.
func (w *worker) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.procs++
	base := filepath.Join(w.dir, fmt.Sprintf("worker-%s-%d", w.name, w.procs))
	stdout, err := os.Create(base + ".stdout")
	if err != nil {
		return err
	}
	stderr, err := os.Create(base + ".stderr")
	if err != nil {
		stdout.Close()
		return err
	}
	cmd := exec.Command(w.bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, w.env...)
	cmd.Stdout = &lineWriter{w: stdout, line: func(l []byte) {
		if bytes.HasPrefix(l, []byte(`{"schema":"remedy.audit/v1"`)) {
			w.audits.Add(1)
		}
	}}
	var last []byte
	cmd.Stderr = &lineWriter{w: stderr, line: func(l []byte) {
		last = append(last[:0], l...)
		switch {
		case bytes.Contains(l, []byte(`"msg":"sqsworker: transient failure; message retried after a back-off"`)):
			w.retries.Add(1)
		case bytes.Contains(l, []byte(`"msg":"duplicate delivery acknowledged"`)):
			w.duplicates.Add(1)
		case bytes.Contains(l, []byte(`"msg":"message goes to the dead-letter queue"`)):
			w.deadLetters.Add(1)
		}
	}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return fmt.Errorf("start worker %s: %w", w.name, err)
	}
	done := make(chan struct{})
	w.cur, w.done, w.ending = cmd, done, false
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		w.mu.Lock()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			w.peakRSS = max(w.peakRSS, ru.Maxrss)
		}
		w.exits = append(w.exits, fmt.Sprintf("process %d: %v", len(w.exits)+1, exitText(err)))
		if !w.ending && w.crash == "" {
			w.crash = fmt.Sprintf("worker %s ended on its own (%s); its last log line: %s", w.name, exitText(err), last)
			close(w.crashed)
		}
		w.mu.Unlock()
		close(done)
	}()
	return nil
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// signal sends sig to the current process and waits until it exited, at
// most within.
func (w *worker) signal(sig syscall.Signal, within time.Duration) error {
	w.mu.Lock()
	cmd, done := w.cur, w.done
	w.ending = true
	w.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("worker %s is not running", w.name)
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal worker %s: %w", w.name, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("worker %s did not exit within %s of %v", w.name, within, sig)
	}
}

// kill kills the current process with SIGKILL, as a crash or an OOM kill
// would, and waits for it to be gone.
func (w *worker) kill() error { return w.signal(syscall.SIGKILL, time.Minute) }

// stop ends the current process with SIGTERM (a graceful drain) and
// checks that it exited 0.
func (w *worker) stop() error {
	if err := w.signal(syscall.SIGTERM, time.Minute); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if last := w.exits[len(w.exits)-1]; last != fmt.Sprintf("process %d: exit status 0", len(w.exits)) {
		return fmt.Errorf("worker %s after SIGTERM: %s", w.name, last)
	}
	return nil
}

// crashError returns why a process of the worker ended on its own.
func (w *worker) crashError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.New(w.crash)
}

// running reports whether the current process is alive.
func (w *worker) running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		return false
	}
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// stats returns the peak RSS in KiB, the number of processes and how
// they ended.
func (w *worker) stats() (peakKiB int64, procs int, exits []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peakRSS, w.procs, append([]string(nil), w.exits...)
}

// lineWriter writes through to w and calls line for every complete
// line.
type lineWriter struct {
	w    io.Writer
	buf  []byte
	line func([]byte)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	l.buf = append([]byte(nil), l.buf...)
	return l.w.Write(p)
}
