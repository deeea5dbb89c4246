// Command ocireg serves OCI registries.
//
// Usage:
//
//	ocireg serve [flags]   serve a registry over HTTP (see "ocireg serve -h")
//	ocireg gc [flags]      delete unreferenced blobs from a registry directory
//	ocireg cp SRC DST      copy an image or index, between registries and oci:DIR layouts
//	ocireg cp --all-tags SRC_REPO DST_REPO   copy every tag of a repository
//	ocireg tag REF NEWTAG...  point more tags at a manifest
//	ocireg validate REF    check that every manifest and blob REF reaches is there and intact
//	ocireg check --dir DIR check an on-disk registry (exit code 1 when damaged)
//	ocireg push REF FILE...   push files as an artifact, as oras does
//	ocireg pull REF        write an artifact's files into a directory
//	ocireg attach REF FILE... --artifact-type T   push an artifact that refers to REF
//	ocireg referrers REF   print the referrers of a manifest as a tree
//	ocireg ls REPO         list the tags of a repository
//	ocireg catalog HOST    list the repositories of a registry
//	ocireg manifest REF    print a manifest
//	ocireg blob REPO@DIG   print a blob
//	ocireg digest REF      print the digest of a manifest
//	ocireg rm REF          remove a tag, or a manifest by digest
//	ocireg login HOST      check and save credentials in the docker config
//	ocireg logout HOST     remove credentials from the docker config
//	ocireg help            print this usage
//
// Exit codes: 0 when the command succeeded (for serve: it was stopped by
// SIGINT or SIGTERM and shut down cleanly), 1 when it failed while running,
// 2 when the command line was wrong (for serve, also: the config file, the
// htpasswd file or the TLS files were wrong, or the address cannot be
// listened on; nothing serves and no data directory is made then), 3 when
// a client verb (cp, ls, manifest, blob, digest, rm, tag, validate, pull,
// attach, referrers) found no such manifest, blob or repository. validate
// exits with 1 when REF exists but something it reaches is missing or
// wrong, check when the directory is damaged.
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
  serve    serve a registry over HTTP
  gc       delete unreferenced blobs from a registry directory
  cp       copy an image or index with all it refers to (registries, oci:DIR)
  tag      point more tags at a manifest
  validate check that every manifest and blob a reference reaches is intact
  check    check an on-disk registry directory
  push     push files as an artifact (as oras push)
  pull     write an artifact's files into a directory (as oras pull)
  attach   push an artifact that refers to a manifest (as oras attach)
  referrers print the referrers of a manifest as a tree
  ls       list the tags of a repository (-l: with digests, types, sizes, platforms; --json)
  catalog  list the repositories of a registry
  manifest print a manifest
  blob     print a blob, by digest or as a layer of an image (--layer N)
  digest   print the digest of a manifest
  config   print the config of an image
  inspect  describe an image or index: platforms, layers, annotations, referrers
  rm       remove a tag, or a manifest by digest
  login    check and save credentials in the docker config (or its credential helper)
  logout   remove a registry's credentials (from the config and its helper)
  help     print this message; "ocireg help config" documents the config file,
           "ocireg help registries" how verbs reach registries (TLS, credentials)

Run "ocireg <command> -h" for the flags of a command.

Exit codes: 0 success (serve: stopped by SIGINT or SIGTERM and shut down
cleanly), 1 failure while running, 2 bad command line (serve: also a bad
config, htpasswd or TLS file, or an address it cannot listen on, such as
a busy port; nothing is served or made), 3 not found (a verb's
manifest, blob or repository does not exist).
Each command's -h says what its own mean.
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
	if asksForHelp(args[1:]) {
		// Help asked for is the output, not a complaint: it goes to
		// stdout, as other tools send it.
		stderr = stdout
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "gc":
		return runGC(ctx, rest, stdout, stderr)
	case "cp":
		return runCp(ctx, rest, stdout, stderr)
	case "ls":
		return runLs(ctx, rest, stdout, stderr)
	case "catalog":
		return runCatalog(ctx, rest, stdout, stderr)
	case "manifest":
		return runManifest(ctx, rest, stdout, stderr)
	case "blob":
		return runBlob(ctx, rest, stdout, stderr)
	case "digest":
		return runDigest(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "inspect":
		return runInspect(ctx, rest, stdout, stderr)
	case "rm":
		return runRm(ctx, rest, stdout, stderr)
	case "login":
		return runLogin(ctx, rest, os.Stdin, stdout, stderr)
	case "logout":
		return runLogout(ctx, rest, stdout, stderr)
	case "tag":
		return runTag(ctx, rest, stdout, stderr)
	case "validate":
		return runValidate(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "push":
		return runPush(ctx, rest, stdout, stderr)
	case "pull":
		return runPull(ctx, rest, stdout, stderr)
	case "attach":
		return runAttach(ctx, rest, stdout, stderr)
	case "referrers":
		return runReferrers(ctx, rest, stdout, stderr)
	case "help":
		return runHelp(rest, stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "ocireg: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// asksForHelp reports whether args (a verb's) ask for its usage with -h,
// -help or --help before any "--".
func asksForHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}
