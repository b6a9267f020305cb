package worker

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

func TestTaskMsgNumDelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, reply string
		want        int
		wantErr     bool
	}{
		{name: "V1", reply: "$JS.ACK.NATCH_TASKS.pool_a_p.3.10.9.1700000000000000000.0", want: 3},
		{name: "V2", reply: "$JS.ACK._.ACCHASH.NATCH_TASKS.pool_a_p.4.10.9.1700000000000000000.0.RaNd0m", want: 4},
		{name: "V2WithoutToken", reply: "$JS.ACK.dom.ACCHASH.NATCH_TASKS.pool_a_p.5.10.9.1700000000000000000.0", want: 5},
		{name: "NotJetStream", reply: "_INBOX.abc", wantErr: true},
		{name: "TenTokens", reply: "$JS.ACK.a.b.c.d.e.f.g.h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := taskMsg{m: &nats.Msg{Reply: tt.reply}}.NumDelivered()
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, n)
		})
	}
}

func TestTaskMsgStreamSeqAndNumPending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply        string
		seq, pending uint64
	}{
		{reply: "$JS.ACK.NATCH_TASKS.pool_a_p.3.10.9.1700000000000000000.42", seq: 10, pending: 42},
		{reply: "$JS.ACK._.ACCHASH.NATCH_TASKS.pool_a_p.4.12.9.1700000000000000000.7.RaNd0m", seq: 12, pending: 7},
		{reply: "$JS.ACK.dom.ACCHASH.NATCH_TASKS.pool_a_p.5.10.9.1700000000000000000.0", seq: 10, pending: 0},
		{reply: "_INBOX.abc"},
		{reply: "$JS.ACK.a.b"},
	}
	for _, tt := range tests {
		m := taskMsg{m: &nats.Msg{Reply: tt.reply}}
		require.Equal(t, tt.seq, m.StreamSeq(), tt.reply)
		require.Equal(t, tt.pending, m.NumPending(), tt.reply)
	}
}

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "", want: "."},
		{in: ".", want: "."},
		{in: "/", wantErr: true},
		{in: "shared/", want: "shared"},
		{in: "./shared//a", want: "shared/a"},
		{in: "a/../b", wantErr: true},
		{in: "..", wantErr: true},
		{in: "/etc/passwd", wantErr: true},
		{in: "a\x00b", wantErr: true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if tt.wantErr {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}
