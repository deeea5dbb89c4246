package toolstest

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OciregProcess is an "ocireg serve" that StartOciregToKill started.
type OciregProcess struct {
	p *process
}

// PID returns the server's process ID.
func (o *OciregProcess) PID() int { return o.p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to end.
func (o *OciregProcess) Kill() {
	o.p.cmd.Process.Signal(syscall.SIGKILL)
	<-o.p.done
}

// StartOciregToKill is StartOcireg for a test that kills the server or
// looks at its process: it also returns the process, which is killed
// when the test ends. The server's exit status is not checked.
func StartOciregToKill(t testing.TB, args ...string) (host string, proc *OciregProcess) {
	t.Helper()
	bin := BuildOcireg(t)
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	first := &firstLineWriter{line: make(chan string, 1)}
	cmd.Stdout = first
	p := startProcess(t, "ocireg", cmd)
	proc = &OciregProcess{p: p}
	t.Cleanup(proc.Kill)
	select {
	case line := <-first.line:
		host, ok := strings.CutPrefix(line, "http://")
		if !ok {
			t.Fatalf("ocireg serve printed %q, want http://HOST:PORT", line)
		}
		return host, proc
	case <-p.done:
		t.Fatalf("ocireg serve exited before listening: %v\n%s", p.err, p.output())
	case <-time.After(startTimeout):
		t.Fatalf("ocireg serve did not print its address within %v\n%s", startTimeout, p.output())
	}
	panic("unreachable")
}
