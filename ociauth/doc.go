// Package ociauth finds registry credentials where docker and podman keep
// them, and authenticates HTTP requests to registries: an
// http.RoundTripper that answers 401 challenges with Basic credentials or
// with the Bearer token flow, caching tokens per host and scope.
//
// Credentials come from $DOCKER_AUTH_CONFIG (a docker config.json given
// inline, as CI systems set it), docker's config.json
// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) and the
// containers auth.json of podman and friends ($REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json): "auths" entries with "auth"
// (base64 user:password), "username" and "password", "identitytoken" (a
// refresh token) or "registrytoken" (a bearer token), and credential
// helpers named by "credHelpers" and "credsStore", run as
// docker-credential-NAME. StoreCredentials and EraseCredentials write
// through such a helper.
package ociauth
