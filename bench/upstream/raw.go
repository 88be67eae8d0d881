package main

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
)

// maxRequest bounds one request (head and body) held in memory.
const maxRequest = 1 << 20

var headEnd = []byte("\r\n\r\n")

// serveRaw accepts connections on ln and answers each request on them with
// a fixed 200 response carrying body, until ln fails.
func serveRaw(ln net.Listener, body string) error {
	ok := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveConn(c, ok)
	}
}

// serveConn answers the requests of one connection. Requests already
// buffered (pipelined) are answered with a single write. A request with a
// Content-Length body has its body skipped; a chunked one, or a malformed
// or oversized one, gets an error status and the connection is closed.
func serveConn(c net.Conn, ok []byte) {
	defer c.Close()
	buf := make([]byte, 0, 4096)
	var out []byte
	for {
		for {
			end := bytes.Index(buf, headEnd)
			if end < 0 {
				break
			}
			req, err := parseHead(buf[:end])
			if err != nil {
				c.Write(append(out, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"...))
				return
			}
			total := end + len(headEnd) + req.bodyLen
			if total > maxRequest {
				c.Write(append(out, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"...))
				return
			}
			if len(buf) < total {
				break // the body is not all here yet
			}
			out = append(out, ok...)
			buf = buf[:copy(buf, buf[total:])]
			if req.close {
				c.Write(out)
				return
			}
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
		if len(buf) == cap(buf) {
			if cap(buf) >= maxRequest {
				return
			}
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if n == 0 && err != nil {
			return
		}
		buf = buf[:len(buf)+n]
	}
}

// request is what serveConn needs to know of a request head.
type request struct {
	bodyLen int  // Content-Length, 0 if absent
	close   bool // the client asked to close after this response
}

// parseHead reads the request line and the headers that frame the
// connection: Content-Length, Transfer-Encoding and Connection.
func parseHead(head []byte) (request, error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	parts := bytes.Fields(line)
	if len(parts) != 3 || !bytes.HasPrefix(parts[2], []byte("HTTP/1.")) {
		return request{}, fmt.Errorf("bad request line %q", line)
	}
	r := request{close: string(parts[2]) == "HTTP/1.0"}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return request{}, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return request{}, fmt.Errorf("bad Content-Length %q", value)
			}
			r.bodyLen = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return request{}, fmt.Errorf("transfer-encoding %q is not supported", value)
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				r.close = true
			case bytes.EqualFold(value, []byte("keep-alive")):
				r.close = false
			}
		}
	}
	return r, nil
}
