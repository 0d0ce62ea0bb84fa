package hashivault

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/atomicfile"
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
// Nothing else runs yet, so it works on the caller's context directly.
func (b *Backend) start(ctx context.Context) (renew.Lease, error) {
	if tok := b.s.initialToken; tok != "" {
		now := time.Now()
		lc, err := b.cur.c.CloneWithHeaders()
		if err == nil {
			lc.SetToken(tok)
			sec, lerr := lc.Auth().Token().LookupSelfWithContext(ctx)
			if lerr == nil && sec != nil {
				lease := leaseFromLookup(sec, now)
				b.mu.Lock()
				b.increment = lease.TTL
				b.mu.Unlock()
				b.setToken(tok, lease)
				b.log.Debug("vaultly: using the saved token", "source", b.s.source, "ttl", lease.TTL)
				return lease, nil
			}
			if lerr != nil && !badToken(lerr) {
				return renew.Lease{}, mapError(lerr, tok)
			}
		}
		b.log.Debug("vaultly: the saved token is no longer valid; logging in", "method", b.describe())
	}
	return b.doLogin(ctx)
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
	b.token = newTokenText(tok)
	b.gen++
	b.lease = lease
	b.cur.c.SetToken(tok)
	b.lastUse = time.Now()
	b.mu.Unlock()
	if p := b.s.TokenSink; p != "" {
		// Only logins and start call setToken, one at a time, so the
		// file's last write is the current token.
		if err := atomicfile.WriteFile(p, []byte(tok)); err != nil {
			b.log.Warn("vaultly: writing the token sink failed", "path", p, "error", err.Error())
		}
	}
}

// doLogin logs in through the method on ctx and installs the token. It
// records failures for the login backoff. Callers make sure only one
// doLogin runs at a time: start before anything else runs, then only the
// login flight.
func (b *Backend) doLogin(ctx context.Context) (renew.Lease, error) {
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
	}
	b.tel.login(err)
	if err != nil {
		if c := driver.CodeOf(err); c != driver.Canceled && c != driver.DeadlineExceeded {
			b.mu.Lock()
			d := renew.Backoff(b.loginFails, loginBackoffMin, loginBackoffMax, rand.Float64())
			b.loginFails++
			b.nextLogin = time.Now().Add(d)
			b.loginErr = err
			b.mu.Unlock()
		}
		b.log.Warn("vaultly: login failed", "method", b.describe(), "error", err.Error())
		return renew.Lease{}, err
	}
	lease := leaseFromAuth(sec.Auth, now)
	b.mu.Lock()
	b.loginFails, b.loginErr = 0, nil
	b.increment = lease.TTL
	b.mu.Unlock()
	b.setToken(sec.Auth.ClientToken, lease)
	b.log.Debug("vaultly: logged in", "method", b.describe(), "ttl", lease.TTL, "renewable", lease.Renewable)
	return lease, nil
}

// loginResult is what a login flight hands each of its waiters.
type loginResult struct{ lease renew.Lease }

// login replaces the token of generation gen, exactly once however many
// goroutines ask: the first starts a single flight keyed by gen, the
// others join it, and a caller whose token was already replaced gets the
// new lease without a login. Each waiter leaves when its own ctx ends; the
// login runs on a context detached from every caller (keeping the starter's
// values), bounded by Options.Timeout and by Close, so it finishes — and
// installs its token for everyone — even when its waiters have left.
//
// honourBackoff makes the call fail fast with the last login error while
// the login backoff lasts (requests); the renewal loop has its own backoff.
// resetLoop tells the renewal loop about the new token (a login the loop
// did not ask for).
func (b *Backend) login(ctx context.Context, gen uint64, honourBackoff, resetLoop bool) (renew.Lease, error) {
	b.mu.Lock()
	if b.gen != gen {
		lease := b.lease
		b.mu.Unlock()
		return lease, nil
	}
	if honourBackoff && b.loginErr != nil && time.Now().Before(b.nextLogin) {
		err := b.loginErr
		b.mu.Unlock()
		return renew.Lease{}, err
	}
	b.mu.Unlock()
	ch := b.flights.DoChan("login/"+strconv.FormatUint(gen, 10), func() (any, error) {
		return b.loginFlight(ctx, gen, resetLoop)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return renew.Lease{}, r.Err
		}
		return r.Val.(loginResult).lease, nil
	case <-ctx.Done():
		return renew.Lease{}, &driver.Error{Code: driver.CodeOf(ctx.Err()),
			Err: &vaultError{msg: "gave up waiting for the login in progress: " + ctx.Err().Error(), cause: ctx.Err()}}
	}
}

// loginFlight is the body of a login flight: it logs in unless the token of
// generation gen was replaced in the meantime.
func (b *Backend) loginFlight(caller context.Context, gen uint64, resetLoop bool) (loginResult, error) {
	ctx, done, err := b.detach(caller)
	if err != nil {
		return loginResult{}, err
	}
	defer done()
	b.mu.Lock()
	if b.gen != gen {
		r := loginResult{b.lease}
		b.mu.Unlock()
		return r, nil
	}
	b.mu.Unlock()
	lease, err := b.doLogin(ctx)
	if err != nil {
		if b.closed.Load() {
			return loginResult{}, errClosed
		}
		if driver.CodeOf(err) == driver.DeadlineExceeded && ctx.Err() != nil {
			// The flight's own bound ended it, not a caller: Vault is slow.
			return loginResult{}, &driver.Error{Code: driver.Unavailable,
				Err: &vaultError{msg: b.describe() + ": login did not finish within " + b.s.Timeout.String(), cause: err}}
		}
		return loginResult{}, err
	}
	if l := b.loop.Load(); l != nil && resetLoop {
		l.Reset(lease)
	}
	return loginResult{lease}, nil
}

// detach returns a context for work shared by several callers (a login, the
// KV version detection): caller's values without its cancellation, bounded
// by Options.Timeout and cancelled by Close, which waits for done to be
// called. It fails once Close has begun.
func (b *Backend) detach(caller context.Context) (context.Context, func(), error) {
	b.mu.Lock()
	if b.shut {
		b.mu.Unlock()
		return nil, nil, errClosed
	}
	b.running.Add(1)
	b.mu.Unlock()
	// A fresh callInfo: the shared work must not report into one caller's.
	ctx := context.WithValue(context.WithoutCancel(caller), callInfoKey{}, &callInfo{})
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	stop := context.AfterFunc(b.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		b.running.Done()
	}, nil
}

// relogin replaces the token after a request met an invalid one. gen is the
// generation the failed request used: when a login has happened since, the
// new token is used without another login. Exactly one goroutine logs in.
func (b *Backend) relogin(ctx context.Context, gen uint64) (renew.Lease, error) {
	b.mu.Lock()
	stale := b.gen == gen
	b.mu.Unlock()
	if stale {
		b.log.Warn("vaultly: token rejected by vault; logging in again", "method", b.describe())
	}
	lease, err := b.login(ctx, gen, true, true)
	if stale {
		b.tel.relogin(err)
	}
	return lease, err
}

// tokenTarget is the renew.Target for the backend's token.
type tokenTarget Backend

// Renew renews the current token (auth/token/renew-self) asking for the TTL
// it had at login.
func (t *tokenTarget) Renew(ctx context.Context, cur renew.Lease) (renew.Lease, error) {
	b := (*Backend)(t)
	b.mu.Lock()
	inc := b.increment
	b.mu.Unlock()
	c, gen, release, err := b.acquire()
	if err != nil {
		return renew.Lease{}, err
	}
	defer release()
	now := time.Now()
	sec, err := c.c.Auth().Token().RenewSelfWithContext(ctx, int(inc/time.Second))
	if err != nil {
		err = mapError(err, b.currentToken())
		b.tel.renewal(err)
		if badToken(err) {
			return renew.Lease{}, renew.Permanent(err)
		}
		return renew.Lease{}, err
	}
	if sec == nil || sec.Auth == nil {
		return renew.Lease{}, renew.Permanent(&driver.Error{Code: driver.Malformed, Err: errors.New("token renewal returned no auth data")})
	}
	b.tel.renewal(nil)
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
	b.log.Debug("vaultly: token renewed", "ttl", lease.TTL)
	return lease, nil
}

// Replace logs in again, unless a login already replaced the token the loop
// holds. It shares the login flight with requests that met a dead token.
func (t *tokenTarget) Replace(ctx context.Context, cur renew.Lease) (renew.Lease, error) {
	b := (*Backend)(t)
	b.mu.Lock()
	lease, gen := b.lease, b.gen
	b.mu.Unlock()
	if !lease.Obtained.Equal(cur.Obtained) || lease.TTL != cur.TTL {
		return lease, nil
	}
	return b.login(ctx, gen, false, false)
}
