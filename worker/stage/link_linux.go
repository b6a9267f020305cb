package stage

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// linkInto hard-links src (a path outside root) as dir/name inside root.
// The directory is opened through root, so a symbolic link cannot
// redirect the link out of it.
func linkInto(root *os.Root, dir, name, src string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Linkat(unix.AT_FDCWD, src, int(d.Fd()), name, 0); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return nil
}
