package main

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// authenticator checks the credentials a request or a token request
// comes with: a user of the htpasswd file and its password or, with
// trusted issuers, an ID token of one of them in place of the password
// (the user name is then not looked at), which names an identity of the
// form PREFIX:NAME. htpasswd user names cannot hold a colon, so the two
// never meet.
type authenticator struct {
	users  *htpasswd    // may hold no users
	oidc   *oidcAuth    // nil: no trusted issuers
	logger *slog.Logger // says why an ID token was refused; nil: nothing
}

// identify returns the identity that user and password prove, if they
// do, and, for an ID token's, when the proof expires (else zero). A
// password that has the shape of a JWT, with trusted issuers, is taken
// for an ID token and nothing else.
func (a *authenticator) identify(ctx context.Context, user, password string) (string, time.Time, bool) {
	if a.oidc != nil && looksLikeJWT(password) {
		id, expires, err := a.oidc.identify(ctx, password)
		if err != nil {
			if a.logger != nil {
				a.logger.Info("ID token refused", "err", err)
			}
			return "", time.Time{}, false
		}
		return id, expires, true
	}
	if a.users.verify(user, password) {
		return user, time.Time{}, true
	}
	return "", time.Time{}, false
}

// known reports whether identity is one that credentials can still
// prove: a user of the htpasswd file, or, with trusted issuers, an
// identity of theirs.
func (a *authenticator) known(identity string) bool {
	if isIssuerIdentity(identity) {
		return a.oidc != nil && a.oidc.hasIdentity(identity)
	}
	_, ok := a.users.hashes[identity]
	return ok
}

// isIssuerIdentity reports whether identity is one that a trusted
// issuer's ID token names rather than a user of the htpasswd file.
func isIssuerIdentity(identity string) bool {
	return strings.Contains(identity, ":")
}
