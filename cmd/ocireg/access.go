package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/ocireg/ociregistry"
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
// matches any repository that starts with what matches the part before
// it ("team/**" matches team/a and team/a/b, "*/app/**" matches
// org/app/x; "**" alone matches every repository).
func matchRepo(pattern, repo string) bool {
	prefix, ok := strings.CutSuffix(pattern, "**")
	if !ok {
		ok, _ := path.Match(pattern, repo)
		return ok
	}
	if !strings.ContainsAny(prefix, `*?[\`) {
		return strings.HasPrefix(repo, prefix)
	}
	for i := 0; i <= len(repo); i++ {
		if ok, _ := path.Match(prefix, repo[:i]); ok {
			return true
		}
	}
	return false
}

// checkRepoPattern returns an error when pattern is malformed, or when
// what it names literally could never be part of a repository name (a
// capital letter, a leading or doubled slash), which would make a rule
// that silently matches nothing.
func checkRepoPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty repository pattern")
	}
	p, prefixOnly := strings.CutSuffix(pattern, "**")
	if strings.Contains(p, "**") {
		return fmt.Errorf("bad repository pattern %q: ** only at the end", pattern)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad repository pattern %q: %v", pattern, err)
	}
	// What the pattern matches, with each wildcard standing for an "a".
	name := sampleOf(p)
	if prefixOnly {
		// Any name that starts with p: check one.
		name += "a"
	}
	if err := ociregistry.CheckRepository(name); err != nil {
		return fmt.Errorf("repository pattern %q matches no repository: %v", pattern, err)
	}
	return nil
}

// sampleOf returns a name that the path.Match pattern p matches, with
// "a" for each wildcard, character class and escaped character, which
// keeps whatever is literal in p.
func sampleOf(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?':
			b.WriteByte('a')
		case '\\':
			i++
			b.WriteByte('a')
		case '[':
			// A class ends at the first "]" after its first
			// character (path.Match has checked its syntax).
			j := i + 2
			for j < len(p) && p[j] != ']' {
				if p[j] == '\\' {
					j++
				}
				j++
			}
			i = j
			b.WriteByte('a')
		default:
			b.WriteByte(p[i])
		}
	}
	return b.String()
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
