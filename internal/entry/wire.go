package entry

import (
	"fmt"
	"time"
)

// The filter's wire types: what a LaneEntryPolicy's spec carries to the
// proxy, with the JSON names of api.LaneEntryPolicySpec (less the
// selector, which the control plane has already applied). They are this
// package's own, not the api types, so that the data plane links no part
// of the configuration language; TestWireMatchesAPI holds the two equal.

// Spec is a policy's spec as the gateway enforces it.
type Spec struct {
	LaneHeaders       []string `json:"laneHeaders,omitempty"`
	BaselineLanes     []string `json:"baselineLanes,omitempty"`
	NumTrustedProxies uint32   `json:"numTrustedProxies,omitempty"`
	Rules             []Rule   `json:"rules"`
}

// Rule is one way into a lane; its conditions must all hold.
type Rule struct {
	Lanes       []string `json:"lanes,omitempty"`
	SourceCIDRs []string `json:"sourceCIDRs,omitempty"`
	JWT         *JWT     `json:"jwt,omitempty"`
}

// JWT is a rule's token check, as Istio's RequestAuthentication jwtRules.
type JWT struct {
	Issuer            string      `json:"issuer"`
	Audiences         []string    `json:"audiences,omitempty"`
	Jwks              string      `json:"jwks,omitempty"`
	JwksURI           string      `json:"jwksUri,omitempty"`
	JwksFile          string      `json:"jwksFile,omitempty"`
	JwksCacheDuration *Duration   `json:"jwksCacheDuration,omitempty"`
	FromHeaders       []JWTHeader `json:"fromHeaders,omitempty"`
	FromParams        []string    `json:"fromParams,omitempty"`
	LaneClaim         string      `json:"laneClaim,omitempty"`
	ClockSkew         *Duration   `json:"clockSkew,omitempty"`
}

// JWTHeader is a header a token is read from, with its prefix.
type JWTHeader struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
}

// Duration is a length of time written as Go durations are ("5m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
