package entry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// KeySet is a parsed JSON Web Key Set: the public keys that may sign
// tokens. It is immutable once parsed.
type KeySet struct {
	keys []key
}

// key is one verification key of a set.
type key struct {
	kid string
	alg string // the key's "alg", or "" when it does not restrict one
	pub crypto.PublicKey
}

// maxJWKS bounds the size of a key set, fetched or inline.
const maxJWKS = 1 << 20

// ErrJWKS is wrapped by every key-set parsing error.
var ErrJWKS = errors.New("invalid JWKS")

// ParseJWKS parses a JSON Web Key Set (RFC 7517) of RSA keys and EC keys on
// P-256 and P-384. Keys of other types (oct, OKP) and keys whose "use" is
// "enc" are skipped; a set left with no key is an error, as is a key of a
// supported type that does not parse, so that a typo never passes for an
// empty set.
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > maxJWKS {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrJWKS, maxJWKS)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: %v; write it as {\"keys\": [{\"kty\": ...}]}", ErrJWKS, err)
	}
	ks := &KeySet{}
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaKey(k.N, k.E)
		case "EC":
			pub, err = ecKey(k.Crv, k.X, k.Y)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: keys[%d] (kid %q): %v", ErrJWKS, i, k.Kid, err)
		}
		ks.keys = append(ks.keys, key{kid: k.Kid, alg: k.Alg, pub: pub})
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("%w: no RSA or EC signing key in %d keys", ErrJWKS, len(set.Keys))
	}
	return ks, nil
}

func b64Int(s, field string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%q is not base64url without padding", field)
	}
	return new(big.Int).SetBytes(b), nil
}

func rsaKey(n, e string) (crypto.PublicKey, error) {
	nn, err := b64Int(n, "n")
	if err != nil {
		return nil, err
	}
	ee, err := b64Int(e, "e")
	if err != nil {
		return nil, err
	}
	if nn.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA modulus of %d bits; at least 2048 are required", nn.BitLen())
	}
	if !ee.IsInt64() || ee.Int64() < 3 || ee.Int64() > 1<<31-1 || ee.Bit(0) == 0 {
		return nil, errors.New("RSA exponent out of range")
	}
	return &rsa.PublicKey{N: nn, E: int(ee.Int64())}, nil
}

func ecKey(crv, x, y string) (crypto.PublicKey, error) {
	var c elliptic.Curve
	switch crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	default:
		return nil, fmt.Errorf("curve %q; P-256 and P-384 are supported", crv)
	}
	xx, err := b64Int(x, "x")
	if err != nil {
		return nil, err
	}
	yy, err := b64Int(y, "y")
	if err != nil {
		return nil, err
	}
	size := (c.Params().BitSize + 7) / 8
	raw := make([]byte, 1+2*size)
	raw[0] = 4 // uncompressed point
	if len(xx.Bytes()) > size || len(yy.Bytes()) > size {
		return nil, errors.New("EC coordinates too long for the curve")
	}
	xx.FillBytes(raw[1 : 1+size])
	yy.FillBytes(raw[1+size:])
	pub, err := ecdsa.ParseUncompressedPublicKey(c, raw)
	if err != nil {
		return nil, fmt.Errorf("EC point not on curve %s", crv)
	}
	return pub, nil
}
