package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/config"
)

// storageEnv holds the storage commands' connection flags.
type storageEnv struct {
	getenv      func(string) string
	natsURL     string
	account     string
	storageConn string
	output      string
	progress    string
}

// newStorageCmd is `natch storage`: blobs in the account's auto-storage
// (the NATS object store) or in an Azure container.
func newStorageCmd(getenv func(string) string) *cobra.Command {
	env := &storageEnv{getenv: getenv}
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Upload, download, list and delete blobs for resource and output files",
		Long: "Manage the blobs tasks stage in and upload out. CONTAINER is a bare container name (the\n" +
			"account's auto-storage: the NATS object store, or Azure with --storage-connection-string),\n" +
			"nats://<container>, or an Azure container URL with a SAS token.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&env.natsURL, "nats-url", "", "NATS URL for the object store (default $"+config.EnvNatsURL+", then the connection file)")
	pf.StringVar(&env.account, "account", "", "account name (default $"+config.EnvAccount+", then the connection file)")
	pf.StringVar(&env.storageConn, "storage-connection-string", "",
		"Azure auto-storage for bare container names (default $"+EnvStorageConnectionString+"; empty: the object store)")
	pf.StringVarP(&env.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&env.progress, "progress", "auto", "progress bars: auto (on a terminal), always or never")
	cmd.AddCommand(storageUploadCmd(env), storageDownloadCmd(env), storageListCmd(env), storageRemoveCmd(env),
		storageURLCmd(env))
	return cmd
}

// isURL reports whether ref is an http(s) container URL.
func isURL(ref string) bool {
	l := strings.ToLower(ref)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// open opens the container ref; the returned func closes the NATS
// connection it may have made.
func (e *storageEnv) open(ctx context.Context, ref string) (blob.Container, func(), error) {
	conn := e.storageConn
	if conn == "" {
		conn = e.getenv(EnvStorageConnectionString)
	}
	if isURL(ref) || (conn != "" && !strings.HasPrefix(ref, "nats://")) {
		c, err := blob.Open(ctx, ref, blob.Config{ConnectionString: conn})
		return c, func() {}, err
	}
	// Only the NATS URL and the account are needed; the API key is not.
	cc, _ := config.Resolve(config.Connection{NatsURL: e.natsURL, Account: e.account}, e.getenv)
	if cc.NatsURL == "" || cc.Account == "" {
		return nil, nil, errors.New("no NATS endpoint for the object store: pass --nats-url and --account, set " +
			config.EnvNatsURL + " and " + config.EnvAccount + ", or run natch up here (it writes natch-data/connection.json)")
	}
	nc, err := nats.Connect(cc.NatsURL, nats.Name("natch-cli storage"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS %s: %w", cc.NatsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	c, err := blob.Open(ctx, ref, blob.Config{Account: cc.Account, JetStream: js})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, nc.Close, nil
}

// bar returns a byte progress bar over total bytes on cmd's stderr, or
// nil when progress bars are off.
func (e *storageEnv) bar(cmd *cobra.Command, total int64, what string) (*progressbar.ProgressBar, error) {
	switch e.progress {
	case "never":
		return nil, nil
	case "always":
	case "auto", "":
		if !isTerminal(cmd.ErrOrStderr()) || total < 1<<20 {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("--progress %q: want auto, always or never", e.progress)
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }),
	), nil
}

// counting adds what passes through r to bar (when there is one).
func counting(r io.Reader, bar *progressbar.ProgressBar) io.Reader {
	if bar == nil {
		return r
	}
	return io.TeeReader(r, bar)
}

// localFile is a file to upload.
type localFile struct {
	path string
	blob string
	size int64
}

func storageUploadCmd(env *storageEnv) *cobra.Command {
	var prefix, name string
	cmd := &cobra.Command{
		Use:   "upload CONTAINER PATH…",
		Short: "Upload files and directories (recursively) to a container",
		Example: `  natch storage upload inputs data/            # blobs data/…, for autoStorageContainerName "inputs"
  natch storage upload inputs scene.blend --name scenes/a.blend
  natch storage upload "https://acct.blob.core.windows.net/in?sv=…&sig=…" frames/ --prefix run1/`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := collectUploads(args[1:], prefix, name)
			if err != nil {
				return err
			}
			c, done, err := env.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			if err := ensureContainer(cmd.Context(), c); err != nil {
				return err
			}
			var total int64
			for _, f := range files {
				total += f.size
			}
			bar, err := env.bar(cmd, total, "uploading")
			if err != nil {
				return err
			}
			for _, f := range files {
				if err := uploadFile(cmd.Context(), c, f, bar); err != nil {
					return err
				}
				if bar == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "uploaded %s as %s (%d bytes)\n", f.path, f.blob, f.size)
				}
			}
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintf(cmd.OutOrStdout(), "uploaded %d files (%d bytes)\n", len(files), total)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "put the blobs under this virtual directory (e.g. run1/)")
	cmd.Flags().StringVar(&name, "name", "", "the blob name of a single uploaded file")
	return cmd
}

// collectUploads lists the files of the paths: a file becomes
// <prefix><file name> (or name), a directory's files <prefix><dir name>/<path>.
func collectUploads(paths []string, prefix, name string) ([]localFile, error) {
	var files []localFile
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, localFile{path: p, blob: prefix + filepath.Base(p), size: fi.Size()})
			continue
		}
		base := filepath.Base(filepath.Clean(p))
		if base == "." || base == string(filepath.Separator) {
			base = ""
		}
		err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(p, fp)
			if err != nil {
				return err
			}
			files = append(files, localFile{path: fp, blob: prefix + path.Join(base, filepath.ToSlash(rel)), size: info.Size()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
	}
	if name != "" {
		if len(files) != 1 {
			return nil, errors.New("--name needs exactly one file to upload")
		}
		files[0].blob = prefix + name
	}
	for _, f := range files {
		if err := blob.CheckName(f.blob); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return files, nil
}

// ensureContainer creates an object store or account-key Azure container
// if it does not exist; SAS containers must exist already.
func ensureContainer(ctx context.Context, c blob.Container) error {
	switch c := c.(type) {
	case *blob.ObjectStore:
		return c.Create(ctx)
	case *blob.Azure:
		if err := c.Create(ctx); err != nil && !errors.Is(err, blob.ErrAccessDenied) {
			return err
		}
	}
	return nil
}

func uploadFile(ctx context.Context, c blob.Container, f localFile, bar *progressbar.ProgressBar) error {
	file, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer file.Close()
	if _, err := c.Put(ctx, f.blob, counting(file, bar), f.size, nil); err != nil {
		return fmt.Errorf("upload %s: %w", f.path, err)
	}
	return nil
}

func storageDownloadCmd(env *storageEnv) *cobra.Command {
	var dest string
	cmd := &cobra.Command{
		Use:   "download CONTAINER [PREFIX]",
		Short: "Download the blobs of a container (under PREFIX) into a directory",
		Long: "Download every blob whose name starts with PREFIX to DEST/<blob name>, creating directories;\n" +
			"names cannot leave DEST.",
		Example: `  natch storage download outputs results/ --dest ./out`,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			c, done, err := env.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			var blobs []blob.Props
			var total int64
			for p, err := range c.List(cmd.Context(), prefix) {
				if err != nil {
					return err
				}
				blobs = append(blobs, p)
				total += max(p.Size, 0)
			}
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
			root, err := os.OpenRoot(dest)
			if err != nil {
				return err
			}
			defer root.Close()
			bar, err := env.bar(cmd, total, "downloading")
			if err != nil {
				return err
			}
			for _, p := range blobs {
				if err := downloadBlob(cmd.Context(), c, root, p.Name, bar); err != nil {
					return err
				}
				if bar == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "downloaded %s (%d bytes)\n", p.Name, p.Size)
				}
			}
			if bar != nil {
				_ = bar.Finish()
			}
			if len(blobs) == 0 {
				return fmt.Errorf("no blob matches %q", prefix)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "downloaded %d blobs (%d bytes) to %s\n", len(blobs), total, dest)
			return nil
		},
	}
	cmd.Flags().StringVar(&dest, "dest", ".", "directory to download into")
	return cmd
}

// downloadBlob writes blob name to root/<name> through a temporary file.
func downloadBlob(ctx context.Context, c blob.Container, root *os.Root, name string, bar *progressbar.ProgressBar) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
	}
	rc, _, err := c.Get(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp := name + ".natch-download"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	_, err = io.Copy(f, counting(rc, bar))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("download %s: %w", name, err)
	}
	return nil
}

func storageListCmd(env *storageEnv) *cobra.Command {
	return &cobra.Command{
		Use:     "ls CONTAINER [PREFIX]",
		Aliases: []string{"list"},
		Short:   "List the blobs of a container (under PREFIX)",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(env.output)
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			c, done, err := env.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			type item struct {
				Name         string    `json:"name"`
				Size         int64     `json:"size"`
				LastModified time.Time `json:"lastModified"`
				ETag         string    `json:"etag,omitempty"`
			}
			items := []item{}
			for p, err := range c.List(cmd.Context(), prefix) {
				if err != nil {
					return err
				}
				items = append(items, item{p.Name, p.Size, p.LastModified, p.ETag})
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), items)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "NAME", "SIZE", "LAST MODIFIED")
			for _, it := range items {
				row(tw, it.Name, it.Size, it.LastModified.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

// outputJSON reports whether -o json was asked for.
func outputJSON(format string) (bool, error) {
	return (&clientEnv{output: format}).json()
}

func storageRemoveCmd(env *storageEnv) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "rm CONTAINER [BLOB…]",
		Short: "Delete blobs (or every blob under --prefix)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args[1:]
			if len(names) == 0 && !cmd.Flags().Changed("prefix") {
				return errors.New("rm: name the blobs to delete, or pass --prefix (--prefix '' deletes all)")
			}
			c, done, err := env.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			if cmd.Flags().Changed("prefix") {
				for p, err := range c.List(cmd.Context(), prefix) {
					if err != nil {
						return err
					}
					names = append(names, p.Name)
				}
			}
			for _, n := range names {
				if err := c.Delete(cmd.Context(), n); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "delete every blob whose name starts with this")
	return cmd
}

func storageURLCmd(env *storageEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "url CONTAINER",
		Short: "Print the reference tasks use for a container",
		Long: "Print the container reference for resource files (storageContainerUrl) and output files\n" +
			"(destination.container.containerUrl). A bare name is the account's auto-storage: nats://<name>\n" +
			"with the object store; with -o json the autoStorageContainerName form is printed too.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputJSON(env.output)
			if err != nil {
				return err
			}
			ref := args[0]
			out := map[string]string{"containerUrl": ref}
			switch {
			case isURL(ref):
				if _, err := blob.NewAzureFromURL(ref, blob.Config{}); err != nil {
					return err
				}
			default:
				name := strings.TrimPrefix(ref, "nats://")
				if err := blob.CheckContainerName(name); err != nil {
					return err
				}
				out["autoStorageContainerName"] = name
				out["containerUrl"] = "nats://" + name
				if env.storageConn != "" || env.getenv(EnvStorageConnectionString) != "" {
					out["containerUrl"] = name // Azure auto-storage: the workers resolve bare names
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["containerUrl"])
			return nil
		},
	}
}
