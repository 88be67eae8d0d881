package kube

import (
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// TestRunWithoutAPIServer: an API server that cannot be reached is said to
// be unreachable; it was "install lanemesh first", which sent the user to
// reinstall a cluster that was only down.
func TestRunWithoutAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := New(Options{Config: &rest.Config{Host: host}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(t.Context(), nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read the API server's resources at "+host) || strings.Contains(err.Error(), "install") {
		t.Errorf("Run: %v, want it to say the API server at %s cannot be read", err, host)
	}
}
