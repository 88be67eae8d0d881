package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const service = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n"

func TestParseSkipsEmptyDocuments(t *testing.T) {
	for name, data := range map[string]string{
		"trailing separator": service + "---\n",
		"double separator":   "---\n---\n" + service,
		"comment only":       service + "---\n# nothing here\n",
	} {
		c := &Config{}
		if diags := c.Parse("f.yaml", []byte(data)); len(diags) != 0 {
			t.Errorf("%s: %v", name, diags)
		}
		if len(c.Services) != 1 {
			t.Errorf("%s: %d services, want 1", name, len(c.Services))
		}
	}
}

func TestParseRejectsMergeKeys(t *testing.T) {
	data := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  <<: {type: ClusterIP}\n  ports: [{port: 80}]\n"
	diags := (&Config{}).Parse("f.yaml", []byte(data))
	if len(diags) != 1 || !strings.Contains(diags[0].Message, "merge keys") || diags[0].Line != 5 {
		t.Fatalf("got %v, want one merge-key error on line 5", diags)
	}
}

// TestAliasBudgetIsPerFile: ten alias bombs in one file cost no more than
// one, because the node budget is shared by the file's objects.
func TestAliasBudgetIsPerFile(t *testing.T) {
	bomb, err := os.ReadFile("testdata/invalid/loader-alias-bomb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for i := range 10 {
		docs = append(docs, strings.Replace(string(bomb), "name: mockb", fmt.Sprintf("name: mockb%d", i), 1))
	}
	diags := (&Config{}).Parse("bomb.yaml", []byte(strings.Join(docs, "\n---\n")))
	tooLarge, objects := 0, map[string]bool{}
	for _, d := range diags {
		objects[d.Name] = true
		if strings.Contains(d.Message, "file is too large") {
			tooLarge++
		}
	}
	if tooLarge != 10 {
		t.Fatalf("%d size errors, want one for each of the 10 objects", tooLarge)
	}
	if len(objects) != 10 {
		t.Fatalf("findings name %d objects, want all 10 rejected", len(objects))
	}
}

// TestAliasStringBudget: a long string repeated by aliases weighs its
// bytes, so a 100 KB file that would expand to 200 MB of hosts is refused
// once it passes the budget, not decoded; and a long string written out,
// without aliases, is not.
func TestAliasStringBudget(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	bomb := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: big}\nspec:\n  hosts:\n  - &s " + long + "\n" +
		strings.Repeat("  - *s\n", 2000)
	diags := (&Config{}).Parse("bomb.yaml", []byte(bomb))
	if len(diags) != 1 || !strings.Contains(diags[0].Message, "file is too large") {
		t.Fatalf("got %d findings (first %.200v), want the one size error", len(diags), diags)
	}
	plain := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: big}\nspec:\n  hosts:\n" +
		strings.Repeat("  - "+long[:20_000]+"\n", 50)
	for _, d := range (&Config{}).Parse("plain.yaml", []byte(plain)) {
		if strings.Contains(d.Message, "file is too large") {
			t.Fatalf("plain YAML with long strings ran out of budget: %.200v", d)
		}
	}
}

// TestFileSizeBound: a file, or standard input, past MaxFileBytes is
// refused after reading at most one byte more, with a hint (a -f
// /dev/zero once read until the machine ran out of memory).
func TestFileSizeBound(t *testing.T) {
	endless := io.MultiReader(strings.NewReader("apiVersion: v1\n"), neverEnding('#'))
	_, diags := ReadFiles("-", endless)
	if len(diags) != 1 || !strings.Contains(diags[0].Message, ErrTooLarge.Error()) || !strings.Contains(diags[0].Hint, "split it") {
		t.Fatalf("got %v, want one too-large error with a hint", diags)
	}
	path := filepath.Join(t.TempDir(), "ok.yaml")
	if err := os.WriteFile(path, []byte("# just a comment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if files, diags := ReadFiles(path, nil); len(diags) != 0 || len(files) != 1 {
		t.Fatalf("a small file: %v %v", files, diags)
	}
}

// neverEnding is an endless reader of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
