package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/natch-io/natch/shared/auth"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
)

// ValidAccountName checks an account name as Azure does: 3–24 lower-case
// letters and digits.
func ValidAccountName(name string) error {
	if len(name) < 3 || len(name) > 24 {
		return batch.InvalidProperty("accountName", "an account name has 3 to 24 characters")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return batch.InvalidProperty("accountName", "an account name has only lower-case letters and digits")
		}
	}
	return nil
}

// Account returns an account's record.
func (s *Service) Account(ctx context.Context, name string) (*state.Account, error) {
	a, _, err := s.st.Accounts.Get(ctx, name)
	return a, err
}

// Accounts lists the accounts.
func (s *Service) Accounts(ctx context.Context) ([]*state.Account, error) {
	es, err := s.st.Accounts.List(ctx, ">")
	if err != nil {
		return nil, err
	}
	out := make([]*state.Account, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, nil
}

// EnsureAccount creates the account with two fresh keys if it does not
// exist, and returns it.
func (s *Service) EnsureAccount(ctx context.Context, name string, newKey func() string) (*state.Account, error) {
	if err := ValidAccountName(name); err != nil {
		return nil, err
	}
	a, _, err := s.st.Accounts.Get(ctx, name)
	if err == nil {
		return a, nil
	}
	a = &state.Account{Name: name, Keys: []string{newKey(), newKey()}}
	if _, err := s.st.Accounts.Create(ctx, name, a); err != nil {
		if a2, _, err2 := s.st.Accounts.Get(ctx, name); err2 == nil {
			return a2, nil // created concurrently
		}
		return nil, err
	}
	return a, nil
}

// ErrNoSuchKey is returned for a key index other than 0 (primary) or 1 (secondary).
var ErrNoSuchKey = errors.New("key must be primary (0) or secondary (1)")

// RegenerateKey replaces one of an account's two keys; requests signed with
// the other keep working.
func (s *Service) RegenerateKey(ctx context.Context, name string, which int, newKey func() string) (*state.Account, error) {
	if which != 0 && which != 1 {
		return nil, ErrNoSuchKey
	}
	a, _, err := s.st.Accounts.Update(ctx, name, func(a *state.Account) error {
		for len(a.Keys) < 2 {
			a.Keys = append(a.Keys, newKey())
		}
		a.Keys[which] = newKey()
		return nil
	})
	return a, err
}

// TokenLifetime is how long an authentication token a task gets is valid.
// Each attempt gets a fresh one.
const TokenLifetime = 24 * time.Hour

// TokenKeys are the keys an account's bearer tokens are signed with: one
// derived from each account key, so that tokens never carry a MAC made with
// the account key itself. Regenerating an account key revokes the tokens
// signed with it.
func (s *Service) TokenKeys(ctx context.Context, account string) ([][]byte, error) {
	a, err := s.Account(ctx, account)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, k := range a.Keys {
		raw, err := auth.DecodeKey(k)
		if err != nil {
			continue
		}
		m := hmac.New(sha256.New, raw)
		m.Write([]byte("natch bearer token key"))
		keys = append(keys, m.Sum(nil))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("account %s has no usable key", account)
	}
	return keys, nil
}

// JobToken issues a bearer token for the operations on one job of an
// account (authenticationTokenSettings access "job"), signed with the
// primary key's token key.
func (s *Service) JobToken(ctx context.Context, account, jobID string) (string, error) {
	tok, _, err := s.IssueToken(ctx, account, jobID, TokenLifetime)
	return tok, err
}

// MaxTokenLifetime bounds the lifetime of the tokens IssueToken makes.
const MaxTokenLifetime = 7 * 24 * time.Hour

// IssueToken issues a bearer token valid for ttl (at most
// MaxTokenLifetime): for the whole account when jobID is empty, else for
// the operations on that job. It returns the token and its expiry.
func (s *Service) IssueToken(ctx context.Context, account, jobID string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > MaxTokenLifetime {
		return "", time.Time{}, fmt.Errorf("token lifetime %v: want more than 0 and at most %v", ttl, MaxTokenLifetime)
	}
	keys, err := s.TokenKeys(ctx, account)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := s.st.Now().Add(ttl).Truncate(time.Second)
	return auth.IssueToken(keys[0], auth.TokenClaims{Account: account, Job: jobID, Expires: exp.Unix()}), exp, nil
}
