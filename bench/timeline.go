package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// progressSample is one taskcounts poll.
type progressSample struct {
	At        time.Duration
	Completed int
}

// progress describes the completion curve of a run, from the polls.
type progress struct {
	// SteadyRate is the completion rate between 10% and 90% of the tasks
	// (no ramp-up, no tail).
	SteadyRate float64 `json:"steadyTasksPerSecond"`
	// MinWindowRate and MaxWindowRate are the slowest and fastest rates
	// over consecutive one-second windows within the steady part.
	MinWindowRate float64 `json:"minWindowTasksPerSecond"`
	MaxWindowRate float64 `json:"maxWindowTasksPerSecond"`
	// LongestStallMs is the longest time over which the polls saw no
	// task complete, before all had.
	LongestStallMs float64 `json:"longestStallMs"`
}

// summarizeProgress derives a run's progress from its polls; n is the
// number of tasks.
func summarizeProgress(s []progressSample, n int) progress {
	var p progress
	var t10, t90 time.Duration
	c10, c90 := -1, -1
	lastChange := time.Duration(0)
	prev := 0
	for _, x := range s {
		if x.Completed != prev {
			lastChange, prev = x.At, x.Completed
		} else if stall := x.At - lastChange; x.Completed < n && stall.Seconds()*1000 > p.LongestStallMs {
			p.LongestStallMs = stall.Seconds() * 1000
		}
		if c10 < 0 && x.Completed >= n/10 {
			t10, c10 = x.At, x.Completed
		}
		if c90 < 0 && x.Completed >= n*9/10 {
			t90, c90 = x.At, x.Completed
		}
	}
	if c10 < 0 || c90 <= c10 || t90 <= t10 {
		return p
	}
	p.SteadyRate = float64(c90-c10) / (t90 - t10).Seconds()
	// One-second windows between t10 and t90.
	i := 0
	for start := t10; start+time.Second <= t90; start += time.Second {
		for i < len(s) && s[i].At < start {
			i++
		}
		j := i
		for j < len(s) && s[j].At < start+time.Second {
			j++
		}
		if i >= len(s) || j >= len(s) || j == i {
			break
		}
		r := float64(s[j].Completed-s[i].Completed) / (s[j].At - s[i].At).Seconds()
		if p.MinWindowRate == 0 || r < p.MinWindowRate {
			p.MinWindowRate = r
		}
		p.MaxWindowRate = max(p.MaxWindowRate, r)
	}
	return p
}

// listTiming times a full listing of a job's tasks, page by page.
type listTiming struct {
	Pages     int     `json:"pages"`
	Seconds   float64 `json:"seconds"`
	FirstPage float64 `json:"firstPageSeconds"`
	LastPage  float64 `json:"lastPageSeconds"`
}

// taskSpan lists a job's tasks (1000 a page, as the SDK's default) and
// returns the earliest startTime and the latest endTime, and how long the
// listing took.
func taskSpan(ctx context.Context, c *client, job string) (first, last time.Time, lt listTiming, err error) {
	q := url.Values{"$select": {"id,executionInfo"}, "maxresults": {"1000"}}
	path := "/jobs/" + job + "/tasks?" + q.Encode()
	start := time.Now()
	defer func() { lt.Seconds = time.Since(start).Seconds() }()
	for path != "" {
		var page taskList
		t0 := time.Now()
		if err := c.call(ctx, http.MethodGet, path, nil, http.StatusOK, &page); err != nil {
			return first, last, lt, err
		}
		lt.LastPage = time.Since(t0).Seconds()
		if lt.Pages == 0 {
			lt.FirstPage = lt.LastPage
		}
		lt.Pages++
		for _, t := range page.Value {
			ei := t.ExecutionInfo
			if ei == nil || ei.StartTime == nil || ei.EndTime == nil {
				return first, last, lt, fmt.Errorf("task %s has no start or end time", t.ID)
			}
			if first.IsZero() || ei.StartTime.Before(first) {
				first = *ei.StartTime
			}
			if ei.EndTime.After(last) {
				last = *ei.EndTime
			}
		}
		path = ""
		if page.NextLink != "" {
			u, err := url.Parse(page.NextLink)
			if err != nil {
				return first, last, lt, err
			}
			q := u.Query()
			q.Del("api-version")
			path = u.Path + "?" + q.Encode()
		}
	}
	return first, last, lt, nil
}
