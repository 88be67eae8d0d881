package entry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// Reasons a token does not allow a request into a lane. They are what the
// proxy counts and logs; each is matched with errors.Is.
var (
	ErrNoToken      = errors.New("no token")
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("unsupported signing algorithm")
	ErrNoKeys       = errors.New("signing keys unavailable")
	ErrSignature    = errors.New("bad signature")
	ErrIssuer       = errors.New("wrong issuer")
	ErrAudience     = errors.New("wrong audience")
	ErrExpired      = errors.New("token expired")
	ErrNotYetValid  = errors.New("token not yet valid")
	ErrClaimMissing = errors.New("lane claim missing")
	ErrClaimLane    = errors.New("lane claim does not name the lane")
)

// maxToken bounds the length of a token the proxy will look at.
const maxToken = 16 << 10

// claims are a verified token's payload.
type claims map[string]any

// algorithm is how a JWS "alg" verifies.
type algorithm struct {
	hash crypto.Hash
	new  func() hash.Hash
	kind string // "RSA", "PSS" or "EC"
	size int    // EC: the length in bytes of each of r and s
}

var algorithms = map[string]algorithm{
	"RS256": {crypto.SHA256, sha256.New, "RSA", 0},
	"RS384": {crypto.SHA384, sha512.New384, "RSA", 0},
	"RS512": {crypto.SHA512, sha512.New, "RSA", 0},
	"PS256": {crypto.SHA256, sha256.New, "PSS", 0},
	"PS384": {crypto.SHA384, sha512.New384, "PSS", 0},
	"PS512": {crypto.SHA512, sha512.New, "PSS", 0},
	"ES256": {crypto.SHA256, sha256.New, "EC", 32},
	"ES384": {crypto.SHA384, sha512.New384, "EC", 48},
}

// verify checks token's form and signature against keys and returns the
// payload's claims; check then judges them.
func verify(token string, keys *KeySet) (claims, error) {
	if len(token) > maxToken {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxToken)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	var head struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodePart(h64, &head); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	alg, ok := algorithms[head.Alg]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, head.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	if keys == nil {
		return nil, ErrNoKeys
	}
	hh := alg.new()
	hh.Write([]byte(token[:len(h64)+1+len(p64)]))
	if !keys.verifies(head.Alg, head.Kid, alg, hh.Sum(nil), sig) {
		return nil, ErrSignature
	}
	var c claims
	if err := decodePart(p64, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	return c, nil
}

// decodePart decodes one base64url JSON part of a token.
func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url without padding")
	}
	return json.Unmarshal(b, v)
}

// verifies reports whether a key of the set verifies sig over digest with
// alg. A token that names a kid is checked only against keys of that kid
// and keys without one, as Envoy does; a key whose own alg differs is
// never used, so an RSA key cannot be tricked into a PSS check.
func (ks *KeySet) verifies(name, kid string, alg algorithm, digest, sig []byte) bool {
	for _, k := range ks.keys {
		if kid != "" && k.kid != "" && k.kid != kid || k.alg != "" && k.alg != name {
			continue
		}
		switch pub := k.pub.(type) {
		case *rsa.PublicKey:
			switch alg.kind {
			case "RSA":
				if rsa.VerifyPKCS1v15(pub, alg.hash, digest, sig) == nil {
					return true
				}
			case "PSS":
				if rsa.VerifyPSS(pub, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
					return true
				}
			}
		case *ecdsa.PublicKey:
			// JWS carries r||s of fixed size, not ASN.1.
			if alg.kind == "EC" && len(sig) == 2*alg.size && pub.Curve.Params().BitSize == alg.size*8 {
				r, s := new(big.Int).SetBytes(sig[:alg.size]), new(big.Int).SetBytes(sig[alg.size:])
				if ecdsa.Verify(pub, digest, r, s) {
					return true
				}
			}
		}
	}
	return false
}

// check judges verified claims against j at time now, as Envoy's
// jwt_authn does for Istio's RequestAuthentication: iss equal to the
// issuer; aud holding one of the audiences when any are configured; exp,
// when present, not passed and nbf, when present, reached, both with
// j.skew of leeway.
func (c claims) check(j *jwtRule, now time.Time) error {
	if iss, _ := c["iss"].(string); iss != j.issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, iss)
	}
	if len(j.audiences) > 0 && !slices.ContainsFunc(stringsOf(c["aud"]), func(a string) bool { return slices.Contains(j.audiences, a) }) {
		return ErrAudience
	}
	sec := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	skew := j.skew.Seconds()
	if v, ok := c["exp"]; ok {
		exp, isNum := v.(float64)
		if !isNum {
			return fmt.Errorf("%w: exp is not a number", ErrMalformed)
		}
		if sec > exp+skew {
			return ErrExpired
		}
	}
	if v, ok := c["nbf"]; ok {
		nbf, isNum := v.(float64)
		if !isNum {
			return fmt.Errorf("%w: nbf is not a number", ErrMalformed)
		}
		if sec+skew < nbf {
			return ErrNotYetValid
		}
	}
	return nil
}

// laneAllowed reports whether the claim names lane: a string equal to it,
// or a list holding it.
func (c claims) laneAllowed(claim, lane string) error {
	v, ok := c[claim]
	if !ok {
		return ErrClaimMissing
	}
	if slices.Contains(stringsOf(v), lane) {
		return nil
	}
	return ErrClaimLane
}

// stringsOf returns a claim that is a string or a list of strings as a
// list; other values give none.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// tokenCacheSize bounds the verified tokens a rule remembers: Envoy's
// jwt_cache_config default.
const tokenCacheSize = 100

// tokenCache remembers the claims of tokens whose signature verified with
// one key set, so that a client that sends the same token on every request
// (a CI pipeline, a tester's browser) pays for one signature check, not
// one per request. Only the signature is remembered: issuer, audience,
// time and lane are judged afresh each time. It is the one mutable part of
// a Policy, a memo of a pure function: its answers are the same with or
// without it.
type tokenCache struct {
	mu sync.Mutex
	ks *KeySet // the set the entries verified with; another set empties it
	m  map[string]claims
}

func (tc *tokenCache) get(ks *KeySet, token string) (claims, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.ks != ks {
		return nil, false
	}
	c, ok := tc.m[token]
	return c, ok
}

// put remembers a verified token; when full, it starts over, which keeps
// the bound without bookkeeping on the hot path. The cache keeps a copy of
// the token: the caller's is part of a request's header, whose memory it
// would keep alive with it.
func (tc *tokenCache) put(ks *KeySet, token string, c claims) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.ks != ks || len(tc.m) >= tokenCacheSize {
		tc.ks, tc.m = ks, make(map[string]claims, tokenCacheSize)
	}
	tc.m[strings.Clone(token)] = c
}
