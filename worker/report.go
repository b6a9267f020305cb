package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Completion reports are batched (group commit): the reporter collects the
// completed events of finished tasks and publishes them as one
// protocol.TaskEventBatch message on topology.EventBatchSubject. A batch is
// sent when it holds maxReportBatch events (or maxReportBytes of JSON), or
// when Config.ReportLinger has passed since its first event was handed
// over. Batches linger only while reports come at least four to a linger
// on average; on a node that reports less often each goes out at once. One batch is in flight at a time; events handed over meanwhile wait
// for the next batch. Once a batch is stored the reporter acks its tasks'
// messages; each task's settle waits for that outcome.

// maxReportBatch is the most events one batch message carries.
const maxReportBatch = 256

// errReporterStopped is the answer to a report handed over after the
// reporter stopped.
var errReporterStopped = errors.New("completion reporter stopped")

// reporter is the state of the Worker's completion reporter.
type reporter struct {
	in     chan reportReq
	hurry  chan struct{} // closed by Run when fetching has ended: no more lingering
	stop   chan struct{} // closed by Run once every task is settled: flush and exit
	exited chan struct{} // closed when the loop has returned; every accepted request has its answer then
	msgID  string        // Nats-Msg-Id prefix, unique to this process
	seq    uint64        // batches published; the last part of a batch's Nats-Msg-Id
	last   atomic.Int64  // when the last report was handed over (Unix ns)
	gap    movingAverage // of the time between reports (weight 8)
}

// reportReq is one completed event waiting to be reported.
type reportReq struct {
	data []byte     // the event, JSON
	msg  taskMsg    // the task's message, acked once the event is stored
	at   time.Time  // when it was handed over: a batch's linger starts at its first event
	done chan error // buffered; receives exactly one answer
}

// reportBatch is the batch being collected.
type reportBatch struct {
	reqs []reportReq
	size int // bytes of the events' JSON
}

func newReporter(account, nodeKey string) reporter {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read does not fail
	return reporter{
		in:     make(chan reportReq, maxReportBatch),
		hurry:  make(chan struct{}),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		msgID:  "batch/" + account + "/" + nodeKey + "/" + hex.EncodeToString(nonce[:]) + "/",
		gap:    movingAverage{weight: 8},
	}
}

// report hands a completed event to the reporter and waits until the batch
// carrying it is stored and msg acked (nil), or given up (the error; msg is
// not acked then).
func (w *Worker) report(ev *protocol.TaskEvent, msg taskMsg) error {
	now := time.Now()
	req := reportReq{data: ev.AppendJSON(nil), msg: msg, at: now, done: make(chan error, 1)}
	w.noteReport(now)
	select {
	case w.rep.in <- req:
	case <-w.rep.exited:
		return errReporterStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-w.rep.exited: // the answer, if any, was sent before exited was closed
		select {
		case err := <-req.done:
			return err
		default:
			return errReporterStopped
		}
	}
}

// noteReport adds a report handed over at now to the moving average of the
// time between reports (weight 1/8), which decides whether batches linger.
// A gap counts at most 4 lingers, so that a burst after a long quiet spell
// starts batching within a few dozen reports.
func (w *Worker) noteReport(now time.Time) {
	r, ceiling := &w.rep, 4*w.cfg.ReportLinger
	last := r.last.Swap(now.UnixNano())
	if last == 0 {
		r.gap.add(ceiling) // one report says nothing about the rate
		return
	}
	r.gap.add(min(max(time.Duration(now.UnixNano()-last), 0), ceiling))
}

// hurryReporter tells the reporter to stop lingering: from now on it
// publishes what it holds at once, so that a stopping worker does not wait
// for ReportLinger.
func (w *Worker) hurryReporter() { close(w.rep.hurry) }

// stopReporter tells the reporter to publish what it holds without
// lingering and to stop, and waits for it. No report may be handed over
// afterwards (one that is gets errReporterStopped).
func (w *Worker) stopReporter() {
	close(w.rep.stop)
	<-w.rep.exited
}

// reportLoop is the reporter. Publishes are retried until ctx (the settle
// context) is done; then the batch's events get the error.
func (w *Worker) reportLoop(ctx context.Context) {
	r := &w.rep
	defer close(r.exited)
	maxBytes := int(w.nc.MaxPayload()) / 2
	var (
		b        reportBatch
		carry    *reportReq // did not fit in b: it starts the next batch
		stopping bool
		hurry    = r.hurry // nil once closed
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// add adds req to b, or carries it over when b is non-empty and req
	// would make it too large; it reports whether b is full.
	add := func(req reportReq) bool {
		if len(b.reqs) > 0 && b.size+len(req.data) > maxBytes {
			carry = &req
			return true
		}
		b.reqs = append(b.reqs, req)
		b.size += len(req.data)
		return len(b.reqs) >= maxReportBatch || b.size >= maxBytes
	}
	for {
		if len(b.reqs) == 0 {
			if stopping {
				select {
				case req := <-r.in:
					add(req)
					continue
				default:
					return
				}
			}
			select {
			case req := <-r.in:
				add(req)
			case <-r.stop:
				stopping = true
			}
			continue
		}
		full := carry != nil || len(b.reqs) >= maxReportBatch || b.size >= maxBytes
		// Linger only while reports come often enough that a linger
		// gathers several: otherwise (an idle node, a few tasks a second)
		// each report goes out at once.
		busy := r.gap.load() < w.cfg.ReportLinger/4
		if !full && !stopping && hurry != nil && busy {
			if d := time.Until(b.reqs[0].at.Add(w.cfg.ReportLinger)); d > 0 {
				timer.Reset(d)
				select {
				case req := <-r.in:
					add(req)
				case <-timer.C:
				case <-hurry:
					hurry = nil
				case <-r.stop:
					stopping = true
				}
				timer.Stop()
				continue
			}
		}
		// Take what is already waiting: events handed over during the
		// previous publish join this batch.
	drain:
		for !full {
			select {
			case req := <-r.in:
				full = add(req)
			default:
				break drain
			}
		}
		err := w.publishBatch(ctx, b)
		if err == nil {
			// The events are stored: ack the tasks' messages back to back,
			// so that they leave in as few writes as possible.
			for _, req := range b.reqs {
				if aerr := req.msg.Ack(); aerr != nil {
					w.log.WarnContext(ctx, "ack task", "subject", req.msg.Subject(), "err", aerr)
				}
			}
		}
		for _, req := range b.reqs {
			req.done <- err
		}
		clear(b.reqs) // drop the references to the events' data
		b.reqs, b.size = b.reqs[:0], 0
		if carry != nil {
			add(*carry)
			carry = nil
		}
	}
}

// publishBatch publishes b as one message and waits for its PubAck,
// retrying with backoff until ctx is done. Every try carries the same
// Nats-Msg-Id, so a batch stored by a try whose PubAck was lost is stored
// once.
func (w *Worker) publishBatch(ctx context.Context, b reportBatch) error {
	r := &w.rep
	r.seq++
	// The body is protocol.TaskEventBatch, built from the events' JSON.
	data := make([]byte, 0, len(`{"events":[]}`)+b.size+len(b.reqs))
	data = append(data, `{"events":[`...)
	for i, req := range b.reqs {
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, req.data...)
	}
	data = append(data, "]}"...)
	m := nats.NewMsg(topology.EventBatchSubject(w.cfg.Account, w.nodeKey))
	m.Header.Set(protocol.EventBatchHeader, "1")
	m.Header.Set(jetstream.MsgIDHeader, r.msgID+strconv.FormatUint(r.seq, 10))
	m.Data = data
	wait := 50 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		w.log.WarnContext(ctx, "publish completion reports", "events", len(b.reqs), "err", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return err
		}
		wait = min(2*wait, 5*time.Second)
	}
}
