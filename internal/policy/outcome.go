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
	}
	return "unknown"
}
