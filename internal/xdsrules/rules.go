package xdsrules

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The reasons are Validate's, word for word, so that an error reads the
// same whichever checked it.
const (
	required         = "value is required"
	notEmpty         = "value length must be at least 1 runes"
	atLeastOneItem   = "value must contain at least 1 item(s)"
	definedEnum      = "value must be one of the defined enum values"
	noLineBreak      = `value does not match regex pattern "^[^\x00\n\r]*$"`
	invalidDuration  = "value is not a valid duration"
	positiveDuration = "value must be greater than 0s"
	maxHeaderBytes   = 16384
)

// lineSafe reports whether s matches ^[^\x00\n\r]*$, Envoy's
// HTTP_HEADER_NAME and HTTP_HEADER_VALUE patterns when not strict, which
// is how every rule the proxy's fields carry uses them.
func lineSafe(s string) bool { return !strings.ContainsAny(s, "\x00\n\r") }

// headerName is the rule on a header name without a length rule: no NUL,
// CR or LF.
func headerName(field, s string) *fieldError {
	if !lineSafe(s) {
		return broken(field, noLineBreak)
	}
	return nil
}

// headerValue is the rule on a header value, the same pattern.
func headerValue(field, s string) *fieldError { return headerName(field, s) }

// requiredHeaderName is a header name with min_len 1.
func requiredHeaderName(field, s string) *fieldError {
	if s == "" {
		return broken(field, notEmpty)
	}
	return headerName(field, s)
}

// nonEmpty is min_len 1 (runes): a string of at least one rune is a
// non-empty string.
func nonEmpty(field, s string) *fieldError {
	if s == "" {
		return broken(field, notEmpty)
	}
	return nil
}

// maxBytes is max_bytes.
func maxBytes(field, s string, n int) *fieldError {
	if len(s) > n {
		return broken(field, "value length must be at most "+itoa(n)+" bytes")
	}
	return nil
}

// definedIn is defined_only for an enum whose generated name map is names.
func definedIn[E ~int32](field string, v E, names map[int32]string) *fieldError {
	if _, ok := names[int32(v)]; !ok {
		return broken(field, definedEnum)
	}
	return nil
}

// positive is a duration's gt: 0s, for a duration that may be unset.
func positive(field string, d *durationpb.Duration) *fieldError {
	if d == nil {
		return nil
	}
	if d.CheckValid() != nil {
		return broken(field, invalidDuration)
	}
	if d.AsDuration() <= time.Duration(0) {
		return broken(field, positiveDuration)
	}
	return nil
}

// atMost is lte for a uint32 wrapper that may be unset.
func atMost(field string, w *wrapperspb.UInt32Value, n uint32) *fieldError {
	if w != nil && w.GetValue() > n {
		return broken(field, "value must be less than or equal to "+itoa(int(n)))
	}
	return nil
}

// atMost64 is lte for a uint64 wrapper that may be unset.
func atMost64(field string, w *wrapperspb.UInt64Value, n uint64) *fieldError {
	if w != nil && w.GetValue() > n {
		return broken(field, "value must be less than or equal to "+itoa(int(n)))
	}
	return nil
}

// atLeast is gte for a uint32 wrapper that may be unset.
func atLeast(field string, w *wrapperspb.UInt32Value, n uint32) *fieldError {
	if w != nil && w.GetValue() < n {
		return broken(field, "value must be greater than or equal to "+itoa(int(n)))
	}
	return nil
}

// maxItems is max_items.
func maxItems(field string, n, limit int) *fieldError {
	if n > limit {
		return broken(field, "value must contain no more than "+itoa(limit)+" item(s)")
	}
	return nil
}

// pathSeparatedPrefix matches ^[^?#]+[^?#/]$: two runes or more, no '?'
// or '#', not ending in '/'. Go's regexp reads a byte of invalid UTF-8 as
// one rune, as utf8 does.
func pathSeparatedPrefix(s string) bool {
	last, _ := utf8.DecodeLastRuneInString(s)
	return !strings.ContainsAny(s, "?#") && utf8.RuneCountInString(s) >= 2 && last != '/'
}

func itoa(n int) string { return strconv.Itoa(n) }

// first returns the first non-nil error of errs, in order: the checks of
// a message run in the order Validate runs them, so that the first broken
// rule reported is the one Validate would report.
func first(errs ...*fieldError) *fieldError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
