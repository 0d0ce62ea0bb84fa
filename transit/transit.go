// Package transit is a typed client for Vault's transit secrets engine:
// encryption as a service, envelope encryption with data keys, signatures
// and HMACs.
//
// A *Transit runs every request through a Vault backend (normally a
// *hashivault.Backend), so it shares that backend's client, token renewal,
// re-login and error mapping. Every error it returns is a *vaultly.Error
// wrapped once, with Op "transit <operation>", Ref the key name and a code
// (InvalidArgument for bad input or a ciphertext the key cannot decrypt,
// NotFound for a missing key, PermissionDenied, Unavailable, ...). Plaintexts,
// data keys and inputs never appear in an error, a log line or a URL: they
// travel only in request and response bodies.
//
// Plaintexts go in and come out as []byte; the base64 encoding the HTTP API
// needs is done here. Ciphertexts, signatures and HMACs are typed strings
// ("vault:v3:...") that expose the key version that produced them.
//
// A *Transit is safe for concurrent use and holds nothing that needs closing;
// closing the backend is the owner's job. A *DataKey is not safe for
// concurrent Destroy; its Seal and Open are.
package transit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/retry"
)

// Caller runs fn with an authenticated Vault client and returns fn's error
// mapped to a *driver.Error (re-logging in once on an invalid token).
// *hashivault.Backend implements it.
type Caller interface {
	Call(ctx context.Context, fn func(ctx context.Context, c *api.Client) error) error
}

// Options configures a Transit. A nil *Options means the defaults.
type Options struct {
	// Mount is the path the transit engine is mounted at. Default "transit".
	Mount string
	// Backend is the name errors report as their backend. Default "vault".
	Backend string
	// Retry is the policy for requests that fail with a retryable code
	// (Unavailable, ResourceExhausted; Retry-After honoured). A Transit
	// does not go through a Store, so this is the one retry layer. RotateKey
	// is never retried: a rotation whose answer was lost may have happened.
	// Default: nil means retry's defaults (until the caller's deadline or
	// the 30s budget, full-jitter backoff from 50ms capped at 1s);
	// &retry.Policy{MaxAttempts: 1} disables.
	Retry *retry.Policy
}

// Transit encrypts, decrypts, signs and MACs with named keys of one transit
// mount. Create it with New.
type Transit struct {
	c       Caller
	mount   string
	backend string
	retry   *retry.Policy
}

// New returns a Transit that sends its requests through b. b must not be nil.
func New(b Caller, opts *Options) (*Transit, error) {
	if b == nil {
		return nil, &vaultly.Error{Op: "transit new", Code: vaultly.Config, Err: errors.New("backend is nil")}
	}
	t := &Transit{c: b, mount: "transit", backend: "vault"}
	if opts != nil {
		if opts.Mount != "" {
			t.mount = strings.Trim(opts.Mount, "/")
		}
		if opts.Backend != "" {
			t.backend = opts.Backend
		}
		t.retry = opts.Retry
	}
	if err := checkName("mount", t.mount, true); err != nil {
		return nil, &vaultly.Error{Op: "transit new", Code: vaultly.Config, Err: err}
	}
	return t, nil
}

// Mount returns the mount path the Transit uses.
func (t *Transit) Mount() string { return t.mount }

// checkName rejects names that would change the request path.
func checkName(field, s string, slashes bool) error {
	if s == "" {
		return errors.New(field + " is empty")
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." || (!slashes && seg != s) {
			return errors.New(field + " is not a valid name")
		}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return errors.New(field + " contains a character not allowed in a name")
		}
	}
	return nil
}

func (t *Transit) invalid(op, key, msg string) error {
	return &vaultly.Error{Op: "transit " + op, Ref: key, Backend: t.backend, Code: vaultly.InvalidArgument, Err: errors.New(msg)}
}

func (t *Transit) path(op, key string) string {
	return t.mount + "/" + op + "/" + url.PathEscape(key)
}

// write sends data to path and returns the response data. It never returns
// (nil, nil).
func (t *Transit) write(ctx context.Context, op, key, path string, data map[string]any) (map[string]any, error) {
	if err := checkName("key name", key, false); err != nil {
		return nil, t.invalid(op, key, err.Error())
	}
	var out map[string]any
	err := t.call(ctx, op, func(ctx context.Context, c *api.Client) error {
		s, err := c.Logical().WriteWithContext(ctx, path, data)
		if err != nil {
			return err
		}
		if s == nil {
			out = map[string]any{}
			return nil
		}
		out = s.Data
		return nil
	})
	if err != nil {
		return nil, t.wrap(op, key, err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// writeBatch sends a batch request. A 400 whose body carries batch_results
// (some items failed) is not an error: the per-item errors are in the result.
func (t *Transit) writeBatch(ctx context.Context, op, key, path string, data map[string]any, n int) ([]map[string]any, error) {
	if err := checkName("key name", key, false); err != nil {
		return nil, t.invalid(op, key, err.Error())
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, t.invalid(op, key, "cannot encode request")
	}
	var results []map[string]any
	err = t.call(ctx, op, func(ctx context.Context, c *api.Client) error {
		// Logical().WriteRawWithContext cancels its timeout context before
		// the caller can read a 200 body, and WriteWithContext drops the
		// body of a 400; a batch needs both, so this is the raw request.
		// Cancelling rctx once the body is read releases its timer.
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := c.NewRequest(http.MethodPut, "/v1/"+path)
		r.BodyBytes = body
		//lint:ignore SA1019 see above: the one vault/api call that keeps the body readable
		resp, err := c.RawRequestWithContext(rctx, r)
		if resp != nil {
			defer resp.Body.Close()
		}
		var re *api.ResponseError
		if err != nil && !(errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && resp != nil) {
			return err
		}
		var parsed struct {
			Data struct {
				BatchResults []map[string]any `json:"batch_results"`
			} `json:"data"`
		}
		if resp == nil || json.NewDecoder(resp.Body).Decode(&parsed) != nil || len(parsed.Data.BatchResults) != n {
			if err != nil {
				return err
			}
			return &vaultly.Error{Code: vaultly.Malformed, Err: errors.New("response has no batch results")}
		}
		results = parsed.Data.BatchResults
		return nil
	})
	if err != nil {
		return nil, t.wrap(op, key, err)
	}
	return results, nil
}

// call runs fn through the backend, retrying retryable failures under the
// Transit's policy (never for "rotate key").
func (t *Transit) call(ctx context.Context, op string, fn func(ctx context.Context, c *api.Client) error) error {
	if op == "rotate key" {
		return t.c.Call(ctx, fn)
	}
	return retry.Do(ctx, t.retry, func(ctx context.Context, _ int) error {
		return t.c.Call(ctx, fn)
	})
}

// wrap wraps a Call error once, making transit's own 400s clearer.
func (t *Transit) wrap(op, key string, err error) error {
	out := vaultly.WrapError("transit "+op, key, t.backend, err)
	e, ok := out.(*vaultly.Error)
	if !ok {
		return out
	}
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return out
	}
	c := *e
	msg := strings.Join(re.Errors, "; ")
	switch {
	case strings.Contains(msg, "key not found"):
		c.Code, c.Hint = vaultly.NotFound, "no transit key named "+strconv.Quote(key)+" in mount "+t.mount
	case strings.Contains(msg, "message authentication failed"):
		c.Code, c.Hint = vaultly.InvalidArgument, "the ciphertext was not encrypted with key "+strconv.Quote(key)+", or its context differs"
	default:
		c.Code = vaultly.InvalidArgument
	}
	return &c
}

// itemError turns a batch item's error text into a *vaultly.Error.
func (t *Transit) itemError(op, key string, i int, msg string) error {
	e := &vaultly.Error{Op: "transit " + op, Ref: key + "[" + strconv.Itoa(i) + "]", Backend: t.backend, Code: vaultly.InvalidArgument, Err: errors.New(msg)}
	if strings.Contains(msg, "message authentication failed") {
		e.Hint = "the ciphertext was not encrypted with key " + strconv.Quote(key) + ", or its context differs"
	}
	return e
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func num(m map[string]any, k string) int {
	switch v := m[k].(type) {
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

// decode64 decodes a base64 field of a response; the error never quotes it.
func (t *Transit) decode64(op, key, s string) ([]byte, error) {
	p, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &vaultly.Error{Op: "transit " + op, Ref: key, Backend: t.backend, Code: vaultly.Malformed, Err: errors.New("response field is not valid base64")}
	}
	return p, nil
}

func (t *Transit) missing(op, key, field string) error {
	return &vaultly.Error{Op: "transit " + op, Ref: key, Backend: t.backend, Code: vaultly.Malformed, Err: errors.New("response has no " + field)}
}
