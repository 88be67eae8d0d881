package xdsrules

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Listener checks the fields of l the proxy reads: its address and, in
// each filter chain, the names of the filters and of the transport
// socket. The filters' configurations are Any messages that Validate
// does not open either; the proxy's builder checks what it reads in them.
func Listener(l *listenerv3.Listener) error { return checkListener(l).asError("Listener") }

func checkListener(l *listenerv3.Listener) *fieldError {
	if l == nil {
		return nil
	}
	if e := checkAddress(l.GetAddress()).in("Address"); e != nil {
		return e
	}
	for i, fc := range l.GetFilterChains() {
		if e := checkFilterChain(fc); e != nil {
			return e.at("FilterChains", i)
		}
	}
	return checkFilterChain(l.GetDefaultFilterChain()).in("DefaultFilterChain")
}

func checkFilterChain(fc *listenerv3.FilterChain) *fieldError {
	if fc == nil {
		return nil
	}
	for i, f := range fc.GetFilters() {
		if e := nonEmpty("Name", f.GetName()); e != nil {
			return e.at("Filters", i)
		}
	}
	return checkTransportSocket(fc.GetTransportSocket()).in("TransportSocket")
}
