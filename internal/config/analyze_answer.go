package config

import (
	"encoding/base64"
	"fmt"

	"github.com/lanemesh/lanemesh/api"
)

// redirectCodes are the codes a redirect may use: Envoy's five. Istio's
// validation takes any 3xx but compiles no action for the others, which
// Envoy then refuses; lanemesh refuses them here instead.
var redirectCodes = map[uint32]bool{0: true, 301: true, 302: true, 303: true, 307: true, 308: true}

// localAnswer checks a rule that answers itself, by redirect or direct
// response, as Istio's validation does: it forwards nothing, so it has no
// route, and only one of the two.
func (a *analyzer) localAnswer(o object, r *api.HTTPRoute, path string) {
	if len(r.Route) > 0 {
		a.errorf(o, CodeSchema, path+".route", "HTTP route cannot contain both route and a redirect or direct response",
			"a rule either forwards (route) or answers itself (redirect, directResponse): keep one")
	}
	if r.Redirect != nil && r.DirectResponse != nil {
		a.errorf(o, CodeSchema, path+".directResponse", "HTTP route cannot contain both redirect and direct response", "keep one of the two")
	}
	if d := r.Redirect; d != nil {
		a.redirect(o, d, r.Match, path+".redirect")
	}
	if d := r.DirectResponse; d != nil {
		p := path + ".directResponse"
		if d.Status < 200 || d.Status > 599 {
			a.errorf(o, CodeSchema, p+".status", fmt.Sprintf("status %d is not a valid HTTP status", d.Status), "use a status from 200 to 599")
		}
		if b := d.Body; b != nil {
			size := len(b.String)
			if b.Bytes != "" {
				raw, err := base64.StdEncoding.DecodeString(b.Bytes)
				if err != nil {
					a.errorf(o, CodeSchema, p+".body.bytes", "body bytes are not base64: "+err.Error(), "encode the body in base64, or use body.string")
				}
				size = len(raw)
			}
			if b.String != "" && b.Bytes != "" {
				a.errorf(o, CodeSchema, p+".body", "body sets both string and bytes", "keep one of the two")
			}
			if size > 1<<20 {
				a.errorf(o, CodeSchema, p+".body", "large direct_responses may impact control plane performance, must be less than 1MB",
					"serve a body that large from a service")
			}
		}
	}
}

// redirect applies Istio's validateHTTPRedirect.
func (a *analyzer) redirect(o object, d *api.HTTPRedirect, matches []api.HTTPMatchRequest, p string) {
	if d.URI != "" && d.PrefixRewrite != "" {
		a.errorf(o, CodeSchema, p, "redirect may only specify one of uri or prefix_rewrite", "keep one of the two")
	}
	if d.PrefixRewrite != "" {
		for _, m := range matches {
			if kind, _ := m.URI.Kind(); m.URI != nil && kind != api.MatchPrefix {
				a.errorf(o, CodeSchema, p+".prefixRewrite", "redirect prefix_rewrite requires all URI matches to use prefix match type",
					"match the URI by prefix, or redirect to a fixed uri")
				break
			}
		}
	}
	if d.URI == "" && d.PrefixRewrite == "" && d.Authority == "" && d.Port == 0 && d.DerivePort == "" && d.Scheme == "" {
		a.errorf(o, CodeSchema, p, "redirect must specify URI, authority, scheme, or port", "say where to redirect to")
	}
	if !redirectCodes[d.RedirectCode] {
		a.errorf(o, CodeSchema, p+".redirectCode", fmt.Sprintf("%d is not a redirect code Envoy can send", d.RedirectCode),
			"use 301, 302, 303, 307 or 308")
	}
	if d.Scheme != "" && d.Scheme != "http" && d.Scheme != "https" {
		a.errorf(o, CodeSchema, p+".scheme", `invalid redirect scheme, must be "http" or "https"`, "use http or https")
	}
	if d.Port > 65535 {
		a.errorf(o, CodeSchema, p+".port", fmt.Sprintf("port number %d must be in the range 1..65535", d.Port), "use a port from 1 to 65535")
	}
	switch d.DerivePort {
	case "", "FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT":
	default:
		a.errorf(o, CodeSchema, p+".derivePort", fmt.Sprintf("unknown derivePort %q", d.DerivePort), "use FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT")
	}
	if d.Port != 0 && d.DerivePort != "" {
		a.errorf(o, CodeSchema, p, "redirect sets both port and derivePort", "keep one of the two")
	}
}
