package wiretest

import (
	"net"
	"strings"
	"testing"
)

// Hostile is one case of a corpus of hostile requests: the raw bytes a
// client sends, the answer it must get, and what may reach the receiver
// behind the server (a handler, an upstream), which records requests as S.
type Hostile[S any] struct {
	Name      string
	Raw       string
	Status    int
	Responses int                         // if not 0: exactly this many responses, then the connection closes
	Also      string                      // the response must contain this too
	Check     func(t *testing.T, got []S) // nil: the receiver must see nothing
}

// RunHostile sends each case on a new connection to addr, as a subtest,
// and checks the answer and what reached the receiver: seen returns every
// request it has recorded so far, and no request whose path (from path)
// contains "smuggled" may be among them. receiver names it in failures.
func RunHostile[S any](t *testing.T, addr net.Addr, receiver string, cases []Hostile[S], seen func() []S, path func(S) string) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			before := len(seen())
			out, closed := Exchange(t, addr, tc.Raw)
			if got := StatusOf(out); got != tc.Status || !strings.Contains(out, tc.Also) {
				t.Errorf("status %d, want %d and %q; response:\n%s", got, tc.Status, tc.Also, out)
			}
			if n := strings.Count(out, "HTTP/1.1 "); tc.Responses != 0 && (n != tc.Responses || !closed) {
				t.Errorf("%d responses (connection closed: %v), want %d and the connection closed:\n%s", n, closed, tc.Responses, out)
			}
			got := seen()[before:]
			for _, s := range got {
				if strings.Contains(path(s), "smuggled") {
					t.Errorf("a smuggled request reached the %s: %+v", receiver, s)
				}
			}
			switch {
			case tc.Check != nil:
				tc.Check(t, got)
			case len(got) != 0:
				t.Errorf("the %s saw %d request(s), want none: %+v", receiver, len(got), got)
			}
		})
	}
}

// OneRequest is a Check that the receiver saw exactly one request, which
// more then checks.
func OneRequest[S any](receiver string, more func(*testing.T, S)) func(*testing.T, []S) {
	return func(t *testing.T, got []S) {
		if len(got) != 1 {
			t.Fatalf("the %s saw %d requests, want 1: %+v", receiver, len(got), got)
		}
		more(t, got[0])
	}
}
