package xdsrules

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// CorsPolicy checks the fields of the CORS filter's per-route policy p the
// proxy reads: its origin matchers and filter_enabled. The proxy refuses
// shadow_enabled.
func CorsPolicy(p *corsv3.CorsPolicy) error {
	for i, m := range p.GetAllowOriginStringMatch() {
		if e := checkStringMatcher(m); e != nil {
			return e.at("AllowOriginStringMatch", i).asError("CorsPolicy")
		}
	}
	return checkRuntimeFraction(p.GetFilterEnabled()).in("FilterEnabled").asError("CorsPolicy")
}

// checkRuntimeFraction checks a RuntimeFractionalPercent that may be
// unset: its default value is required, with a defined denominator.
func checkRuntimeFraction(f *corev3.RuntimeFractionalPercent) *fieldError {
	if f == nil {
		return nil
	}
	d := f.GetDefaultValue()
	if d == nil {
		return broken("DefaultValue", required)
	}
	return definedIn("Denominator", d.GetDenominator(), typev3.FractionalPercent_DenominatorType_name).in("DefaultValue")
}

// checkPercent checks a Percent that may be unset: 0 to 100. NaN passes,
// as it does Validate's comparisons.
func checkPercent(p *typev3.Percent) *fieldError {
	if v := p.GetValue(); v < 0 || v > 100 {
		return broken("Value", "value must be inside range [0, 100]")
	}
	return nil
}
