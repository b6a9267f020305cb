package azurevmss_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const (
	subscription = "sub-1"
	group        = "rg-1"
	apiVersion   = "2024-11-01" // armcompute v6.4.0
	token        = "fake-token"
	setsPath     = "/subscriptions/" + subscription + "/resourceGroups/" + group + "/providers/Microsoft.Compute/virtualMachineScaleSets/"
	opsPath      = "/subscriptions/" + subscription + "/providers/Microsoft.Compute/locations/westeurope/operations/"
)

// fakeCredential is an azcore.TokenCredential with a fixed token.
type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// armRequest is a request the fake Resource Manager answered.
type armRequest struct {
	Method, Path, APIVersion string
	Body                     string
	Status                   int
	At                       time.Time
}

// fakeARM plays Azure Resource Manager for virtual machine scale sets over
// TLS. It fails the test on any request it does not expect: a wrong
// method, path, api-version, token or body.
type fakeARM struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	sets     map[string]*fakeSet
	ops      map[string]*fakeOp
	nextOp   int
	reqs     []armRequest
	throttle int  // answer this many list requests with 429 Retry-After: 1
	failNext bool // answer the next capacity update with 409
	polls    int  // InProgress answers before an operation succeeds
	// booted, when set, is called (with f.mu held) for every instance the
	// fake creates: the VM boots.
	booted func(set string, id int)
}

type fakeSet struct {
	capacity int
	vms      []int // instance ids
	nextID   int
}

type fakeOp struct {
	polls int
	done  func()
}

func newFakeARM(t *testing.T) *fakeARM {
	f := &fakeARM{t: t, sets: map[string]*fakeSet{}, ops: map[string]*fakeOp{}, polls: 1}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut by Close
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// addSet creates a scale set with n running instances (ids 0..n-1).
func (f *fakeARM) addSet(name string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSet{capacity: n}
	for range n {
		s.vms = append(s.vms, s.nextID)
		s.nextID++
	}
	f.sets[name] = s
}

// computerName is the computer name Azure gives instance id of a scale set
// with computerNamePrefix "natch": the prefix and the id in base 36 on 6
// digits.
func computerName(id int) string {
	return fmt.Sprintf("natch%06s", strconv.FormatInt(int64(id), 36))
}

// options points the armcompute clients at the fake.
func (f *fakeARM) options() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.srv.URL + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: f.srv.URL}}},
		Transport: f.srv.Client(),
		Retry:     policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 5 * time.Second},
	}}
}

// requests returns the requests answered so far, filtered by method and
// path suffix ("" matches all).
func (f *fakeARM) requests(method, suffix string) []armRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []armRequest
	for _, r := range f.reqs {
		if (method == "" || r.Method == method) && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeARM) instances(name string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.sets[name].vms...)
}

func (f *fakeARM) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := armRequest{Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"), Body: string(body), At: time.Now()}
	status := f.answer(w, r, body)
	rec.Status = status
	f.reqs = append(f.reqs, rec)
}

func (f *fakeARM) fail(w http.ResponseWriter, status int, code, format string, args ...any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": fmt.Sprintf(format, args...)}})
	return status
}

func (f *fakeARM) reply(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// answer serves one request with f.mu held and returns its status.
func (f *fakeARM) answer(w http.ResponseWriter, r *http.Request, body []byte) int {
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		f.t.Errorf("fake ARM: %s %s: Authorization %q", r.Method, r.URL.Path, got)
		return f.fail(w, 401, "InvalidAuthenticationToken", "bad token")
	}
	if v := r.URL.Query().Get("api-version"); v != apiVersion {
		f.t.Errorf("fake ARM: %s %s: api-version %q, want %q", r.Method, r.URL.Path, v, apiVersion)
		return f.fail(w, 400, "InvalidApiVersionParameter", "api-version %q", v)
	}
	if id, ok := strings.CutPrefix(r.URL.Path, opsPath); ok && r.Method == http.MethodGet {
		return f.operation(w, id)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, setsPath)
	if !ok {
		f.t.Errorf("fake ARM: unexpected path %s %s", r.Method, r.URL.Path)
		return f.fail(w, 404, "NotFound", "no route")
	}
	name, action, _ := strings.Cut(rest, "/")
	s := f.sets[name]
	if s == nil {
		return f.fail(w, 404, "ResourceNotFound", "The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' was not found.", name)
	}
	switch {
	case r.Method == http.MethodGet && action == "virtualMachines":
		if f.throttle > 0 {
			f.throttle--
			w.Header().Set("Retry-After", "1")
			return f.fail(w, 429, "TooManyRequests", "throttled")
		}
		vms := make([]map[string]any, 0, len(s.vms))
		for _, id := range s.vms {
			vms = append(vms, map[string]any{
				"name": name + "_" + strconv.Itoa(id), "instanceId": strconv.Itoa(id), "location": "westeurope",
				"properties": map[string]any{"provisioningState": "Succeeded",
					"osProfile": map[string]any{"computerName": computerName(id)}}})
		}
		return f.reply(w, 200, map[string]any{"value": vms})
	case r.Method == http.MethodGet && action == "":
		return f.reply(w, 200, f.setJSON(name, s, "Succeeded"))
	case r.Method == http.MethodPatch && action == "":
		var req struct {
			SKU struct {
				Capacity *int `json:"capacity"`
			} `json:"sku"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.SKU.Capacity == nil || string(body) != fmt.Sprintf(`{"sku":{"capacity":%d}}`, *req.SKU.Capacity) {
			f.t.Errorf("fake ARM: PATCH %s: body %s, want only sku.capacity", name, body)
			return f.fail(w, 400, "InvalidRequestContent", "bad body")
		}
		if f.failNext {
			f.failNext = false
			return f.fail(w, 409, "OperationNotAllowed", "Operation results in exceeding quota limits of Core.")
		}
		want := *req.SKU.Capacity
		if want < s.capacity {
			f.t.Errorf("fake ARM: PATCH %s lowers the capacity %d → %d", name, s.capacity, want)
		}
		f.startOp(w, func() {
			for s.capacity < want {
				s.vms = append(s.vms, s.nextID)
				if f.booted != nil {
					f.booted(name, s.nextID)
				}
				s.nextID++
				s.capacity++
			}
		})
		return f.reply(w, 200, f.setJSON(name, s, "Updating"))
	case r.Method == http.MethodPost && action == "delete":
		var req struct {
			InstanceIDs []string `json:"instanceIds"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.InstanceIDs) == 0 {
			f.t.Errorf("fake ARM: POST %s/delete: body %s", name, body)
			return f.fail(w, 400, "InvalidRequestContent", "bad body")
		}
		f.startOp(w, func() {
			for _, id := range req.InstanceIDs {
				for i, vm := range s.vms {
					if strconv.Itoa(vm) == id {
						s.vms = append(s.vms[:i], s.vms[i+1:]...)
						s.capacity--
						break
					}
				}
			}
		})
		w.WriteHeader(202)
		return 202
	}
	f.t.Errorf("fake ARM: unexpected %s %s", r.Method, r.URL.Path)
	return f.fail(w, 405, "MethodNotAllowed", "no route")
}

func (f *fakeARM) setJSON(name string, s *fakeSet, state string) map[string]any {
	return map[string]any{"name": name, "location": "westeurope",
		"id":         setsPath + name,
		"sku":        map[string]any{"name": "Standard_D2s_v5", "tier": "Standard", "capacity": s.capacity},
		"properties": map[string]any{"provisioningState": state}}
}

// startOp registers a long-running operation that does done once it has
// been polled f.polls times, and points the response's
// Azure-AsyncOperation header at it.
func (f *fakeARM) startOp(w http.ResponseWriter, done func()) {
	f.nextOp++
	id := "op-" + strconv.Itoa(f.nextOp)
	f.ops[id] = &fakeOp{done: done}
	w.Header().Set("Azure-AsyncOperation", f.srv.URL+opsPath+id+"?api-version="+apiVersion)
}

func (f *fakeARM) operation(w http.ResponseWriter, id string) int {
	op := f.ops[id]
	if op == nil {
		return f.fail(w, 404, "NotFound", "no operation %s", id)
	}
	if op.polls < f.polls {
		op.polls++
		return f.reply(w, 200, map[string]any{"name": id, "status": "InProgress"})
	}
	if op.done != nil {
		op.done()
		op.done = nil
	}
	return f.reply(w, 200, map[string]any{"name": id, "status": "Succeeded"})
}
