package proxy

import (
	"math/bits"
	"strings"
)

// flags are Envoy's response flags, as a set.
type flags uint16

// Response flags, in Envoy's vocabulary; FB is lanemesh's: the fallback
// cluster served the request.
const (
	flagNR   flags = 1 << iota // no route
	flagNC                     // cluster not found
	flagUH                     // no healthy upstream
	flagUF                     // upstream connect failure
	flagUC                     // upstream connection terminated before a response
	flagUT                     // upstream request timeout
	flagUO                     // upstream overflow (circuit breaker)
	flagURX                    // retry limit exceeded
	flagFI                     // fault injected: abort
	flagDI                     // fault injected: delay
	flagDC                     // downstream connection terminated
	flagDPE                    // downstream protocol error: a refused request
	flagFB                     // served by the fallback cluster
	flagSI                     // stream idle timeout
	flagOM                     // overload: the listener's connection limit
	flagUPE                    // upstream protocol error: an invalid response
	numFlags = iota
)

var flagNames = [numFlags]string{"NR", "NC", "UH", "UF", "UC", "UT", "UO", "URX", "FI", "DI", "DC", "DPE", "FB", "SI", "OM", "UPE"}

// String renders the set as Envoy does: names joined by ",", or "-" for
// none. A single flag, the common case, does not allocate.
func (f flags) String() string {
	switch {
	case f == 0:
		return "-"
	case f&(f-1) == 0:
		return flagNames[bits.TrailingZeros16(uint16(f))]
	}
	var b strings.Builder
	for i := range numFlags {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(flagNames[i])
		}
	}
	return b.String()
}

// reasons are the bodies of the responses the proxy generates, by flag.
var reasons = map[flags]string{
	flagNR:  "no route matched this request",
	flagNC:  "the route's cluster does not exist",
	flagUH:  "no healthy upstream",
	flagUF:  "upstream connect error",
	flagUC:  "upstream connection closed before a response",
	flagUT:  "upstream request timeout",
	flagUO:  "upstream overflow: a circuit breaker is open",
	flagFI:  "fault filter abort",
	flagDPE: "request refused",
	flagSI:  "stream timeout: the upstream exchange made no progress",
	flagUPE: "upstream protocol error: the upstream's answer is not valid HTTP/1.1",
}
