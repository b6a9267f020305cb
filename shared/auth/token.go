package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token errors.
var (
	// ErrBadToken matches a token that is malformed or whose signature does
	// not verify with any of the keys.
	ErrBadToken = errors.New("auth: invalid token")
	// ErrTokenExpired matches a well-formed, genuine token past its expiry.
	ErrTokenExpired = errors.New("auth: token expired")
)

// tokenPrefix starts every natch token (and what its MAC covers), so that
// other bearer tokens are told apart at once.
const tokenPrefix = "natch1."

// TokenClaims are what a bearer token grants: the account, and when Job is
// set, only the operations on that job (the scope of Azure Batch's
// authenticationTokenSettings access "job").
type TokenClaims struct {
	Account string `json:"a"`
	Job     string `json:"j,omitempty"`
	Expires int64  `json:"e"` // Unix seconds
}

// IssueToken returns a bearer token for claims, MAC-signed with key:
// "natch1.<base64url claims>.<base64url HMAC-SHA256>".
func IssueToken(key []byte, c TokenClaims) string {
	payload, _ := json.Marshal(c) // a struct of strings and an int: cannot fail
	body := tokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(key, body))
}

func tokenMAC(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// TokenAccount returns the account a token claims, before it is verified
// (to find the keys to verify it with).
func TokenAccount(token string) (string, error) {
	c, _, _, err := parseToken(token)
	return c.Account, err
}

// VerifyToken checks a token's signature against keys and its expiry
// against now, and returns its claims.
func VerifyToken(token string, keys [][]byte, now time.Time) (TokenClaims, error) {
	c, body, mac, err := parseToken(token)
	if err != nil {
		return TokenClaims{}, err
	}
	ok := false
	for _, k := range keys {
		if hmac.Equal(mac, tokenMAC(k, body)) {
			ok = true
			break
		}
	}
	if !ok {
		return TokenClaims{}, ErrBadToken
	}
	if now.Unix() >= c.Expires {
		return TokenClaims{}, ErrTokenExpired
	}
	return c, nil
}

func parseToken(token string) (c TokenClaims, body string, mac []byte, err error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return c, "", nil, ErrBadToken
	}
	i := strings.LastIndexByte(token, '.')
	if i <= len(tokenPrefix) {
		return c, "", nil, ErrBadToken
	}
	body = token[:i]
	mac, err = base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		return c, "", nil, ErrBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(tokenPrefix):])
	if err != nil || json.Unmarshal(payload, &c) != nil || c.Account == "" {
		return c, "", nil, ErrBadToken
	}
	return c, body, mac, nil
}
