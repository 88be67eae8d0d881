package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeQuickStart keeps the README honest: the quick start's lanemesh
// command, run from the repository root, prints exactly the block shown
// under it.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```sh\ngo run ./cmd/lanemesh (explain [^\n]*)\n```\n\n```\n(.*?)```")
	m := re.FindStringSubmatch(string(readme))
	if m == nil {
		t.Fatal("README has no quick-start command followed by its output")
	}
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir("internal/cli") })
	code, out, errOut := run(t, "", shellWords(m[1])...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != m[2] {
		t.Errorf("README shows:\n%s\nlanemesh prints:\n%s", m[2], out)
	}
}

// shellWords splits a command line on spaces, honouring single quotes.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
