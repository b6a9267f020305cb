package blob

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// Azurite's well-known development account ("UseDevelopmentStorage=true").
const (
	devAccount  = "devstoreaccount1"
	devKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devEndpoint = "http://127.0.0.1:10000/" + devAccount
)

// containerRef is a checked Azure container URL.
type containerRef struct {
	url       string // scheme://host/[account/]container[?SAS]
	container string
}

// parseContainerURL checks an Azure container URL strictly; see NewAzureFromURL.
func parseContainerURL(raw string, allowHTTP bool) (containerRef, error) {
	if strings.Contains(raw, "#") {
		return containerRef{}, fmt.Errorf("%w: fragment in the URL", ErrInvalidRef)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return containerRef{}, fmt.Errorf("%w: %w", ErrInvalidRef, redactErr(err))
	}
	if err := checkEndpoint(u, allowHTTP); err != nil {
		return containerRef{}, err
	}
	if u.RawPath != "" {
		return containerRef{}, fmt.Errorf("%w: escaped characters in the path", ErrInvalidRef)
	}
	segs := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	want, form := 1, "/<container>"
	if pathStyle(u.Host) {
		want, form = 2, "/<account>/<container>"
	}
	if !strings.HasPrefix(u.Path, "/") || len(segs) != want {
		return containerRef{}, fmt.Errorf("%w: the path must be %s (a container, not a blob)", ErrInvalidRef, form)
	}
	if want == 2 {
		if err := checkAccountName(segs[0]); err != nil {
			return containerRef{}, err
		}
	}
	name := segs[want-1]
	if err := CheckContainerName(name); err != nil {
		return containerRef{}, fmt.Errorf("%w: %w", ErrInvalidRef, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return containerRef{}, fmt.Errorf("%w: query: %w", ErrInvalidRef, redactErr(err))
	}
	for k, v := range q {
		if len(v) != 1 {
			return containerRef{}, fmt.Errorf("%w: query parameter %q repeated", ErrInvalidRef, k)
		}
	}
	parts, err := sas.ParseURL(raw)
	if err != nil {
		return containerRef{}, fmt.Errorf("%w: %w", ErrInvalidRef, redactErr(err))
	}
	if parts.UnparsedParams != "" || parts.Snapshot != "" || parts.VersionID != "" {
		return containerRef{}, fmt.Errorf("%w: query parameters other than a SAS token", ErrInvalidRef)
	}
	clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawQuery: u.RawQuery}
	return containerRef{url: clean.String(), container: name}, nil
}

// checkEndpoint checks the scheme, host and extras of an Azure URL.
func checkEndpoint(u *url.URL, allowHTTP bool) error {
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: scheme %q, want https", ErrInvalidRef, u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrInvalidRef)
	case u.User != nil:
		return fmt.Errorf("%w: user information in the URL", ErrInvalidRef)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("%w: fragment in the URL", ErrInvalidRef)
	case u.Scheme == "http" && !allowHTTP && !loopback(u.Hostname()):
		return fmt.Errorf("%w: plain http to %s (use https, or set Config.AllowHTTP)", ErrInvalidRef, u.Hostname())
	}
	return nil
}

// loopback reports whether host is localhost or a loopback IP.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pathStyle reports whether a URL with this host names the account in its
// first path segment (Azurite, IP endpoints) rather than in the host name.
func pathStyle(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

var accountNameRe = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

func checkAccountName(name string) error {
	if !accountNameRe.MatchString(name) {
		return fmt.Errorf("%w: storage account name %q must be 3 to 24 lower-case letters and digits", ErrInvalidRef, name)
	}
	return nil
}

// connString is a parsed account-key connection string.
type connString struct {
	account, key string
	endpoint     string // blob service URL without trailing slash
}

// parseConnectionString parses an account-key connection string strictly:
// known keys only, each once.
func parseConnectionString(s string, allowHTTP bool) (connString, error) {
	kv := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimSuffix(strings.TrimSpace(s), ";"), ";") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		canon, known := connStringKeys[strings.ToLower(k)]
		switch {
		case !ok || k == "":
			return connString{}, fmt.Errorf("%w: want Key=Value pairs separated by ';'", ErrInvalidRef)
		case !known:
			return connString{}, fmt.Errorf("%w: unknown key %q", ErrInvalidRef, k)
		case kv[canon] != "":
			return connString{}, fmt.Errorf("%w: key %q repeated", ErrInvalidRef, k)
		}
		kv[canon] = strings.TrimSpace(v)
	}
	if strings.EqualFold(kv["UseDevelopmentStorage"], "true") {
		if len(kv) != 1 {
			return connString{}, fmt.Errorf("%w: UseDevelopmentStorage=true takes no other key", ErrInvalidRef)
		}
		return connString{account: devAccount, key: devKey, endpoint: devEndpoint}, nil
	}
	cs := connString{account: kv["AccountName"], key: kv["AccountKey"]}
	if kv["SharedAccessSignature"] != "" || kv["UseDevelopmentStorage"] != "" {
		return connString{}, fmt.Errorf("%w: want an account-key connection string (use a container URL for a SAS)", ErrInvalidRef)
	}
	if cs.account == "" || cs.key == "" {
		return connString{}, fmt.Errorf("%w: AccountName and AccountKey are required", ErrInvalidRef)
	}
	if err := checkAccountName(cs.account); err != nil {
		return connString{}, err
	}
	cs.endpoint = kv["BlobEndpoint"]
	if cs.endpoint == "" {
		proto, suffix := cmp.Or(kv["DefaultEndpointsProtocol"], "https"), cmp.Or(kv["EndpointSuffix"], "core.windows.net")
		cs.endpoint = proto + "://" + cs.account + ".blob." + suffix
	}
	cs.endpoint = strings.TrimSuffix(cs.endpoint, "/")
	u, err := url.Parse(cs.endpoint)
	if err != nil {
		return connString{}, fmt.Errorf("%w: blob endpoint: %w", ErrInvalidRef, err)
	}
	if err := checkEndpoint(u, allowHTTP); err != nil {
		return connString{}, fmt.Errorf("blob endpoint %s: %w", cs.endpoint, err)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return connString{}, fmt.Errorf("%w: blob endpoint %s has a query", ErrInvalidRef, cs.endpoint)
	}
	return cs, nil
}

// connStringKeys maps the lower-cased keys of storage connection strings to
// their canonical spelling.
var connStringKeys = map[string]string{ //nolint:gochecknoglobals // read-only table
	"defaultendpointsprotocol": "DefaultEndpointsProtocol",
	"accountname":              "AccountName",
	"accountkey":               "AccountKey",
	"endpointsuffix":           "EndpointSuffix",
	"blobendpoint":             "BlobEndpoint",
	"queueendpoint":            "QueueEndpoint",
	"tableendpoint":            "TableEndpoint",
	"fileendpoint":             "FileEndpoint",
	"sharedaccesssignature":    "SharedAccessSignature",
	"usedevelopmentstorage":    "UseDevelopmentStorage",
}

// sigRe matches the value of a SAS signature in a URL.
var sigRe = regexp.MustCompile(`(?i)([?&;]sig=)[^&\s"'\\]*`)

// redactErr hides SAS signatures that err's message may carry (transport
// errors quote the request URL). errors.Is and As still see err.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := sigRe.ReplaceAllString(msg, "${1}REDACTED")
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
