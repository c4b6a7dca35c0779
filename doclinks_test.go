package trustsync_test

import (
	"bufio"
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoFiles returns the slash-separated paths, relative to the module root,
// of the files of the repository that its documentation may talk about:
// everything but hidden directories and installed node modules.
func repoFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(files, "go.mod") {
		t.Fatal("no go.mod here; is the test running at the module root?")
	}
	return files
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// exists reports whether the slash-separated path p, relative to the module
// root, names a file or directory inside the repository.
func exists(p string) bool {
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p) {
		return false
	}
	_, err := os.Stat(filepath.FromSlash(p))
	return err == nil
}

var (
	// inlineLink matches [text](target) and ![alt](target); target stops at
	// a space (a title may follow) or the closing parenthesis.
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refLink matches a reference definition: [label]: target
	refLink = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	// codeSpan matches inline code, whose brackets are not links.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// scheme matches a target that leaves the repository on purpose.
	scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdownLinks returns the link targets of a Markdown file with their line
// numbers, leaving out fenced code blocks and inline code.
func markdownLinks(b []byte) (targets []string, lines []int) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	fence := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			targets, lines = append(targets, m[1]), append(lines, n)
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			targets, lines = append(targets, m[1]), append(lines, n)
		}
	}
	return targets, lines
}

// TestDocs_RelativeLinksResolve fails when a Markdown file of the repository
// links to a file that is not in it: a relative link to a missing file, a
// link that climbs out of the repository, or an absolute path of some
// machine. Links to web pages (https:, mailto:) and anchors in the same page
// are left alone.
func TestDocs_RelativeLinksResolve(t *testing.T) {
	checked := 0
	for _, f := range repoFiles(t) {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.FromSlash(f))
		if err != nil {
			t.Fatal(err)
		}
		targets, lines := markdownLinks(b)
		for i, target := range targets {
			if strings.HasPrefix(target, "#") {
				continue
			}
			if strings.HasPrefix(target, "file:") || strings.HasPrefix(target, "/") {
				t.Errorf("%s:%d: link %q points to a path of one machine; link to a file of the repository, relative to this page", f, lines[i], target)
				continue
			}
			if scheme.MatchString(target) {
				continue
			}
			file, _, _ := strings.Cut(target, "#")
			file, _, _ = strings.Cut(file, "?")
			checked++
			if !exists(path.Join(path.Dir(f), file)) {
				t.Errorf("%s:%d: link %q does not resolve to a file of the repository", f, lines[i], target)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d relative links; are the docs still there?", checked)
	}
}

// docMention matches a Markdown page named in prose or in a Go comment,
// with or without its folder: docs/DESIGN.md, BENCHMARKS.md.
var docMention = regexp.MustCompile(`(?:\bdocs/)?\b[A-Z][A-Z0-9_-]*\.md\b`)

// TestDocs_MentionedPagesExist fails when a Go file or a Markdown page names
// a page that the repository does not have. A page named with its folder
// (docs/DESIGN.md) must be there from the module root; a bare name
// (BENCHMARKS.md, DESIGN.md) at the root, in docs/, or beside the file that
// names it.
func TestDocs_MentionedPagesExist(t *testing.T) {
	found := 0
	for _, f := range repoFiles(t) {
		if !strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.FromSlash(f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(".md")) {
			continue
		}
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range docMention.FindAllString(line, -1) {
				found++
				ok := false
				if strings.HasPrefix(m, "docs/") {
					ok = exists(m)
				} else {
					ok = exists(m) || exists("docs/"+m) || exists(path.Join(path.Dir(f), m))
				}
				if !ok {
					t.Errorf("%s:%d: names %s, which the repository does not have", f, n+1, m)
				}
			}
		}
	}
	if found < 10 {
		t.Fatalf("found only %d mentions of pages; is the pattern still right?", found)
	}
}

// TestDocs_NothingOutsideTheRepository fails when any file of the
// repository refers to a folder beside its checkout, which a reader of the
// repository does not have.
func TestDocs_NothingOutsideTheRepository(t *testing.T) {
	// Built from parts so that this file does not name it itself.
	outside := strings.Join([]string{"..", "shared"}, "/")
	for _, f := range repoFiles(t) {
		b, err := os.ReadFile(filepath.FromSlash(f))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte(outside)); i >= 0 {
			t.Errorf("%s:%d: refers to %s, outside the repository; say what is needed in the repository's own words", f, bytes.Count(b[:i], []byte("\n"))+1, outside)
		}
	}
}

// TestDocs_EveryPackageListed fails when a package of the module is missing
// from the package tables a newcomer reads first: README.md and
// docs/DESIGN.md (as `dir`) and the root package's doc (as "- dir: ...").
func TestDocs_EveryPackageListed(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	design, err := os.ReadFile(filepath.Join("docs", "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	rootDoc := ""
	for _, p := range pkgs {
		for _, f := range p.Files {
			if f.Doc != nil {
				rootDoc += f.Doc.Text()
			}
		}
	}

	dirs := map[string]bool{}
	for _, f := range repoFiles(t) {
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") && !strings.Contains(f, "/testdata/") {
			dirs[path.Dir(f)] = true
		}
	}
	if len(dirs) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(dirs))
	}
	for dir := range dirs {
		if dir == "." {
			if !bytes.Contains(readme, []byte("`github.com/trustsync/trustsync`")) {
				t.Errorf("README.md: the root package, `github.com/trustsync/trustsync`, is not in the package table")
			}
			continue
		}
		if !bytes.Contains(readme, []byte("`"+dir+"`")) {
			t.Errorf("README.md: package `%s` is not in the package table", dir)
		}
		if !bytes.Contains(design, []byte("`"+dir+"`")) {
			t.Errorf("docs/DESIGN.md: package `%s` is not in the package table", dir)
		}
		if !regexp.MustCompile(`(?m)^\s*- ` + regexp.QuoteMeta(dir) + `:`).MatchString(rootDoc) {
			t.Errorf("doc.go: package %s is not in the list of packages (a line \"- %s: ...\")", dir, dir)
		}
	}
}

// TestMarkdownLinks shows which targets the link check reads from a page:
// links and reference definitions, not brackets in code.
func TestMarkdownLinks(t *testing.T) {
	for _, tc := range []struct {
		name string
		page string
		want []string
	}{
		{"inline", "See [the design](docs/DESIGN.md) and ![a figure](fig.png \"title\").", []string{"docs/DESIGN.md", "fig.png"}},
		{"anchor and web", "[a](#top) [b](https://example.org) [c](PAIRING.md#leaving)", []string{"#top", "https://example.org", "PAIRING.md#leaving"}},
		{"reference", "[design]: docs/DESIGN.md", []string{"docs/DESIGN.md"}},
		{"code span", "`m[k](x)` is Go, [real](real.md) is a link", []string{"real.md"}},
		{"fenced code", "```go\nf := m[k](x)\n```\n[after](after.md)", []string{"after.md"}},
		{"no link", "a [y/N] prompt and (parentheses)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := markdownLinks([]byte(tc.page))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("links of %q = %q, want %q", tc.page, got, tc.want)
			}
		})
	}
}
