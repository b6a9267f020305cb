package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/apppkg"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// staleUpload is how long a publish may hold its version before another
// publish may take it over (the first publisher is presumed dead).
const staleUpload = 15 * time.Minute

// Errors of the application operations.
var (
	// ErrPackageExists: the version exists and the application does not allow updates.
	ErrPackageExists = &batch.Error{Status: 409, Code: "ApplicationPackageExists",
		Message: "The specified application package already exists and the application does not allow updates."}
	// ErrPackageBeingUploaded: another publish of the version is under way.
	ErrPackageBeingUploaded = &batch.Error{Status: 409, Code: "ApplicationPackageBeingUploaded",
		Message: "The specified application package is being uploaded by another request."}
)

// PackageInfo is the result of a publish: the stored package.
type PackageInfo struct {
	ApplicationID string `json:"applicationId"`
	protocol.ApplicationVersion
}

// appKey is an application's storage key.
func appKey(account, id string) string { return topology.ApplicationKey(account, batch.Key(id)) }

// ListApplications returns the account's applications in id order.
func (s *Service) ListApplications(ctx context.Context, account string) ([]*protocol.ApplicationRecord, error) {
	es, err := s.st.Apps.List(ctx, account+".*")
	if err != nil {
		return nil, err
	}
	out := make([]*protocol.ApplicationRecord, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, nil
}

// GetApplication returns an application (ApplicationNotFound if it does not exist).
func (s *Service) GetApplication(ctx context.Context, account, id string) (*protocol.ApplicationRecord, error) {
	if batch.ValidApplicationID("applicationId", id) != nil {
		return nil, batch.ErrApplicationNotFound
	}
	a, _, err := s.st.Apps.Get(ctx, appKey(account, id))
	return a, err
}

// PatchApplication changes an application's displayName, defaultVersion
// and allowUpdates, creating the application when it does not exist. A
// defaultVersion must name an active version ("" clears it).
func (s *Service) PatchApplication(ctx context.Context, account, id string, p *batch.ApplicationPatch) (*protocol.ApplicationRecord, error) {
	if err := batch.ValidApplicationID("applicationId", id); err != nil {
		return nil, err
	}
	if p.DisplayName != nil && len(*p.DisplayName) > 1024 {
		return nil, batch.InvalidProperty("displayName", "the display name may not be longer than 1024 characters")
	}
	if p.DefaultVersion != nil && *p.DefaultVersion != "" {
		if err := batch.ValidApplicationVersion("defaultVersion", *p.DefaultVersion); err != nil {
			return nil, err
		}
	}
	apply := func(a *protocol.ApplicationRecord) error {
		if p.DisplayName != nil {
			a.DisplayName = *p.DisplayName
		}
		if p.AllowUpdates != nil {
			a.AllowUpdates = *p.AllowUpdates
		}
		if p.DefaultVersion != nil {
			a.DefaultVersion = ""
			if *p.DefaultVersion != "" {
				v, _ := a.Find(*p.DefaultVersion)
				if v == nil || v.State != protocol.PackageActive {
					return batch.InvalidProperty("defaultVersion", "the application has no active package of version "+*p.DefaultVersion)
				}
				a.DefaultVersion = v.Version
			}
		}
		a.ETag, a.LastModified = s.st.Stamp()
		return nil
	}
	key := appKey(account, id)
	for {
		a, _, err := s.st.Apps.Update(ctx, key, apply)
		if !errors.Is(err, batch.ErrApplicationNotFound) {
			return a, err
		}
		a = &protocol.ApplicationRecord{ID: id}
		if err := apply(a); err != nil {
			return nil, err
		}
		if _, err := s.st.Apps.Create(ctx, key, a); err == nil {
			return a, nil
		} else if !isKeyExists(err) {
			return nil, err
		}
	}
}

// DeleteApplication deletes an application and all its packages.
func (s *Service) DeleteApplication(ctx context.Context, account, id string) error {
	a, err := s.GetApplication(ctx, account, id)
	if err != nil {
		return err
	}
	c, err := s.packages(ctx, account, false)
	if err != nil {
		return err
	}
	for _, v := range a.Versions {
		if err := c.Delete(ctx, protocol.PackageBlob(a.ID, v.Version)); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return s.st.Apps.Delete(ctx, appKey(account, id))
}

// DeleteVersion deletes one package of an application: its record first
// (so nothing new resolves to it), then its zip. Deleting the default
// version clears the default.
func (s *Service) DeleteVersion(ctx context.Context, account, id, version string) error {
	if batch.ValidApplicationID("applicationId", id) != nil {
		return batch.ErrApplicationNotFound
	}
	if batch.ValidApplicationVersion("version", version) != nil {
		return batch.ErrApplicationPackageNotFound
	}
	var blobName string
	_, _, err := s.st.Apps.Update(ctx, appKey(account, id), func(a *protocol.ApplicationRecord) error {
		v, i := a.Find(version)
		if v == nil {
			return batch.ErrApplicationPackageNotFound
		}
		if v.Upload != nil && s.st.Now().Sub(v.Upload.Since.Time) < staleUpload {
			return ErrPackageBeingUploaded
		}
		blobName = protocol.PackageBlob(a.ID, v.Version)
		if strings.EqualFold(a.DefaultVersion, v.Version) {
			a.DefaultVersion = ""
		}
		a.Versions = append(a.Versions[:i], a.Versions[i+1:]...)
		a.ETag, a.LastModified = s.st.Stamp()
		return nil
	})
	if err != nil {
		return err
	}
	c, err := s.packages(ctx, account, false)
	if err != nil {
		return err
	}
	if err := c.Delete(ctx, blobName); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}

// PublishVersion stores a package read from body (at most
// Config.MaxPackageSize bytes) as version of application id, creating the
// application when it does not exist. The zip is spooled to a temporary
// file, checked (apppkg.Check), uploaded to the account's
// topology.ApplicationsContainer, and then activated in the record; a
// package that fails a check changes nothing. An existing version is
// replaced only when the application allows updates.
func (s *Service) PublishVersion(ctx context.Context, account, id, version string, body io.Reader) (*PackageInfo, error) {
	if err := batch.ValidApplicationID("applicationId", id); err != nil {
		return nil, err
	}
	if err := batch.ValidApplicationVersion("version", version); err != nil {
		return nil, err
	}
	key := appKey(account, id)
	// Fail early, before reading the body, on an obvious conflict.
	if a, _, err := s.st.Apps.Get(ctx, key); err == nil {
		if v, _ := a.Find(version); v != nil && v.State == protocol.PackageActive && !a.AllowUpdates {
			return nil, ErrPackageExists
		}
	} else if !errors.Is(err, batch.ErrApplicationNotFound) {
		return nil, err
	}
	f, size, sum, err := s.spool(body)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	if _, _, err := apppkg.Check(f, size, s.cfg.PackageLimits); err != nil {
		return nil, invalidPackage(err)
	}

	token := NewUUID()
	if err := s.reserveVersion(ctx, key, id, version, token); err != nil {
		return nil, err
	}
	c, err := s.packages(ctx, account, true)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err == nil {
		_, err = c.Put(ctx, protocol.PackageBlob(id, version), f, size, &blob.PutOpts{ContentType: "application/zip"})
	}
	if err != nil {
		s.releaseVersion(context.WithoutCancel(ctx), key, version, token)
		return nil, fmt.Errorf("store package %s/%s: %w", id, version, err)
	}
	var info *PackageInfo
	_, _, err = s.st.Apps.Update(ctx, key, func(a *protocol.ApplicationRecord) error {
		v, _ := a.Find(version)
		if v == nil || v.Upload == nil || v.Upload.Token != token {
			return ErrPackageBeingUploaded // a later publish took the version over
		}
		*v = protocol.ApplicationVersion{Version: v.Version, State: protocol.PackageActive, Format: "zip",
			Size: size, SHA256: sum, LastActivationTime: batch.At(s.st.Now())}
		a.ETag, a.LastModified = s.st.Stamp()
		info = &PackageInfo{ApplicationID: a.ID, ApplicationVersion: *v}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// spool copies body to a temporary file, at most MaxPackageSize bytes, and
// returns the file, its size and its SHA-256.
func (s *Service) spool(body io.Reader) (*os.File, int64, string, error) {
	f, err := os.CreateTemp(s.cfg.PackageTempDir, "natch-package-*.zip")
	if err != nil {
		return nil, 0, "", fmt.Errorf("spool package: %w", err)
	}
	fail := func(err error) (*os.File, int64, string, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, s.cfg.MaxPackageSize+1))
	switch {
	case err != nil:
		return fail(batch.InvalidBody("", "the package could not be read: "+err.Error()))
	case n > s.cfg.MaxPackageSize:
		return fail((&batch.Error{Status: 413, Code: "RequestBodyTooLarge",
			Message: "The application package is larger than this server accepts."}).
			With("MaxSizeInBytes", fmt.Sprint(s.cfg.MaxPackageSize)))
	case n == 0:
		return fail(invalidPackage(&apppkg.Error{Reason: "the package is empty"}))
	}
	return f, n, hex.EncodeToString(h.Sum(nil)), nil
}

// invalidPackage is the 400 of a package that fails apppkg's checks.
func invalidPackage(err error) error {
	var pe *apppkg.Error
	if !errors.As(err, &pe) {
		return err
	}
	e := &batch.Error{Status: 400, Code: "InvalidApplicationPackage",
		Message: "The application package is not a valid zip file or contains an entry that is not allowed.", Err: err}
	if pe.Entry != "" {
		e = e.With("EntryName", pe.Entry)
	}
	return e.With("Reason", pe.Reason)
}

// reserveVersion marks version as being uploaded by token, creating the
// application and the (pending) version as needed.
func (s *Service) reserveVersion(ctx context.Context, key, id, version, token string) error {
	now := s.st.Now()
	mark := &protocol.PackageUpload{Token: token, Since: *batch.At(now)}
	reserve := func(a *protocol.ApplicationRecord) error {
		v, _ := a.Find(version)
		switch {
		case v == nil:
			a.Versions = append(a.Versions, protocol.ApplicationVersion{Version: version,
				State: protocol.PackagePending, Format: "zip", Upload: mark})
		case v.Upload != nil && now.Sub(v.Upload.Since.Time) < staleUpload:
			return ErrPackageBeingUploaded
		case v.State == protocol.PackageActive && !a.AllowUpdates:
			return ErrPackageExists
		default:
			v.Upload = mark
		}
		a.ETag, a.LastModified = s.st.Stamp()
		return nil
	}
	for {
		_, _, err := s.st.Apps.Update(ctx, key, reserve)
		if !errors.Is(err, batch.ErrApplicationNotFound) {
			return err
		}
		a := &protocol.ApplicationRecord{ID: id}
		if err := reserve(a); err != nil {
			return err
		}
		if _, err := s.st.Apps.Create(ctx, key, a); !isKeyExists(err) {
			return err
		}
	}
}

// releaseVersion undoes reserveVersion after a failed upload: a version
// that was never active goes away, an active one keeps its old package.
func (s *Service) releaseVersion(ctx context.Context, key, version, token string) {
	_, _, err := s.st.Apps.Update(ctx, key, func(a *protocol.ApplicationRecord) error {
		v, i := a.Find(version)
		if v == nil || v.Upload == nil || v.Upload.Token != token {
			return state.ErrStop
		}
		if v.State == protocol.PackagePending {
			a.Versions = append(a.Versions[:i], a.Versions[i+1:]...)
		} else {
			v.Upload = nil
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "release application package reservation", "key", key, "version", version, "err", err)
	}
}

// packages opens the account's application package container, creating
// its bucket when create is set.
func (s *Service) packages(ctx context.Context, account string, create bool) (*blob.ObjectStore, error) {
	c, err := blob.NewObjectStore(s.js, topology.ApplicationsContainer, blob.Config{Account: account,
		Replicas: s.cfg.Replicas, Logger: s.cfg.Logger})
	if err != nil {
		return nil, err
	}
	if create {
		if err := c.Create(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ResolvePackages checks applicationPackageReferences against the
// account's applications and returns them resolved to versions: a
// reference without a version takes the application's default version.
// Every unknown application or version is reported in one 409
// InvalidApplicationPackageReferences error whose values name each bad
// reference ("app:version" → why).
func (s *Service) ResolvePackages(ctx context.Context, account, property string, refs []batch.ApplicationPackageReference) ([]protocol.AppPackage, error) {
	return s.newResolver(account).resolve(ctx, property, refs)
}

// resolver resolves package references, reading each application once.
type resolver struct {
	s       *Service
	account string
	apps    map[string]*protocol.ApplicationRecord // nil value: no such application
}

func (s *Service) newResolver(account string) *resolver {
	return &resolver{s: s, account: account, apps: map[string]*protocol.ApplicationRecord{}}
}

func (r *resolver) app(ctx context.Context, id string) (*protocol.ApplicationRecord, error) {
	k := batch.Key(id)
	if a, ok := r.apps[k]; ok {
		return a, nil
	}
	a, _, err := r.s.st.Apps.Get(ctx, appKey(r.account, id))
	if err != nil && !errors.Is(err, batch.ErrApplicationNotFound) {
		return nil, err
	}
	r.apps[k] = a
	return a, nil
}

func (r *resolver) resolve(ctx context.Context, property string, refs []batch.ApplicationPackageReference) ([]protocol.AppPackage, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if err := batch.ValidatePackageReferences(property, refs); err != nil {
		return nil, err
	}
	bad := &batch.Error{Status: 409, Code: "InvalidApplicationPackageReferences",
		Message: "One or more of the specified application package references are invalid."}
	out := make([]protocol.AppPackage, 0, len(refs))
	for _, ref := range refs {
		name := ref.ApplicationID + ":" + ref.Version
		if ref.Version == "" {
			name = ref.ApplicationID + ":default"
		}
		a, err := r.app(ctx, ref.ApplicationID)
		if err != nil {
			return nil, err
		}
		if a == nil {
			bad = bad.With(name, "The specified application does not exist.")
			continue
		}
		want := ref.Version
		if want == "" {
			if a.DefaultVersion == "" {
				bad = bad.With(name, "The application has no default version; specify a version.")
				continue
			}
			want = a.DefaultVersion
		}
		v, _ := a.Find(want)
		if v == nil || v.State != protocol.PackageActive {
			bad = bad.With(name, "The specified application package does not exist.")
			continue
		}
		out = append(out, protocol.AppPackage{ApplicationID: a.ID, Version: v.Version,
			Default: strings.EqualFold(v.Version, a.DefaultVersion)})
	}
	if len(bad.Values) > 0 {
		return nil, bad
	}
	return out, nil
}

// ApplicationSummary is the data plane's view of an application: the
// versions that are active.
func ApplicationSummary(a *protocol.ApplicationRecord) batch.ApplicationSummary {
	return batch.ApplicationSummary{ID: a.ID, DisplayName: a.DisplayName, Versions: a.ActiveVersions()}
}

func isKeyExists(err error) bool { return errors.Is(err, jetstream.ErrKeyExists) }

// StagingPrefix is where a client that publishes over NATS uploads a zip
// in the account's topology.ApplicationsContainer before it calls
// application.publish with the blob's name. Application ids cannot contain
// a period, so no package blob starts with it.
const StagingPrefix = ".staging/"

// OpenStaged opens a staged package. done closes it and deletes the blob,
// whatever the publish's outcome.
func (s *Service) OpenStaged(ctx context.Context, account, name string) (io.Reader, func(), error) {
	c, err := s.packages(ctx, account, false)
	if err != nil {
		return nil, nil, err
	}
	rc, _, err := c.Get(ctx, name)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidName) {
		return nil, nil, batch.InvalidProperty("stagedBlob", "no staged package named "+name)
	}
	if err != nil {
		return nil, nil, err
	}
	return rc, func() {
		_ = rc.Close()
		if err := c.Delete(context.WithoutCancel(ctx), name); err != nil {
			s.log.WarnContext(ctx, "delete staged package", "blob", name, "err", err)
		}
	}, nil
}
