package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/topology"
)

// LeasesBucket is the KV bucket of the scalers' leases: key
// "scaler.<account>", value the holder's name. Its entries expire LeaseTTL
// after their last write.
const LeasesBucket = "natch-leases"

// LeaseKey is the key of an account's scaler lease.
func LeaseKey(account string) string { return "scaler." + account }

// leases are the scaler leases this scaler holds, one per account. A lease is
// taken by creating its key, kept by updating it at its revision every
// third of its TTL, and given up by deleting it at that revision. A second
// scaler finds the key taken and leaves the account alone until the key is
// gone: deleted on a clean stop, expired after a crash. A key that holds
// this scaler's own name is taken back at once (a restart after a crash).
type leases struct {
	kv      jetstream.KeyValue
	holder  string
	ttl     time.Duration
	log     *slog.Logger
	retry   time.Duration // between tries to take a lease held elsewhere
	held    map[string]heldLease
	waiting map[string]time.Time // accounts whose lease is held elsewhere: when to try again
}

type heldLease struct {
	rev     uint64
	renewed time.Time
}

// openLeases binds (creating it if needed) the leases bucket, with the
// replicas and storage of the pools bucket.
func openLeases(ctx context.Context, js jetstream.JetStream, pools jetstream.KeyValue, cfg Config, log *slog.Logger) (*leases, error) {
	kv, err := js.KeyValue(ctx, LeasesBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kc := jetstream.KeyValueConfig{Bucket: LeasesBucket, History: 1, TTL: cfg.LeaseTTL,
			Description: "natch scaler leases, one per account"}
		if st, serr := pools.Status(ctx); serr == nil {
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				kc.Replicas, kc.Storage = bs.StreamInfo().Config.Replicas, bs.StreamInfo().Config.Storage
			}
		}
		_, err = js.CreateKeyValue(ctx, kc)
		if err == nil || errors.Is(err, jetstream.ErrBucketExists) {
			err = topology.LeaderReads(ctx, js, "KV_"+LeasesBucket)
		}
		if err == nil {
			kv, err = js.KeyValue(ctx, LeasesBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("scaler: leases bucket: %w", err)
	}
	ttl := cfg.LeaseTTL
	if st, err := kv.Status(ctx); err == nil && st.TTL() > 0 {
		ttl = st.TTL() // the bucket's TTL rules, whoever created it
	}
	return &leases{kv: kv, holder: cfg.Holder, ttl: ttl, retry: cfg.Interval, log: log,
		held: make(map[string]heldLease), waiting: make(map[string]time.Time)}, nil
}

// hold reports whether this scaler holds the account's lease, taking or
// renewing it as needed.
func (l *leases) hold(ctx context.Context, account string, now time.Time) bool {
	key := LeaseKey(account)
	if h, ok := l.held[account]; ok {
		if now.Sub(h.renewed) < l.ttl/3 {
			return true
		}
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		rev, err := l.kv.Update(rctx, key, []byte(l.holder), h.rev)
		cancel()
		switch {
		case err == nil:
			l.held[account] = heldLease{rev: rev, renewed: now}
			return true
		case !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyNotFound) &&
			now.Sub(h.renewed) < l.ttl/2:
			l.log.WarnContext(ctx, "renew scaler lease", "account", account, "err", err)
			return true // the key outlives this blip
		}
		l.log.WarnContext(ctx, "scaler lease lost", "account", account, "err", err)
		delete(l.held, account)
	}
	next, waiting := l.waiting[account]
	if waiting && now.Before(next) {
		return false // tried a moment ago (for another of the account's pools)
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, err := l.kv.Create(cctx, key, []byte(l.holder))
	switch {
	case err == nil:
		l.held[account] = heldLease{rev: rev, renewed: now}
		delete(l.waiting, account)
		l.log.InfoContext(ctx, "scaler lease taken", "account", account, "holder", l.holder)
		return true
	case errors.Is(err, jetstream.ErrKeyExists):
		l.waiting[account] = now.Add(l.retry)
		e, gerr := l.kv.Get(cctx, key)
		if gerr == nil && string(e.Value()) == l.holder {
			// Our own name: this scaler restarted after a crash. Take it back.
			if rev, err := l.kv.Update(cctx, key, []byte(l.holder), e.Revision()); err == nil {
				l.held[account] = heldLease{rev: rev, renewed: now}
				delete(l.waiting, account)
				l.log.InfoContext(ctx, "scaler lease taken back", "account", account, "holder", l.holder)
				return true
			}
		}
		if !waiting {
			holder := "?"
			if gerr == nil {
				holder = string(e.Value())
			}
			l.log.InfoContext(ctx, "another scaler holds the account's lease; waiting",
				"account", account, "holder", holder, "ttl", l.ttl)
		}
	default:
		l.waiting[account] = now.Add(l.retry)
		l.log.ErrorContext(ctx, "take scaler lease", "account", account, "err", err)
	}
	return false
}

// release gives up every lease held, so that a waiting scaler takes over
// at once.
func (l *leases) release(ctx context.Context) {
	for account, h := range l.held {
		if err := l.kv.Delete(ctx, LeaseKey(account), jetstream.LastRevision(h.rev)); err != nil {
			l.log.WarnContext(ctx, "release scaler lease", "account", account, "err", err)
		}
		delete(l.held, account)
	}
}
