// Package re2sub reads the substitution strings of Envoy's
// RegexMatchAndSubstitute (Istio's uriRegexRewrite), which are RE2's
// rewrite strings, into templates for Go's regexp.Expand and
// ReplaceAllString, so that the analyzer refuses the substitutions the
// proxy cannot apply and the proxy applies them as Envoy does.
//
// RE2's syntax (re2::RE2::Rewrite): \0 to \9 stand for the whole match and
// the capturing groups, \\ for a backslash; every other character stands
// for itself. A backslash before anything else, or a group the pattern
// does not have, makes RE2 refuse the rewrite.
package re2sub

import (
	"fmt"
	"regexp"
	"strings"
)

// Template returns sub as a Go template for matches of re.
func Template(re *regexp.Regexp, sub string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c != '\\':
			b.WriteByte(c)
		case i+1 == len(sub):
			return "", fmt.Errorf("substitution %q ends in a lone backslash: write \\\\ for a backslash", sub)
		case sub[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case sub[i+1] >= '0' && sub[i+1] <= '9':
			n := int(sub[i+1] - '0')
			if n > re.NumSubexp() {
				return "", fmt.Errorf("substitution %q refers to group \\%d, but %q has %d capturing group(s)", sub, n, re.String(), re.NumSubexp())
			}
			fmt.Fprintf(&b, "${%d}", n)
			i++
		default:
			return "", fmt.Errorf("substitution %q has \\%c: a backslash must be followed by a group number 0-9 or another backslash", sub, sub[i+1])
		}
	}
	return b.String(), nil
}
