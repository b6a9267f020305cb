package worker

import "syscall"

// diskUsed is the space in use on the file system holding path, in bytes
// (blocks less free blocks, as df shows it), or 0 if statfs fails.
func diskUsed(path string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil || st.Blocks < st.Bfree {
		return 0
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}
