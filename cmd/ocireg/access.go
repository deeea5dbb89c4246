package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/ocireg/ociregistry/ocifilter"
)

// accessRule grants users an access to the repositories that match
// patterns.
type accessRule struct {
	users    []string // "*" is every user of the htpasswd file (see containsUser)
	patterns []string // see matchRepo
	access   []ocifilter.Access
}

// matchRepo reports whether repo matches pattern, a path.Match pattern
// (where * does not match a slash) or a pattern ending in "**", which
// matches any repository starting with what comes before it ("**" alone
// matches every repository).
func matchRepo(pattern, repo string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "**"); ok {
		return strings.HasPrefix(repo, prefix)
	}
	ok, _ := path.Match(pattern, repo)
	return ok
}

// checkRepoPattern returns an error when pattern is malformed.
func checkRepoPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty repository pattern")
	}
	p, _ := strings.CutSuffix(pattern, "**")
	if strings.Contains(p, "**") {
		return fmt.Errorf("bad repository pattern %q: ** only at the end", pattern)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad repository pattern %q: %v", pattern, err)
	}
	return nil
}

// allows reports whether the rules let user have access to repo.
func allows(rules []accessRule, user, repo string, access ocifilter.Access) bool {
	for _, r := range rules {
		if !containsUser(r.users, user) || !containsAccess(r.access, access) {
			continue
		}
		for _, p := range r.patterns {
			if matchRepo(p, repo) {
				return true
			}
		}
	}
	return false
}

// containsUser reports whether users names user; "*" names every user
// of the htpasswd file, never an identity that an issuer vouches for
// (anyone can get an ID token from a public CI's issuer).
func containsUser(users []string, user string) bool {
	for _, u := range users {
		if u == user || u == "*" && !isIssuerIdentity(user) {
			return true
		}
	}
	return false
}

func containsAccess(as []ocifilter.Access, a ocifilter.Access) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// accessVerbs names the accesses in the config file, as docker's token
// scopes do.
var accessVerbs = map[string]ocifilter.Access{
	"pull":   ocifilter.AccessRead,
	"push":   ocifilter.AccessWrite,
	"delete": ocifilter.AccessDelete,
}

func verbOf(a ocifilter.Access) string {
	for v, x := range accessVerbs {
		if x == a {
			return v
		}
	}
	return a.String()
}
