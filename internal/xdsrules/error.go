package xdsrules

import (
	"strconv"
	"strings"
)

// fieldError is a broken rule: the field path from the message checked
// down to the field, and the rule, in the words of Validate's reasons.
// Checks return a nil *fieldError for a valid message; the exported
// functions turn that into a nil error.
type fieldError struct {
	// path holds the segments innermost first, so that each level of the
	// walk adds its own without copying the rest ("Name", "Routes[3]",
	// "VirtualHost").
	path   []string
	reason string
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
		if i > 0 {
			b.WriteByte('.')
		}
	}
	b.WriteString(": ")
	b.WriteString(e.reason)
	return b.String()
}

// broken returns the error of field breaking rule reason.
func broken(field, reason string) *fieldError {
	return &fieldError{path: []string{field}, reason: reason}
}

// in puts e under field, when e is an error of one of field's values.
func (e *fieldError) in(field string) *fieldError {
	if e != nil {
		e.path = append(e.path, field)
	}
	return e
}

// at puts e under element i of the repeated field.
func (e *fieldError) at(field string, i int) *fieldError {
	if e != nil {
		e.path = append(e.path, field+"["+strconv.Itoa(i)+"]")
	}
	return e
}

// asError returns e as an error under the message type name typ, and nil
// for a nil e (not a nil *fieldError in a non-nil error).
func (e *fieldError) asError(typ string) error {
	if e == nil {
		return nil
	}
	return e.in(typ)
}

// At returns err, an error of this package about a message that is
// element i of the repeated field of a message of type typ, as an error
// about that message: "invalid Route.Match: ..." becomes "invalid
// VirtualHost.Routes[3].Match: ...". It is for a caller that checks the
// parts of a message apart (and reuses checked parts); any other error
// is returned as it is.
func At(err error, typ, field string, i int) error {
	e, ok := err.(*fieldError)
	if !ok || len(e.path) == 0 {
		return err
	}
	path := append(e.path[:len(e.path)-1:len(e.path)-1], field+"["+strconv.Itoa(i)+"]", typ)
	return &fieldError{path: path, reason: e.reason}
}
