package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
)

func TestMain(m *testing.M) {
	// The Vault-backed tests here wait on real timers (outages, rotations),
	// not on the CPU: outside the soak tier run up to 32 at once, so that
	// neither kind waits behind the other (paused tests resume in no set
	// order: at 8, in a full go test ./..., the 9 s outage test resumed
	// 3.2 s in and the rotation test 5.4 s in, behind CPU-bound subtests).
	// Measured here, the package alone: 18 s at 2, 11 s at 4, 10 s at 8,
	// 9.3-10.7 s at 32. The soak tier (make test, under -race) keeps the
	// default its margins were measured with.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(32)
	}
	goleak.VerifyTestMain(stopVaultAfter{m})
}

// stopVaultAfter stops the shared Vault server once the tests have run,
// before goleak looks for goroutines left behind.
type stopVaultAfter struct{ m *testing.M }

func (s stopVaultAfter) Run() int {
	defer sharedVault.Stop()
	return s.m.Run()
}

// entries is a tiny in-test backend: path -> fields, counting reads per
// path. Fields hold text as backends deliver it (non-strings as JSON).
type entries struct {
	mu       sync.Mutex
	data     map[string]map[string]string
	versions map[string]map[int]map[string]string
	calls    map[string]int
	total    atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	delay    time.Duration
	fail     map[string]driver.Code
}

func newEntries(data map[string]map[string]string) *entries {
	return &entries{data: data, calls: map[string]int{}, fail: map[string]driver.Code{}, versions: map[string]map[int]map[string]string{}}
}

func (b *entries) Name() string { return "test" }
func (b *entries) Close() error { return nil }

func (b *entries) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	n := b.inflight.Add(1)
	defer b.inflight.Add(-1)
	for {
		m := b.maxIn.Load()
		if n <= m || b.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	b.total.Add(1)
	if b.delay > 0 {
		time.Sleep(b.delay)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[fmt.Sprintf("%s@%d", path, version)]++
	if c, ok := b.fail[path]; ok {
		return nil, driver.NewError(c, errors.New("injected failure"))
	}
	f, ok := b.data[path]
	if version != 0 {
		f, ok = b.versions[path][version]
	}
	if !ok {
		return nil, driver.NewError(driver.NotFound, errors.New("no entry"))
	}
	cp := make(map[string]string, len(f))
	for k, v := range f {
		cp[k] = v
	}
	return &driver.Entry{Path: path, Version: version, Fields: cp}, nil
}

func (b *entries) set(path string, fields map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[path] = fields
}

func (b *entries) callCounts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.calls {
		out[k] = v
	}
	return out
}

func newStore(t testing.TB, b driver.Backend) *vaultly.Store {
	t.Helper()
	s := vaultly.New(b, &vaultly.Options{Logger: quiet})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type DB struct {
	User     string        `secret:":username"`
	Password vaultly.Value `secret:":password"`
	Port     int           `secret:":port,default=5432"`
}

type TLS struct {
	Cert string `json:"cert"`
	Key  vaultly.Value
	Skip bool `json:"-"`
}

type Config struct {
	Env      string
	Password vaultly.Value                `secret:"/myapp/{Env}/db:password"`
	User     string                       `secret:"myapp/{Env}/db:username"`
	Timeout  time.Duration                `secret:"myapp/settings:timeout,ttl=1m"`
	Retries  uint8                        `secret:"myapp/settings:retries"`
	Debug    bool                         `secret:"myapp/settings:debug,optional"`
	Region   string                       `secret:"myapp/settings:region,default=eu-west-1"`
	Tags     []string                     `secret:"myapp/settings:tags"`
	All      map[string]string            `secret:"myapp/settings"`
	TLS      TLS                          `secret:"myapp/tls"`
	TLSP     *vaultly.Secret[TLS]         `secret:"myapp/tls"`
	DB       DB                           `secret:",prefix=myapp/{Env}/db"`
	Replica  *DB                          `secret:",prefix=myapp/{Env}/{Zone}"`
	Token    vaultly.Live[string]         `secret:"myapp/token"`
	Flags    vaultly.Live[map[string]int] `secret:"myapp/flags"`
	Plain    string                       // untouched
	Missing  *string                      `secret:"myapp/nothing,optional"`
}

func testData() map[string]map[string]string {
	return map[string]map[string]string{
		"myapp/prod/db": {"username": "app", "password": "s3cr3t", "port": "6432"},
		"myapp/settings": {
			"timeout": "30s", "retries": "3", "tags": `["a","b"]`, "debug": "on",
		},
		"myapp/tls":      {"cert": "CERT", "key": "KEY", "Skip": "true"},
		"myapp/prod/eu1": {"username": "ro", "password": "ro-pw"},
		"myapp/token":    {"value": "tok-1"},
		"myapp/flags":    {"a": "1", "b": "2"},
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	b := newEntries(testData())
	s := newStore(t, b)
	cfg := Config{Env: "prod", Plain: "keep"}
	if err := s.Load(t.Context(), &cfg, &vaultly.LoadOptions{Vars: map[string]string{"Zone": "eu1"}}); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	type view struct {
		Password, User, Region, Plain      string
		Timeout                            time.Duration
		Retries                            uint8
		Debug                              bool
		Tags                               []string
		All                                map[string]string
		TLSCert, TLSKey, TLSPCert          string
		TLSSkip                            bool
		DBUser, DBPass, ReplUser, ReplPass string
		DBPort, ReplPort                   int
		Token                              string
		Flags                              map[string]int
		MissingNil                         bool
	}
	tok, err := cfg.Token.Get(t.Context())
	if err != nil {
		t.Fatalf("Token.Get() = %v", err)
	}
	flags, err := cfg.Flags.Get(t.Context())
	if err != nil {
		t.Fatalf("Flags.Get() = %v", err)
	}
	got := view{
		Password: cfg.Password.Reveal(), User: cfg.User, Region: cfg.Region, Plain: cfg.Plain,
		Timeout: cfg.Timeout, Retries: cfg.Retries, Debug: cfg.Debug, Tags: cfg.Tags, All: cfg.All,
		TLSCert: cfg.TLS.Cert, TLSKey: cfg.TLS.Key.Reveal(), TLSPCert: cfg.TLSP.Reveal().Cert, TLSSkip: cfg.TLS.Skip,
		DBUser: cfg.DB.User, DBPass: cfg.DB.Password.Reveal(), DBPort: cfg.DB.Port,
		ReplUser: cfg.Replica.User, ReplPass: cfg.Replica.Password.Reveal(), ReplPort: cfg.Replica.Port,
		Token: tok, Flags: flags, MissingNil: cfg.Missing == nil,
	}
	want := view{
		Password: "s3cr3t", User: "app", Region: "eu-west-1", Plain: "keep",
		Timeout: 30 * time.Second, Retries: 3, Debug: true, Tags: []string{"a", "b"},
		All:     map[string]string{"timeout": "30s", "retries": "3", "tags": `["a","b"]`, "debug": "on"},
		TLSCert: "CERT", TLSKey: "KEY", TLSPCert: "CERT", TLSSkip: false,
		DBUser: "app", DBPass: "s3cr3t", DBPort: 6432, ReplUser: "ro", ReplPass: "ro-pw", ReplPort: 5432,
		Token: "tok-1", Flags: map[string]int{"a": 1, "b": 2}, MissingNil: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	// Each distinct path read once, however many fields use it.
	wantCalls := map[string]int{
		"myapp/prod/db@0": 1, "myapp/settings@0": 1, "myapp/tls@0": 1, "myapp/prod/eu1@0": 1,
		"myapp/token@0": 1, "myapp/flags@0": 1, "myapp/nothing@0": 1,
	}
	if diff := cmp.Diff(wantCalls, b.callCounts()); diff != "" {
		t.Errorf("backend reads mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadValidation(t *testing.T) {
	t.Parallel()
	type unexported struct {
		//lint:ignore U1000 a tag on an unexported field is what this case tests
		ok     string `secret:"a:b"`
		Public string
	}
	type badOpt struct {
		A string `secret:"a,bogus"`
	}
	type inner struct {
		Password string `secret:"db:password,optional,required"`
	}
	type nested struct {
		DB struct {
			Inner inner `secret:",prefix=x"`
		}
	}
	type many struct {
		A chan int           `secret:"a"`
		B string             `secret:"b,ttl=0"`
		C int                `secret:"c,default=notanumber"`
		D string             `secret:"d/../e"`
		E string             `secret:"e/{Nope}"`
		F map[int]string     `secret:"f"`
		G string             `secret:"g,prefix=h"`
		H string             `secret:",prefix=h"`
		I map[string]string  `secret:"i,default=x"`
		J string             `secret:"j:"`
		K complex64          `secret:"k:v"`
		L string             `secret:"l,version=-1"`
		M *vaultly.Live[int] `secret:"m"`
		N any                `secret:"n"`
		O string             `secret:"o,required,default=x"`
		P string             `secret:""`
	}
	type varField struct {
		Env  []string
		Zero string
		Pw   string `secret:"a/{Env}"`
		Pw2  string `secret:"a/{Zero}"`
		Pw3  string `secret:"a/{Pw}"`
	}
	type want struct {
		msg  string // a substring of the field's error
		kind error  // the sentinel it matches besides ErrInvalidArgument
	}
	tests := []struct {
		name string
		dst  any
		want []want // in field order
	}{
		{"not a pointer", badOpt{}, []want{{"dst must be a non-nil pointer to a struct", vaultly.ErrInvalidArgument}}},
		{"nil", (*badOpt)(nil), []want{{"dst must be a non-nil pointer to a struct", vaultly.ErrInvalidArgument}}},
		{"unexported", &unexported{}, []want{{"load unexported.ok: invalid argument: tag on unexported field", vaultly.ErrUnexportedField}}},
		{"unknown option", &badOpt{}, []want{{`load badOpt.A: invalid argument: unknown tag option "bogus"`, vaultly.ErrUnknownTagOption}}},
		{"nested path", &nested{}, []want{{"load nested.DB.Inner.Password: invalid argument: tag options optional and required conflict", vaultly.ErrInvalidTagOption}}},
		{"many", &many{}, []want{
			{"many.A: invalid argument: unsupported type chan int", vaultly.ErrUnsupportedType},
			{"many.B: invalid argument: tag option ttl= must be a positive duration, nocache or forever", vaultly.ErrInvalidTagOption},
			{"many.C: invalid argument: tag option default= does not convert: cannot convert value to int: invalid syntax", vaultly.ErrInvalidTagOption},
			{`many.D: invalid argument: invalid path "d/../e": path segment ".." not allowed`, vaultly.ErrInvalidTagPath},
			{"many.E: invalid argument: unknown placeholder {Nope}", vaultly.ErrInvalidPlaceholder},
			{"many.F: invalid argument: a whole entry binds to a map with string keys, not map[int]string", vaultly.ErrUnsupportedType},
			{"many.G: invalid argument: tag option prefix= is for nested structs", vaultly.ErrInvalidTagOption},
			{"many.H: invalid argument: tag option prefix= needs a struct or pointer to struct, not string", vaultly.ErrInvalidTagOption},
			{"many.I: invalid argument: tag option default= does not apply to a whole entry", vaultly.ErrInvalidTagOption},
			{"many.J: invalid argument: empty key after ':'", vaultly.ErrInvalidTagPath},
			{"many.K: invalid argument: unsupported type complex64", vaultly.ErrUnsupportedType},
			{"many.L: invalid argument: tag option version= must be an integer >= 1", vaultly.ErrInvalidTagOption},
			{"many.M: invalid argument: use Live[T], not a pointer to it", vaultly.ErrUnsupportedType},
			{"many.N: invalid argument: unsupported type interface {}", vaultly.ErrUnsupportedType},
			{"many.O: invalid argument: tag options default= and required conflict", vaultly.ErrRequiredWithDefault},
			{"many.P: invalid argument: tag has no path", vaultly.ErrInvalidTagPath},
		}},
		{"placeholders", &varField{Env: []string{"x"}}, []want{
			{"varField.Pw: invalid argument: placeholder {Env} names a field of type []string", vaultly.ErrInvalidPlaceholder},
			{"varField.Pw2: invalid argument: placeholder {Zero} is empty", vaultly.ErrInvalidPlaceholder},
			{"varField.Pw3: invalid argument: placeholder {Pw} names a secret field", vaultly.ErrInvalidPlaceholder},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newEntries(map[string]map[string]string{})
			s := newStore(t, b)
			err := s.Load(t.Context(), tt.dst, nil)
			if err == nil {
				t.Fatalf("Load() = nil, want error")
			}
			if got := vaultly.CodeOf(err); got != vaultly.InvalidArgument {
				t.Errorf("CodeOf(Load()) = %v, want %v", got, vaultly.InvalidArgument)
			}
			if !errors.Is(err, vaultly.ErrInvalidArgument) {
				t.Errorf("errors.Is(Load(), ErrInvalidArgument) = false, want true")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("Load() error has several lines: %q", msg)
			}
			fields := []error{err}
			if multi, ok := errors.Unwrap(err).(interface{ Unwrap() []error }); ok {
				fields = multi.Unwrap()
			}
			if len(fields) != len(tt.want) {
				t.Fatalf("Load() reports %d fields, want %d: %q", len(fields), len(tt.want), msg)
			}
			for i, w := range tt.want {
				fe := fields[i]
				if !strings.Contains(fe.Error(), w.msg) {
					t.Errorf("field error %d = %q\nwant it to contain %q", i, fe, w.msg)
				}
				if !errors.Is(fe, w.kind) || !errors.Is(fe, vaultly.ErrInvalidArgument) {
					t.Errorf("field error %q: errors.Is(%v) = %v, errors.Is(ErrInvalidArgument) = %v; want both", fe, w.kind, errors.Is(fe, w.kind), errors.Is(fe, vaultly.ErrInvalidArgument))
				}
			}
			if got := b.total.Load(); got != 0 {
				t.Errorf("backend reads = %d, want 0 (validation comes before any I/O)", got)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	type App struct {
		A string        `secret:"app/a:x"`
		B vaultly.Value `secret:"app/b"`
		C int           `secret:"app/a:nokey"`
		D string        `secret:"app/a:x2,optional"`
		E string        `secret:"app/none:k,default=dflt"`
		F string        `secret:"app/none:k2,optional"`
	}
	b := newEntries(map[string]map[string]string{"app/a": {"x": "1", "x2": "2"}})
	s := newStore(t, b)
	app := App{A: "before", F: "keep"}
	err := s.Load(t.Context(), &app, nil)
	if err == nil {
		t.Fatal("Load() = nil, want error")
	}
	if !errors.Is(err, vaultly.ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound) = false, want true; err = %v", err)
	}
	if got := vaultly.CodeOf(err); got != vaultly.NotFound {
		t.Errorf("CodeOf(err) = %v, want NotFound", got)
	}
	msg := err.Error()
	for _, want := range []string{"2 fields failed", "load App.B app/b:value (test): not found", `load App.C app/a:nokey (test): not found: no key "nokey" in entry; the entry has "x", "x2"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Load() = %q, want it to contain %q", msg, want)
		}
	}
	for _, notWant := range []string{"App.A", "App.D", "App.E", "App.F"} {
		if strings.Contains(msg, notWant) {
			t.Errorf("Load() = %q, names %s which did not fail", msg, notWant)
		}
	}
	if app.A != "before" {
		t.Errorf("after a failed Load, App.A = %q, want it unchanged (%q)", app.A, "before")
	}
	// With the missing ones present, optional/default rules apply.
	b.set("app/b", map[string]string{"value": "bv"})
	b.set("app/a", map[string]string{"x": "1", "nokey": "7"})
	app = App{F: "keep"}
	s2 := newStore(t, b)
	if err := s2.Load(t.Context(), &app, nil); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := App{A: "1", B: vaultly.NewSecret("bv"), C: 7, D: "", E: "dflt", F: "keep"}
	if diff := cmp.Diff(want, app, cmp.Comparer(func(a, b vaultly.Value) bool { return a.Reveal() == b.Reveal() })); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadErrorsKeepCode(t *testing.T) {
	t.Parallel()
	type App struct {
		A string `secret:"denied:x"`
		B string `secret:"down:x,optional"`
		C string `secret:"ok:x"`
	}
	b := newEntries(map[string]map[string]string{"ok": {"x": "hunter2"}})
	b.fail["denied"] = driver.PermissionDenied
	b.fail["down"] = driver.InvalidArgument // not retried; optional does not hide it
	s := newStore(t, b)
	var app App
	err := s.Load(t.Context(), &app, nil)
	if err == nil {
		t.Fatal("Load() = nil, want error")
	}
	if !errors.Is(err, vaultly.ErrPermissionDenied) || !errors.Is(err, vaultly.ErrInvalidArgument) {
		t.Errorf("Load() = %v; want errors.Is for both PermissionDenied and InvalidArgument", err)
	}
	if got := vaultly.CodeOf(err); got != vaultly.PermissionDenied {
		t.Errorf("CodeOf = %v, want PermissionDenied (the first field's)", got)
	}
	var ve *vaultly.Error
	if !errors.As(err, &ve) {
		t.Fatalf("errors.As(*vaultly.Error) = false")
	}
	var field *vaultly.Error // the first field's error, inside the Load error
	if !errors.As(ve.Err, &field) {
		t.Fatalf("Load error %v holds no per-field *vaultly.Error", err)
	}
	if errors.As(field.Err, new(*vaultly.Error)) {
		t.Errorf("the field's error wraps a second *vaultly.Error: %v", field)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows a value: %v", err)
	}
}

func TestLoadCastErrorNamesFieldNotValue(t *testing.T) {
	t.Parallel()
	const canary = "Zq9canaryXw"
	type App struct {
		Port  int                  `secret:"app:port"`
		Debug vaultly.Secret[bool] `secret:"app:debug"`
		JSON  map[string]int       `secret:"app:json"`
		Whole struct{ N int }      `secret:"app2"`
	}
	b := newEntries(map[string]map[string]string{
		"app":  {"port": canary, "debug": canary, "json": `{"a":"` + canary + `"}`},
		"app2": {"N": canary},
	})
	s := newStore(t, b)
	var app App
	err := s.Load(t.Context(), &app, nil)
	if err == nil {
		t.Fatal("Load() = nil, want error")
	}
	msg := err.Error()
	if strings.Contains(msg, canary) {
		t.Errorf("Load() error shows the value: %q", msg)
	}
	for _, want := range []string{
		"load App.Port app:port: invalid argument: cannot convert value to int",
		"load App.Debug app:debug: invalid argument: cannot convert value to bool",
		"load App.JSON app:json: invalid argument: cannot convert value to map[string]int",
		`load App.Whole app2: invalid argument: key "N": cannot convert value to int`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Load() = %q\nwant it to contain %q", msg, want)
		}
	}
}

func TestLoadParallelBound(t *testing.T) {
	t.Parallel()
	data := map[string]map[string]string{}
	type Wide struct {
		F [20]string // untagged arrays are ignored
		A string     `secret:"p/0:k"`
		B string     `secret:"p/1:k"`
		C string     `secret:"p/2:k"`
		D string     `secret:"p/3:k"`
		E string     `secret:"p/4:k"`
		G string     `secret:"p/5:k"`
	}
	for i := range 6 {
		data[fmt.Sprintf("p/%d", i)] = map[string]string{"k": "v"}
	}
	for _, par := range []int{0, 1, 2, 6, 10} { // 0: the default, one read per distinct path
		t.Run(fmt.Sprint(par), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := newEntries(data)
				b.delay = 20 * time.Millisecond // on the fake clock: reads overlap exactly as far as allowed
				s := newStore(t, b)
				var w Wide
				if err := s.Load(t.Context(), &w, &vaultly.LoadOptions{Parallelism: par}); err != nil {
					t.Fatal(err)
				}
				want := int64(min(par, 6))
				if par == 0 {
					want = 6
				}
				if got := b.maxIn.Load(); got != want {
					t.Errorf("max concurrent reads = %d, want %d", got, want)
				}
			})
		})
	}
}

// TestLoadDefaultParallelismCap: by default Load reads every distinct path
// at once, up to 64.
func TestLoadDefaultParallelismCap(t *testing.T) {
	t.Parallel()
	data := map[string]map[string]string{}
	var fields []reflect.StructField
	for i := range 70 {
		data[fmt.Sprintf("p/%d", i)] = map[string]string{"k": "v"}
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[string](),
			Tag: reflect.StructTag(fmt.Sprintf(`secret:"p/%d:k"`, i)),
		})
	}
	synctest.Test(t, func(t *testing.T) {
		b := newEntries(data)
		b.delay = 20 * time.Millisecond
		s := newStore(t, b)
		dst := reflect.New(reflect.StructOf(fields)).Interface()
		if err := s.Load(t.Context(), dst, nil); err != nil {
			t.Fatal(err)
		}
		if got, want := b.maxIn.Load(), int64(64); got != want {
			t.Errorf("max concurrent reads = %d, want %d", got, want)
		}
	})
}

func TestLoadVersionAndTTL(t *testing.T) {
	t.Parallel()
	type App struct {
		V1  string `secret:"app:k,version=1"`
		V2  string `secret:"app:k,version=2"`
		Cur string `secret:"app:k,ttl=nocache"`
	}
	b := newEntries(map[string]map[string]string{"app": {"k": "latest"}})
	b.versions["app"] = map[int]map[string]string{1: {"k": "one"}, 2: {"k": "two"}}
	s := newStore(t, b)
	var app App
	if err := s.Load(t.Context(), &app, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(App{"one", "two", "latest"}, app); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	// ttl=nocache: a second Load reads app@0 again; the pinned versions
	// come from the cache.
	if err := s.Load(t.Context(), &app, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"app@0": 2, "app@1": 1, "app@2": 1}
	if diff := cmp.Diff(want, b.callCounts()); diff != "" {
		t.Errorf("backend reads mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad50Fields10Paths(t *testing.T) {
	t.Parallel()
	b := memsecrets.New(nil)
	setFifty(b)
	s := newStore(t, b)
	var f Fifty
	if err := s.Load(t.Context(), &f, nil); err != nil {
		t.Fatal(err)
	}
	if got := len(b.Calls()); got != 10 {
		t.Errorf("backend calls = %d, want 10: %v", got, b.Calls())
	}
	for p := range 10 {
		path := fmt.Sprintf("svc/p%d", p)
		if got := b.CallCount(memsecrets.OpRead, path); got != 1 {
			t.Errorf("reads of %s = %d, want 1", path, got)
		}
	}
	if got := s.Stats().BackendCalls; got != 10 {
		t.Errorf("Stats().BackendCalls = %d, want 10", got)
	}
	if f.F00 != "v0-0" || f.F49.Reveal() != "v9-4" {
		t.Errorf("F00, F49 = %q, %q; want v0-0, v9-4", f.F00, f.F49.Reveal())
	}
}

// BenchmarkLoad50Fields10Paths loads a 50-field struct over 10 paths with
// caching off, so that every Load reads all 10 entries.
func BenchmarkLoad50Fields10Paths(b *testing.B) {
	be := memsecrets.New(nil)
	setFifty(be)
	s := vaultly.New(be, &vaultly.Options{TTL: vaultly.NoCache})
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	calls := 0
	for b.Loop() {
		var f Fifty
		if err := s.Load(ctx, &f, nil); err != nil {
			b.Fatal(err)
		}
		calls += len(be.Calls())
		be.ResetCalls()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "backend-calls/op")
}

func setFifty(b *memsecrets.Backend) {
	for p, f := range fiftyData() {
		m := map[string]any{}
		for k, v := range f {
			m[k] = v
		}
		b.Set(p, m)
	}
}

func fiftyData() map[string]map[string]string {
	d := map[string]map[string]string{}
	for p := range 10 {
		f := map[string]string{}
		for k := range 5 {
			f[fmt.Sprintf("k%d", k)] = fmt.Sprintf("v%d-%d", p, k)
		}
		d[fmt.Sprintf("svc/p%d", p)] = f
	}
	return d
}

// Fifty has 50 fields over 10 paths (5 keys each).
type Fifty struct {
	F00 string        `secret:"svc/p0:k0"`
	F01 vaultly.Value `secret:"svc/p0:k1"`
	F02 string        `secret:"svc/p0:k2"`
	F03 vaultly.Value `secret:"svc/p0:k3"`
	F04 string        `secret:"svc/p0:k4"`
	F05 vaultly.Value `secret:"svc/p1:k0"`
	F06 string        `secret:"svc/p1:k1"`
	F07 vaultly.Value `secret:"svc/p1:k2"`
	F08 string        `secret:"svc/p1:k3"`
	F09 vaultly.Value `secret:"svc/p1:k4"`
	F10 string        `secret:"svc/p2:k0"`
	F11 vaultly.Value `secret:"svc/p2:k1"`
	F12 string        `secret:"svc/p2:k2"`
	F13 vaultly.Value `secret:"svc/p2:k3"`
	F14 string        `secret:"svc/p2:k4"`
	F15 vaultly.Value `secret:"svc/p3:k0"`
	F16 string        `secret:"svc/p3:k1"`
	F17 vaultly.Value `secret:"svc/p3:k2"`
	F18 string        `secret:"svc/p3:k3"`
	F19 vaultly.Value `secret:"svc/p3:k4"`
	F20 string        `secret:"svc/p4:k0"`
	F21 vaultly.Value `secret:"svc/p4:k1"`
	F22 string        `secret:"svc/p4:k2"`
	F23 vaultly.Value `secret:"svc/p4:k3"`
	F24 string        `secret:"svc/p4:k4"`
	F25 vaultly.Value `secret:"svc/p5:k0"`
	F26 string        `secret:"svc/p5:k1"`
	F27 vaultly.Value `secret:"svc/p5:k2"`
	F28 string        `secret:"svc/p5:k3"`
	F29 vaultly.Value `secret:"svc/p5:k4"`
	F30 string        `secret:"svc/p6:k0"`
	F31 vaultly.Value `secret:"svc/p6:k1"`
	F32 string        `secret:"svc/p6:k2"`
	F33 vaultly.Value `secret:"svc/p6:k3"`
	F34 string        `secret:"svc/p6:k4"`
	F35 vaultly.Value `secret:"svc/p7:k0"`
	F36 string        `secret:"svc/p7:k1"`
	F37 vaultly.Value `secret:"svc/p7:k2"`
	F38 string        `secret:"svc/p7:k3"`
	F39 vaultly.Value `secret:"svc/p7:k4"`
	F40 string        `secret:"svc/p8:k0"`
	F41 vaultly.Value `secret:"svc/p8:k1"`
	F42 string        `secret:"svc/p8:k2"`
	F43 vaultly.Value `secret:"svc/p8:k3"`
	F44 string        `secret:"svc/p8:k4"`
	F45 vaultly.Value `secret:"svc/p9:k0"`
	F46 string        `secret:"svc/p9:k1"`
	F47 vaultly.Value `secret:"svc/p9:k2"`
	F48 string        `secret:"svc/p9:k3"`
	F49 vaultly.Value `secret:"svc/p9:k4"`
}

type Embedded struct {
	Key string `secret:"emb:key"`
}

type Leaf struct {
	Name string `secret:"{Region}/{Tier}:name"`
}

type Mid struct {
	Tier string // placeholder source for Leaf
	Leaf Leaf   // untagged, walked
	LP   *Leaf  `secret:",prefix=p"`
	Skip *Leaf  `secret:"-"`
}

type Node struct {
	V    string `secret:"n:v"`
	Next *Node
}

func TestLoadNesting(t *testing.T) {
	t.Parallel()
	type Root struct {
		Embedded
		Region string
		Mid    Mid
		Ptr    *Mid
	}
	b := newEntries(map[string]map[string]string{
		"emb":       {"key": "ek"},
		"eu/gold":   {"name": "eu-gold"},
		"p/eu/gold": {"name": "p-eu-gold"},
		"us/gold":   {"name": "us-gold"},
		"p/us/gold": {"name": "p-us-gold"},
	})
	s := newStore(t, b)
	t.Run("fields and vars", func(t *testing.T) {
		r := Root{Region: "eu", Mid: Mid{Tier: "gold"}}
		if err := s.Load(t.Context(), &r, nil); err == nil || !strings.Contains(err.Error(), "Root.Ptr.Leaf.Name: invalid argument: placeholder {Tier} is empty") {
			t.Fatalf("Load() = %v, want an empty-placeholder error for the nil pointer's field", err)
		}
		// Vars win over fields.
		if err := s.Load(t.Context(), &r, &vaultly.LoadOptions{Vars: map[string]string{"Region": "us", "Tier": "gold"}}); err != nil {
			t.Fatalf("Load() = %v", err)
		}
		got := []string{r.Key, r.Mid.Leaf.Name, r.Mid.LP.Name, r.Ptr.Leaf.Name, r.Ptr.LP.Name}
		want := []string{"ek", "us-gold", "p-us-gold", "us-gold", "p-us-gold"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load() mismatch (-want +got):\n%s", diff)
		}
		if r.Mid.Skip != nil || r.Ptr.Skip != nil {
			t.Errorf(`secret:"-" field was set`)
		}
	})
	t.Run("recursive type", func(t *testing.T) {
		var n Node
		err := s.Load(t.Context(), &n, nil)
		if err == nil || !strings.Contains(err.Error(), "load Node.Next: invalid argument: recursive struct type vaultly_test.Node") {
			t.Errorf("Load() = %v, want a recursive type error", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s2 := newStore(t, b)
		var e Embedded
		err := s2.Load(ctx, &e, nil)
		if !errors.Is(err, vaultly.ErrCanceled) {
			t.Errorf("Load(canceled ctx) = %v, want Canceled", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r := Root{Region: "eu", Mid: Mid{Tier: "gold"}, Ptr: &Mid{Tier: "gold"}}
				if err := s.Load(t.Context(), &r, nil); err != nil {
					t.Errorf("Load() = %v", err)
					return
				}
				if r.Ptr.Leaf.Name != "eu-gold" || r.Mid.LP.Name != "p-eu-gold" {
					t.Errorf("Load() = %q, %q", r.Ptr.Leaf.Name, r.Mid.LP.Name)
				}
			})
		}
		wg.Wait()
	})
}

type inner struct {
	Key string `secret:"emb:key"`
}

func TestLoadUnexportedEmbedded(t *testing.T) {
	t.Parallel()
	type Outer struct {
		inner // promoted exported fields are settable, as in encoding/json
	}
	type OuterPtr struct {
		*inner
	}
	b := newEntries(map[string]map[string]string{"emb": {"key": "ek"}})
	s := newStore(t, b)
	var o Outer
	if err := s.Load(t.Context(), &o, nil); err != nil || o.Key != "ek" {
		t.Errorf("Load(embedded unexported struct) = %v, Key = %q; want nil, ek", err, o.Key)
	}
	var op OuterPtr
	err := s.Load(t.Context(), &op, nil)
	if err == nil || !strings.Contains(err.Error(), "load OuterPtr.inner: invalid argument: unexported field holds secret tags") {
		t.Errorf("Load(embedded unexported pointer) = %v, want an unexported-field error", err)
	}
}
