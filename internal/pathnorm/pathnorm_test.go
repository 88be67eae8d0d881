package pathnorm

import (
	"errors"
	"strings"
	"testing"
)

// The cases follow Envoy's own (test/common/http/path_utility_test.cc) and
// Istio's documented examples for each mode.
func TestNormalize(t *testing.T) {
	const bad = "!bad"
	for _, tc := range []struct {
		in                     string
		base, merge, decodeAll string
	}{
		{"/", "/", "/", "/"},
		{"/xyz", "/xyz", "/xyz", "/xyz"},
		{"/x/y/z/", "/x/y/z/", "/x/y/z/", "/x/y/z/"},
		{"/a/b/../c", "/a/c", "/a/c", "/a/c"},
		{"/a/b/./c", "/a/b/c", "/a/b/c", "/a/b/c"},
		{"a/b/../c", "/a/c", "/a/c", "/a/c"},
		{"/a/b/../../../../c", "/c", "/c", "/c"},
		{"/../a/b", "/a/b", "/a/b", "/a/b"},
		{"/./a/b", "/a/b", "/a/b", "/a/b"},
		{"..", "/", "/", "/"},
		{"/a/..", "/", "/", "/"},
		{"/a/b/..", "/a/", "/a/", "/a/"},
		{"/a/.", "/a/", "/a/", "/a/"},
		{"/a/..\\c", "/c", "/c", "/c"},
		{"\\da", "/da", "/da", "/da"},
		{"/a/b/%2E%2E/c", "/a/c", "/a/c", "/a/c"},
		{"/a/b/%2e%2e/c", "/a/c", "/a/c", "/a/c"},
		{"/a/b/%2E./c", "/a/c", "/a/c", "/a/c"},
		{"/a/b/%2E/c", "/a/b/c", "/a/b/c", "/a/b/c"},
		{"/%2e%2e/b", "/b", "/b", "/b"},
		{"/A/B/C", "/A/B/C", "/A/B/C", "/A/B/C"},
		{"/%41%7e%5f", "/A~_", "/A~_", "/A~_"},
		{"/%c0%af", "/%c0%af", "/%c0%af", "/%c0%af"},
		{"/%5c%25", "/%5c%25", "/%5c%25", "/%25"},
		{"/a/%2F%2f/c", "/a/%2F%2f/c", "/a/%2F%2f/c", "/a/c"},
		{"/a%2fb", "/a%2fb", "/a%2fb", "/a/b"},
		{"/a%2f..%2fb", "/a%2f..%2fb", "/a%2f..%2fb", "/b"},
		{"/a%5c..%5cadmin", "/a%5c..%5cadmin", "/a%5c..%5cadmin", "/admin"},
		{"/a//b", "/a//b", "/a/b", "/a/b"},
		{"//a/b/c", "//a/b/c", "/a/b/c", "/a/b/c"},
		{"/a/b/c//", "/a/b/c//", "/a/b/c/", "/a/b/c/"},
		{"/a//../b", "/a/b", "/a/b", "/a/b"},
		{"/..//x", "//x", "/x", "/x"},
		{"/a/.//", "/a//", "/a/", "/a/"},
		{"/x/../admin", "/admin", "/admin", "/admin"},
		{"/admin/../admin", "/admin", "/admin", "/admin"},
		{"/a.js/..b/.c/...", "/a.js/..b/.c/...", "/a.js/..b/.c/...", "/a.js/..b/.c/..."},
		{"/caf%C3%A9%20x", "/caf%C3%A9%20x", "/caf%C3%A9%20x", "/caf%C3%A9%20x"},
		{"/xyz/.%00../abc", bad, bad, bad},
		{"/xyz/%00.%00./abc", bad, bad, bad},
		{"/xyz/AAAAA%%0000/abc", bad, bad, bad},
		{"/a%zz", bad, bad, bad},
		{"/a%2", bad, bad, bad},
	} {
		for _, want := range []struct {
			m    Mode
			want string
		}{{Base, tc.base}, {MergeSlashes, tc.merge}, {DecodeAndMergeSlashes, tc.decodeAll}, {None, tc.in}} {
			got, err := Normalize(tc.in, want.m)
			if errors.Is(err, ErrInvalid) {
				got = bad
			}
			if got != want.want {
				t.Errorf("%s %q: got %q, want %q (error %v)", want.m, tc.in, got, want.want, err)
			}
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Base, "base": Base, "NONE": None, "Merge_Slashes": MergeSlashes,
		"DECODE_AND_MERGE_SLASHES": DecodeAndMergeSlashes} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got, _ := ParseMode(want.String()); got != want {
			t.Errorf("%v does not round-trip", want)
		}
	}
	if _, err := ParseMode("MERGE"); err == nil || !strings.Contains(err.Error(), "MERGE_SLASHES") {
		t.Errorf("an unknown mode: %v", err)
	}
}

// FuzzNormalize checks that Normalize never panics, and that what it
// returns starts with a slash, has no dot segment (escaped or not) and no
// backslash, and is left as it is by a second pass.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2e%2E/b", "\\..\\x", "/a//b/./", "/a%2f..%5c..", "/%00", "", "..", "/a/.%2e/"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, p string, mode uint8) {
		m := Mode(mode % 4)
		got, err := Normalize(p, m)
		if err != nil || m == None {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.ContainsRune(got, '\\') {
			t.Fatalf("%s %q → %q", m, p, got)
		}
		for _, seg := range strings.Split(got, "/") {
			if low := strings.ToLower(seg); low == "." || low == ".." || strings.Contains(low, "%2e") {
				t.Fatalf("%s %q → %q: a dot segment", m, p, got)
			}
		}
		if m >= MergeSlashes && strings.Contains(got, "//") {
			t.Fatalf("%s %q → %q: slashes not merged", m, p, got)
		}
		if again, err := Normalize(got, m); err != nil || again != got {
			t.Fatalf("%s %q → %q → %q, %v: not idempotent", m, p, got, again, err)
		}
	})
}

// TestNormalizeCleanPathDoesNotAllocate holds the common case, a path
// with nothing to normalize, to no allocation in every mode.
func TestNormalizeCleanPathDoesNotAllocate(t *testing.T) {
	for _, p := range []string{"/mock", "/api/v1/items/index.html", "/a%20b/caf%C3%A9", "/"} {
		for m := Base; m <= DecodeAndMergeSlashes; m++ {
			allocs := testing.AllocsPerRun(100, func() {
				if got, err := Normalize(p, m); got != p || err != nil {
					t.Fatalf("%s %q → %q, %v", m, p, got, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s %q: %v allocations, want 0", m, p, allocs)
			}
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, p := range []string{"/api/v1/items/index.html", "/api/v1/../v2/%2e%2e/items//x"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Normalize(p, MergeSlashes)
			}
		})
	}
}
