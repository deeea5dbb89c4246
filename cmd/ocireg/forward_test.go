package main

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
)

// TestWrappersForward checks that the registry wrappers of this command
// pass every method of ociregistry.Interface to what they wrap: it calls
// each method the Interface has, found by reflection, so a method added
// to the Interface fails this test until forward passes it on.
func TestWrappersForward(t *testing.T) {
	wrappers := map[string]func(ociregistry.Interface) ociregistry.Interface{
		"forward": func(r ociregistry.Interface) ociregistry.Interface { return forward{r: r} },
		"countingProxy": func(r ociregistry.Interface) ociregistry.Interface {
			return &countingProxy{forward: forward{r: r}, m: newMetrics()}
		},
		"notingRegistry": func(r ociregistry.Interface) ociregistry.Interface { return &notingRegistry{forward: forward{r: r}} },
		"notingUpstream": func(r ociregistry.Interface) ociregistry.Interface {
			return &notingRegistry{forward: forward{r: r}, upstream: true}
		},
	}
	ifaceType := reflect.TypeFor[ociregistry.Interface]()
	ctxType := reflect.TypeFor[context.Context]()
	for name, wrap := range wrappers {
		t.Run(name, func(t *testing.T) {
			for i := range ifaceType.NumMethod() {
				method := ifaceType.Method(i)
				if !method.IsExported() {
					continue
				}
				// Every method of a Funcs without funcs asks NewError
				// for its error, with its own name: the wrapped
				// registry was reached exactly when it was asked.
				var reached []string
				inner := &ociregistry.Funcs{NewError: func(ctx context.Context, methodName, repo string) error {
					reached = append(reached, methodName)
					return ociregistry.ErrUnsupported
				}}
				w := reflect.ValueOf(wrap(inner)).MethodByName(method.Name)
				args := make([]reflect.Value, method.Type.NumIn())
				for j := range args {
					switch in := method.Type.In(j); {
					case in == ctxType:
						args[j] = reflect.ValueOf(context.Background())
					case in == reflect.TypeFor[string]():
						args[j] = reflect.ValueOf("repo")
					case in.Kind() == reflect.Interface:
						// An io.Reader for PushBlob.
						args[j] = reflect.ValueOf(strings.NewReader(""))
					default:
						args[j] = reflect.Zero(in)
					}
				}
				results := w.Call(args)
				if r := results[0]; r.Kind() == reflect.Func {
					// An iterator: the wrapped one is only asked when
					// it is ranged over by some implementations.
					yield := reflect.MakeFunc(r.Type().In(0), func([]reflect.Value) []reflect.Value {
						return []reflect.Value{reflect.ValueOf(false)}
					})
					r.Call([]reflect.Value{yield})
				}
				qt.Check(t, qt.DeepEquals(reached, []string{method.Name}), qt.Commentf("method %s", method.Name))
			}
		})
	}
}
