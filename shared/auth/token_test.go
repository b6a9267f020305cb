package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokens(t *testing.T) {
	k1, k2 := []byte("key-one-0123456789"), []byte("key-two-0123456789")
	now := time.Unix(1_800_000_000, 0)
	tok := IssueToken(k1, TokenClaims{Account: "acct", Job: "job1", Expires: now.Add(time.Hour).Unix()})
	a, err := TokenAccount(tok)
	require.NoError(t, err)
	require.Equal(t, "acct", a)

	c, err := VerifyToken(tok, [][]byte{k2, k1}, now)
	require.NoError(t, err, "any of the keys verifies")
	require.Equal(t, TokenClaims{Account: "acct", Job: "job1", Expires: now.Add(time.Hour).Unix()}, c)

	_, err = VerifyToken(tok, [][]byte{k2}, now)
	require.ErrorIs(t, err, ErrBadToken)
	_, err = VerifyToken(tok, [][]byte{k1}, now.Add(time.Hour))
	require.ErrorIs(t, err, ErrTokenExpired)

	// Any change to the claims breaks the MAC.
	forged := IssueToken(k2, TokenClaims{Account: "acct", Expires: now.Add(time.Hour).Unix()})
	head, mac := forged[:len(forged)-43], tok[len(tok)-43:]
	_, err = VerifyToken(head+mac, [][]byte{k1}, now)
	require.ErrorIs(t, err, ErrBadToken)
	for _, bad := range []string{"", "natch1.", "natch1..", "Bearer x", "natch1.e30.AAAA", "natch1.!!!.AAAA"} {
		_, err := VerifyToken(bad, [][]byte{k1}, now)
		require.ErrorIs(t, err, ErrBadToken, bad)
	}
}
