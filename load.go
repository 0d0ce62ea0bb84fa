package vaultly

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// LoadOptions tunes Load. The zero value (or nil) is ready to use.
type LoadOptions struct {
	// Vars gives values to {name} placeholders in tag paths. A name not in
	// Vars is looked up as an untagged exported field (string, integer or
	// bool) of the struct holding the tag, then of each enclosing struct.
	// Default: none.
	Vars map[string]string

	// Parallelism bounds how many distinct entries are read at once.
	// Default (0 or less): the number of distinct entries, at most 64, so
	// that loading a config costs one round trip, not several waves.
	Parallelism int
}

// maxLoadParallelism caps the default parallelism of Load (one read per
// distinct entry, at most this many at once).
const maxLoadParallelism = 64

// Load fills the tagged fields of the struct dst points to with secrets
// read through s:
//
//	type Config struct {
//		Env      string               // untagged: usable as {Env}
//		Password vaultly.Value        `secret:"myapp/{Env}/db:password"`
//		Port     int                  `secret:"myapp/{Env}/db:port,default=5432"`
//		TLS      map[string]string    `secret:"myapp/{Env}/tls"` // the whole entry
//		API      *APIConfig           `secret:",prefix=myapp/{Env}/api"`
//		Token    vaultly.Live[string] `secret:"myapp/token,ttl=1m"`
//	}
//
// The tag is `secret:"PATH[:KEY][,OPTION]..."`. PATH is relative to the
// backend's mount, leading '/' optional; without ":KEY" the Store's default
// key ("value") is read, except that a map or struct field (or Secret/Live
// of one) without ":KEY" binds the whole entry: map[string]T gets every
// key, a struct gets each exported field from the key named by its json tag
// (or Go name; matched case-insensitively as a fallback; json:"-" skips;
// missing keys leave the field zero). The options are:
//
//	ttl=DURATION   cache the entry this long (time.ParseDuration, > 0)
//	ttl=nocache    never cache: every read goes to the backend (NoCache)
//	ttl=forever    cache until Refresh/RefreshAll/Invalidate (UntilRefreshed)
//	version=N      read version N (>= 1) instead of the latest
//	required       the entry and key must exist (the default)
//	optional       a missing entry or key leaves the field as it was
//	default=TEXT   a missing entry or key gives TEXT, cast like a value;
//	               must come last: TEXT runs to the end and may hold commas
//	prefix=PATH    on a nested struct or pointer to struct, instead of a
//	               path: PATH is prepended to every path inside it
//	watch=DURATION on a Live field: watch the entry for changes at this
//	               interval, so the Live follows a rotation within it
//	               whatever the TTL (see Store.Subscribe and Options.Watch)
//
// "{name}" in a path, key or prefix is replaced by LoadOptions.Vars[name],
// else by the untagged exported field name (string, integer or bool) of the
// struct holding the tag or of an enclosing one; an unknown or empty name is
// an error. Untagged struct (and pointer to struct) fields are walked when
// they hold tags; `secret:"-"` skips a field. Field types may be any type of
// the cast rules (see GetAs), pointers to them (allocated when set), Secret
// of them, and Live of them.
//
// Load works in three steps. First it validates every tag and type and
// expands every placeholder; any problem (unknown option, tag on an
// unexported field, optional with required, bad ttl, unsupported type,
// malformed path, unknown placeholder, default= that does not convert) is an
// InvalidArgument error naming the full field path, e.g. Config.DB.Password,
// and nothing is read. Then it reads each distinct (path, version) once via
// Store.Entry, however many fields use it, up to LoadOptions.Parallelism at
// a time; fields sharing an entry share one read, cached with the shortest
// ttl among them. Last it converts every value; only when every field
// succeeded are the fields of dst set (nil pointers to nested structs are
// allocated then), so a failed Load leaves dst unchanged.
//
// A failed Load reports every failing field, not only the first: a single
// failure is returned as its *Error; several are one *Error (with the code
// of the first, in field order) whose cause joins them, so errors.Is with
// any of their sentinels and errors.As work. Messages name fields, paths
// and types, never values.
//
// Load is safe for concurrent use on distinct dst values.
func (s *Store) Load(ctx context.Context, dst any, opts *LoadOptions) error {
	if opts == nil {
		opts = &LoadOptions{}
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return &Error{Op: "load", Code: InvalidArgument, Err: errors.New("dst must be a non-nil pointer to a struct")}
	}
	root := rv.Elem()
	name := root.Type().Name()
	if name == "" {
		name = "struct"
	}
	p := &planner{s: s, vars: opts.Vars, defKey: s.DefaultKey()}
	p.walk(root, root.Type(), name, nil, "", nil, map[reflect.Type]bool{})
	if len(p.errs) > 0 {
		return joinFieldErrors(p.errs)
	}

	entries := fetchAll(ctx, s, p.bindings, opts.Parallelism)

	values := make([]reflect.Value, len(p.bindings))
	var errs []*Error
	for i, b := range p.bindings {
		v, err := b.resolve(s, entries[b.loadKey()])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		values[i] = v
	}
	if len(errs) > 0 {
		return joinFieldErrors(errs)
	}
	for i, b := range p.bindings {
		if values[i].IsValid() {
			fieldByPath(root, b.steps).Set(values[i])
		}
	}
	return nil
}

// bindKind says how a field is filled.
type bindKind int

const (
	bindValue bindKind = iota // one key, cast
	bindEntry                 // the whole entry into a map or struct
	bindLive                  // a Live[T]
)

// binding is one tagged field, validated and with its reference resolved.
type binding struct {
	field    string // full field path, e.g. Config.DB.Password
	steps    []int  // field indexes from the root; nested pointers are followed
	typ      reflect.Type
	kind     bindKind
	ref      Ref // Key is the resolved key (never "" for bindValue)
	ttl      time.Duration
	watch    time.Duration // Live fields only
	optional bool
	def      *string
}

type loadKey struct {
	path    string
	version int
}

func (b *binding) loadKey() loadKey { return loadKey{b.ref.Path, b.ref.Version} }

type fetched struct {
	entry *Entry
	err   error
}

// fetchAll reads every distinct entry the bindings use, in parallel up to
// par at a time, and waits for all of them.
func fetchAll(ctx context.Context, s *Store, bs []*binding, par int) map[loadKey]*fetched {
	ttls := map[loadKey]time.Duration{}
	watches := map[loadKey]time.Duration{}
	var keys []loadKey
	for _, b := range bs {
		k := b.loadKey()
		if w := watches[k]; b.watch != 0 && (w == 0 || b.watch < w) {
			watches[k] = b.watch
		}
		cur, ok := ttls[k]
		if !ok {
			keys = append(keys, k)
		}
		if b.ttl != 0 && (cur == 0 || b.ttl < cur) {
			cur = b.ttl
		}
		ttls[k] = cur
	}
	out := make(map[loadKey]*fetched, len(keys))
	for _, k := range keys {
		out[k] = &fetched{}
	}
	if par <= 0 {
		par = min(len(keys), maxLoadParallelism)
	}
	var g errgroup.Group
	g.SetLimit(max(par, 1))
	for _, k := range keys {
		f := out[k]
		ro := &ReadOptions{TTL: ttls[k], Watch: watches[k]}
		g.Go(func() error {
			f.entry, f.err = s.Entry(ctx, k.path, k.version, ro)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// resolve builds the value for b from its fetched entry; nothing is set yet.
// An invalid Value means "leave the field as it is".
func (b *binding) resolve(s *Store, f *fetched) (reflect.Value, *Error) {
	missing := func(err error) (reflect.Value, *Error) {
		if b.optional || b.def != nil {
			if b.def == nil {
				return reflect.Value{}, nil
			}
			v := reflect.New(b.typ).Elem()
			_ = castString(*b.def, v) // checked before any I/O
			return v, nil
		}
		return reflect.Value{}, b.fail(s, err)
	}
	if b.kind == bindLive {
		v := reflect.New(b.typ)
		var def *string
		if b.def != nil {
			d := *b.def
			def = &d
		}
		v.Interface().(liveTarget).bindLive(s, b.ref, b.ref.Key == "", ReadOptions{TTL: b.ttl, Watch: b.watch}, def, b.field)
		if f.err != nil {
			if CodeOf(f.err) == NotFound && (b.optional || b.def != nil) {
				return v.Elem(), nil
			}
			return reflect.Value{}, b.fail(s, f.err)
		}
		elem := liveElemOf(b.typ)
		tmp := reflect.New(elem).Elem()
		if b.ref.Key == "" {
			if err := castEntry(f.entry.Fields, tmp); err != nil {
				return reflect.Value{}, b.invalid(err)
			}
			return v.Elem(), nil
		}
		raw, ok := f.entry.Fields[b.ref.Key]
		if !ok {
			if b.optional || b.def != nil {
				return v.Elem(), nil
			}
			return reflect.Value{}, b.fail(s, noKeyError(b.ref.Key, f.entry.Fields))
		}
		if err := castString(raw, tmp); err != nil {
			return reflect.Value{}, b.invalid(err)
		}
		return v.Elem(), nil
	}
	if f.err != nil {
		if CodeOf(f.err) == NotFound {
			return missing(f.err)
		}
		return reflect.Value{}, b.fail(s, f.err)
	}
	v := reflect.New(b.typ).Elem()
	if b.kind == bindEntry {
		if err := castEntry(f.entry.Fields, v); err != nil {
			return reflect.Value{}, b.invalid(err)
		}
		return v, nil
	}
	raw, ok := f.entry.Fields[b.ref.Key]
	if !ok {
		return missing(noKeyError(b.ref.Key, f.entry.Fields))
	}
	if err := castString(raw, v); err != nil {
		return reflect.Value{}, b.invalid(err)
	}
	return v, nil
}

// fail turns a read error into the field's error, keeping the code, hint,
// backend and cause of the Store's error without wrapping it twice.
func (b *binding) fail(s *Store, err error) *Error {
	out := &Error{Op: "load " + b.field, Ref: b.ref.String(), Backend: s.Backend().Name()}
	if e, ok := errors.AsType[*Error](err); ok {
		out.Code, out.Hint, out.Err, out.RetryAfter = e.Code, e.Hint, e.Err, e.RetryAfter
		if e.Backend != "" {
			out.Backend = e.Backend
		}
		return out
	}
	out.Code, out.Err = CodeOf(err), err
	return out
}

func (b *binding) invalid(err error) *Error {
	return &Error{Op: "load " + b.field, Ref: b.ref.String(), Code: InvalidArgument, Err: err}
}

// fieldErrors joins the failures of several fields.
type fieldErrors []*Error

func (fe fieldErrors) Error() string {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(len(fe)))
	sb.WriteString(" fields failed: ")
	for i, e := range fe {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(strings.TrimPrefix(e.Error(), "vaultly: "))
	}
	return sb.String()
}

func (fe fieldErrors) Unwrap() []error {
	out := make([]error, len(fe))
	for i, e := range fe {
		out[i] = e
	}
	return out
}

func joinFieldErrors(errs []*Error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return &Error{Op: "load", Code: errs[0].Code, Err: fieldErrors(errs)}
}

// fieldByPath returns the field at steps, allocating nil pointers to nested
// structs on the way.
func fieldByPath(v reflect.Value, steps []int) reflect.Value {
	for i, idx := range steps {
		v = v.Field(idx)
		if i == len(steps)-1 {
			break
		}
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
	}
	return v
}

// planner walks dst's type, validating tags and collecting bindings.
type planner struct {
	s        *Store
	vars     map[string]string
	defKey   string
	bindings []*binding
	errs     []*Error
}

// fail records the error of a field; err is a *tagError or wraps one.
func (p *planner) fail(field string, err error) {
	p.errs = append(p.errs, &Error{Op: "load " + field, Code: InvalidArgument, Err: err})
}

func (p *planner) errorf(field string, kind error, msg string) { p.fail(field, tagErr(kind, msg)) }

// scope is the chain of enclosing struct values for {name} lookups.
type scope struct {
	v      reflect.Value // may be the zero value of its type (nil pointer on the way)
	parent *scope
}

func (p *planner) lookup(sc *scope, name string) (string, error) {
	if v, ok := p.vars[name]; ok {
		if v == "" {
			return "", tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} is empty")
		}
		return v, nil
	}
	for ; sc != nil; sc = sc.parent {
		sf, ok := sc.v.Type().FieldByName(name)
		if !ok || !sf.IsExported() {
			continue
		}
		if _, tagged := sf.Tag.Lookup(tagName); tagged {
			return "", tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} names a secret field")
		}
		fv, err := sc.v.FieldByIndexErr(sf.Index)
		if err != nil {
			return "", tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} is empty")
		}
		var s string
		switch fv.Kind() {
		case reflect.String:
			s = fv.String()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			s = strconv.FormatInt(fv.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			s = strconv.FormatUint(fv.Uint(), 10)
		case reflect.Bool:
			s = strconv.FormatBool(fv.Bool())
		default:
			return "", tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} names a field of type "+fv.Type().String()+"; want string, integer or bool")
		}
		if s == "" {
			return "", tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} is empty")
		}
		return s, nil
	}
	return "", tagErr(ErrInvalidPlaceholder, "unknown placeholder {"+name+"}: not in LoadOptions.Vars nor an untagged field")
}

// walk visits the fields of struct type t (value v, possibly a zero value).
func (p *planner) walk(v reflect.Value, t reflect.Type, path string, steps []int, prefix string, parent *scope, visiting map[reflect.Type]bool) {
	visiting[t] = true
	defer delete(visiting, t)
	sc := &scope{v: v, parent: parent}
	for i := range t.NumField() {
		sf := t.Field(i)
		field := path + "." + sf.Name
		fsteps := append(append([]int(nil), steps...), i)
		tag, tagged := sf.Tag.Lookup(tagName)
		if tag == "-" {
			continue
		}
		if !tagged {
			// Recurse into untagged nested structs that hold tags.
			st, isPtr := nestedStruct(sf.Type)
			if st == nil || !hasTags(st, map[reflect.Type]bool{}) {
				continue
			}
			if !sf.IsExported() && (isPtr || !sf.Anonymous) {
				p.errorf(field, ErrUnexportedField, "unexported field holds secret tags")
				continue
			}
			if visiting[st] {
				p.errorf(field, ErrUnsupportedType, "recursive struct type "+st.String())
				continue
			}
			p.walk(nestedValue(v.Field(i), st), st, field, fsteps, prefix, sc, visiting)
			continue
		}
		if !sf.IsExported() {
			p.errorf(field, ErrUnexportedField, "tag on unexported field")
			continue
		}
		spec, err := parseTag(tag)
		if err != nil {
			p.fail(field, err)
			continue
		}
		if spec.hasPrefix {
			st, _ := nestedStruct(sf.Type)
			if st == nil {
				p.errorf(field, ErrInvalidTagOption, "tag option prefix= needs a struct or pointer to struct, not "+sf.Type.String())
				continue
			}
			if visiting[st] {
				p.errorf(field, ErrUnsupportedType, "recursive struct type "+st.String())
				continue
			}
			pre, err := spec.prefix.expand(func(n string) (string, error) { return p.lookup(sc, n) })
			if err != nil {
				p.fail(field, err)
				continue
			}
			p.walk(nestedValue(v.Field(i), st), st, field, fsteps, joinPath(prefix, pre), sc, visiting)
			continue
		}
		p.bindField(sc, field, fsteps, sf.Type, spec, prefix)
	}
}

// bindField validates one tagged leaf field and records its binding.
func (p *planner) bindField(sc *scope, field string, steps []int, typ reflect.Type, spec tagSpec, prefix string) {
	b := &binding{field: field, steps: steps, typ: typ, ttl: spec.ttl, watch: spec.watch, optional: spec.optional, def: spec.def}
	rawPath, rawKey, hasKey := splitRef(spec.ref.raw)
	lookup := func(n string) (string, error) { return p.lookup(sc, n) }
	pathT, err := parseTmpl(rawPath)
	if err == nil {
		rawPath, err = pathT.expand(lookup)
	}
	if err != nil {
		p.fail(field, err)
		return
	}
	full := joinPath(prefix, rawPath)
	cp, err := CleanPath(full)
	if err != nil {
		p.errorf(field, ErrInvalidTagPath, "invalid path "+strconv.Quote(full)+": "+strings.TrimPrefix(errors.Unwrap(err).Error(), "invalid reference: "))
		return
	}
	b.ref = Ref{Path: cp, Version: spec.version}
	if hasKey {
		keyT, err := parseTmpl(rawKey)
		if err == nil {
			rawKey, err = keyT.expand(lookup)
		}
		if err != nil {
			p.fail(field, err)
			return
		}
		if rawKey == "" {
			p.errorf(field, ErrInvalidTagPath, "empty key after ':'")
			return
		}
		if msg := checkChars(rawKey); msg != "" {
			p.errorf(field, ErrInvalidTagPath, "key "+msg)
			return
		}
		b.ref.Key = rawKey
	}

	target := typ
	switch {
	case isLive(typ):
		b.kind = bindLive
		target = liveElemOf(typ)
	case typ.Kind() == reflect.Pointer && isLive(typ.Elem()):
		p.errorf(field, ErrUnsupportedType, "use Live[T], not a pointer to it")
		return
	}
	if spec.watch != 0 && b.kind != bindLive {
		p.errorf(field, ErrInvalidTagOption, "tag option watch= applies to a Live field (a plain field is read once, by Load)")
		return
	}
	if !hasKey && isWholeEntryType(target) {
		if b.kind != bindLive {
			b.kind = bindEntry
		}
		if err := checkEntryType(target); err != nil {
			p.fail(field, err)
			return
		}
		if spec.def != nil {
			p.errorf(field, ErrInvalidTagOption, "tag option default= does not apply to a whole entry")
			return
		}
	} else {
		if !hasKey {
			b.ref.Key = p.defKey
		}
		if err := checkCastable(target); err != nil {
			p.fail(field, err)
			return
		}
		if spec.def != nil {
			if err := castString(*spec.def, reflect.New(target).Elem()); err != nil {
				p.errorf(field, ErrInvalidTagOption, "tag option default= does not convert: "+err.Error())
				return
			}
		}
	}
	p.bindings = append(p.bindings, b)
}

// nestedStruct returns the struct type a field nests (T or *T for a
// non-leaf struct T), or nil.
func nestedStruct(t reflect.Type) (reflect.Type, bool) {
	isPtr := false
	if t.Kind() == reflect.Pointer {
		t, isPtr = t.Elem(), true
	}
	if t.Kind() != reflect.Struct || isLeafStruct(t) {
		return nil, false
	}
	return t, isPtr
}

// nestedValue returns the struct value behind f (a struct or a pointer to
// one), or the zero struct when the pointer is nil.
func nestedValue(f reflect.Value, st reflect.Type) reflect.Value {
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return reflect.Zero(st)
		}
		return f.Elem()
	}
	return f
}

// isLeafStruct reports whether struct type t is a value of its own (Secret,
// Live, time.Time, url.URL, or anything that unmarshals itself) rather than
// a struct of fields.
func isLeafStruct(t reflect.Type) bool {
	if t == timeType || t == urlType || isLive(t) {
		return true
	}
	if _, ok := secretElemOf(t); ok {
		return true
	}
	pt := reflect.PointerTo(t)
	return pt.Implements(textUnmarshalerType) || pt.Implements(jsonUnmarshalerType)
}

// hasTags reports whether struct type t holds secret tags, directly or in
// nested structs.
func hasTags(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	for i := range t.NumField() {
		sf := t.Field(i)
		if _, ok := sf.Tag.Lookup(tagName); ok {
			return true
		}
		if st, _ := nestedStruct(sf.Type); st != nil && hasTags(st, seen) {
			return true
		}
	}
	return false
}

// isWholeEntryType reports whether t (or T of Secret[T], *T) binds a whole
// entry when the tag has no ":key": a map or a non-leaf struct.
func isWholeEntryType(t reflect.Type) bool {
	t = unwrapEntryType(t)
	switch t.Kind() {
	case reflect.Map:
		return !reflect.PointerTo(t).Implements(jsonUnmarshalerType) && !reflect.PointerTo(t).Implements(textUnmarshalerType)
	case reflect.Struct:
		return !isLeafStruct(t)
	}
	return false
}

// unwrapEntryType strips pointers and Secret wrappers: *Secret[*T] -> T.
func unwrapEntryType(t reflect.Type) reflect.Type {
	for {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
			continue
		}
		if elem, ok := secretElemOf(t); ok {
			t = elem
			continue
		}
		return t
	}
}

// checkEntryType validates a whole-entry target: map[string]T or a struct
// whose exported fields are castable.
func checkEntryType(t reflect.Type) error {
	t = unwrapEntryType(t)
	switch t.Kind() {
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return tagErr(ErrUnsupportedType, "a whole entry binds to a map with string keys, not "+t.String())
		}
		if err := checkCastable(t.Elem()); err != nil {
			return err
		}
		return nil
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() || jsonName(sf) == "" {
				continue
			}
			if err := checkCastable(sf.Type); err != nil {
				return fmt.Errorf("field %s: %w", sf.Name, err)
			}
		}
		return nil
	}
	return tagErr(ErrUnsupportedType, "a whole entry binds to a map or struct, not "+t.String())
}

// jsonName is the entry key a struct field binds to: its json tag name, or
// its Go name; "" for json:"-".
func jsonName(sf reflect.StructField) string {
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return sf.Name
	}
	return name
}

// castEntry fills dst (map[string]T, struct, *either, Secret of either) from
// every field of an entry. Struct fields match entry keys by json name,
// then case-insensitively; fields with no matching key keep their zero
// value.
func castEntry(fields map[string]string, dst reflect.Value) error {
	if dst.CanAddr() {
		if st, ok := dst.Addr().Interface().(secretTarget); ok {
			inner := reflect.New(st.secretElem()).Elem()
			if err := castEntry(fields, inner); err != nil {
				return err
			}
			st.newTarget().Set(inner)
			return nil
		}
	}
	t := dst.Type()
	if t.Kind() == reflect.Pointer {
		v := reflect.New(t.Elem())
		if err := castEntry(fields, v.Elem()); err != nil {
			return err
		}
		dst.Set(v)
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		m := reflect.MakeMapWithSize(t, len(fields))
		for k, raw := range fields {
			v := reflect.New(t.Elem()).Elem()
			if err := castString(raw, v); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), v)
		}
		dst.Set(m)
		return nil
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			name := jsonName(sf)
			if !sf.IsExported() || name == "" {
				continue
			}
			raw, ok := fields[name]
			if !ok {
				for k, r := range fields {
					if strings.EqualFold(k, name) {
						raw, ok = r, true
						break
					}
				}
			}
			if !ok {
				continue
			}
			if err := castString(raw, dst.Field(i)); err != nil {
				return fmt.Errorf("key %q: %w", name, err)
			}
		}
		return nil
	}
	return newCastError(t, "not a map or struct")
}
