package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/pkisecrets"
)

// depKind says what a rendering depended on, and so what makes it stale.
type depKind int

const (
	depKV      depKind = iota + 1 // a KV entry: its change (watch)
	depDynamic                    // a leased secret: its rotation (lease engine)
	depCert                       // a PKI certificate: its re-issue before expiry
	depStatic                     // a non-KV read without a lease: every static interval
)

// dep is one thing a rendering used. key is the mount-prefixed entry path
// (kv), the full Vault path (dynamic, static) or the path and parameters
// (cert); never a value.
type dep struct {
	kind depKind
	key  string
}

func (d dep) String() string { return d.key }

// tmplSpec is one template to render: from the config file's template
// block, or from inject's flags.
type tmplSpec struct {
	name          string // in errors and logs: the source file, or "template N"
	src           string
	dest          string      // "-": stdout
	perms         os.FileMode // 0: 0600, or the existing file's mode (see writeOutput)
	permsSet      bool
	command       []string // run after a rendering changed dest; nil: none
	shell         bool     // command is one string for sh -c
	timeout       time.Duration
	missingKeyErr bool
	createDirs    bool
	backup        bool // keep the previous text in dest.bak (Agent's backup)
	leftDelim     string
	rightDelim    string
	wait          waitSpec
}

// tmplEnv is what templates read through during one inject (or run): it
// resolves references like get, remembers what each rendering used, and
// keeps dynamic secrets and certificates alive between renderings. It is
// used from one goroutine (the one that renders); the lease engine and the
// watches tell it about changes through changed. Close releases everything.
type tmplEnv struct {
	k  *kvConn
	rd *refReader

	dyns  map[string]*dynSecret  // by full path
	certs map[string]*certSecret // by path and parameters
	// changed receives the dependencies that changed (rotated, re-issued);
	// nil when nothing watches (a one-shot inject).
	changed *changeQueue
	// onEvent, when set, is also told every lease event (run restarts on
	// rotations and revokes the replaced lease).
	onEvent func(path string, ev vaultly.DynamicEvent[map[string]string])
	// revoke revokes the leases issued here when the env is closed.
	revoke bool
	// keep is true when dynamic secrets stay open between renderings
	// (watch mode); a one-shot render closes them (their leases live on).
	keep bool
	// logf prints a line about what happened (to stderr), never a value.
	logf func(format string, args ...any)
}

func newTmplEnv(k *kvConn) *tmplEnv {
	return &tmplEnv{k: k, rd: &refReader{k: k}, dyns: map[string]*dynSecret{}, certs: map[string]*certSecret{},
		logf: func(string, ...any) {}}
}

// Close closes every dynamic secret (revoking their leases when revoke is
// set) and stops the certificate timers.
func (e *tmplEnv) Close(ctx context.Context) error {
	var errs []error
	for _, d := range e.dyns {
		errs = append(errs, d.close(ctx))
	}
	for _, c := range e.certs {
		c.stop()
	}
	return errors.Join(errs...)
}

// render renders t and returns the text and what it used. Errors name the
// template and line, never a value.
func (e *tmplEnv) render(ctx context.Context, t *tmplSpec) ([]byte, map[dep]bool, error) {
	r := &renderState{e: e, ctx: ctx, t: t, deps: map[dep]bool{}, raw: map[string]*tmplSecret{}}
	tt, err := parseTmpl(t, r.funcs())
	if err != nil {
		return nil, nil, &usageError{err}
	}
	var buf bytes.Buffer
	if err := tt.Execute(&buf, nil); err != nil {
		return nil, r.deps, execError(err)
	}
	if len(r.errs) > 0 {
		return nil, r.deps, r.errs[0]
	}
	return buf.Bytes(), r.deps, nil
}

// parseTmpl parses t with funcs (nil: functions that do nothing, for
// checking the syntax before any network call).
func parseTmpl(t *tmplSpec, funcs template.FuncMap) (*template.Template, error) {
	if funcs == nil {
		funcs = (&renderState{t: t}).funcs()
	}
	missing := "missingkey=default"
	if t.missingKeyErr {
		missing = "missingkey=error"
	}
	return template.New(t.name).Option(missing).Delims(t.leftDelim, t.rightDelim).Funcs(funcs).Parse(t.src)
}

// renderState is one rendering of one template.
type renderState struct {
	e    *tmplEnv // nil: checking the syntax only
	ctx  context.Context
	t    *tmplSpec
	deps map[dep]bool
	raw  map[string]*tmplSecret // KV entries read whole in this rendering
	errs []error                // found while printing (tmplSecret.String)
}

func (r *renderState) funcs() template.FuncMap {
	f := helperFuncs()
	f["secret"] = r.secret
	f["secrets"] = r.secrets
	f["pkiCert"] = r.pkiCert
	return f
}

// secrets is consul-template's list function: the names under a KV path
// (its metadata/ segment optional on KV v2, as consul-template shims it),
// sorted, folders ending in "/"; nothing there is an empty list, as
// consul-template gives. It is read at each rendering (a static
// dependency, re-read every -static-interval with -watch).
func (r *renderState) secrets(p string) ([]string, error) {
	if r.e == nil {
		return nil, nil
	}
	t, m, err := r.e.k.resolveAny(r.ctx, strings.TrimSuffix(p, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s: secrets %s: %w", r.where(), p, err)
	}
	if !m.isKV() {
		return nil, usagef("%s: secrets lists KV paths; %s is on a %s mount", r.where(), t, m.typ)
	}
	b, err := r.e.k.backend(r.ctx, t.mount)
	if err != nil {
		return nil, err
	}
	path := t.path
	if rest, ok := strings.CutPrefix(path+"/", "metadata/"); ok {
		if v, err := b.KVVersion(r.ctx); err == nil && v == 2 {
			path = strings.TrimSuffix(rest, "/")
		}
	} else if path == "metadata" {
		if v, err := b.KVVersion(r.ctx); err == nil && v == 2 {
			path = ""
		}
	}
	names, err := b.List(r.ctx, path)
	if vaultly.CodeOf(err) == vaultly.NotFound {
		names, err = []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: secrets %s: %w", r.where(), p, err)
	}
	r.deps[dep{depStatic, "list:" + t.String()}] = true
	return names, nil
}

func (r *renderState) where() string { return "template " + r.t.name }

// tmplSecret is what `secret PATH` without a key gives a template, shaped
// as consul-template's Secret: .Data holds the fields of a KV v1 entry or
// a dynamic secret, and {data, metadata} for a KV v2 entry (.Data.data.KEY),
// as Vault answers. Printed as a whole it is the entry's default key
// ("value"), which is what `secret PATH` meant before this form existed.
type tmplSecret struct {
	LeaseID       string
	LeaseDuration int // seconds
	Renewable     bool
	Data          map[string]any
	Warnings      []string

	fields map[string]any // where the default key is looked up
	r      *renderState
	ref    string
}

// String is the default key's value, for {{ secret "PATH" }}; an entry
// without it fails the rendering (after it ends: fmt gives String no way
// to fail).
func (s *tmplSecret) String() string {
	if s.r == nil {
		return ""
	}
	key := s.r.e.defaultKey()
	v, ok := s.fields[key]
	if !ok {
		s.r.errs = append(s.r.errs, &usageError{fmt.Errorf("%s: secret %q is printed whole, but it has no %q key (it has %s): write secret \"PATH:KEY\", or {{ with secret \"PATH\" }}{{ .Data.KEY }}{{ end }} (.Data.data.KEY on KV v2)",
			s.r.where(), s.ref, key, strings.Join(quoted(slices.Sorted(maps.Keys(s.fields))), ", "))})
		return ""
	}
	return fmt.Sprint(v)
}

func (e *tmplEnv) defaultKey() string {
	if k := e.k.primary.DefaultKey(); k != "" {
		return k
	}
	return vaultly.DefaultKey
}

// secret is the template function: `secret "PATH:KEY"` is one value (a
// string), `secret "PATH"` the whole secret (a tmplSecret), and `secret
// "pki/issue/ROLE" "common_name=..."` (consul-template's write form) a
// certificate with Vault's field names. PATH is a KV entry, mount first
// (secret/app/db; ?version=N pins a version), or any other secrets
// engine's path (database/creds/app), which is a dynamic secret.
func (r *renderState) secret(args ...string) (any, error) {
	if len(args) == 0 {
		return nil, usagef("%s: secret needs a PATH", r.where())
	}
	if r.e == nil {
		return &tmplSecret{}, nil
	}
	s := args[0]
	if !strings.HasPrefix(s, vaultly.URIScheme) && strings.Contains(s, "?") {
		s = vaultly.URIScheme + s // consul-template's "secret/app?version=2"
	}
	ref, err := parseRefAt(r.where(), s)
	if err != nil {
		return nil, err
	}
	t, m, err := r.e.k.resolveAny(r.ctx, ref.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.where(), err)
	}
	if len(args) > 1 {
		if m.typ == "pki" && strings.HasPrefix(t.path, "issue/") && ref.Key == "" {
			c, err := r.cert(t, args[1:])
			if err != nil {
				return nil, err
			}
			return c.vaultShape(), nil
		}
		return nil, usagef("%s: secret with KEY=VALUE arguments (a write) is supported for PKI issue paths only (pki/issue/ROLE), not %s", r.where(), t)
	}
	if !m.isKV() {
		return r.dynamic(t, ref)
	}
	if ref.Key != "" || strings.Contains(args[0], ":") {
		v, err := r.e.rd.read(r.ctx, r.where(), ref)
		if err != nil {
			return nil, err
		}
		kt, _ := r.e.k.resolve(r.ctx, ref.Path)
		r.deps[dep{depKV, kt.String()}] = true
		return v, nil
	}
	return r.kvWhole(t, m, ref)
}

// kvWhole reads a whole KV entry for the consul-template form, with its
// stored JSON types (numbers stay numbers in toJSON). A KV v2 path may
// carry its data/ segment, as consul-template accepts.
func (r *renderState) kvWhole(t kvTarget, m mountInfo, ref vaultly.Ref) (any, error) {
	b, err := r.e.k.backend(r.ctx, t.mount)
	if err != nil {
		return nil, err
	}
	v := m.version
	if v == 0 {
		if v, err = b.KVVersion(r.ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", r.where(), err)
		}
	}
	if p, ok := strings.CutPrefix(t.path, "data/"); ok && v == 2 {
		t.path = p
	}
	if t.path == "" {
		return nil, usagef("%s: secret %q names a mount, not an entry", r.where(), t)
	}
	r.deps[dep{depKV, t.String()}] = true
	key := t.String() + "@" + strconv.Itoa(ref.Version)
	if s, ok := r.raw[key]; ok {
		return s, nil
	}
	e, err := b.GetEntry(r.ctx, t.path, ref.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.where(), atTarget(t, err))
	}
	s := &tmplSecret{Data: e.Data, fields: e.Data, r: r, ref: t.String()}
	if v == 2 {
		md := map[string]any{
			"version":         e.Version.Version,
			"created_time":    vaultTime(e.Version.CreatedTime),
			"deletion_time":   vaultTime(e.Version.DeletionTime),
			"destroyed":       e.Version.Destroyed,
			"custom_metadata": nil,
		}
		if e.CustomMetadata != nil {
			md["custom_metadata"] = e.CustomMetadata
		}
		s.Data = map[string]any{"data": e.Data, "metadata": md}
	}
	r.raw[key] = s
	return s, nil
}

// vaultTime is a time as Vault writes it in KV metadata ("" for zero).
func vaultTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// dynamic reads a secret of an engine that is not KV: a leased secret is
// issued once and kept alive by the lease engine (and shared by every
// template of this process); one without a lease is read at each rendering.
func (r *renderState) dynamic(t kvTarget, ref vaultly.Ref) (any, error) {
	if ref.Version != 0 {
		return nil, usagef("%s: %s is not a KV entry: it has no versions", r.where(), t)
	}
	path := t.String()
	d, err := r.e.dynamic(r.ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.where(), err)
	}
	var s *tmplSecret
	if d.static {
		sec, err := readDynamic(r.ctx, r.e.k.primary, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.where(), err)
		}
		r.deps[dep{depStatic, path}] = true
		s = &tmplSecret{LeaseID: sec.LeaseID, LeaseDuration: sec.LeaseDuration, Renewable: sec.Renewable, Data: sec.Data, Warnings: sec.Warnings}
	} else {
		r.deps[dep{depDynamic, path}] = true
		cur := d.d.Current()
		data := make(map[string]any, len(cur.Value))
		for k, v := range cur.Value {
			data[k] = v
		}
		left := 0
		if !cur.Lease.Expires.IsZero() {
			left = max(int(time.Until(cur.Lease.Expires)/time.Second), 0)
		}
		s = &tmplSecret{LeaseID: cur.Lease.ID, LeaseDuration: left, Renewable: cur.Lease.Renewable, Data: data}
	}
	s.fields, s.r, s.ref = s.Data, r, path
	if ref.Key == "" {
		return s, nil
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return nil, missingKeyf("%s: no key %q in the secret at %s (it has %s)", r.where(), ref.Key, path, strings.Join(quoted(slices.Sorted(maps.Keys(s.Data))), ", "))
	}
	return fmt.Sprint(v), nil
}

// tmplCert is what pkiCert gives a template, as consul-template's: the
// certificate, its key and the issuing CA in PEM, also under .Data.
type tmplCert struct {
	Cert    string
	Key     string
	CA      string
	CACerts []string
	Data    *tmplCert
}

// pkiCert is consul-template's pkiCert: `pkiCert "pki/issue/ROLE"
// "common_name=NAME" "ttl=72h" "alt_names=a,b" "ip_sans=..." "uri_sans=..."`.
// The certificate is issued once per path and parameters for every
// template of this process (so two templates get a matching cert and key)
// and issued again at 2/3 of its lifetime, which re-renders them.
func (r *renderState) pkiCert(args ...string) (any, error) {
	if len(args) == 0 {
		return nil, usagef("%s: pkiCert needs a path, pki/issue/ROLE", r.where())
	}
	if r.e == nil {
		return &tmplCert{}, nil
	}
	p, err := vaultly.CleanPath(args[0])
	if err != nil {
		return nil, usagef("%s: pkiCert: not a valid path", r.where())
	}
	t, m, err := r.e.k.resolveAny(r.ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.where(), err)
	}
	if m.typ != "pki" && m.typ != "" || !strings.HasPrefix(t.path, "issue/") {
		return nil, usagef("%s: pkiCert takes a PKI issue path, MOUNT/issue/ROLE, not %s", r.where(), p)
	}
	c, err := r.cert(t, args[1:])
	if err != nil {
		return nil, err
	}
	out := c.ctShape()
	return out, nil
}

// cert returns the certificate for t (MOUNT/issue/ROLE) and the KEY=VALUE
// parameters, issuing it on first use.
func (r *renderState) cert(t kvTarget, params []string) (*certSecret, error) {
	opts, key, err := certOptions(t, params)
	if err != nil {
		return nil, usagef("%s: %v", r.where(), err)
	}
	r.deps[dep{depCert, key}] = true
	c := r.e.certs[key]
	if c != nil && c.cert != nil && !c.stale.Load() {
		return c, nil
	}
	crt := (*pkisecrets.Certificate)(nil)
	if c == nil {
		// First use in this process: a certificate still valid in the
		// destination (written by an earlier run) is used again, as
		// consul-template's pkiCert does.
		crt = r.reusableCert(opts)
	}
	if crt == nil {
		role := strings.TrimPrefix(t.path, "issue/")
		if crt, err = pkisecrets.Issue(r.ctx, r.e.k.primary, role, opts); err != nil {
			return nil, fmt.Errorf("%s: %w", r.where(), err)
		}
	}
	if c == nil {
		c = &certSecret{key: key}
		r.e.certs[key] = c
	}
	c.set(crt, r.e.changed)
	return c, nil
}

// reusableCert returns the certificate in the template's destination
// when the file holds one with its key and the CA that issued it, for
// opts's common name, valid now and not yet due for re-issue (2/3 of its
// lifetime); else nil, and a new one is issued.
func (r *renderState) reusableCert(opts *pkisecrets.Options) *pkisecrets.Certificate {
	if r.t.dest == "" || r.t.dest == "-" {
		return nil
	}
	f, err := os.Open(r.t.dest)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil
	}
	crt, err := pkisecrets.ParsePEM(b)
	if err != nil || crt.Leaf.Subject.CommonName != opts.CommonName || len(crt.Chain) == 0 ||
		crt.Leaf.CheckSignatureFrom(crt.Chain[0]) != nil {
		return nil
	}
	if now := time.Now(); !crt.ValidAt(now) || !now.Before(reissueAt(crt.Issued, crt.NotAfter())) {
		return nil
	}
	r.e.logf("%s: using the certificate %s in %s again (valid until %s)", r.where(), crt.Serial, r.t.dest, crt.NotAfter().UTC().Format(time.RFC3339))
	return crt
}

// certOptions turns pkiCert's KEY=VALUE arguments into Options, and
// returns the key that identifies the certificate (path and sorted
// parameters; no secret in either).
func certOptions(t kvTarget, params []string) (*pkisecrets.Options, string, error) {
	o := &pkisecrets.Options{Mount: t.mount}
	var norm []string
	for _, p := range params {
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, "", fmt.Errorf("pkiCert: argument %d is not KEY=VALUE", len(norm)+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		norm = append(norm, k+"="+v)
		list := func() []string {
			var out []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out
		}
		switch k {
		case "common_name":
			o.CommonName = v
		case "alt_names":
			o.AltNames = list()
		case "ip_sans":
			o.IPSANs = list()
		case "uri_sans":
			o.URISANs = list()
		case "ttl":
			d, err := parseTTL(v)
			if err != nil {
				return nil, "", fmt.Errorf("pkiCert: ttl=%s: %v", v, err)
			}
			o.TTL = d
		case "format", "private_key_format":
			if v != "pem" && v != "" {
				return nil, "", fmt.Errorf("pkiCert: %s=%s: only pem is supported", k, v)
			}
		default:
			return nil, "", fmt.Errorf("pkiCert: parameter %q is not supported (common_name, alt_names, ip_sans, uri_sans, ttl, format=pem)", k)
		}
	}
	slices.Sort(norm)
	return o, t.String() + "?" + strings.Join(norm, "&"), nil
}

// parseTTL reads a Vault duration: Go syntax, or whole seconds.
func parseTTL(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration (72h, 3600s or 3600)")
	}
	return d, nil
}
