// Package scenario reads the rule scenario files of
// internal/explain/testdata/rules: one of Istio's resolution rules each, as
// a configuration, the requests of some callers, and where each must go.
// The explain tests hold lanemesh to the want section; the conformance
// module sends the same requests through Istio's pilot. Both read the
// files here, so the format is defined once.
//
// A file is sections headed by "-- name --" lines:
//
//	-- config --    YAML, as a user writes it
//	-- requests --  one per line: ROLE NAMESPACE k=v,k=v METHOD URL [HEADER: VALUE; ...]
//	-- want --      one line per request: where it went
//
// Text before the first section says which rule the file holds and where
// Istio defines it.
package scenario

import (
	"fmt"
	"strings"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// File is a parsed scenario file.
type File struct {
	Head     string    // the text before the first section
	Config   string    // the config section, as written
	Requests string    // the requests section, as written
	Want     string    // the want section, as written
	Calls    []Request // the requests section, parsed
}

// Request is one line of the requests section: who calls, and what.
type Request struct {
	Line    string // as written
	Proxy   meshxds.Proxy
	Method  string
	URL     string
	Headers []string // "Name: value"
}

// Parse reads a scenario file. An error names the line that is wrong.
func Parse(data string) (*File, error) {
	f := &File{}
	name := ""
	var b strings.Builder
	flush := func() {
		switch name {
		case "":
			f.Head = b.String()
		case "config":
			f.Config = b.String()
		case "requests":
			f.Requests = b.String()
		case "want":
			f.Want = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(data, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") {
			flush()
			name = strings.TrimSuffix(strings.TrimPrefix(t, "-- "), " --")
			continue
		}
		b.WriteString(line)
	}
	flush()
	for _, line := range strings.Split(strings.TrimSpace(f.Requests), "\n") {
		if line == "" {
			continue
		}
		r, err := parseRequest(line)
		if err != nil {
			return nil, err
		}
		f.Calls = append(f.Calls, r)
	}
	return f, nil
}

// Format writes f back with want as its want section, for -update.
func (f *File) Format(want string) string {
	return f.Head + "-- config --\n" + f.Config + "-- requests --\n" + f.Requests + "-- want --\n" + want
}

func parseRequest(line string) (Request, error) {
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return Request{}, fmt.Errorf("request %q: write ROLE NAMESPACE k=v,... METHOD URL [HEADER: VALUE; ...]", line)
	}
	r := Request{Line: line, Method: fields[3], URL: fields[4],
		Proxy: meshxds.Proxy{Role: meshxds.Role(fields[0]), Namespace: fields[1], Labels: map[string]string{}}}
	for _, kv := range strings.Split(fields[2], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Request{}, fmt.Errorf("request %q: label %q is not k=v", line, kv)
		}
		r.Proxy.Labels[k] = v
	}
	for h := range strings.SplitSeq(strings.Join(fields[5:], " "), ";") {
		if h = strings.TrimSpace(h); h != "" {
			r.Headers = append(r.Headers, h)
		}
	}
	return r, nil
}
