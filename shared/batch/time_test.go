package batch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"PT15M", 15 * time.Minute, "PT15M"},
		{"P1D", 24 * time.Hour, "P1D"},
		{"P1DT2H30M5.5S", 26*time.Hour + 30*time.Minute + 5500*time.Millisecond, "P1DT2H30M5.5S"},
		{"PT0S", 0, "PT0S"},
		{"P1W", 7 * 24 * time.Hour, "P7D"},
		{infiniteText, time.Duration(Infinite), infiniteText},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var d Duration
			require.NoError(t, json.Unmarshal([]byte(`"`+tt.in+`"`), &d))
			require.Equal(t, tt.want, d.Std())
			b, err := json.Marshal(d)
			require.NoError(t, err)
			require.Equal(t, `"`+tt.out+`"`, string(b))
		})
	}
	for _, bad := range []string{`"15M"`, `"P"`, `"PT"`, `"P1H"`, `"PTXS"`, `5`} {
		var d Duration
		require.Error(t, json.Unmarshal([]byte(bad), &d), bad)
	}
}

func TestTimeFormat(t *testing.T) {
	t.Parallel()
	ts := Time{time.Date(2016, 11, 19, 0, 5, 27, 213771600, time.UTC)}
	b, err := json.Marshal(ts)
	require.NoError(t, err)
	require.Equal(t, `"2016-11-19T00:05:27.2137716Z"`, string(b))
	for ns, want := range map[int]string{0: ".0000000", 123456789: ".1234567", 100: ".0000001"} {
		b, err := json.Marshal(At(time.Date(2024, 1, 2, 3, 4, 5, ns, time.FixedZone("x", 3600))))
		require.NoError(t, err)
		require.Equal(t, `"2024-01-02T02:04:05`+want+`Z"`, string(b), "always 7 digits, always UTC")
	}
	var back struct{ T *Time }
	require.NoError(t, json.Unmarshal([]byte(`{"T":"2016-11-19T00:05:27.2137716Z"}`), &back))
	require.True(t, back.T.Equal(ts.Time))
	require.NoError(t, json.Unmarshal([]byte(`{"T":null}`), &back))
	require.Error(t, json.Unmarshal([]byte(`{"T":"yesterday"}`), &back))
}

func TestValidID(t *testing.T) {
	t.Parallel()
	require.NoError(t, ValidID("id", "a-B_9"))
	for _, bad := range []string{"", "has space", "dot.dot", "slash/x", string(make([]byte, 65))} {
		require.Error(t, ValidID("id", bad), bad)
	}
	require.True(t, SafeRelPath("a/b/../c"))
	for _, bad := range []string{"/etc/passwd", "../x", "a/../../x", ""} {
		require.False(t, SafeRelPath(bad), bad)
	}
}
