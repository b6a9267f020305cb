package blob

import (
	"bytes"
	"crypto/md5" //nolint:gosec // Content-MD5 is Azure's integrity header, not a security measure
	"encoding/base64"
	"fmt"
	"hash"
	"io"
)

// sizedReader counts and hashes what a Put reads, and turns a byte count
// that differs from the announced size into an error instead of io.EOF, so
// that the backend aborts the upload rather than commit a short blob.
type sizedReader struct {
	r    io.Reader
	size int64 // -1: unknown
	n    int64
	md5  hash.Hash
}

func newSizedReader(r io.Reader, size int64) *sizedReader {
	return &sizedReader{r: r, size: size, md5: md5.New()} //nolint:gosec // see import
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	s.md5.Write(p[:n])
	if s.size >= 0 && s.n > s.size {
		return n, fmt.Errorf("reader yielded more than the announced %d bytes", s.size)
	}
	if err == io.EOF && s.size >= 0 && s.n != s.size {
		return n, fmt.Errorf("reader yielded %d bytes, not the announced %d", s.n, s.size)
	}
	return n, err
}

// sum is the MD5 of the bytes read so far.
func (s *sizedReader) sum() []byte { return s.md5.Sum(nil) }

// verifyReader checks a download at its end: the byte count against size
// (unless -1) and the MD5 against want (unless nil).
type verifyReader struct {
	rc   io.ReadCloser
	size int64
	want []byte
	n    int64
	md5  hash.Hash
}

// verify wraps rc so that its end is checked against size and the MD5 want;
// with neither to check it returns rc.
func verify(rc io.ReadCloser, size int64, want []byte) io.ReadCloser {
	if size < 0 && want == nil {
		return rc
	}
	v := &verifyReader{rc: rc, size: size, want: want}
	if want != nil {
		v.md5 = md5.New() //nolint:gosec // see import
	}
	return v
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.n += int64(n)
	if v.md5 != nil {
		v.md5.Write(p[:n])
	}
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("%w: body longer than the announced %d bytes", ErrChecksumMismatch, v.size)
	}
	if err != io.EOF {
		return n, err
	}
	if v.size >= 0 && v.n != v.size {
		return n, fmt.Errorf("%w: body has %d bytes, not the announced %d", ErrChecksumMismatch, v.n, v.size)
	}
	if v.md5 != nil {
		if got := v.md5.Sum(nil); !bytes.Equal(got, v.want) {
			return n, fmt.Errorf("%w: body MD5 %s, recorded %s", ErrChecksumMismatch,
				base64.StdEncoding.EncodeToString(got), base64.StdEncoding.EncodeToString(v.want))
		}
	}
	return n, io.EOF
}

func (v *verifyReader) Close() error { return v.rc.Close() }
