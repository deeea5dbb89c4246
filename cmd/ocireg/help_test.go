package main

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
)

// TestConfigHelpCoversConfig checks that "ocireg help config" documents
// every registry kind and every field that the config parser reads, so
// that a field added to the parser without a word in the help fails.
func TestConfigHelpCoversConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	qt.Assert(t, qt.Equals(run(t.Context(), []string{"help", "config"}, &stdout, &stderr), exitOK))
	help := stdout.String()
	for _, kind := range registryKinds {
		qt.Check(t, qt.StringContains(help, "kind: "+kind+" "), qt.Commentf("kind %s", kind))
	}
	src, err := os.ReadFile("config.go")
	qt.Assert(t, qt.IsNil(err))
	fields := regexp.MustCompile(`(?:m\.[a-zA-Z]+\(|inner\(m, )"([a-zA-Z]+)"`).FindAllStringSubmatch(string(src), -1)
	qt.Assert(t, qt.IsTrue(len(fields) > 10))
	for _, f := range fields {
		if f[1] == "kind" {
			continue
		}
		qt.Check(t, qt.IsTrue(strings.Contains(help, f[1]+":") || strings.Contains(help, f[1]+"}")), qt.Commentf("field %s", f[1]))
	}
}

func TestHelpTopics(t *testing.T) {
	var stdout, stderr bytes.Buffer
	qt.Check(t, qt.Equals(run(t.Context(), []string{"help"}, &stdout, &stderr), exitOK))
	qt.Check(t, qt.StringContains(stdout.String(), "usage: ocireg <command>"))
	stdout.Reset()
	qt.Check(t, qt.Equals(run(t.Context(), []string{"help", "frob"}, &stdout, &stderr), exitUsage))
	qt.Check(t, qt.Equals(stdout.String(), ""))
	qt.Check(t, qt.StringContains(stderr.String(), `no help on "frob"`))
}

// TestRegistriesHelpCoversClientFlags checks that "ocireg help
// registries" names every flag the client verbs share and every field of
// hosts.yaml.
func TestRegistriesHelpCoversClientFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	qt.Assert(t, qt.Equals(run(t.Context(), []string{"help", "registries"}, &stdout, &stderr), exitOK))
	help := stdout.String()
	fs, _ := newClientFlagSet("x", "", &stderr)
	fs.VisitAll(func(f *flag.Flag) {
		qt.Check(t, qt.StringContains(help, "--"+f.Name), qt.Commentf("flag --%s", f.Name))
	})
	for _, field := range reflect.VisibleFields(reflect.TypeFor[hostTrust]()) {
		tag := strings.Split(field.Tag.Get("yaml"), ",")[0]
		qt.Check(t, qt.StringContains(help, tag+":"), qt.Commentf("hosts.yaml field %s", tag))
	}
}
