package main

import (
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/ocifilter"
)

func TestMatchRepo(t *testing.T) {
	tests := []struct {
		pattern, repo string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"team/**", "team/a/b", true},
		{"team/**", "teams/a", false},
		{"team/*", "team/a", true},
		{"team/*", "team/a/b", false},
		{"*", "a/b", false},
		{"a/[bc]", "a/c", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*/app/**", "org/app/one", true},
		{"*/app/**", "org/app", false},
		{"*/app/**", "org/other/app/x", false},
		{"team-*/**", "team-a/svc", true},
		{"team-*/**", "team/svc", false},
		{"t?am/**", "team/x", true},
		{"[ab]/**", "b/x/y", true},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(matchRepo(test.pattern, test.repo), test.want), qt.Commentf("%q %q", test.pattern, test.repo))
	}
}

func TestCheckRepoPattern(t *testing.T) {
	for _, good := range []string{"**", "a/**", "a/*", "a/[bc]", "team-*/**", "*/app/**", "a/[^/]x", "*"} {
		qt.Check(t, qt.IsNil(checkRepoPattern(good)), qt.Commentf("%q", good))
	}
	for _, bad := range []string{"", "a/**/b", "a/[b", `a\`, "Team/**", "team/", "/team/*x", "/team", "team//x", "team//**", "a..b"} {
		qt.Check(t, qt.IsNotNil(checkRepoPattern(bad)), qt.Commentf("%q", bad))
	}
}

func TestAllows(t *testing.T) {
	rules := []accessRule{
		{users: []string{"alice"}, patterns: []string{"**"}, access: []ocifilter.Access{ocifilter.AccessRead, ocifilter.AccessWrite}},
		{users: []string{"*"}, patterns: []string{"public/*"}, access: []ocifilter.Access{ocifilter.AccessRead}},
	}
	tests := []struct {
		user, repo string
		access     ocifilter.Access
		want       bool
	}{
		{"alice", "x/y", ocifilter.AccessWrite, true},
		{"alice", "x/y", ocifilter.AccessDelete, false},
		{"bob", "x/y", ocifilter.AccessRead, false},
		{"bob", "public/y", ocifilter.AccessRead, true},
		{"bob", "public/y", ocifilter.AccessWrite, false},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(allows(rules, test.user, test.repo, test.access), test.want), qt.Commentf("%+v", test))
	}
}
