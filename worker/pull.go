package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/topology"
)

// The worker pulls with JetStream's pull protocol directly: a request for
// as many messages as the node can take at that moment (its free capacity,
// see prefetch.go), with every reply coming to one long-lived subscription.
// jetstream's Next costs a subscription, a goroutine and timers per message
// (about three times the round trip here), and its Consume/Messages keep
// asking for messages whether or not the node could start them. Everything
// else uses jetstream.

// pullChanCap is the capacity of the channel that receives the replies of
// pull requests; a request asks for at most pullChanCap - pullChanSpare
// messages, so that a burst of deliveries and a few status messages always
// fit (a message that does not fit would be dropped by the client and stall
// the request until it expires).
const (
	pullChanCap   = 64
	pullChanSpare = 16
)

// maxIdleHeartbeat is the longest interval between the server's
// confirmations that a pull request still waits (at most a quarter of the
// request's wait). Three missed ones on a live connection mean the server
// forgot the request, so it bounds how long a server restart stalls a node.
const maxIdleHeartbeat = 2 * time.Second

// Errors of puller.next.
var (
	errNoHeartbeat  = errors.New("pull request: no heartbeat from the server")
	errDisconnected = errors.New("pull request: not connected to NATS")
)

// pullRequest is the body of a JetStream pull request.
type pullRequest struct {
	Batch         int           `json:"batch"`
	Expires       time.Duration `json:"expires"`
	IdleHeartbeat time.Duration `json:"idle_heartbeat"`
	Group         string        `json:"group,omitempty"`
	Priority      int           `json:"priority,omitempty"`
}

// puller sends pull requests for a consumer and receives their replies.
type puller struct {
	nc      *nats.Conn
	subject string   // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
	prefix  string   // reply subjects are prefix + request number
	bodies  [][]byte // request bodies by batch size, built on first use
	sub     *nats.Subscription
	ch      chan *nats.Msg
	timer   *time.Timer
	wait    time.Duration // how long a request waits on the server
	hb      time.Duration // idle heartbeat of the requests

	// gate, when set, says whether the node may pull (scheduling
	// disabled, a restart under way): see lifecycle.gate.
	gate func() (resume, pause <-chan struct{})

	// priority, when set, makes every request carry a priority (0 first,
	// 9 last) in topology.PackGroup: the pool's consumer is prioritized
	// (nodeFillType pack).
	priority func() int
	base     pullRequest

	// The open request, if any.
	seq       uint64
	reply     string
	open      bool
	remaining int       // messages the open request may still bring
	deadline  time.Time // when the request has expired on the server for sure
}

// newPuller subscribes to the replies of pull requests for a consumer. A
// request waits on the server for up to wait.
func newPuller(nc *nats.Conn, js jetstream.JetStream, stream, consumer string, wait time.Duration) (*puller, error) {
	o := js.Options()
	api := "$JS.API."
	switch {
	case o.APIPrefix != "":
		api = strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		api = "$JS." + o.Domain + ".API."
	}
	hb := min(maxIdleHeartbeat, wait/4)
	base := pullRequest{Batch: 1, Expires: wait, IdleHeartbeat: hb}
	p := &puller{
		nc:      nc,
		subject: api + "CONSUMER.MSG.NEXT." + stream + "." + consumer,
		prefix:  nc.NewInbox() + ".",
		base:    base,
		ch:      make(chan *nats.Msg, pullChanCap),
		timer:   time.NewTimer(time.Hour),
		wait:    wait,
		hb:      hb,
	}
	p.timer.Stop()
	var err error
	if p.sub, err = nc.ChanSubscribe(p.prefix+"*", p.ch); err != nil {
		return nil, fmt.Errorf("subscribe to pull replies: %w", err)
	}
	return p, nil
}

// next waits for one message. Unless a request is still open it first
// sends one for batch messages (none when batch < 1: it then returns nil,
// nil). It returns nil, nil when the request ended without a message.
//
// At most one request is ever open, and it asks for no more messages than
// the caller can hold when it is sent, so no message can arrive that the
// caller did not ask for. A request stays open until it brought batch
// messages, until the server ends it (a status reply on its reply
// subject), until its heartbeats stop on a live connection (the server
// forgot it), or until its expiry has passed for sure.
// Delivered messages carry their stream subject, not the reply subject, so
// only the open request can be the one a message answers.
func (p *puller) next(ctx context.Context, batch int) (*nats.Msg, error) {
	var pause <-chan struct{}
	if p.gate != nil {
		var resume <-chan struct{}
		if resume, pause = p.gate(); resume != nil {
			return p.paused(ctx, resume)
		}
	}
	now := time.Now()
	if p.open && now.After(p.deadline) {
		p.open = false
	}
	if !p.open {
		if batch < 1 {
			return nil, nil
		}
		if !p.nc.IsConnected() {
			return nil, errDisconnected // a buffered request could outlive its slot
		}
		p.seq++
		p.reply = p.prefix + strconv.FormatUint(p.seq, 10)
		var body []byte
		if p.priority != nil {
			r := p.base // batch 1: a node's priority changes with every task
			r.Group, r.Priority = topology.PackGroup, p.priority()
			body, _ = json.Marshal(r) // a struct of numbers and a string: cannot fail
			batch = 1
		} else {
			// The replies' channel drops what does not fit (nats.go's slow
			// consumer): never ask for more than it holds, with room for
			// status messages.
			batch = min(batch, cap(p.ch)-pullChanSpare)
			body = p.requestBody(batch)
		}
		if err := p.nc.PublishRequest(p.subject, p.reply, body); err != nil {
			return nil, err
		}
		p.open, p.remaining, p.deadline = true, batch, now.Add(p.wait+2*p.hb)
	}
	p.timer.Reset(min(3*p.hb, time.Until(p.deadline)))
	defer p.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-pause:
			// Pulling paused while the request waits: whatever it brings
			// is given back.
			if resume, _ := p.gate(); resume != nil {
				return p.paused(ctx, resume)
			}
			return nil, nil // resumed already; the request is still open
		case <-p.timer.C:
			// Heartbeats that stop on a live connection mean that the server
			// has forgotten the request (a restart); while disconnected,
			// nothing can be told.
			if time.Now().After(p.deadline) || p.nc.IsConnected() {
				p.open = false
			}
			return nil, errNoHeartbeat
		case m := <-p.ch:
			status := m.Header.Get("Status")
			if status == "" {
				p.delivered()
				return m, nil
			}
			if m.Subject != p.reply {
				continue // a status of an earlier request
			}
			switch status {
			case "100": // idle heartbeat
				p.timer.Reset(min(3*p.hb, time.Until(p.deadline)))
			case "404", "408": // no messages; expired
				p.open = false
				return nil, nil
			default: // 409 consumer deleted, too many waiting requests, leader change, ...
				p.open = false
				return nil, fmt.Errorf("pull request: %s %s", status, m.Header.Get("Description"))
			}
		}
	}
}

// waiting reports whether a request is open and has not expired.
func (p *puller) waiting() bool { return p.open && !time.Now().After(p.deadline) }

// delivered counts a message of the open request: the request ends with
// its last one.
func (p *puller) delivered() {
	if p.remaining--; p.remaining <= 0 {
		p.open, p.remaining = false, 0
	}
}

// requestBody is the body of a request for batch messages.
func (p *puller) requestBody(batch int) []byte {
	if batch >= len(p.bodies) {
		p.bodies = append(p.bodies, make([][]byte, batch+1-len(p.bodies))...)
	}
	if p.bodies[batch] == nil {
		r := p.base
		r.Batch = batch
		p.bodies[batch], _ = json.Marshal(r) // numbers only: cannot fail
	}
	return p.bodies[batch]
}

// paused waits while the node may not pull: until resume is closed (it
// then returns nil, nil, and the caller pulls again) or ctx ends. A message
// that the request open when pulling paused brings is given back at once,
// so that a node that stopped taking tasks holds none.
func (p *puller) paused(ctx context.Context, resume <-chan struct{}) (*nats.Msg, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-resume:
			return nil, nil
		case m := <-p.ch:
			status := m.Header.Get("Status")
			switch {
			case status == "":
				p.delivered()
				if m.Reply != "" {
					if err := p.nc.Publish(m.Reply, []byte("-NAK")); err != nil {
						return nil, fmt.Errorf("give back a task while paused: %w", err)
					}
				}
			case m.Subject == p.reply && status != "100":
				p.open = false
			}
		}
	}
}

// close unsubscribes and gives back any message that arrived unasked.
func (p *puller) close() error {
	err := p.sub.Unsubscribe()
	for {
		select {
		case m := <-p.ch:
			if m.Header.Get("Status") == "" && m.Reply != "" {
				_ = p.nc.Publish(m.Reply, []byte("-NAK"))
			}
		default:
			return err
		}
	}
}

// taskMsg is a pulled task message; its acks are the JetStream ack protocol
// published on its reply subject (fire and forget, as jetstream's Ack).
type taskMsg struct {
	m  *nats.Msg
	nc *nats.Conn
}

func (t taskMsg) ack(body string) error { return t.nc.Publish(t.m.Reply, []byte(body)) }

// Data is the message payload.
func (t taskMsg) Data() []byte { return t.m.Data }

// Subject is the message subject.
func (t taskMsg) Subject() string { return t.m.Subject }

// Ack acknowledges the message: it is done.
func (t taskMsg) Ack() error { return t.ack("+ACK") }

// Nak gives the message back for immediate redelivery.
func (t taskMsg) Nak() error { return t.ack("-NAK") }

// InProgress resets the message's AckWait.
func (t taskMsg) InProgress() error { return t.ack("+WPI") }

// TermWithReason stops redelivery of the message.
func (t taskMsg) TermWithReason(reason string) error { return t.ack("+TERM " + reason) }

// NumDelivered is the message's delivery count, from its reply subject
// ($JS.ACK.<stream>.<consumer>.<delivered>.… or, from newer servers,
// $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.…).
func (t taskMsg) NumDelivered() (int, error) {
	n := t.ackNumber(4)
	if n == 0 {
		return 0, fmt.Errorf("not a JetStream message: reply subject %q", t.m.Reply)
	}
	return int(n), nil
}

// StreamSeq is the message's sequence in the stream, from its reply
// subject (the token after the delivery count); 0 if it has none.
func (t taskMsg) StreamSeq() uint64 { return t.ackNumber(5) }

// NumPending is the number of messages the consumer still had for delivery
// when the message was delivered (the pool's backlog), from its reply
// subject: the token after the timestamp (the last one of the 9-token form,
// the 11th of the longer one); 0 when the subject carries none.
func (t taskMsg) NumPending() uint64 { return t.ackNumber(8) }

// ackNumber is the number in token i of the reply subject's 9-token form
// ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.
// <timestamp>.<pending>), i+2 of the longer form (with a domain and an
// account hash after ACK); 0 when there is none. It does not allocate.
func (t taskMsg) ackNumber(i int) uint64 {
	r := t.m.Reply
	if !strings.HasPrefix(r, "$JS.ACK.") {
		return 0
	}
	if strings.Count(r, ".") >= 10 {
		i += 2
	}
	for range i {
		k := strings.IndexByte(r, '.')
		if k < 0 {
			return 0
		}
		r = r[k+1:]
	}
	if k := strings.IndexByte(r, '.'); k >= 0 {
		r = r[:k]
	}
	n, err := strconv.ParseUint(r, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
