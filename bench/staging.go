package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/worker/stage"
)

// targetStageRatio: staging and uploading through worker/stage should run
// at this fraction of a raw copy of the same bytes, at least.
const targetStageRatio = 0.80

// stagingAccount is the natch account of the staging benchmark's blobs.
const stagingAccount = "bench"

// stagingResult is what the staging benchmark measured. Rates are MiB/s.
type stagingResult struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Raw is a plain Get→file and file→Put loop with the same blob client
	// and the same parallelism, run before and after natch (the rate of
	// the mean time), after a warm-up copy that is not counted.
	RawDownload float64 `json:"rawDownloadMiBps"`
	RawUpload   float64 `json:"rawUploadMiBps"`
	// Stage is worker/stage's Stage (cold cache), Upload its Upload, and
	// CachedStage a second Stage of the same files (served by the node cache).
	Stage       float64 `json:"stageMiBps"`
	Upload      float64 `json:"uploadMiBps"`
	CachedStage float64 `json:"cachedStageMiBps"`
	// Ratio is (Stage+Upload time) relative to (raw download+upload time):
	// raw seconds / natch seconds.
	Ratio float64 `json:"ratio"`
}

// runStaging stages o.stageMB MiB in o.stageFiles files from the object
// store into a task directory and uploads them back, against a raw copy.
func runStaging(ctx context.Context, o options, p *printer) (*stagingResult, error) {
	dir := filepath.Join(o.workDir, "staging")
	js, stop, err := stagingServer(filepath.Join(dir, "nats"))
	if err != nil {
		return nil, err
	}
	defer stop()
	size := int64(o.stageMB) << 20 / int64(o.stageFiles)
	res := &stagingResult{Files: o.stageFiles, Bytes: size * int64(o.stageFiles)}
	cfg := blob.Config{Account: stagingAccount, JetStream: js}
	in, err := blob.NewObjectStore(js, "bench-in", cfg)
	if err != nil {
		return nil, err
	}
	if err := in.Create(ctx); err != nil {
		return nil, err
	}
	p.logf("staging: writing %d files of %d KiB to the object store", o.stageFiles, size>>10)
	names := make([]string, o.stageFiles)
	for i := range names {
		names[i] = fmt.Sprintf("data/f%04d.bin", i)
	}
	if err := forEach(ctx, names, func(ctx context.Context, name string) error {
		r := io.LimitReader(rand.NewChaCha8([32]byte{byte(len(name))}), size)
		_, err := in.Put(ctx, name, r, size, nil)
		return err
	}); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	mib := float64(res.Bytes) / (1 << 20)

	var rawDown, rawUp []float64
	raw := func(round int) error {
		d, u, err := rawCopy(ctx, js, cfg, in, names, filepath.Join(dir, "raw"+strconv.Itoa(round)))
		if err != nil {
			return fmt.Errorf("raw copy: %w", err)
		}
		if round == 0 {
			p.logf("staging: warm-up copy: download %.0f MiB/s, upload %.0f MiB/s (not counted)", mib/d.Seconds(), mib/u.Seconds())
			return nil
		}
		rawDown, rawUp = append(rawDown, mib/d.Seconds()), append(rawUp, mib/u.Seconds())
		p.logf("staging: raw copy #%d: download %.0f MiB/s, upload %.0f MiB/s", round, mib/d.Seconds(), mib/u.Seconds())
		return nil
	}
	// The first pass over freshly written blobs is slower whoever makes it:
	// a warm-up copy, then raw, natch, raw.
	for round := range 2 {
		if err := raw(round); err != nil {
			return nil, err
		}
	}

	s, err := stage.New(stage.Config{Blob: cfg, CacheDir: filepath.Join(dir, "cache"), CacheMaxBytes: 2 * res.Bytes,
		Parallel: stage.DefaultParallel})
	if err != nil {
		return nil, err
	}
	files := []batch.ResourceFile{{AutoStorageContainerName: "bench-in", BlobPrefix: "data/", FilePath: "in"}}
	task := filepath.Join(dir, "task")
	start := time.Now()
	if err := s.Stage(ctx, filepath.Join(task, "wd"), files); err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	stageDur := time.Since(start)
	out, err := blob.NewObjectStore(js, "bench-out", cfg)
	if err != nil {
		return nil, err
	}
	if err := out.Create(ctx); err != nil {
		return nil, err
	}
	outputs := []batch.OutputFile{{FilePattern: "in/**",
		Destination:   batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: "bench-out", Path: "up"}},
		UploadOptions: batch.OutputFileUploadOptions{UploadCondition: stage.UploadOnSuccess}}}
	start = time.Now()
	if err := s.Upload(ctx, task, outputs, 0); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	uploadDur := time.Since(start)
	if err := js.DeleteObjectStore(ctx, out.Bucket()); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := s.Stage(ctx, filepath.Join(dir, "task2", "wd"), files); err != nil {
		return nil, fmt.Errorf("cached stage: %w", err)
	}
	res.CachedStage = mib / time.Since(start).Seconds()
	res.Stage, res.Upload = mib/stageDur.Seconds(), mib/uploadDur.Seconds()
	p.logf("staging: worker/stage: stage %.0f MiB/s, upload %.0f MiB/s, stage from the node cache %.0f MiB/s",
		res.Stage, res.Upload, res.CachedStage)
	for _, d := range []string{task, filepath.Join(dir, "task2"), filepath.Join(dir, "cache")} {
		_ = os.RemoveAll(d)
	}

	if err := raw(2); err != nil {
		return nil, err
	}
	res.RawDownload, res.RawUpload = harmonic(rawDown), harmonic(rawUp)
	rawSec := mib/res.RawDownload + mib/res.RawUpload
	res.Ratio = rawSec / (stageDur + uploadDur).Seconds()
	return res, nil
}

// rawCopy downloads names from in into dir and uploads them to a fresh
// container with the same client, as a program without natch would.
func rawCopy(ctx context.Context, js jetstream.JetStream, cfg blob.Config, in *blob.ObjectStore, names []string,
	dir string) (down, up time.Duration, err error) {
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	err = forEach(ctx, names, func(ctx context.Context, name string) error {
		rc, _, err := in.Get(ctx, name)
		if err != nil {
			return err
		}
		defer rc.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, rc); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return 0, 0, err
	}
	down = time.Since(start)
	out, err := blob.NewObjectStore(js, "bench-raw-out", cfg)
	if err != nil {
		return 0, 0, err
	}
	if err := out.Create(ctx); err != nil {
		return 0, 0, err
	}
	defer func() { _ = js.DeleteObjectStore(context.WithoutCancel(ctx), out.Bucket()) }()
	start = time.Now()
	err = forEach(ctx, names, func(ctx context.Context, name string) error {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		_, err = out.Put(ctx, "up/"+name, f, fi.Size(), nil)
		return err
	})
	return down, time.Since(start), err
}

// forEach runs fn for every name, stage.DefaultParallel at a time.
func forEach(ctx context.Context, names []string, fn func(context.Context, string) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stage.DefaultParallel)
	for _, n := range names {
		g.Go(func() error { return fn(gctx, n) })
	}
	return g.Wait()
}

// harmonic is the harmonic mean of rates: the rate of the mean time.
func harmonic(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += 1 / x
	}
	return float64(len(v)) / s
}

// stagingServer starts an embedded nats-server with a file store in dir.
func stagingServer(dir string) (jetstream.JetStream, func(), error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true, MaxPayload: 8 << 20})
	if err != nil {
		return nil, nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, nil, err
	}
	return js, func() { nc.Close(); srv.Shutdown(); srv.WaitForShutdown() }, nil
}
