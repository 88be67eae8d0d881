package config

// headerFormatProblem is Istio's validateHeaderValue: a header value that
// Envoy reads as a format string, where "%%" is a literal '%' and
// "%VAR%" or "%VAR([\"arg\", ...])%" a variable. An unescaped or
// unterminated '%' would make Envoy refuse the whole route table, so Istio
// refuses the object instead.
func headerFormatProblem(v string) string {
	const (
		literal = iota
		varName
		expectArray
		expectString
		inString
		expectDelimOrEnd
		expectArgsEnd
		expectVarEnd
	)
	state := literal
	for i := 0; i < len(v); i++ {
		ch, next := v[i], i+1 < len(v)
		switch state {
		case literal:
			switch {
			case ch != '%':
			case !next:
				return "unescaped % (write %% for a literal %)"
			case v[i+1] == '%':
				i++
			default:
				state = varName
			}
		case varName:
			if ch == '%' {
				state = literal
			} else if ch == '(' {
				state = expectArray
			}
		case expectArray:
			if ch == '[' {
				state = expectString
			} else if ch != ' ' {
				state = inString
			}
		case expectDelimOrEnd:
			switch {
			case ch == ',':
				state = expectString
			case ch == ']':
				state = expectArgsEnd
			case ch != ' ':
				return "expecting ',', ']' or a space in a variable's arguments"
			}
		case expectString:
			if ch == '"' {
				state = inString
			} else if ch != ' ' {
				return "expecting '\"' in a variable's arguments"
			}
		case inString:
			switch {
			case ch == '\\' && !next:
				return "unterminated backslash in a variable's argument"
			case ch == '\\':
				i++
			case ch == ')':
				state = expectVarEnd
			case ch == '"':
				state = expectDelimOrEnd
			}
		case expectArgsEnd:
			if ch == ')' {
				state = expectVarEnd
			} else if ch != ' ' {
				return "expecting ')' after a variable's arguments"
			}
		case expectVarEnd:
			if ch == '%' {
				state = literal
			} else if ch != ' ' {
				return "expecting '%' to end a variable"
			}
		}
	}
	if state != literal {
		return "unterminated variable expression (write %% for a literal %)"
	}
	return ""
}
