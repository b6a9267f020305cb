package formula

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeEnv is an in-memory Env.
type fakeEnv struct {
	now     time.Time
	scalars map[string]float64
	samples map[string][]Sample
	rnd     float64
	period  time.Duration // 0: the Env says nothing, DefaultSamplePeriod applies
}

func (f *fakeEnv) Now() time.Time { return f.now }

func (f *fakeEnv) Scalar(name string) (float64, bool) {
	v, ok := f.scalars[name]
	return v, ok
}

func (f *fakeEnv) Samples(name string) ([]Sample, bool) {
	s, ok := f.samples[name]
	return s, ok
}

func (f *fakeEnv) Rand() float64 { return f.rnd }

func (f *fakeEnv) SamplePeriod() time.Duration { return f.period }

// testNow is the evaluation time of the tests: Wednesday 4 March 2026, 10:30 UTC.
func testNow() time.Time { return time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC) }

// newEnv returns an env at testNow with no metrics.
func newEnv() *fakeEnv {
	return &fakeEnv{now: testNow(), scalars: map[string]float64{}, samples: map[string][]Sample{}, rnd: 0.25}
}

// history returns one sample per DefaultSamplePeriod with values vs, oldest first,
// the newest taken newest before now.
func history(now time.Time, newest time.Duration, vs ...float64) []Sample {
	out := make([]Sample, len(vs))
	for i, v := range vs {
		age := newest + time.Duration(len(vs)-1-i)*DefaultSamplePeriod
		out[i] = Sample{Time: now.Add(-age), Value: v}
	}
	return out
}

// repeat returns n copies of v.
func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// run parses and evaluates src against env, requiring both to succeed.
func run(t *testing.T, env Env, src string) *Result {
	t.Helper()
	f, err := Parse(src)
	require.NoError(t, err)
	r, err := f.Eval(env)
	require.NoError(t, err)
	return r
}

// evalErr parses src, requiring success, and returns the evaluation error.
func evalErr(t *testing.T, env Env, src string) (*Result, *Error) {
	t.Helper()
	f, err := Parse(src)
	require.NoError(t, err)
	r, err := f.Eval(env)
	require.Error(t, err)
	var fe *Error
	require.ErrorAs(t, err, &fe)
	return r, fe
}
