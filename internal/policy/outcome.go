package policy

// Outcome is what one attempt did, as retries, the fallback and outlier
// detection see it.
type Outcome uint8

const (
	Response Outcome = iota // a response arrived (its status decides)
	Connect                 // connect failure or connect timeout
	Reset                   // connection closed or reset before a response
	Timeout                 // per-try or route timeout before a response
	Cancel                  // the client went away; not the upstream's fault
	// Protocol: the upstream answered with bytes that are no valid
	// HTTP/1.1 response (Envoy's UPE, answered 502). Not Local: a
	// response had begun, so the fallback's second attempt does not apply.
	Protocol
	// Idle: the exchange moved no byte for the stream idle timeout (Envoy's
	// SI), no response begun. Envoy ends the stream there. It is never
	// retried, and falls back (a hung lane pod is an unavailable one) only
	// for an idempotent request: the upstream may have received and acted
	// on the whole request.
	Idle
)

// Local reports whether the failure happened below HTTP (Envoy's "local
// origin" errors): the attempt got no response at all.
func (o Outcome) Local() bool { return o == Connect || o == Reset || o == Timeout }

func (o Outcome) String() string {
	switch o {
	case Response:
		return "response"
	case Connect:
		return "connect-failure"
	case Reset:
		return "reset"
	case Timeout:
		return "timeout"
	case Cancel:
		return "cancelled"
	case Protocol:
		return "protocol-error"
	case Idle:
		return "stream-idle"
	}
	return "unknown"
}
