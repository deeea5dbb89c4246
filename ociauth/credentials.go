package ociauth

import "context"

// Credentials are what a client presents to a registry.
type Credentials struct {
	// Username and Password are sent with Basic authentication, to the
	// registry or to its token server.
	Username string

	// Password goes with Username; see there.
	Password string

	// RefreshToken (docker's "identitytoken") is exchanged for access
	// tokens at the token server with an OAuth2 POST.
	RefreshToken string

	// AccessToken (docker's "registrytoken") is sent to the registry
	// as a Bearer token as it is.
	AccessToken string
}

// IsZero reports whether c holds no credentials at all.
func (c Credentials) IsZero() bool { return c == Credentials{} }

// CredentialsSource gives the credentials for a registry host.
type CredentialsSource interface {
	// Credentials returns the credentials for host (such as
	// "ghcr.io" or "localhost:5000"), or zero Credentials and a nil
	// error when there are none.
	Credentials(ctx context.Context, host string) (Credentials, error)
}

// StaticCredentials is a CredentialsSource that holds the credentials of
// each host.
type StaticCredentials map[string]Credentials

// Credentials returns s[host] (zero Credentials when s has none for
// host). It never fails.
func (s StaticCredentials) Credentials(ctx context.Context, host string) (Credentials, error) {
	return s[host], nil
}
