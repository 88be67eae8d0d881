package config

import (
	"fmt"
	"os"
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
