// Package smoketest drives a running "ocireg serve" binary with real
// registry clients (crane, oras, regctl, skopeo) and with CNCF
// Distribution as a peer, checking that what comes back is byte for byte
// what went in. It has only tests; the tools come from ./test.sh (see
// package toolstest), and tests whose tool is missing skip.
package smoketest
