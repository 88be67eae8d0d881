package config

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// FuzzParseAnalyze feeds arbitrary bytes through Parse and Analyze, as
// `lanemesh analyze` would a user's file. Neither may panic; every finding
// must have a code and a message (and, from Analyze, a hint and a place);
// Analyze must return its findings sorted, and the same ones twice.
//
// The seeds are the corpus of testdata/invalid and the reference examples;
// testdata/fuzz/FuzzParseAnalyze holds inputs a fuzzing run found
// interesting, so `go test` replays them every time.
func FuzzParseAnalyze(f *testing.F) {
	for _, pattern := range []string{"testdata/invalid/*.yaml", "../../examples/*/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Config{}
		for _, d := range c.Parse("fuzz.yaml", data) {
			if d.Code == "" || d.Message == "" {
				t.Errorf("Parse: diagnostic without code or message: %#v", d)
			}
			_ = d.String()
		}
		ds := Analyze(c)
		for _, d := range ds {
			if d.Code == "" || d.Message == "" || d.Hint == "" || d.File == "" || d.Kind == "" {
				t.Errorf("Analyze: incomplete diagnostic: %#v", d)
			}
			_ = d.String()
		}
		if !sort.SliceIsSorted(ds, func(i, j int) bool { return lessDiag(ds[i], ds[j]) }) {
			t.Errorf("Analyze: findings not sorted:\n%s", render(ds))
		}
		if again := Analyze(c); !reflect.DeepEqual(ds, again) {
			t.Errorf("Analyze: not deterministic:\n%s\nthen\n%s", render(ds), render(again))
		}
	})
}
