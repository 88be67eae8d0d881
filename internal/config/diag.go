package config

import (
	"fmt"
	"strings"
)

// Level is how serious a Diagnostic is.
type Level int

// Levels, most serious first.
const (
	Error Level = iota
	Warning
	Info
)

func (l Level) String() string {
	switch l {
	case Error:
		return "Error"
	case Warning:
		return "Warning"
	default:
		return "Info"
	}
}

// MarshalText renders the level as in messages ("Error", "Warning").
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level written by MarshalText.
func (l *Level) UnmarshalText(b []byte) error {
	for _, c := range []Level{Error, Warning, Info} {
		if c.String() == string(b) {
			*l = c
			return nil
		}
	}
	return fmt.Errorf("unknown level %q", b)
}

// Codes. Istio's analyzer codes where Istio has one, LMxxxx where it has not.
const (
	CodeSyntax              = "LM0001"  // the file is not YAML/JSON, or cannot be read
	CodeUnknownKind         = "LM0002"  // kind or apiVersion lanemesh does not accept
	CodeUnsupported         = "LM0003"  // a valid Istio field lanemesh does not implement
	CodeDuplicate           = "LM0004"  // the same object twice
	CodeFallback            = "LM0005"  // a fallback that cannot work
	CodeSchema              = "IST0106" // a field has a wrong type, value or is missing
	CodeNotFound            = "IST0101" // a referenced object does not exist
	CodeConflictingVS       = "IST0109" // two VirtualServices claim one host on one gateway
	CodeConflictingGateways = "IST0145" // two gateway servers claim one host on one port
	CodeSubsetNoWorkload    = "IST0173" // a subset or sourceLabels selects no workload
	CodeHostNotFound        = "IST0101"
	CodeVSHostNotInGateway  = "IST0132" // a gateway-bound VirtualService host its Gateway does not serve
	CodeUnreachableRule     = "IST0130" // a VirtualService rule no request can reach
	CodeIneffectiveMatch    = "IST0131" // a match an earlier one already takes
	CodeLane                = "LM0006"  // a lane group or lane that cannot work as written
)

// Diagnostic is one finding about the configuration: where it is (file,
// line, object, field path), what is wrong and what to do about it.
type Diagnostic struct {
	Level     Level  `json:"level"`
	Code      string `json:"code"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Field     string `json:"field,omitempty"`
	Message   string `json:"message"`
	// Hint says what to do.
	Hint string `json:"hint,omitempty"`

	// rejected is the object, as far as it decoded, that Parse left out
	// because of this finding (see AnalyzeLoaded).
	rejected any
}

// String renders the diagnostic in istioctl analyze's format, followed by
// the place in the file and the hint:
//
//	Error [IST0101] (VirtualService mockb.istio-system) vs.yaml:14 spec.http[0].route[0].destination: Referenced ... not found: "...". Define ...
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s]", d.Level, d.Code)
	if d.Kind != "" {
		fmt.Fprintf(&b, " (%s %s)", d.Kind, d.objectName())
	}
	if d.File != "" {
		b.WriteString(" " + d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d", d.Line)
		}
	}
	if d.Field != "" {
		b.WriteString(" " + d.Field)
	}
	b.WriteString(": " + d.Message)
	if d.Hint != "" {
		b.WriteString(". " + strings.ToUpper(d.Hint[:1]) + d.Hint[1:])
	}
	return b.String()
}

func (d Diagnostic) objectName() string {
	switch {
	case d.Name == "":
		return "<unnamed>"
	case d.Namespace == "":
		return d.Name
	default:
		return d.Name + "." + d.Namespace
	}
}

// Error lets a Diagnostic travel as an error.
func (d Diagnostic) Error() string { return d.String() }

// Diagnostics is a list of findings.
type Diagnostics []Diagnostic

// HasErrors reports whether any finding is an Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Level == Error {
			return true
		}
	}
	return false
}

// Errors returns only the Error findings.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Level == Error {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there are no errors, else an error listing them.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := errs.Render(PerGroup)
	return fmt.Errorf("%d configuration error(s):\n%s", len(errs), strings.Join(lines, "\n"))
}

// PerGroup is how many findings of one kind Render shows before it
// summarises the rest: enough to see the pattern, few enough that a
// different problem is not buried under thousands of the same one.
const PerGroup = 10

// Render returns the findings as lines of text, at most perGroup of each
// group (same level, code, kind and field path once list indices and map
// keys are blanked out: spec.http[*].route[*].destination.host), in their
// order, then one "... and N more like this" line for each group that had
// more. perGroup <= 0 shows everything.
func (ds Diagnostics) Render(perGroup int) []string {
	type group struct {
		first  Diagnostic
		hidden int
	}
	var order []string
	groups := map[string]*group{}
	var lines []string
	shown := map[string]int{}
	for _, d := range ds {
		key := d.groupKey()
		g, ok := groups[key]
		if !ok {
			g = &group{first: d}
			groups[key] = g
			order = append(order, key)
		}
		if perGroup > 0 && shown[key] >= perGroup {
			g.hidden++
			continue
		}
		shown[key]++
		lines = append(lines, d.String())
	}
	for _, key := range order {
		if g := groups[key]; g.hidden > 0 {
			where := g.first.Kind
			if f := fieldShape(g.first.Field); f != "" {
				where += " " + f
			}
			lines = append(lines, fmt.Sprintf("... and %d more like this (%s [%s] %s: %s)", g.hidden, g.first.Level, g.first.Code, strings.TrimSpace(where), g.first.Message))
		}
	}
	return lines
}

func (d Diagnostic) groupKey() string {
	return fmt.Sprintf("%d %s %s %s", d.Level, d.Code, d.Kind, fieldShape(d.Field))
}

// fieldShape blanks out the list indices and map keys of a field path:
// spec.http[3].match[0].headers["x"] → spec.http[*].match[*].headers[*].
func fieldShape(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] != '[' {
			b.WriteByte(path[i])
			continue
		}
		end := closingBracket(path, i)
		b.WriteString("[*]")
		i = end
	}
	return b.String()
}

// closingBracket returns the index of the ']' that closes the '[' at i,
// skipping a quoted key (which may itself hold brackets).
func closingBracket(path string, i int) int {
	j := i + 1
	if j < len(path) && path[j] == '"' {
		for j++; j < len(path) && path[j] != '"'; j++ {
			if path[j] == '\\' {
				j++
			}
		}
	}
	for ; j < len(path) && path[j] != ']'; j++ {
	}
	return j
}
