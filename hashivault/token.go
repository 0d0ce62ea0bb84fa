package hashivault

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/renew"
)

// Login backoff bounds: after a failed login, requests that need a new
// token fail fast until the backoff has passed, so a fleet of clients does
// not hammer Vault after an outage.
const (
	loginBackoffMin = 500 * time.Millisecond
	loginBackoffMax = 30 * time.Second
)

// describe names the auth method for logs and errors.
func (b *Backend) describe() string {
	if d, ok := b.s.method.(auth.Describer); ok {
		return d.Describe()
	}
	return "custom auth method"
}

// start obtains the first token: the config file's saved token while it is
// valid, else a login through the method (for a token method, a lookup).
func (b *Backend) start(ctx context.Context) (renew.Lease, error) {
	if tok := b.s.initialToken; tok != "" {
		now := time.Now()
		lc, err := b.cur.c.CloneWithHeaders()
		if err == nil {
			lc.SetToken(tok)
			sec, lerr := lc.Auth().Token().LookupSelfWithContext(ctx)
			if lerr == nil && sec != nil {
				lease := leaseFromLookup(sec, now)
				b.setToken(tok, lease)
				b.loginMu.Lock()
				b.increment = lease.TTL
				b.loginMu.Unlock()
				b.log.Debug("vaultly: using the saved token", "source", b.s.source, "ttl", lease.TTL)
				return lease, nil
			}
			if lerr != nil && !badToken(lerr) {
				return renew.Lease{}, mapError(lerr, tok)
			}
		}
		b.log.Info("vaultly: the saved token is no longer valid; logging in", "method", b.describe())
	}
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	lease, err := b.loginLocked(ctx)
	if err != nil {
		return renew.Lease{}, err
	}
	return lease, nil
}

func leaseFromLookup(sec *api.Secret, obtained time.Time) renew.Lease {
	l := renew.Lease{Obtained: obtained}
	if ttl, err := sec.TokenTTL(); err == nil {
		l.TTL = ttl
	}
	if r, err := sec.TokenIsRenewable(); err == nil {
		l.Renewable = r
	}
	if t, ok := sec.Data["type"].(string); ok && t == "batch" {
		l.Renewable = false
	}
	return l
}

func leaseFromAuth(a *api.SecretAuth, obtained time.Time) renew.Lease {
	l := renew.Lease{Obtained: obtained, TTL: time.Duration(a.LeaseDuration) * time.Second, Renewable: a.Renewable}
	if strings.HasPrefix(a.ClientToken, "hvb.") {
		l.Renewable = false
	}
	return l
}

// setToken installs a new token on the long-lived client and bumps the
// generation.
func (b *Backend) setToken(tok string, lease renew.Lease) {
	b.mu.Lock()
	b.token = tok
	b.gen++
	b.lease = lease
	b.cur.c.SetToken(tok)
	b.lastUse = time.Now()
	b.mu.Unlock()
}

// loginLocked logs in through the method. b.loginMu must be held.
func (b *Backend) loginLocked(ctx context.Context) (renew.Lease, error) {
	b.mu.Lock()
	c := b.cur
	b.mu.Unlock()
	now := time.Now()
	sec, err := b.s.method.Login(ctx, c.c)
	if err == nil && (sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "") {
		err = &driver.Error{Code: driver.Unauthenticated, Err: errors.New(b.describe() + ": login returned no token")}
	}
	if err != nil {
		err = mapError(err, b.currentToken())
		if c := driver.CodeOf(err); c != driver.Canceled && c != driver.DeadlineExceeded {
			d := renew.Backoff(b.loginFails, loginBackoffMin, loginBackoffMax, rand.Float64())
			b.loginFails++
			b.nextLogin = time.Now().Add(d)
			b.loginErr = err
		}
		b.log.Warn("vaultly: login failed", "method", b.describe(), "error", err.Error())
		return renew.Lease{}, err
	}
	b.loginFails, b.loginErr = 0, nil
	lease := leaseFromAuth(sec.Auth, now)
	b.increment = lease.TTL
	b.setToken(sec.Auth.ClientToken, lease)
	lvl := slog.LevelInfo
	if !b.s.created {
		lvl = slog.LevelDebug // a token given by the caller was only looked up
	}
	b.log.Log(ctx, lvl, "vaultly: logged in", "method", b.describe(), "ttl", lease.TTL, "renewable", lease.Renewable)
	return lease, nil
}

// relogin replaces the token after a request met an invalid one. gen is the
// generation the failed request used: when a login has happened since, the
// new token is used without another login. Exactly one goroutine logs in.
func (b *Backend) relogin(ctx context.Context, gen uint64) (renew.Lease, error) {
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	b.mu.Lock()
	cur, lease := b.gen, b.lease
	b.mu.Unlock()
	if cur != gen {
		return lease, nil
	}
	if b.loginErr != nil && time.Now().Before(b.nextLogin) {
		return renew.Lease{}, b.loginErr
	}
	b.log.Info("vaultly: token rejected by vault; logging in again", "method", b.describe())
	lease, err := b.loginLocked(ctx)
	if err != nil {
		return renew.Lease{}, err
	}
	if b.loop != nil {
		b.loop.Reset(lease)
	}
	return lease, nil
}

// tokenTarget is the renew.Target for the backend's token.
type tokenTarget Backend

// Renew renews the current token (auth/token/renew-self) asking for the TTL
// it had at login.
func (t *tokenTarget) Renew(ctx context.Context, cur renew.Lease) (renew.Lease, error) {
	b := (*Backend)(t)
	b.loginMu.Lock()
	inc := b.increment
	b.loginMu.Unlock()
	c, gen, release, err := b.acquire()
	if err != nil {
		return renew.Lease{}, err
	}
	defer release()
	now := time.Now()
	sec, err := c.c.Auth().Token().RenewSelfWithContext(ctx, int(inc/time.Second))
	if err != nil {
		err = mapError(err, b.currentToken())
		if badToken(err) {
			return renew.Lease{}, renew.Permanent(err)
		}
		return renew.Lease{}, err
	}
	if sec == nil || sec.Auth == nil {
		return renew.Lease{}, renew.Permanent(errors.New("token renewal returned no auth data"))
	}
	lease := leaseFromAuth(sec.Auth, now)
	for _, w := range sec.Warnings {
		if strings.Contains(w, "capped") {
			lease.Final = true
		}
	}
	b.mu.Lock()
	if b.gen == gen {
		b.lease = lease
	}
	b.mu.Unlock()
	return lease, nil
}

// Replace logs in again, unless a login already replaced the token the loop
// holds.
func (t *tokenTarget) Replace(ctx context.Context, cur renew.Lease) (renew.Lease, error) {
	b := (*Backend)(t)
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	b.mu.Lock()
	lease := b.lease
	b.mu.Unlock()
	if !lease.Obtained.Equal(cur.Obtained) || lease.TTL != cur.TTL {
		return lease, nil
	}
	return b.loginLocked(ctx)
}
