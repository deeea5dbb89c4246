package ociregistry_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
)

// TestExportedNamesDocumented checks the project's rule that every
// exported name of the library packages (the root package and each
// oci* package) has a doc comment that starts with the name.
func TestExportedNamesDocumented(t *testing.T) {
	dirs := []string{"."}
	entries, err := os.ReadDir(".")
	qt.Assert(t, qt.IsNil(err))
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "oci") {
			dirs = append(dirs, e.Name())
		}
	}
	qt.Assert(t, qt.IsTrue(len(dirs) > 10), qt.Commentf("library packages found: %v", dirs))
	var problems []string
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		qt.Assert(t, qt.IsNil(err))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			qt.Assert(t, qt.IsNil(err))
			problems = append(problems, undocumented(t, file, src)...)
		}
	}
	qt.Assert(t, qt.HasLen(problems, 0), qt.Commentf("exported names without a doc comment that starts with the name:\n%s", strings.Join(problems, "\n")))
}

// TestUndocumented checks that the check of TestExportedNamesDocumented
// finds what it is meant to find.
func TestUndocumented(t *testing.T) {
	src := `package p

// F does something.
func F() {}

func G() {}

// does something, without its name.
func H() {}

// A T is a thing.
type T struct{}

// Method is documented under the wrong name.
func (T) M() {}

func (t) Unexported() {}

type t struct{}

// C is a constant.
const C = 1

const (
	// D is a documented member of a group.
	D = 2
	E = 3
)

var V = 4
`
	got := undocumented(t, "p.go", []byte(src))
	qt.Assert(t, qt.DeepEquals(got, []string{
		"p.go:6: G",
		"p.go:9: H",
		"p.go:15: T.M",
		"p.go:27: E",
		"p.go:30: V",
	}))
}

// undocumented returns the exported names in the Go source src of file
// whose doc comment is missing or does not start with the name (after
// "A", "An" or "The"), as "file:line: name". Methods of unexported types
// are left out, as go doc leaves them out; a name in a parenthesized
// declaration may be documented by the group's comment.
func undocumented(t *testing.T, file string, src []byte) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	qt.Assert(t, qt.IsNil(err))
	var problems []string
	report := func(name, shown string, doc *ast.CommentGroup, pos token.Pos) {
		if doc != nil {
			words := strings.Fields(doc.Text())
			if len(words) > 1 && (words[0] == "A" || words[0] == "An" || words[0] == "The") {
				words = words[1:]
			}
			if len(words) > 0 && words[0] == name {
				return
			}
		}
		problems = append(problems, fmt.Sprintf("%s:%d: %s", file, fset.Position(pos).Line, shown))
	}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if !decl.Name.IsExported() {
				continue
			}
			shown := decl.Name.Name
			if decl.Recv != nil {
				recv := receiverName(decl.Recv.List[0].Type)
				if !ast.IsExported(recv) {
					continue
				}
				shown = recv + "." + shown
			}
			report(decl.Name.Name, shown, decl.Doc, decl.Pos())
		case *ast.GenDecl:
			grouped := decl.Lparen.IsValid()
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if !spec.Name.IsExported() {
						continue
					}
					doc := spec.Doc
					if !grouped {
						doc = decl.Doc
					}
					report(spec.Name.Name, spec.Name.Name, doc, spec.Pos())
				case *ast.ValueSpec:
					for _, name := range spec.Names {
						if !name.IsExported() {
							continue
						}
						switch {
						case grouped && (spec.Doc != nil || spec.Comment != nil || decl.Doc != nil):
							// Documented in the group.
						case grouped:
							report(name.Name, name.Name, nil, name.Pos())
						default:
							report(name.Name, name.Name, decl.Doc, name.Pos())
						}
					}
				}
			}
		}
	}
	return problems
}

// receiverName returns the name of the type of a method's receiver.
func receiverName(x ast.Expr) string {
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return e.Name
		default:
			return ""
		}
	}
}
