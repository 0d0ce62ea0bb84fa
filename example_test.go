package vaultly_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

func ExampleStore_Load() {
	// A memory backend stands in for Vault here; with Vault, use the
	// hashivault backend. Non-string values arrive as JSON text.
	b := memsecrets.New(nil)
	b.Set("myapp/prod/db", map[string]any{"username": "app", "password": "s3cret", "port": 6432})
	b.Set("myapp/settings", map[string]any{"timeout": "30s", "features": []string{"a", "b"}})
	b.Set("myapp/prod/api", map[string]any{"key": "k-123", "url": "https://api.example/v1"})
	s := vaultly.New(b, nil)
	defer s.Close()

	type API struct {
		Key vaultly.Value `secret:":key"`
		URL string        `secret:":url"`
	}
	type Config struct {
		Env      string               // not a secret: usable as {Env}
		User     string               `secret:"myapp/{Env}/db:username"`
		Password vaultly.Value        `secret:"myapp/{Env}/db:password"`
		Port     int                  `secret:"myapp/{Env}/db:port"`
		Timeout  time.Duration        `secret:"myapp/settings:timeout,ttl=1m"`
		Features []string             `secret:"myapp/settings:features"`
		Region   string               `secret:"myapp/settings:region,default=eu-west-1"`
		API      API                  `secret:",prefix=myapp/{Env}/api"`
		DB       map[string]string    `secret:"myapp/{Env}/db"` // the whole entry
		Token    vaultly.Live[string] `secret:"myapp/{Env}/api:key"`
		Extra    *vaultly.Secret[int] `secret:"myapp/settings:extra,optional"`
	}
	cfg := Config{Env: "prod"}
	if err := s.Load(context.Background(), &cfg, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.User, cfg.Port, cfg.Timeout, cfg.Features, cfg.Region, cfg.API.URL, len(cfg.DB), cfg.Extra == nil)
	fmt.Println("password:", cfg.Password)        // redacted
	fmt.Println("reveal:", cfg.Password.Reveal()) // the one way out
	fmt.Println("reads:", len(b.Calls()))         // one per distinct path
	tok, _ := cfg.Token.Get(context.Background()) // resolved through the Store each time
	fmt.Println("token:", tok)
	// Output:
	// app 6432 30s [a b] eu-west-1 https://api.example/v1 3 true
	// password: [redacted]
	// reveal: s3cret
	// reads: 3
	// token: k-123
}

func ExampleStore_Load_errors() {
	b := memsecrets.New(nil)
	b.Set("myapp/db", map[string]any{"port": "not-a-number"})
	s := vaultly.New(b, nil)
	defer s.Close()

	type Config struct {
		Password vaultly.Value `secret:"myapp/db:password"`
		Port     int           `secret:"myapp/db:port"`
		APIKey   vaultly.Value `secret:"myapp/api:key"`
	}
	var cfg Config
	err := s.Load(context.Background(), &cfg, nil)
	fmt.Println(vaultly.CodeOf(err))
	fmt.Println(err)

	type Bad struct {
		Password vaultly.Value `secret:"myapp/db:password,optional,required"`
	}
	fmt.Println(s.Load(context.Background(), &Bad{}, nil))
	// Output:
	// not found
	// vaultly: load: not found: 3 fields failed: load Config.Password myapp/db:password (memory): not found: no key "password" in entry; the entry has "port"; load Config.Port myapp/db:port: invalid argument: cannot convert value to int: invalid syntax; load Config.APIKey myapp/api:key (memory): not found: no entry
	// vaultly: load Bad.Password: invalid argument: tag options optional and required conflict
}

func ExampleSecret() {
	pw := vaultly.NewSecret("hunter2")
	fmt.Println(pw)
	fmt.Printf("%v %s %q %x %#v\n", pw, pw, pw, pw, pw)
	j, _ := json.Marshal(map[string]any{"password": pw})
	fmt.Println(string(j))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("connecting", "password", pw)
	fmt.Println(pw.Reveal())

	var port vaultly.Secret[int]
	_ = json.Unmarshal([]byte(`"5432"`), &port)
	fmt.Println(port, port.Reveal())
	// Output:
	// [redacted]
	// [redacted] [redacted] "[redacted]" [redacted] vaultly.Secret[string]([redacted])
	// {"password":"[redacted]"}
	// level=INFO msg=connecting password=[redacted]
	// hunter2
	// [redacted] 5432
}

func ExampleGetAs() {
	b := memsecrets.New(nil)
	b.Set("myapp/pool", map[string]any{"size": 20, "idle": "90s", "tls": "on"})
	s := vaultly.New(b, nil)
	defer s.Close()
	ctx := context.Background()

	size, _ := vaultly.GetAs[int](ctx, s, "myapp/pool:size")
	idle, _ := vaultly.GetAs[time.Duration](ctx, s, "myapp/pool:idle")
	tls, _ := vaultly.GetAs[bool](ctx, s, "myapp/pool:tls")
	_, err := vaultly.GetAs[uint8](ctx, s, "myapp/pool:idle")
	fmt.Println(size, idle, tls)
	fmt.Println(err)
	// Output:
	// 20 1m30s true
	// vaultly: get myapp/pool:idle: invalid argument: cannot convert value to uint8: invalid syntax
}

func ExampleNewLive() {
	b := memsecrets.New(nil)
	b.SetValue("myapp/token", "v1")
	s := vaultly.New(b, nil)
	defer s.Close()
	ctx := context.Background()

	tok, err := vaultly.NewLive[vaultly.Value](s, "myapp/token", nil)
	if err != nil {
		log.Fatal(err)
	}
	v, _ := tok.Get(ctx)
	fmt.Println(tok, v, v.Reveal())
	b.SetValue("myapp/token", "v2") // rotated; memsecrets tells the Store
	v, _ = tok.Get(ctx)
	fmt.Println(v.Reveal())
	// Output:
	// live(myapp/token) [redacted] v1
	// v2
}
