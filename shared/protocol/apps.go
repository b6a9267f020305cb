package protocol

import (
	"strings"

	"github.com/natch-io/natch/shared/batch"
)

// Application package states (Azure's PackageState).
const (
	PackagePending = "pending" // a first upload is under way; not usable yet
	PackageActive  = "active"  // usable by pools and tasks
)

// ApplicationRecord is an application as stored in topology.ApplicationsBucket
// under topology.ApplicationKey. Its packages' zips live in the account's
// object store container topology.ApplicationsContainer under PackageBlob.
type ApplicationRecord struct {
	ID             string               `json:"id"`
	DisplayName    string               `json:"displayName,omitempty"`
	DefaultVersion string               `json:"defaultVersion,omitempty"`
	AllowUpdates   bool                 `json:"allowUpdates"`
	Versions       []ApplicationVersion `json:"versions,omitempty"`
	ETag           string               `json:"eTag,omitempty"`
	LastModified   *batch.Time          `json:"lastModified,omitempty"`
}

// ApplicationVersion is one package (version) of an application.
type ApplicationVersion struct {
	Version            string      `json:"version"`
	State              string      `json:"state"`  // PackagePending or PackageActive
	Format             string      `json:"format"` // always "zip"
	Size               int64       `json:"size,omitempty"`
	SHA256             string      `json:"sha256,omitempty"` // hex digest of the zip
	LastActivationTime *batch.Time `json:"lastActivationTime,omitempty"`
	// Upload is set while a publish of this version is under way.
	Upload *PackageUpload `json:"upload,omitempty"`
}

// PackageUpload marks a publish in progress: the publisher's token and
// when it began (a publisher that died leaves a stale mark that a later
// publish takes over).
type PackageUpload struct {
	Token string     `json:"token"`
	Since batch.Time `json:"since"`
}

// Find returns the version v (compared case-insensitively) and its index,
// or nil and -1.
func (a *ApplicationRecord) Find(v string) (*ApplicationVersion, int) {
	for i := range a.Versions {
		if strings.EqualFold(a.Versions[i].Version, v) {
			return &a.Versions[i], i
		}
	}
	return nil, -1
}

// ActiveVersions returns the versions that pools and tasks may use, in
// the order they were first published.
func (a *ApplicationRecord) ActiveVersions() []string {
	out := []string{}
	for _, v := range a.Versions {
		if v.State == PackageActive {
			out = append(out, v.Version)
		}
	}
	return out
}

// PackageBlob is the name of a package's zip in its account's
// topology.ApplicationsContainer: "<app key>/<version key>.zip".
func PackageBlob(appID, version string) string {
	return batch.Key(appID) + "/" + strings.ToLower(version) + ".zip"
}

// AppPackage is an application package reference resolved when the task
// was added: the version to install and whether it is (then) the
// application's default version, which also sets AZ_BATCH_APP_PACKAGE_<id>.
type AppPackage struct {
	ApplicationID string `json:"applicationId"` // as the application record spells it
	Version       string `json:"version"`       // as the application record spells it
	Default       bool   `json:"default,omitempty"`
}
