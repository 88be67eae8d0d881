package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/entry"
)

// LanemeshVersion is the apiVersion of lanemesh's own kinds.
const LanemeshVersion = "lanemesh.io/v1alpha1"

// laneEntryPolicy checks what a LaneEntryPolicy must hold for the gateway
// to enforce it: header names, CIDRs, and for each token rule an issuer
// and exactly one key set that parses. A policy the gateway could not
// build would leave lane entry open, so each of these is an Error.
func (a *analyzer) laneEntryPolicy(p *api.LaneEntryPolicy) {
	o := object{"LaneEntryPolicy", &p.Metadata}
	s := &p.Spec
	if s.Selector != nil {
		a.labels(o, s.Selector.MatchLabels, "spec.selector.matchLabels")
		a.laneEntrySelector(o, s.Selector.MatchLabels)
	}
	for i, h := range s.LaneHeaders {
		f := fmt.Sprintf("spec.laneHeaders[%d]", i)
		switch lh := strings.ToLower(h); {
		case !httpguts.ValidHeaderFieldName(h):
			a.badValue(o, f, fmt.Sprintf("%q is not a header name", h), "write the header the lane group routes on, e.g. x-asm-prefer-tag")
		case lh == "baggage" || lh == "authorization" || lh == "host":
			a.badValue(o, f, fmt.Sprintf("%q cannot be a lane header", h), "name the lane's own header; a baggage member of that name is guarded with it")
		}
	}
	for i, l := range s.BaselineLanes {
		if l == "" {
			a.badValue(o, fmt.Sprintf("spec.baselineLanes[%d]", i), "a baseline lane must not be empty", "write the baseline's lane value, e.g. v1")
		}
	}
	for i := range s.Rules {
		a.laneEntryRule(o, &s.Rules[i], fmt.Sprintf("spec.rules[%d]", i))
	}
}

func (a *analyzer) laneEntryRule(o object, r *api.LaneEntryRule, path string) {
	for i, l := range r.Lanes {
		if l == "" {
			a.badValue(o, fmt.Sprintf("%s.lanes[%d]", path, i), "a lane must not be empty", "write the lane value, e.g. v2, or leave lanes out to admit to any lane")
		}
	}
	for i, c := range r.SourceCIDRs {
		if _, err := entry.ParseCIDR(c); err != nil {
			a.badValue(o, fmt.Sprintf("%s.sourceCIDRs[%d]", path, i), err.Error(), "fix the address or CIDR")
		}
	}
	if r.JWT != nil {
		a.laneEntryJWT(o, r.JWT, path+".jwt")
	}
}

func (a *analyzer) laneEntryJWT(o object, j *api.LaneEntryJWT, path string) {
	if j.Issuer == "" {
		a.badValue(o, path+".issuer", "issuer must be set", "write the `iss` the tokens carry, e.g. https://ci.example.com")
	}
	set := 0
	for _, v := range []string{j.Jwks, j.JwksURI, j.JwksFile} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		a.badValue(o, path, "no key set: tokens could never be verified", "set one of jwks (the JSON Web Key Set inline), jwksUri or jwksFile")
	case set > 1:
		a.badValue(o, path, "jwks, jwksUri and jwksFile are alternatives", "set only one of them")
	case j.Jwks != "":
		if _, err := entry.ParseJWKS([]byte(j.Jwks)); err != nil {
			a.badValue(o, path+".jwks", err.Error(), "paste the issuer's JSON Web Key Set ({\"keys\": [...]}) with its RSA or EC signing keys")
		}
	case j.JwksURI != "":
		if u, err := url.Parse(j.JwksURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			a.badValue(o, path+".jwksUri", fmt.Sprintf("%q is not an http or https URL", j.JwksURI), "write the issuer's JWKS URL, e.g. https://issuer.example.com/.well-known/jwks.json")
		}
	}
	a.duration(o, j.ClockSkew, path+".clockSkew")
	a.duration(o, j.JwksCacheDuration, path+".jwksCacheDuration")
	for i, h := range j.FromHeaders {
		if !httpguts.ValidHeaderFieldName(h.Name) {
			a.badValue(o, fmt.Sprintf("%s.fromHeaders[%d].name", path, i), strconv.Quote(h.Name)+" is not a header name", "write the header the token is sent in, e.g. x-jwt-assertion")
		}
	}
	for i, p := range j.FromParams {
		if p == "" {
			a.badValue(o, fmt.Sprintf("%s.fromParams[%d]", path, i), "a query parameter name must not be empty", "write the parameter's name, e.g. access_token")
		}
	}
}

// laneEntrySelector warns, as for a Gateway's selector, when the selector
// picks neither lanemesh's own gateway nor a workload of the
// configuration: a policy that selects nothing leaves lane entry open. It
// is a Warning, since the gateway may run outside this configuration.
func (a *analyzer) laneEntrySelector(o object, sel map[string]string) {
	if len(sel) == 0 || SubsetOf(sel, GatewayLabels) {
		return
	}
	ns := o.meta.Namespace
	if ns == entry.RootNamespace {
		ns = ""
	}
	for _, w := range a.candidates(ns, sel) {
		if SubsetOf(sel, w.Labels) && (ns == "" || w.Namespace == ns) {
			return
		}
	}
	a.warnf(o, CodeNotFound, "spec.selector.matchLabels", "Referenced selector not found: "+strconv.Quote(selectorString(sel))+"; the policy guards no gateway, and lanes stay open",
		fmt.Sprintf("select the gateway with %s, or with the labels of the gateway workload", formatLabels(GatewayLabels)))
}
