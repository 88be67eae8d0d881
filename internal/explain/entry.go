package explain

import (
	"errors"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"net/netip"
	"strings"
	"time"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/route"
)

// LaneEntry applies the lane-entry policies of the filter chain that
// serves routeName to req, as the gateway would before routing: a request
// a policy does not allow into its lane has its lane headers removed from
// req.Header, and the note says which policy sent it to the baseline and
// why. The note is empty when no policy guards the chain or the request
// passes. client is the connection's peer address (zero: unknown, which no
// CIDR holds); req's X-Forwarded-For is what the client sent; now judges
// token times. Key sets from a URI or file are not fetched: a token that
// needs them does not verify here.
func LaneEntry(res *meshxds.Resources, routeName string, req *route.Request, client netip.Addr, now time.Time) (string, error) {
	f := laneEntryFilter(res, routeName)
	if f == nil {
		return "", nil
	}
	var ts xdstypev3.TypedStruct
	if err := f.GetTypedConfig().UnmarshalTo(&ts); err != nil {
		return "", fmt.Errorf("lane entry filter: %w", err)
	}
	policies, err := entry.Decode(ts.GetValue(), func(entry.Source) entry.Keys { return unfetched{} })
	if err != nil {
		return "", err
	}
	_, query, _ := strings.Cut(req.Path, "?")
	r := &entry.Request{Header: req.Header, Query: query, Peer: client, ForwardedFor: req.Header["X-Forwarded-For"], Now: now}
	var notes []string
	for _, p := range policies {
		if v := p.Decide(r); v.Denied {
			p.Strip(req.Header)
			notes = append(notes, fmt.Sprintf("LaneEntryPolicy %s does not allow lane %q (%v): lane headers removed, routed as the baseline", p.Name, v.Lane, v.Reason))
		}
	}
	return strings.Join(notes, "; "), nil
}

// unfetched stands for a key set explain does not fetch.
type unfetched struct{}

func (unfetched) Keys() (*entry.KeySet, error) {
	return nil, errors.New("explain does not fetch jwksUri or jwksFile")
}

// laneEntryFilter is the lane-entry filter of the HTTP connection manager
// whose RDS names routeName, or nil.
func laneEntryFilter(res *meshxds.Resources, routeName string) *hcmv3.HttpFilter {
	for _, l := range res.Listeners {
		for _, fc := range l.GetFilterChains() {
			if rdsName(fc) != routeName {
				continue
			}
			var hcm hcmv3.HttpConnectionManager
			if fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm) != nil {
				continue
			}
			for _, f := range hcm.GetHttpFilters() {
				if f.GetName() == entry.FilterName {
					return f
				}
			}
		}
	}
	return nil
}
