// Command ocireg serves OCI registries.
//
// Usage:
//
//	ocireg serve [flags]   serve a registry over HTTP (see "ocireg serve -h")
//	ocireg help            print this usage
//
// Exit codes: 0 when the command succeeded (for serve: it was stopped by
// SIGINT or SIGTERM and shut down cleanly), 1 when it failed while running,
// 2 when the command line was wrong.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the package comment.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage: ocireg <command> [flags]

Commands:
  serve   serve a registry over HTTP
  help    print this message

Run "ocireg <command> -h" for the flags of a command.
`

func main() {
	// The signal context is what stops "serve": cancelling it starts a
	// graceful shutdown instead of killing the process mid-request.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process at once.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name) and returns
// the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "ocireg: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
