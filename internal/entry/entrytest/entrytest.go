// Package entrytest makes real signing keys and tokens for tests of lane
// entry: a key pair generated per test, its JSON Web Key Set, and tokens
// signed with it (or forged).
package entrytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
)

// Signer is a freshly generated key that signs tokens.
type Signer struct {
	Alg string // RS256 or ES256
	Kid string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// NewRSA generates a 2048-bit RSA key for RS256.
func NewRSA(t testing.TB, kid string) *Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Alg: "RS256", Kid: kid, rsa: k}
}

// NewEC generates a P-256 key for ES256.
func NewEC(t testing.TB, kid string) *Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Alg: "ES256", Kid: kid, ec: k}
}

var b64 = base64.RawURLEncoding

// JWK is the public half as one JSON Web Key.
func (s *Signer) JWK() map[string]string {
	if s.rsa != nil {
		return map[string]string{"kty": "RSA", "kid": s.Kid, "alg": s.Alg, "use": "sig",
			"n": b64.EncodeToString(s.rsa.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(s.rsa.E)).Bytes())}
	}
	pub, err := s.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "kid": s.Kid, "crv": "P-256",
		"x": b64.EncodeToString(pub[1:33]), "y": b64.EncodeToString(pub[33:])}
}

// JWKS is a key set of the given signers' public keys, as JSON.
func JWKS(signers ...*Signer) string {
	keys := make([]map[string]string, len(signers))
	for i, s := range signers {
		keys[i] = s.JWK()
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Sign returns a compact JWS of claims.
func (s *Signer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	head, _ := json.Marshal(map[string]string{"alg": s.Alg, "typ": "JWT", "kid": s.Kid})
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(head) + "." + b64.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if s.rsa != nil {
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, digest[:])
	} else {
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, s.ec, digest[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}
