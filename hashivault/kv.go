package hashivault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/hint"
)

// KVVersion returns the KV version of the mount: Options.KVVersion when set,
// else detected once (like `vault kv`, from sys/internal/ui/mounts/<mount>)
// and remembered.
func (b *Backend) KVVersion(ctx context.Context) (int, error) {
	v, _, err := b.kvLayout(ctx, "")
	if err != nil {
		return 0, vaultly.WrapError("kv-version", b.s.Mount, b.Name(), err)
	}
	return v, nil
}

// kvLayout returns the KV version and the prefix of every API path: for v1
// "<mount>/", for v2 the mount's own path (the "data/" or "metadata/"
// segment goes after it) and the sub-path of Mount inside it. The detection
// is a single flight on a detached context: concurrent first calls share
// one request, and each caller leaves when its own ctx ends. path, the
// entry the caller is after ("" for none), only goes into error messages.
func (b *Backend) kvLayout(ctx context.Context, path string) (int, kvPaths, error) {
	if l := b.kv.Load(); l != nil {
		return l.version, l.paths, nil
	}
	if b.s.KVVersion != 0 {
		l := &kvInfo{b.s.KVVersion, kvPaths{mount: b.s.Mount + "/"}}
		b.kv.Store(l)
		return l.version, l.paths, nil
	}
	ch := b.flights.DoChan("kv", func() (any, error) {
		if l := b.kv.Load(); l != nil {
			return l, nil
		}
		dctx, done, err := b.detach(ctx)
		if err != nil {
			return nil, err
		}
		defer done()
		l, err := b.detectKV(dctx)
		if err != nil {
			return nil, err
		}
		b.kv.Store(l)
		return l, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return 0, kvPaths{}, b.detectError(r.Err, path)
		}
		l := r.Val.(*kvInfo)
		return l.version, l.paths, nil
	case <-ctx.Done():
		return 0, kvPaths{}, mapError(ctx.Err())
	}
}

// detectKV reads the mount's description the way `vault kv` does.
func (b *Backend) detectKV(ctx context.Context) (*kvInfo, error) {
	var sec *api.Secret
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		sec, err = c.Logical().ReadWithContext(ctx, b.mountsPath())
		return err
	})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil {
		return nil, &driver.Error{Code: driver.NotFound, Err: fmt.Errorf("no kv mount at %s", b.s.Mount)}
	}
	typ, _ := sec.Data["type"].(string)
	if typ != "kv" && typ != "generic" {
		return nil, &driver.Error{Code: driver.Config, Err: fmt.Errorf("mount %s is a %q secrets engine, not kv", b.s.Mount, typ)}
	}
	v := 1
	if opts, ok := sec.Data["options"].(map[string]any); ok {
		if s, ok := opts["version"].(string); ok && s == "2" {
			v = 2
		}
	}
	p := kvPaths{mount: b.s.Mount + "/"}
	if mp, ok := sec.Data["path"].(string); ok && mp != "" {
		mp = strings.TrimSuffix(mp, "/") + "/"
		if sub, ok := strings.CutPrefix(b.s.Mount+"/", mp); ok {
			p = kvPaths{mount: mp, sub: sub}
		}
	}
	return &kvInfo{v, p}, nil
}

// mountsPath is the API path the KV version is detected from.
func (b *Backend) mountsPath() string { return "sys/internal/ui/mounts/" + b.s.Mount }

// detectError words a failed detection for the caller reading path. A
// permission error (Vault answers 403 both for a mount that does not exist
// and for a token with no capability on any path under the mount, whatever
// the policy says about sys/internal/ui/mounts) names path, since the
// failing request was not for it, and the policy line that lets the token
// see the mount. Other failures (a sealed or unreachable server, an expired
// token) keep their own text: they are not about the mount.
func (b *Backend) detectError(err error, path string) error {
	de, ok := errors.AsType[*driver.Error](err)
	if !ok || de.Code != driver.PermissionDenied {
		return err
	}
	c := *de
	what := "mount " + b.s.Mount
	example := b.s.Mount + "/data/<path>"
	if path != "" {
		what += " (reading " + path + ")"
		example = b.s.Mount + "/data/" + path
	}
	c.Err = &hint.Mark{Kind: hint.KVDetect, Mount: b.s.Mount, Path: path,
		Err: &vaultError{msg: "cannot detect the kv version of " + what + ": " + causeText(de), cause: de.Err}}
	c.Hint = fmt.Sprintf(`either no kv mount is at %s, or the token may use no path under it: vault describes a mount only to a token with a capability in it, e.g. path %q { capabilities = ["read"] }; or set Options.KVVersion to 1 or 2 to skip detection`,
		b.s.Mount, example)
	return &c
}

// kvInfo is what kvLayout detected, stored once.
type kvInfo struct {
	version int
	paths   kvPaths
}

// kvPaths locates entries: mount is the engine's mount path with a trailing
// '/', sub a prefix inside it ("" or ending in '/').
type kvPaths struct {
	mount, sub string
}

// v1 returns the API path of an entry on a KV v1 mount.
func (p kvPaths) v1(path string) string { return p.mount + p.sub + path }

// v2 returns the API path of an entry under kind ("data", "metadata",
// "delete", "undelete", "destroy") on a KV v2 mount.
func (p kvPaths) v2(kind, path string) string { return p.mount + kind + "/" + p.sub + path }

// KVPath returns the API path of the entry at path for a KV v2 endpoint kind
// ("data", "metadata", "delete", "undelete", "destroy"; ignored for KV v1).
// Management calls use it.
func (b *Backend) KVPath(ctx context.Context, kind, path string) (string, int, error) {
	v, p, err := b.kvLayout(ctx, path)
	if err != nil {
		return "", 0, vaultly.WrapError("kv-path", path, b.Name(), err)
	}
	if v == 1 {
		return p.v1(path), 1, nil
	}
	return p.v2(kind, path), 2, nil
}

// kvMeta is KV v2's version metadata.
type kvMeta struct {
	CreatedTime    string            `json:"created_time"`
	DeletionTime   string            `json:"deletion_time"`
	Destroyed      bool              `json:"destroyed"`
	Version        int               `json:"version"`
	CustomMetadata map[string]string `json:"custom_metadata"`
}

type kv2Response struct {
	Data *struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata *kvMeta                    `json:"metadata"`
	} `json:"data"`
}

type kv1Response struct {
	Data map[string]json.RawMessage `json:"data"`
}

// Read returns every field of the entry at path (relative to the mount).
// version 0 is the latest; on KV v1 any other version is InvalidArgument.
// Strings come back as they are, other JSON values as their compact JSON
// text. A missing entry, or a soft-deleted or destroyed version, is
// NotFound, the latter two with a hint.
func (b *Backend) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	if version < 0 {
		return nil, &driver.Error{Code: driver.InvalidArgument, Err: fmt.Errorf("read %s: negative version", path)}
	}
	v, p, err := b.kvLayout(ctx, path)
	if err != nil {
		return nil, err
	}
	if v == 1 && version != 0 {
		return nil, &driver.Error{Code: driver.InvalidArgument, Err: fmt.Errorf("read %s: mount %s is kv v1, which has no versions", path, b.s.Mount)}
	}
	var e *driver.Entry
	err = b.Call(b.withPath(withOp(ctx, opKVRead), path), func(ctx context.Context, c *api.Client) error {
		var err error
		if v == 1 {
			e, err = b.read1(ctx, c, p, path)
		} else {
			e, err = b.read2(ctx, c, p, path, version)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// rawGet sends a GET (the raw API does not apply the client timeout, so
// rawGet does) and returns the response body for 2xx and 404 answers; for a
// 404, nf is the *api.ResponseError, kept as the cause of a NotFound.
func (b *Backend) rawGet(ctx context.Context, c *api.Client, apiPath string, params map[string][]string) (body []byte, nf error, err error) {
	if dl, ok := ctx.Deadline(); b.s.Timeout > 0 && (!ok || time.Until(dl) > b.s.Timeout) {
		// (A caller's deadline within the timeout bounds the request
		// already: no second timer.)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.s.Timeout)
		defer cancel()
	}
	var resp *api.Response
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok && ci.hc != nil {
		resp, err = b.fastGet(ctx, ci, c, apiPath, params)
	} else {
		resp, err = c.Logical().ReadRawWithDataWithContext(ctx, apiPath, params)
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		body, rerr := io.ReadAll(resp.Body)
		if rerr != nil {
			return nil, nil, rerr
		}
		if err == nil { // vault/api reports every 4xx; be safe
			err = &api.ResponseError{StatusCode: http.StatusNotFound, HTTPMethod: http.MethodGet, URL: apiPath}
		}
		return body, err, nil
	}
	if err != nil {
		return nil, nil, err
	}
	body, err = readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, nil, err
	}
	return body, nil, nil
}

// fastGet is what Logical().ReadRawWithDataWithContext does for a GET on
// a client vaultly built, without vault/api's request machinery (a
// retryablehttp request wrapped around the http.Request, copies of the
// client's headers under its locks), which costs ~5% of a read on loopback.
// The request goes through the same *http.Client and so through vaultly's
// transport (node choice, redirects, the answer limit, X-Vault-Index), with
// the headers such a client sends: the token, X-Vault-Request and the
// namespace. As with vault/api, an answer of 400 or more is a
// *api.ResponseError (vault/api's own Response.Error builds it), and a 429's
// Retry-After is recorded for Call.
func (b *Backend) fastGet(ctx context.Context, ci *callInfo, c *api.Client, apiPath string, params map[string][]string) (*api.Response, error) {
	// As vault/api joins them: an address given with a trailing slash
	// ("http://vault:8200/") must not make "//v1/", which Vault answers
	// with a redirect to the cleaned path.
	u := strings.TrimRight(c.Address(), "/") + "/v1/" + apiPath
	if len(params) > 0 {
		u += "?" + url.Values(params).Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header[api.RequestHeaderName] = requestHeaderTrue
	if tok := c.Token(); tok != "" {
		req.Header[api.AuthHeaderName] = []string{tok}
	}
	if ns := b.s.Namespace; ns != "" {
		req.Header[api.NamespaceHeaderName] = []string{ns}
	}
	hr, err := ci.hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp := &api.Response{Response: hr}
	if hr.StatusCode == http.StatusTooManyRequests {
		d := parseRetryAfter(hr.Header.Get("Retry-After"), time.Now())
		ci.mu.Lock()
		ci.retryAfter = d
		ci.mu.Unlock()
	}
	return resp, resp.Error()
}

// plainString returns the text of raw when it is a JSON string with
// nothing to decode (no escape, no control character, valid UTF-8: what
// json.Unmarshal would return unchanged), without a decoder.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range in {
		switch {
		case c == '\\' || c == '"' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// readBody reads an answer's body whole, in one allocation when its length
// is known (the transport has already bounded it).
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 || n > 1<<20 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// requestHeaderTrue is X-Vault-Request's value, shared by every request
// (net/http only reads it).
var requestHeaderTrue = []string{"true"}

// readSecret reads apiPath like Logical().ReadWithDataWithContext, but a
// 404 comes back as nf (its *api.ResponseError) instead of a silent nil:
// sec is the parsed body, which on KV v2 describes a deleted version, and
// nil when empty.
func (b *Backend) readSecret(ctx context.Context, c *api.Client, apiPath string, params map[string][]string) (sec *api.Secret, nf error, err error) {
	body, nf, err := b.rawGet(ctx, c, apiPath, params)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nf, nil
	}
	sec, err = api.ParseSecret(bytes.NewReader(body))
	if err != nil {
		if nf != nil {
			return nil, nf, nil
		}
		return nil, nil, malformedJSON(apiPath, err)
	}
	return sec, nf, nil
}

// listSecret lists apiPath (a GET with list=true, as vault/api does); see
// readSecret.
func (b *Backend) listSecret(ctx context.Context, c *api.Client, apiPath string) (sec *api.Secret, nf error, err error) {
	return b.readSecret(ctx, c, apiPath, map[string][]string{"list": {"true"}})
}

// notFound is a NotFound error whose cause is the server's 404 (nil when
// the answer was a 200 without data).
func notFound(nf error, format string, args ...any) *driver.Error {
	return &driver.Error{Code: driver.NotFound, Err: &vaultError{msg: fmt.Sprintf(format, args...), cause: nf}}
}

// malformed is the error for an answer that cannot be understood.
func malformed(format string, args ...any) *driver.Error {
	return &driver.Error{Code: driver.Malformed, Err: fmt.Errorf(format, args...)}
}

// malformedJSON is the error for a complete answer from apiPath that is
// not the JSON expected (wrong types, cut short). A failure to read the
// answer (connection lost, past the size limit) is returned as it is, for
// MapError to classify.
func malformedJSON(apiPath string, err error) error {
	if _, ok := errors.AsType[*tooLargeError](err); ok {
		return err
	}
	if _, ok := errors.AsType[*bodyError](err); ok {
		return err
	}
	return malformed("read %s: the server's answer was malformed: %s", apiPath, jsonErrText(err))
}

// malformedField is the error for a 200 answer whose field is missing or
// of the wrong type (a map, a list) where the server always sends it.
func malformedField(apiPath, field, want string) *driver.Error {
	return malformed("read %s: the server's answer was malformed: field %s is missing or not %s", apiPath, field, want)
}

func (b *Backend) read1(ctx context.Context, c *api.Client, p kvPaths, path string) (*driver.Entry, error) {
	body, nf, err := b.rawGet(ctx, c, p.v1(path), nil)
	if err != nil {
		return nil, err
	}
	if nf != nil {
		return nil, notFound(nf, "no entry at %s", p.v1(path))
	}
	var r kv1Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, malformedJSON(p.v1(path), err)
	}
	if r.Data == nil {
		return nil, malformedField(p.v1(path), "data", "an object")
	}
	fields, err := fieldTexts(r.Data)
	if err != nil {
		return nil, malformed("read %s: %w", p.v1(path), err)
	}
	return &driver.Entry{Path: path, Fields: fields}, nil
}

func (b *Backend) read2(ctx context.Context, c *api.Client, p kvPaths, path string, version int) (*driver.Entry, error) {
	apiPath := p.v2("data", path)
	var params map[string][]string
	if version > 0 {
		params = map[string][]string{"version": {strconv.Itoa(version)}}
	}
	body, nf, err := b.rawGet(ctx, c, apiPath, params)
	if err != nil {
		return nil, err
	}
	var r kv2Response
	if len(bytes.TrimSpace(body)) > 0 || nf == nil {
		if err := json.Unmarshal(body, &r); err != nil && nf == nil {
			return nil, malformedJSON(apiPath, err)
		}
	}
	var meta *kvMeta
	if r.Data != nil {
		meta = r.Data.Metadata
	}
	at := "latest version"
	if version > 0 {
		at = "version " + strconv.Itoa(version)
	}
	if meta != nil && meta.Destroyed {
		e := notFound(nf, "%s of %s was destroyed", versionName(meta.Version, at), apiPath)
		e.Hint = "a destroyed version cannot be recovered; read another version or write a new one"
		return nil, e
	}
	if meta != nil && meta.DeletionTime != "" {
		if dt, err := time.Parse(time.RFC3339Nano, meta.DeletionTime); err == nil && !dt.After(time.Now()) {
			return nil, &driver.Error{Code: driver.NotFound,
				Err: &hint.Mark{Kind: hint.VersionDeleted, Path: path, Version: meta.Version,
					Err: &vaultError{msg: fmt.Sprintf("%s of %s was deleted at %s", versionName(meta.Version, at), apiPath, meta.DeletionTime), cause: nf}},
				Hint: undeleteHint(path, meta.Version)}
		}
	}
	if nf == nil && (r.Data == nil || r.Data.Data == nil) {
		// Vault answers 404 for a missing or deleted version, never 200.
		return nil, malformedField(apiPath, "data.data", "an object")
	}
	if nf != nil || r.Data == nil || r.Data.Data == nil {
		if version > 0 {
			return nil, notFound(nf, "no %s at %s", at, apiPath)
		}
		return nil, notFound(nf, "no entry at %s", apiPath)
	}
	fields, err := fieldTexts(r.Data.Data)
	if err != nil {
		return nil, malformed("read %s: %w", apiPath, err)
	}
	e := &driver.Entry{Path: path, Fields: fields}
	if meta != nil {
		e.Version = meta.Version
		md := &driver.Metadata{Destroyed: meta.Destroyed, CustomMetadata: meta.CustomMetadata}
		md.CreatedTime, _ = time.Parse(time.RFC3339Nano, meta.CreatedTime)
		if meta.DeletionTime != "" {
			md.DeletionTime, _ = time.Parse(time.RFC3339Nano, meta.DeletionTime)
		}
		e.Metadata = md
	}
	return e, nil
}

func versionName(v int, fallback string) string {
	if v > 0 {
		return "version " + strconv.Itoa(v)
	}
	return fallback
}

// fieldTexts turns JSON values into field text: strings unquoted, every
// other value as its compact JSON encoding (numbers keep their exact text).
func fieldTexts(data map[string]json.RawMessage) (map[string]string, error) {
	out := make(map[string]string, len(data))
	for k, raw := range data {
		s, err := fieldText(raw)
		if err != nil {
			return nil, fmt.Errorf("field %q is not valid json", k)
		}
		out[k] = s
	}
	return out, nil
}

func fieldText(raw json.RawMessage) (string, error) {
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}
