package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natch-io/natch/worker/run"
)

// RetentionDir is where the retention journal lives, relative to the root
// directory. When an attempt ends, one line "<end> <deadline> <task dir>"
// (Unix nanoseconds, and the task directory relative to the root) is
// appended to the segment file named after the end of the time bucket its
// deadline falls in (Unix milliseconds + ".log"). The janitor removes the
// directories of a segment once its bucket has passed, then the segment.
// A journal costs one append per task where a marker file per task
// directory would cost a file creation, which is as dear as running a
// no-op task; it survives worker restarts all the same.
const RetentionDir = "volatile/retention"

// defaultRetention is Azure's default retentionTime.
const defaultRetention = 7 * 24 * time.Hour

// maxOpenSegments bounds the journal files kept open for appending.
const maxOpenSegments = 8

// journal appends retention entries.
type journal struct {
	dir    string        // absolute
	bucket time.Duration // width of a segment's time bucket
	mu     sync.Mutex
	open   map[int64]*os.File // by bucket end, Unix ms
}

func newJournal(dir string, bucket time.Duration) *journal {
	return &journal{dir: dir, bucket: bucket, open: make(map[int64]*os.File)}
}

// add records that the task directory rel (relative to the root) may be
// removed after deadline; end is when its attempt ended.
func (j *journal) add(rel string, end, deadline time.Time) error {
	b := deadline.Truncate(j.bucket).Add(j.bucket).UnixMilli()
	line := strconv.FormatInt(end.UnixNano(), 10) + " " + strconv.FormatInt(deadline.UnixNano(), 10) + " " + rel + "\n"
	j.mu.Lock()
	defer j.mu.Unlock()
	f := j.open[b]
	if f == nil {
		if len(j.open) >= maxOpenSegments {
			j.closeOldest()
		}
		var err error
		f, err = os.OpenFile(filepath.Join(j.dir, strconv.FormatInt(b, 10)+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		j.open[b] = f
	}
	_, err := f.WriteString(line)
	return err
}

func (j *journal) closeOldest() {
	oldest := slices.Min(slices.Collect(maps.Keys(j.open)))
	_ = j.open[oldest].Close()
	delete(j.open, oldest)
}

// take moves every segment whose bucket ended by now aside for sweeping
// (as <name>.sweeping) and returns the paths to sweep, leftovers of an
// interrupted sweep included.
func (j *journal) take(now time.Time) ([]string, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".sweeping") {
			out = append(out, filepath.Join(j.dir, name))
			continue
		}
		b, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".log") || now.UnixMilli() < b {
			continue
		}
		if f := j.open[b]; f != nil {
			_ = f.Close()
			delete(j.open, b)
		}
		p := filepath.Join(j.dir, name)
		if err := os.Rename(p, p+".sweeping"); err != nil {
			return out, err
		}
		out = append(out, p+".sweeping")
	}
	return out, nil
}

// close closes the open segments.
func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for b, f := range j.open {
		_ = f.Close()
		delete(j.open, b)
	}
}

// retain journals the retention of an ended attempt.
func (w *Worker) retain(t *task, end time.Time) {
	d := defaultRetention
	if c := t.tm.Task.Constraints; c != nil && c.RetentionTime != nil {
		if c.RetentionTime.IsInfinite() {
			return
		}
		d = max(c.RetentionTime.Std(), 0)
	}
	rel := path.Join("workitems", t.tm.JobID, "job-1", t.tm.Task.ID)
	if err := w.journal.add(rel, end, end.Add(d)); err != nil {
		w.log.Warn("journal task retention", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
	}
}

// janitor removes task directories whose retention has expired, at start
// and every RetentionSweep.
func (w *Worker) janitor(ctx context.Context) {
	defer w.journal.close()
	tick := time.NewTicker(w.cfg.RetentionSweep)
	defer tick.Stop()
	for {
		w.sweep(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep does one round of the janitor.
func (w *Worker) sweep(ctx context.Context, now time.Time) {
	segments, err := w.journal.take(now)
	if err != nil {
		w.log.WarnContext(ctx, "retention sweep", "err", err)
	}
	for _, seg := range segments {
		if ctx.Err() != nil {
			return
		}
		if err := w.sweepSegment(ctx, seg); err != nil {
			w.log.WarnContext(ctx, "retention sweep", "segment", seg, "err", err)
			continue
		}
		if err := os.Remove(seg); err != nil {
			w.log.WarnContext(ctx, "retention sweep", "segment", seg, "err", err)
		}
	}
}

// sweepSegment removes the task directories a journal segment lists.
func (w *Worker) sweepSegment(ctx context.Context, seg string) error {
	f, err := os.Open(seg)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		end, dir, err := parseEntry(sc.Text())
		if err != nil {
			w.log.WarnContext(ctx, "retention sweep: skipping a bad journal line", "segment", seg, "err", err)
			continue
		}
		w.expire(ctx, dir, end)
	}
	return sc.Err()
}

// parseEntry parses a journal line.
func parseEntry(line string) (end time.Time, dir string, err error) {
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return end, "", fmt.Errorf("malformed entry %q", line)
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return end, "", fmt.Errorf("malformed entry %q", line)
	}
	dir = parts[2]
	if !strings.HasPrefix(dir, "workitems/") || !fs.ValidPath(dir) {
		return end, "", fmt.Errorf("entry outside workitems: %q", line)
	}
	return time.Unix(0, ns), dir, nil
}

// expire removes the task directory dir (relative to the root), whose
// attempt ended at end, unless a task uses it or a later attempt ran in it
// (that attempt has its own journal entry).
func (w *Worker) expire(ctx context.Context, dir string, end time.Time) {
	if fi, err := w.root.Stat(path.Join(dir, run.StdoutFile)); err == nil && fi.ModTime().After(end) {
		return
	}
	abs := filepath.Join(w.rootDir, filepath.FromSlash(dir))
	trash := path.Join(path.Dir(dir), trashPrefix+path.Base(dir)+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	w.mu.Lock()
	for t := range w.held {
		if t.dir == abs {
			w.mu.Unlock()
			return
		}
	}
	// Renaming under the lock means that a task accepted from now on
	// creates a fresh directory.
	err := w.root.Rename(dir, trash)
	w.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		w.log.WarnContext(ctx, "retention: move task directory", "dir", dir, "err", err)
		return
	}
	if err := w.root.RemoveAll(trash); err != nil {
		w.log.WarnContext(ctx, "retention: remove task directory", "dir", dir, "err", err)
	}
	w.removeIfEmpty(path.Dir(path.Dir(dir)))
}

// trashPrefix names a task directory being removed.
const trashPrefix = ".removing-"

// removeIfEmpty removes a job directory whose tasks are all gone, unless a
// held task is about to use it.
func (w *Worker) removeIfEmpty(jobDir string) {
	prefix := filepath.Join(w.rootDir, filepath.FromSlash(jobDir)) + string(filepath.Separator)
	w.mu.Lock()
	defer w.mu.Unlock()
	for t := range w.held {
		if strings.HasPrefix(t.dir, prefix) {
			return
		}
	}
	if w.root.Remove(path.Join(jobDir, "job-1")) == nil {
		_ = w.root.Remove(jobDir)
	}
}
