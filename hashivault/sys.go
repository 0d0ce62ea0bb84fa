package hashivault

// Operator calls on sys/: seal status and unseal.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

// SealStatus is the seal and HA state of a Vault server.
type SealStatus struct {
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Type        string `json:"type"`      // seal type, e.g. "shamir"
	Threshold   int    `json:"threshold"` // keys needed to unseal (t)
	Shares      int    `json:"shares"`    // key shares (n)
	Progress    int    `json:"progress"`  // keys given so far in this unseal attempt
	Version     string `json:"version"`
	StorageType string `json:"storage_type,omitempty"`
	ClusterName string `json:"cluster_name,omitempty"`
	ClusterID   string `json:"cluster_id,omitempty"`
	// HA state, from sys/leader; unknown (false, "") while sealed.
	HAEnabled     bool   `json:"ha_enabled"`
	ActiveNode    bool   `json:"active_node"` // this node is the active one
	LeaderAddress string `json:"leader_address,omitempty"`
}

// SealStatus returns the server's seal status, version and HA state.
func (b *Backend) SealStatus(ctx context.Context) (*SealStatus, error) {
	var out *SealStatus
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		out, err = sysSealStatus(ctx, c)
		return err
	})
	if err != nil {
		return nil, vaultly.WrapError("seal-status", "", b.Name(), err)
	}
	return out, nil
}

// Unseal gives the server one unseal key share and returns the new seal
// status (Progress counts the shares given; Sealed turns false once
// Threshold shares were given). The key is never logged or put in an error.
func (b *Backend) Unseal(ctx context.Context, key string) (*SealStatus, error) {
	var out *SealStatus
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		out, err = sysUnseal(ctx, c, key)
		return err
	})
	if err != nil {
		return nil, vaultly.WrapError("unseal", "", b.Name(), err)
	}
	return out, nil
}

// SysClient calls the operator endpoints that need no token and work while
// the server is sealed: seal status and unseal. Use it where New cannot
// succeed (a sealed server, no credentials yet). It is safe for concurrent
// use and holds nothing that needs closing.
type SysClient struct {
	c *api.Client
}

// NewSysClient resolves the address, namespace and TLS settings like New
// (options, then VAULT_* environment, then the config file) but needs no
// credentials and makes no request. Seal status and unseal are per node:
// with several addresses it talks to the first, without failover.
func NewSysClient(opts *Options) (*SysClient, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Token == "" && o.Auth == nil {
		o.Token = "unused" // satisfy resolve; SysClient sends no token
	}
	s, err := resolve(&o)
	if err != nil {
		return nil, vaultly.WrapError("connect", "", "vault", err)
	}
	// A SysClient talks to one server (seal status and unseal are per
	// node): the first address, without failover.
	var cn *conn
	if o.Client != nil {
		base := clientBase(o.Client)
		cn, err = cloneClient(o.Client, s.Namespace, newRouter([]*url.URL{base}, base, s.MaxResponseBytes, o.Logger))
	} else {
		cn, err = newClient(s, newRouter(s.addrs[:1], s.addrs[0], s.MaxResponseBytes, o.Logger))
	}
	if err != nil {
		return nil, vaultly.WrapError("connect", "", "vault", err)
	}
	cn.c.ClearToken()
	return &SysClient{c: cn.c}, nil
}

// SealStatus returns the server's seal status, version and HA state.
func (s *SysClient) SealStatus(ctx context.Context) (*SealStatus, error) {
	st, err := sysSealStatus(ctx, s.c)
	if err != nil {
		return nil, vaultly.WrapError("seal-status", "", "vault", err)
	}
	return st, nil
}

// Unseal gives the server one unseal key share; see Backend.Unseal.
func (s *SysClient) Unseal(ctx context.Context, key string) (*SealStatus, error) {
	st, err := sysUnseal(ctx, s.c, key)
	if err != nil {
		return nil, vaultly.WrapError("unseal", "", "vault", err)
	}
	return st, nil
}

func sysSealStatus(ctx context.Context, c *api.Client) (*SealStatus, error) {
	st, err := c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	out := sealStatusOf(st)
	if !st.Sealed {
		if l, err := c.Sys().LeaderWithContext(ctx); err == nil {
			out.HAEnabled, out.ActiveNode, out.LeaderAddress = l.HAEnabled, l.IsSelf, l.LeaderAddress
		}
	}
	return out, nil
}

func sysUnseal(ctx context.Context, c *api.Client, key string) (*SealStatus, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, kvInvalid("empty unseal key")
	}
	st, err := c.Sys().UnsealWithContext(ctx, key)
	if err != nil {
		// The server's message does not echo the key, but be certain.
		return nil, MapError(unsealScrub(err, key))
	}
	return sealStatusOf(st), nil
}

func sealStatusOf(st *api.SealStatusResponse) *SealStatus {
	return &SealStatus{
		Initialized: st.Initialized,
		Sealed:      st.Sealed,
		Type:        st.Type,
		Threshold:   st.T,
		Shares:      st.N,
		Progress:    st.Progress,
		Version:     st.Version,
		StorageType: st.StorageType,
		ClusterName: st.ClusterName,
		ClusterID:   st.ClusterID,
	}
}

// unsealScrub returns err unchanged unless its text contains secret, in which case
// it returns an error with the secret removed (keeping a response status).
func unsealScrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		c := *re
		c.Errors = nil
		for _, m := range re.Errors {
			c.Errors = append(c.Errors, strings.ReplaceAll(m, secret, "<redacted>"))
		}
		c.RawError = false
		return &c
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>"))
}

// TokenDetails describes the backend's current token (from
// auth/token/lookup-self), without the token itself.
type TokenDetails struct {
	DisplayName string        `json:"display_name"`
	Policies    []string      `json:"policies"`
	TTL         time.Duration `json:"ttl"` // 0: does not expire
	Renewable   bool          `json:"renewable"`
	EntityID    string        `json:"entity_id,omitempty"`
}

// LookupSelf returns the details of the token the backend uses (logging in
// first if needed).
func (b *Backend) LookupSelf(ctx context.Context) (*TokenDetails, error) {
	var out *TokenDetails
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		sec, err := c.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return err
		}
		if sec == nil {
			return driver.NewError(driver.Malformed, errors.New("empty token lookup"))
		}
		d := &TokenDetails{}
		d.Policies, _ = sec.TokenPolicies()
		d.TTL, _ = sec.TokenTTL()
		d.Renewable, _ = sec.TokenIsRenewable()
		d.DisplayName, _ = sec.Data["display_name"].(string)
		d.EntityID, _ = sec.Data["entity_id"].(string)
		out = d
		return nil
	})
	if err != nil {
		return nil, vaultly.WrapError("lookup-token", "", b.Name(), err)
	}
	return out, nil
}

// ReadAPIPath returns the API path a read of the entry at path uses: on KV
// v2 "<mount>/data/<path>", on KV v1 "<mount>/<path>". Policies name these.
func (b *Backend) ReadAPIPath(ctx context.Context, path string) (string, error) {
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return "", badPath("read-api-path", path, err)
	}
	v, l, err := b.kvLayout(ctx, p)
	if err != nil {
		return "", vaultly.WrapError("read-api-path", p, b.Name(), err)
	}
	if v == 1 {
		return l.v1(p), nil
	}
	return l.v2("data", p), nil
}

// Capabilities returns the current token's capabilities on the API path
// apiPath (e.g. "secret/data/myapp/db"), from sys/capabilities-self:
// "read", "create", "update", "patch", "delete", "list", "sudo", "root" or
// "deny".
func (b *Backend) Capabilities(ctx context.Context, apiPath string) ([]string, error) {
	var out []string
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		caps, err := c.Sys().CapabilitiesSelfWithContext(ctx, strings.TrimPrefix(apiPath, "/"))
		if err != nil {
			return err
		}
		out = caps
		return nil
	})
	if err != nil {
		return nil, vaultly.WrapError("capabilities", apiPath, b.Name(), err)
	}
	return out, nil
}

// CanRead reports whether caps (from Capabilities) allow a read.
func CanRead(caps []string) bool {
	return slices.Contains(caps, "read") || slices.Contains(caps, "root")
}

// ReadPolicy returns the minimal HCL policy that lets a token read the
// given API paths (from ReadAPIPath), one block per path, sorted.
func ReadPolicy(apiPaths []string) string {
	ps := slices.Clone(apiPaths)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	var sb strings.Builder
	for i, p := range ps {
		if i > 0 {
			sb.WriteByte('\n')
		}
		fmt.Fprintf(&sb, "path %q {\n  capabilities = [\"read\"]\n}\n", p)
	}
	return sb.String()
}

// Address returns the server address the client talks to.
func (s *SysClient) Address() string { return s.c.Address() }
