// Package jsonfill is for tests that compare a hand-written JSON encoder
// with encoding/json (Check). It fills Go values with random contents: every field of a
// struct, recursively, is left zero or set, at random, with values chosen
// to reach encoding/json's corner cases (strings that need escaping,
// invalid UTF-8, raw JSON with spaces, odd timestamps and numbers).
package jsonfill

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// Strings are the string values Fill picks from.
var Strings = []string{
	"", "plain", "task-0001", "with space", "<b>&amp;</b>", `quote " and \ backslash`,
	"ctl\x01\x1f\n\r\t", "ünïcödé ✓", "line\u2028sep\u2029", "bad\xffutf8", "/a/b/c.txt",
}

// raws are the raw JSON values Fill picks from.
var raws = []string{`{"a":1}`, `{ "b" : [ 1, 2 ] , "c":"<x>" }`, `"s"`, `[]`, `null`, `true`}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage(nil))
)

// Fill sets the value v points to. Each field, element or pointer is set
// with probability p (0 < p ≤ 1), else left zero.
func Fill(v any, r *rand.Rand, p float64) {
	fill(reflect.ValueOf(v).Elem(), r, p, 0)
}

func fill(v reflect.Value, r *rand.Rand, p float64, depth int) {
	if depth > 8 || !v.CanSet() {
		return
	}
	t := v.Type()
	switch {
	case t == timeType:
		times := []time.Time{{}, time.Unix(0, 0), time.Date(2026, 11, 28, 7, 5, 3, 123456789, time.UTC),
			time.Date(1999, 1, 2, 3, 4, 5, 100, time.FixedZone("x", 3600)), time.Unix(r.Int64N(4e9), r.Int64N(1e9))}
		v.Set(reflect.ValueOf(times[r.IntN(len(times))]))
		return
	case t == rawType:
		v.SetBytes([]byte(raws[r.IntN(len(raws))]))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := t.Field(i); f.IsExported() && (f.Anonymous || r.Float64() < p) {
				fill(v.Field(i), r, p, depth+1)
			}
		}
	case reflect.Pointer:
		if r.Float64() < p {
			v.Set(reflect.New(t.Elem()))
			fill(v.Elem(), r, p, depth+1)
		}
	case reflect.Slice:
		n := r.IntN(3)
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			fill(s.Index(i), r, p, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		for range r.IntN(3) {
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			fill(k, r, 1, depth+1)
			fill(e, r, p, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString(Strings[r.IntN(len(Strings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ints := []int64{0, 1, -1, 42, math.MaxInt32, math.MaxInt64, r.Int64N(1 << 50), -r.Int64N(1 << 40)}
		n := ints[r.IntN(len(ints))]
		if v.OverflowInt(n) {
			n = 7
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := r.Uint64N(1 << 40)
		if v.OverflowUint(n) {
			n = 7
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		fs := []float64{0, 1.5, 1e-7, 1e21, 123456789, -0.25, 3.0000001}
		v.SetFloat(fs[r.IntN(len(fs))])
	}
}

// Check fills n values of T (with seed, each field set with probability
// 0.1, 0.5, 0.9 or 1 in turn) and fails t at the first one whose encoding
// by encode differs from encoding/json's.
func Check[T any](t testing.TB, n int, seed uint64, encode func(*T) ([]byte, error)) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range n {
		v := new(T)
		Fill(v, r, []float64{0.1, 0.5, 0.9, 1}[i%4])
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
