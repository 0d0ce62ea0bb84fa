package hashivault

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logRecorder is a slog.Handler that keeps level and message of every record.
type logRecorder struct {
	mu      sync.Mutex
	records []string // "LEVEL message"
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Level.String()+" "+rec.Message)
	r.mu.Unlock()
	return nil
}

// take returns the records since the last take.
func (r *logRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.records
	r.records = nil
	return out
}

// TestLogLevels: with no Options.Logger the backend logs through
// slog.Default(); routine events (a login, a renewal, a replaced token) are
// Debug, so a default INFO logger shows nothing while all is well; what
// needs attention (a rejected token and the re-login, a failed login) is
// Warn. Not parallel: it replaces the process's default logger.
func TestLogLevels(t *testing.T) {
	rec := &logRecorder{}
	old := slog.Default()
	slog.SetDefault(slog.New(rec))
	t.Cleanup(func() { slog.SetDefault(old) })

	srv := shared(t)
	srv.PutKV(t, "logs/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-logs", map[string]any{"token_ttl": "1h"})
	ctx := ctxT(t, 30*time.Second)
	b := newBackend(t, &Options{Address: srv.Addr, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2})
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"New", func() error { return nil }, []string{"DEBUG vaultly: logged in"}},
		{"Read", func() error { _, err := b.Read(ctx, "logs/app", 0); return err }, nil},
		{"renewal", func() error {
			b.mu.Lock()
			cur := b.lease
			b.mu.Unlock()
			_, err := (*tokenTarget)(b).Renew(ctx, cur)
			return err
		}, []string{"DEBUG vaultly: token renewed"}},
		{"replacement by the renewal loop", func() error {
			b.mu.Lock()
			cur := b.lease
			b.mu.Unlock()
			_, err := (*tokenTarget)(b).Replace(ctx, cur)
			return err
		}, []string{"DEBUG vaultly: logged in"}},
		{"token revoked", func() error {
			if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(ctx, b.currentToken()); err != nil {
				return err
			}
			_, err := b.Read(ctx, "logs/app", 0)
			return err
		}, []string{"WARN vaultly: token rejected by vault; logging in again", "DEBUG vaultly: logged in"}},
		{"login fails", func() error {
			srv.Write(t, "auth/"+mount+"/role/app", map[string]any{"token_policies": "reader", "bind_secret_id": true, "secret_id_bound_cidrs": "10.255.255.254/32"})
			if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(ctx, b.currentToken()); err != nil {
				return err
			}
			if _, err := b.Read(ctx, "logs/app", 0); err == nil {
				t.Errorf("Read succeeded although the login cannot")
			}
			return nil
		}, []string{"WARN vaultly: token rejected by vault; logging in again", "WARN vaultly: login failed"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, rec.take()); diff != "" {
			t.Errorf("%s: log records (-want +got):\n%s", st.name, diff)
		}
	}
	b.Close()
	if got := slices.DeleteFunc(rec.take(), func(s string) bool { return strings.HasPrefix(s, "DEBUG") }); len(got) > 0 {
		t.Errorf("Close logged %v, want nothing above debug", got)
	}
}
