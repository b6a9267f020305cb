package batch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeLayout is Azure Batch's timestamp format: UTC with 7 fractional digits.
const timeLayout = "2006-01-02T15:04:05.0000000Z"

// Time is a UTC timestamp that marshals as Azure Batch does
// ("2016-11-19T00:05:27.2137716Z") and unmarshals any RFC 3339 time.
type Time struct{ time.Time }

// At returns t as a *Time, the form optional timestamps take in the model.
func At(t time.Time) *Time { return &Time{t.UTC()} }

// MarshalJSON renders the timestamp with 7 fractional digits in UTC. (It
// must be MarshalJSON: the embedded time.Time's MarshalJSON would otherwise
// be promoted and win over a text marshaler.)
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts RFC 3339 with or without fractional seconds.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("invalid timestamp %s: want an RFC 3339 string, e.g. \"2024-01-02T03:04:05Z\"", b)
	}
	v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("invalid timestamp %s: want RFC 3339, e.g. 2024-01-02T03:04:05Z", b)
	}
	t.Time = v.UTC()
	return nil
}

// Infinite is the duration Azure uses for "no limit": .NET TimeSpan.MaxValue.
const Infinite = Duration(math.MaxInt64)

// infiniteText is how Azure serializes TimeSpan.MaxValue.
const infiniteText = "P10675199DT2H48M5.4775807S"

// Duration is a time span encoded as an ISO 8601 duration ("PT15M", "P1D",
// "P1DT2H30M5.5S"). Infinite renders as Azure's TimeSpan.MaxValue.
type Duration time.Duration

// D returns d as a *Duration.
func D(d time.Duration) *Duration { v := Duration(d); return &v }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// IsInfinite reports whether d means "no limit".
func (d Duration) IsInfinite() bool { return d == Infinite }

// String renders d as an ISO 8601 duration.
func (d Duration) String() string { return string(d.append(nil)) }

// append appends the ISO 8601 form of d to b.
func (d Duration) append(b []byte) []byte {
	if d.IsInfinite() {
		return append(b, infiniteText...)
	}
	if d == 0 {
		return append(b, "PT0S"...)
	}
	v := time.Duration(d)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = append(b, 'P')
	days := v / (24 * time.Hour)
	v -= days * 24 * time.Hour
	if days > 0 {
		b = strconv.AppendInt(b, int64(days), 10)
		b = append(b, 'D')
	}
	if v == 0 {
		return b
	}
	b = append(b, 'T')
	h := v / time.Hour
	v -= h * time.Hour
	m := v / time.Minute
	v -= m * time.Minute
	if h > 0 {
		b = strconv.AppendInt(b, int64(h), 10)
		b = append(b, 'H')
	}
	if m > 0 {
		b = strconv.AppendInt(b, int64(m), 10)
		b = append(b, 'M')
	}
	if v > 0 {
		b = strconv.AppendFloat(b, v.Seconds(), 'f', -1, 64)
		b = append(b, 'S')
	}
	return b
}

// MarshalText renders the duration as an ISO 8601 string.
func (d Duration) MarshalText() ([]byte, error) { return d.append(nil), nil }

// UnmarshalText parses an ISO 8601 duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses an ISO 8601 duration: P[nY][nM][nW][nD][T[nH][nM][n[.f]S]].
// Years and months count as 365 and 30 days, as .NET's XmlConvert does.
func ParseDuration(s string) (Duration, error) {
	if s == infiniteText {
		return Infinite, nil
	}
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
	}
	s = s[1:]
	var total float64
	inTime := false
	units := 0
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
			}
			inTime = true
			s = s[1:]
			if s == "" {
				return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
		}
		var unit float64
		switch c := s[i]; {
		case !inTime && c == 'Y':
			unit = 365 * 86400
		case !inTime && c == 'M':
			unit = 30 * 86400
		case !inTime && c == 'W':
			unit = 7 * 86400
		case !inTime && c == 'D':
			unit = 86400
		case inTime && c == 'H':
			unit = 3600
		case inTime && c == 'M':
			unit = 60
		case inTime && c == 'S':
			unit = 1
		default:
			return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
		}
		total += n * unit
		units++
		s = s[i+1:]
	}
	if units == 0 {
		return 0, fmt.Errorf("invalid ISO 8601 duration %q", orig)
	}
	if total*1e9 >= float64(math.MaxInt64) {
		return Infinite, nil
	}
	d := Duration(time.Duration(total * 1e9).Round(100 * time.Nanosecond))
	if neg {
		d = -d
	}
	return d, nil
}
