package ociauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// The credential helper protocol: docker-credential-NAME reads a request
// on standard input and answers on standard output, for the commands
// get (the server's URL in, credentials out), store (credentials in)
// and erase (the server's URL in).

// helperCreds is the JSON of credentials in the helper protocol.
type helperCreds struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// tokenUser is the user name under which helpers hold an identity
// (refresh) token.
const tokenUser = "<token>"

// runHelper runs docker-credential-NAME get for server. A helper that
// has no credentials for the server answers "credentials not found",
// which is no credentials rather than an error.
func runHelper(ctx context.Context, name, server string) (Credentials, error) {
	out, err := callHelper(ctx, name, "get", []byte(server))
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "credentials not found") {
			return Credentials{}, nil
		}
		return Credentials{}, err
	}
	var resp helperCreds
	if err := json.Unmarshal(out, &resp); err != nil {
		return Credentials{}, fmt.Errorf("ociauth: docker-credential-%s get: bad output: %v", name, err)
	}
	if resp.Username == tokenUser {
		return Credentials{RefreshToken: resp.Secret}, nil
	}
	return Credentials{Username: resp.Username, Password: resp.Secret}, nil
}

// StoreCredentials saves creds for server with the credential helper
// docker-credential-NAME ("store"), as docker login does when the docker
// config names a credsStore or a credHelpers entry for the server. It
// returns an error when the helper cannot be run or fails; a refresh
// token is stored as the helper protocol holds identity tokens.
func StoreCredentials(ctx context.Context, name, server string, creds Credentials) error {
	req := helperCreds{server, creds.Username, creds.Password}
	if creds.RefreshToken != "" {
		req.Username, req.Secret = tokenUser, creds.RefreshToken
	}
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = callHelper(ctx, name, "store", data)
	return err
}

// EraseCredentials removes what the credential helper
// docker-credential-NAME holds for server ("erase"). It returns an
// error when the helper cannot be run or fails.
func EraseCredentials(ctx context.Context, name, server string) error {
	_, err := callHelper(ctx, name, "erase", []byte(server))
	return err
}

// callHelper runs docker-credential-NAME COMMAND with input on its
// standard input and returns its standard output. The error of a
// helper that fails carries what it printed.
func callHelper(ctx context.Context, name, command string, input []byte) ([]byte, error) {
	prog := "docker-credential-" + name
	cmd := exec.CommandContext(ctx, prog, command)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if out := strings.TrimSpace(stdout.String() + " " + stderr.String()); out != "" {
			return nil, fmt.Errorf("ociauth: %s %s: %v: %s", prog, command, err, out)
		}
		return nil, fmt.Errorf("ociauth: %s %s: %v", prog, command, err)
	}
	return stdout.Bytes(), nil
}
