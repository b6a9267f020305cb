package batch

import (
	"fmt"
	"strings"
)

// ApplicationSummary is an application as the data plane lists it
// (GET /applications, GET /applications/{applicationId}): its id, display
// name and the versions that pools and tasks may reference.
type ApplicationSummary struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Versions    []string `json:"versions"`
}

// ApplicationPatch is the body of natch's PATCH /applications/{applicationId}:
// the properties it supplies change, the others stay. Azure sets these
// through ARM; natch has no ARM.
type ApplicationPatch struct {
	DisplayName    *string `json:"displayName,omitempty"`
	DefaultVersion *string `json:"defaultVersion,omitempty"` // "" clears it
	AllowUpdates   *bool   `json:"allowUpdates,omitempty"`
}

// ErrApplicationNotFound is Azure's 404 for an unknown application.
var ErrApplicationNotFound = &Error{Status: 404, Code: "ApplicationNotFound", Message: "The specified application does not exist."}

// ErrApplicationPackageNotFound is natch's 404 for an unknown version of an
// existing application.
var ErrApplicationPackageNotFound = &Error{Status: 404, Code: "ApplicationPackageNotFound",
	Message: "The specified application package does not exist."}

// MaxPackageReferences is the most applicationPackageReferences a pool or
// task may have (Azure's limit per pool).
const MaxPackageReferences = 10

// ValidApplicationID checks an application id as Azure does: 1 to 64
// letters, digits, hyphens and underscores.
func ValidApplicationID(property, id string) error { return ValidID(property, id) }

// ValidApplicationVersion checks a package version as Azure does: 1 to 64
// letters, digits, hyphens, underscores and periods, not starting with a
// period.
func ValidApplicationVersion(property, v string) error {
	if v == "" {
		return MissingProperty(property)
	}
	if len(v) > 64 {
		return InvalidProperty(property, "the version may not be longer than 64 characters")
	}
	if v[0] == '.' {
		return InvalidProperty(property, "the version may not start with a period")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return InvalidProperty(property, "the version may contain only letters, digits, hyphens, underscores and periods")
		}
	}
	return nil
}

// ValidatePackageReferences checks the shape of applicationPackageReferences
// (property is where they sit, e.g. "applicationPackageReferences"); whether
// the applications and versions exist is checked by the service.
func ValidatePackageReferences(property string, refs []ApplicationPackageReference) error {
	if len(refs) > MaxPackageReferences {
		return InvalidProperty(property, fmt.Sprintf("at most %d application package references are allowed", MaxPackageReferences))
	}
	seen := map[string]bool{}
	for i, r := range refs {
		p := fmt.Sprintf("%s[%d]", property, i)
		if err := ValidApplicationID(p+".applicationId", r.ApplicationID); err != nil {
			return err
		}
		if r.Version != "" {
			if err := ValidApplicationVersion(p+".version", r.Version); err != nil {
				return err
			}
		}
		k := strings.ToLower(r.ApplicationID)
		if seen[k] {
			return InvalidProperty(p+".applicationId", "an application may be referenced only once")
		}
		seen[k] = true
	}
	return nil
}
