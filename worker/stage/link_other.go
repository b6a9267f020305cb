//go:build !linux

package stage

import (
	"errors"
	"os"
)

// linkInto is not supported here: cached blobs are copied.
func linkInto(*os.Root, string, string, string) error { return errors.ErrUnsupported }
