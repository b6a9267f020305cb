package blob

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/natstest"
)

// TestObjectStoreRefusesForeignLinks: an object that links into another
// account's bucket must not be readable through this container.
func TestObjectStoreRefusesForeignLinks(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	ours, err := NewObjectStore(js, "inputs", Config{Account: "ours"})
	require.NoError(t, err)
	theirs, err := NewObjectStore(js, "inputs", Config{Account: "theirs"})
	require.NoError(t, err)
	require.NotEqual(t, ours.Bucket(), theirs.Bucket())
	require.NoError(t, ours.Create(t.Context()))
	require.NoError(t, ours.Create(t.Context()), "Create is idempotent")
	require.NoError(t, theirs.Create(t.Context()))
	put(t, theirs, "secret", []byte("not yours"))

	theirObs, err := js.ObjectStore(t.Context(), theirs.Bucket())
	require.NoError(t, err)
	info, err := theirObs.GetInfo(t.Context(), "secret")
	require.NoError(t, err)
	ourObs, err := js.ObjectStore(t.Context(), ours.Bucket())
	require.NoError(t, err)
	_, err = ourObs.AddLink(t.Context(), "link", info)
	require.NoError(t, err)

	_, _, err = ours.Get(t.Context(), "link")
	require.ErrorIs(t, err, ErrAccessDenied)
	require.True(t, strings.Contains(err.Error(), theirs.Bucket()))
}
