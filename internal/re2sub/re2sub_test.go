package re2sub

import (
	"regexp"
	"strings"
	"testing"
)

// TestTemplate: what Envoy's regex_rewrite (RE2's GlobalReplace) makes of
// each path, and the substitutions RE2 refuses.
func TestTemplate(t *testing.T) {
	for _, tc := range []struct{ pattern, sub, path, want, err string }{
		{`^/service/([^/]+)(/.*)$`, `\2/instance/\1`, "/service/foo/v1/api", "/v1/api/instance/foo", ""},
		{`^/x/(.*)`, `/\1`, "/x/a/b", "/a/b", ""},
		{`o`, `0`, "/foo/boo", "/f00/b00", ""},         // every match, as GlobalReplace
		{`^/a`, `/$1\\\0`, "/a/b", "/$1\\/a/b", ""},    // $ is literal, \\ a backslash, \0 the match
		{`^/(a)`, `\2`, "", "", "refers to group \\2"}, // a group the pattern lacks
		{`^/a`, `\x`, "", "", "backslash must be followed"},
		{`^/a`, `/b\`, "", "", "lone backslash"},
	} {
		re := regexp.MustCompile(tc.pattern)
		tmpl, err := Template(re, tc.sub)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q → %q: error %v, want one saying %q", tc.pattern, tc.sub, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q → %q: %v", tc.pattern, tc.sub, err)
			continue
		}
		if got := re.ReplaceAllString(tc.path, tmpl); got != tc.want {
			t.Errorf("%q → %q on %q: %q, want %q", tc.pattern, tc.sub, tc.path, got, tc.want)
		}
	}
}
