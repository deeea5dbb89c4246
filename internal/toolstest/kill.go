package toolstest

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartOciregToKill is StartOcireg for a test that kills the server: it
// also returns a function that sends SIGKILL and waits for the process
// to end. The server's exit status is not checked.
func StartOciregToKill(t testing.TB, args ...string) (host string, kill func()) {
	t.Helper()
	bin := BuildOcireg(t)
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	first := &firstLineWriter{line: make(chan string, 1)}
	cmd.Stdout = first
	p := startProcess(t, "ocireg", cmd)
	kill = func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	t.Cleanup(kill)
	select {
	case line := <-first.line:
		host, ok := strings.CutPrefix(line, "http://")
		if !ok {
			t.Fatalf("ocireg serve printed %q, want http://HOST:PORT", line)
		}
		return host, kill
	case <-p.done:
		t.Fatalf("ocireg serve exited before listening: %v\n%s", p.err, p.output())
	case <-time.After(startTimeout):
		t.Fatalf("ocireg serve did not print its address within %v\n%s", startTimeout, p.output())
	}
	panic("unreachable")
}
