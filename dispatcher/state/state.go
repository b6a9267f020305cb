// Package state is the dispatcher's repository over JetStream KV: accounts,
// pools, jobs, tasks, nodes, task counts, dependencies, applications and job
// schedules. Every change is a
// compare-and-set on the entry's revision; KV errors become domain errors
// (batch.ErrJobNotFound, batch.ErrTaskExists, ...) here and nowhere else.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// ErrStop ends an Update without writing: the mutate function found nothing to change.
var ErrStop = errors.New("state: nothing to change")

// Store is the dispatcher's state in JetStream KV.
type Store struct {
	js       jetstream.JetStream
	Accounts *Repo[Account]
	Pools    *Repo[batch.Pool]
	Jobs     *Repo[JobRecord]
	Tasks    *Repo[TaskRecord]
	Nodes    *Repo[protocol.NodeRecord]
	Counts   *Repo[Counts]
	Submit   *Repo[SubmitError]
	Deps     *Repo[Dep]
	Apps     *Repo[protocol.ApplicationRecord]
	// Schedules are the job schedules.
	Schedules *Repo[ScheduleRecord]
	now       func() time.Time
	lastTick  atomic.Uint64
}

// Open binds the store to the buckets topology.Ensure created.
func Open(ctx context.Context, js jetstream.JetStream, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{js: js, now: now}
	var err error
	bind := func(name string, notFound, exists *batch.Error) (r repo) {
		if err == nil {
			r, err = bindRepo(ctx, js, name, notFound, exists)
		}
		return r
	}
	s.Accounts = &Repo[Account]{repo: bind(topology.AccountsBucket, batch.Errorf(403, "AuthenticationFailed", "The account does not exist."), nil)}
	s.Pools = &Repo[batch.Pool]{repo: bind(topology.PoolsBucket, batch.ErrPoolNotFound, batch.ErrPoolExists)}
	s.Jobs = &Repo[JobRecord]{repo: bind(topology.JobsBucket, batch.ErrJobNotFound, batch.ErrJobExists)}
	s.Tasks = &Repo[TaskRecord]{repo: bind(topology.TasksBucket, batch.ErrTaskNotFound, batch.ErrTaskExists)}
	s.Nodes = &Repo[protocol.NodeRecord]{repo: bind(topology.NodesBucket, batch.ErrNodeNotFound, nil)}
	s.Counts = &Repo[Counts]{repo: bind(topology.CountsBucket, batch.ErrJobNotFound, nil)}
	s.Submit = &Repo[SubmitError]{repo: bind(topology.SubmitErrorsBucket, batch.ErrTaskNotFound, nil)}
	s.Deps = &Repo[Dep]{repo: bind(topology.DepsBucket, batch.ErrTaskNotFound, nil)}
	s.Apps = &Repo[protocol.ApplicationRecord]{repo: bind(topology.ApplicationsBucket, batch.ErrApplicationNotFound, nil)}
	s.Schedules = &Repo[ScheduleRecord]{repo: bind(topology.SchedulesBucket, batch.ErrJobScheduleNotFound, batch.ErrJobScheduleExists)}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// JetStream returns the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Repo is a typed KV bucket whose values are JSON.
type Repo[T any] struct{ repo }

// repo is what a Repo knows of its bucket.
type repo struct {
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	stream   jetstream.Stream // the bucket's stream, for scans
	notFound *batch.Error
	exists   *batch.Error
}

// bindRepo binds a bucket that topology.Ensure created.
func bindRepo(ctx context.Context, js jetstream.JetStream, bucket string, notFound, exists *batch.Error) (repo, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return repo{}, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return repo{}, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	return repo{js: js, kv: kv, stream: st, notFound: notFound, exists: exists}, nil
}

// KV returns the bucket.
func (r *Repo[T]) KV() jetstream.KeyValue { return r.kv }

// Get reads a value and its revision.
func (r *Repo[T]) Get(ctx context.Context, key string) (*T, uint64, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, r.notFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	v := new(T)
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, e.Revision(), nil
}

// Create writes a new value; an existing key gives the repo's exists error.
func (r *Repo[T]) Create(ctx context.Context, key string, v *T) (uint64, error) {
	b, err := encode(v)
	if err != nil {
		return 0, err
	}
	rev, err := r.kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		if r.exists != nil {
			return 0, r.exists
		}
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	return rev, nil
}

// Put writes a value unconditionally.
func (r *Repo[T]) Put(ctx context.Context, key string, v *T) (uint64, error) {
	b, err := encode(v)
	if err != nil {
		return 0, err
	}
	return r.kv.Put(ctx, key, b)
}

// Update applies mutate to the current value and writes it by
// compare-and-set, retrying on a concurrent change. mutate returning ErrStop
// ends without writing (the current value is returned); any other error is
// returned as is.
func (r *Repo[T]) Update(ctx context.Context, key string, mutate func(*T) error) (*T, uint64, error) {
	return r.cas(ctx, key, false, mutate)
}

// Upsert is Update for a key that may not exist yet: mutate gets a zero
// value then, and the write is a create that fails on a concurrent create
// (and is retried as an update).
func (r *Repo[T]) Upsert(ctx context.Context, key string, mutate func(*T) error) (*T, uint64, error) {
	return r.cas(ctx, key, true, mutate)
}

// cas is the read-mutate-write loop of Update and Upsert.
func (r *Repo[T]) cas(ctx context.Context, key string, create bool, mutate func(*T) error) (*T, uint64, error) {
	for {
		v, rev, err := r.Get(ctx, key)
		if create && r.notFound != nil && errors.Is(err, r.notFound) {
			v, rev, err = new(T), 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if err := mutate(v); err != nil {
			if errors.Is(err, ErrStop) {
				return v, rev, nil
			}
			return nil, 0, err
		}
		b, err := encode(v)
		if err != nil {
			return nil, 0, err
		}
		var nrev uint64
		if rev == 0 {
			nrev, err = r.kv.Create(ctx, key, b)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
		} else {
			nrev, err = r.kv.Update(ctx, key, b, rev)
			if isRevisionMismatch(err) {
				continue
			}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("update %s: %w", key, err)
		}
		return v, nrev, nil
	}
}

// UpdateAt writes v if the key is still at rev. ok is false on a
// concurrent change.
func (r *Repo[T]) UpdateAt(ctx context.Context, key string, v *T, rev uint64) (nrev uint64, ok bool, err error) {
	b, err := encode(v)
	if err != nil {
		return 0, false, err
	}
	nrev, err = r.kv.Update(ctx, key, b, rev)
	if isRevisionMismatch(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("update %s: %w", key, err)
	}
	return nrev, true, nil
}

// Write is one compare-and-set of UpdateManyAt: Value for Key if the key is
// still at Revision.
type Write[T any] struct {
	Key      string
	Value    *T
	Revision uint64
}

// WriteResult is the outcome of one Write: the new revision, or OK false
// when the key had changed, or an error.
type WriteResult struct {
	Revision uint64
	OK       bool
	Err      error
}

// UpdateManyAt does several compare-and-sets at once, pipelined: every
// write is published before the first acknowledgement is awaited, so a
// batch costs about one round trip. The results are in the order of ws.
func (r *Repo[T]) UpdateManyAt(ctx context.Context, ws []Write[T]) []WriteResult {
	out := make([]WriteResult, len(ws))
	futs := make([]jetstream.PubAckFuture, len(ws))
	prefix := "$KV." + r.kv.Bucket() + "."
	for i, w := range ws {
		b, err := encode(w.Value)
		if err != nil {
			out[i].Err = err
			continue
		}
		m := &nats.Msg{Subject: prefix + w.Key, Header: nats.Header{}, Data: b}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(w.Revision, 10))
		futs[i], err = r.js.PublishMsgAsync(m)
		if err != nil {
			futs[i] = nil // too many in flight: written alone below
		}
	}
	result := func(i int, ack *jetstream.PubAck, err error) {
		switch {
		case err == nil:
			out[i].Revision, out[i].OK = ack.Sequence, true
		case !isRevisionMismatch(err):
			out[i].Err = fmt.Errorf("update %s: %w", ws[i].Key, err)
		}
	}
	// Past the timeout only what has arrived counts; an unknown outcome is
	// an error, and the caller applies the change again, which changes
	// nothing if it was stored.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	expired := false
	for i, f := range futs {
		switch {
		case out[i].Err != nil:
			continue
		case f == nil:
			out[i].Revision, out[i].OK, out[i].Err = r.UpdateAt(ctx, ws[i].Key, ws[i].Value, ws[i].Revision)
			continue
		}
		if !expired {
			select {
			case ack := <-f.Ok():
				result(i, ack, nil)
				continue
			case err := <-f.Err():
				result(i, nil, err)
				continue
			case <-ctx.Done():
			case <-timeout.C:
			}
			expired = true
		}
		select {
		case ack := <-f.Ok():
			result(i, ack, nil)
		case err := <-f.Err():
			result(i, nil, err)
		default:
			out[i].Err = fmt.Errorf("update %s: no acknowledgement in time", ws[i].Key)
		}
	}
	return out
}

// Delete removes a key (and its history).
func (r *Repo[T]) Delete(ctx context.Context, key string) error {
	if err := r.kv.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Entry is a value with its key and revision.
type Entry[T any] struct {
	Key      string
	Revision uint64
	Value    *T
}

// List returns every live value whose key matches filter (a NATS subject
// filter over keys such as "acct.job.*"), in key order: a Scan, with the
// newest revision of a key written again while it ran.
func (r *Repo[T]) List(ctx context.Context, filter string) ([]Entry[T], error) {
	var out []Entry[T]
	at := map[string]int{}
	err := r.Scan(ctx, filter, 0, func(e Entry[T]) bool {
		if i, ok := at[e.Key]; ok {
			out[i] = e
			return true
		}
		at[e.Key] = len(out)
		out = append(out, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Entry[T]) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func isRevisionMismatch(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	// A pipelined write's raw answer; a replicated stream says 10164 where
	// a stream with one replica says 10071.
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// appender is a value with an encoder of its own (TaskRecord.AppendJSON),
// which writes what encoding/json would, faster.
type appender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// encode encodes a stored value.
func encode(v any) ([]byte, error) {
	if a, ok := v.(appender); ok {
		return a.AppendJSON(make([]byte, 0, 1024))
	}
	return json.Marshal(v)
}
