package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lanemesh/lanemesh/internal/h1"
)

// tunnelLinger is how long a tunnel whose one side has finished waits for
// the other to finish too before both are closed.
const tunnelLinger = 5 * time.Second

// tunnel forwards a WebSocket upgrade, as Envoy does with Istio's
// upgrade_configs: one attempt (an upgrade is not replayed, so neither
// retries nor the fallback's second attempt apply; the fallback still
// takes it when the lane's destination has no usable endpoint), on a
// connection of its own. An upstream that declines the upgrade has its
// answer relayed; one that accepts it (101) gets the client's connection
// spliced to its own, both ways, until either side closes.
func (x *exchange) tunnel() {
	hj, ok := x.w.(http.Hijacker)
	if !ok { // the h1 server hands every Upgrade request to net/http's
		x.generate(http.StatusBadRequest, flagDPE)
		return
	}
	r := x.r
	r.Header["Connection"], r.Header["Upgrade"] = []string{"Upgrade"}, []string{"websocket"}
	r.Body, r.ContentLength = http.NoBody, 0
	// The body was not read, so the request is not replayable: roundTrips
	// makes one attempt, with neither a retry nor the fallback's second
	// attempt, and answers a failure itself. No route timeout: a tunnel
	// lasts as long as its ends want (try leaves out the per-try one).
	resp := x.roundTrips(r.Context())
	if resp == nil {
		return
	}
	up, down, ok := resp.Body.(*h1.Body).Tunnel()
	if !ok { // declined: relayed as any answer
		x.respond(resp)
		return
	}
	defer resp.Body.Close() // closes the upstream connection
	x.status = resp.StatusCode
	conn, brw, err := hj.Hijack()
	if err != nil {
		x.clientGone()
		return
	}
	defer conn.Close()
	h := http.Header{}
	copyResponseHeader(h, resp.Header)
	x.server.apply(h)
	h["Connection"], h["Upgrade"] = []string{"Upgrade"}, []string{"websocket"}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(brw)
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		x.flags |= flagDC
		return
	}
	x.sent += splice(conn, brw.Reader, up, down)
}

// splice copies client→upstream and upstream→client until both directions
// end, or one has and the other does not within tunnelLinger. Each side
// that finishes sending is half-closed towards its peer, so a close
// handshake can complete. It returns the bytes sent to the client.
func splice(client net.Conn, fromClient *bufio.Reader, fromUpstream io.Reader, toUpstream io.Writer) int64 {
	done := make(chan struct{}, 1)
	go func() {
		_, _ = io.Copy(toUpstream, fromClient)
		closeWrite(toUpstream)
		done <- struct{}{}
	}()
	sent, _ := io.Copy(client, fromUpstream)
	closeWrite(client)
	select {
	case <-done:
	case <-time.After(tunnelLinger):
	}
	return sent
}

// closeWrite half-closes w when it can (TCP, TLS), so its peer reads the
// end of what was sent.
func closeWrite(w io.Writer) {
	if cw, ok := w.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
