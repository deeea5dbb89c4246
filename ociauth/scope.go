package ociauth

import (
	"net/http"
	"slices"
	"strings"
)

// scopeSet holds the actions granted or needed on each resource, keyed
// by "type:name" such as "repository:foo/bar".
type scopeSet map[string][]string

// parseScopes parses a space-separated list of scopes, each
// "type:name:action,action".
func parseScopes(s string) scopeSet {
	set := scopeSet{}
	for f := range strings.FieldsSeq(s) {
		i := strings.LastIndex(f, ":")
		if i < 0 {
			continue
		}
		set.add(f[:i], strings.Split(f[i+1:], ",")...)
	}
	return set
}

func (s scopeSet) add(resource string, actions ...string) {
	for _, a := range actions {
		if a != "" && !slices.Contains(s[resource], a) {
			s[resource] = append(s[resource], a)
		}
	}
	slices.Sort(s[resource])
}

// union returns the scopes of s and o together.
func (s scopeSet) union(o scopeSet) scopeSet {
	u := scopeSet{}
	for r, as := range s {
		u.add(r, as...)
	}
	for r, as := range o {
		u.add(r, as...)
	}
	return u
}

// covers reports whether s grants every action of needed. A "*" action
// grants all.
func (s scopeSet) covers(needed scopeSet) bool {
	for r, as := range needed {
		have := s[r]
		if slices.Contains(have, "*") {
			continue
		}
		for _, a := range as {
			if !slices.Contains(have, a) {
				return false
			}
		}
	}
	return true
}

// list returns the scopes in their wire form, sorted.
func (s scopeSet) list() []string {
	var l []string
	for r, as := range s {
		l = append(l, r+":"+strings.Join(as, ","))
	}
	slices.Sort(l)
	return l
}

// String returns the scopes space-separated.
func (s scopeSet) String() string { return strings.Join(s.list(), " ") }

// requestScopes returns the scopes that a registry request needs, from
// its path and method: pull to read a repository, pull and push to write
// to it (so that one token serves a whole push), and pull on the source
// of a mount.
func requestScopes(req *http.Request) scopeSet {
	set := scopeSet{}
	p, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	if !ok {
		return set
	}
	if p == "_catalog" {
		set.add("registry:catalog", "*")
		return set
	}
	var repo string
	for _, marker := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, marker); i > 0 {
			repo = p[:i]
			break
		}
	}
	if repo == "" {
		return set
	}
	switch req.Method {
	case "GET", "HEAD":
		set.add("repository:"+repo, "pull")
	case "DELETE":
		set.add("repository:"+repo, "delete")
	default:
		set.add("repository:"+repo, "pull", "push")
	}
	if from := req.URL.Query().Get("from"); from != "" {
		set.add("repository:"+from, "pull")
	}
	return set
}
