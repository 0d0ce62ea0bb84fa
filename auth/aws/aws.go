// Package aws logs in to Vault with the AWS auth method's IAM flow: it signs
// an sts:GetCallerIdentity request (SigV4) with AWS credentials and sends the
// signed request to Vault, which forwards it to STS to learn who the caller is.
//
// Credentials come from explicit keys (string, environment variable or file,
// read at every Login), from Options.Credentials, or by default from the
// standard AWS credential chain (environment, shared config and credential
// files, web identity, ECS/EC2 roles), loaded again at every Login.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// ServerIDHeader is the header Vault checks against iam_server_id_header_value.
const ServerIDHeader = "X-Vault-AWS-IAM-Server-ID"

const stsBody = "Action=GetCallerIdentity&Version=2011-06-15"

// Options configures an AWS IAM login.
type Options struct {
	// Mount is where the method is enabled. Default "aws" (auth/aws).
	Mount string
	// Role is the Vault role. Default: Vault uses the IAM principal's name.
	Role string
	// Region is the STS region the request is signed for. Default
	// "us-east-1" (the global endpoint https://sts.amazonaws.com).
	Region string
	// STSEndpoint is the URL the signed request names. Default
	// https://sts.amazonaws.com/ for us-east-1, else
	// https://sts.<Region>.amazonaws.com/. Vault must use the same STS
	// region (its sts_endpoint / sts_region settings).
	STSEndpoint string
	// ServerID is sent, signed, in the X-Vault-AWS-IAM-Server-ID header;
	// needed when the mount sets iam_server_id_header_value. Default: none.
	ServerID string

	// AccessKeyID and SecretAccessKey (both or neither) and SessionToken
	// (optional, with the other two) give explicit keys: auth.FromString,
	// auth.FromEnv or auth.FromFile, read at every Login. Default: unset,
	// so the standard AWS credential chain is used.
	AccessKeyID, SecretAccessKey, SessionToken auth.Credential

	// Credentials, if set, supplies the credentials instead (called at every
	// Login). Default nil.
	Credentials awssdk.CredentialsProvider
}

// Method logs in with AWS IAM credentials. Create it with New. It prints
// as Describe for every verb.
type Method struct {
	login.Base
	role, region, endpoint, serverID string
	keyID, secret, session           auth.Credential
	provider                         awssdk.CredentialsProvider
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. Keys given by halves, or both
// keys and a provider, are a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{
		Base:     login.NewBase("aws", opts.Mount),
		role:     opts.Role,
		region:   opts.Region,
		endpoint: opts.STSEndpoint,
		serverID: opts.ServerID,
		keyID:    opts.AccessKeyID,
		secret:   opts.SecretAccessKey,
		session:  opts.SessionToken,
		provider: opts.Credentials,
	}
	if m.region == "" {
		m.region = "us-east-1"
	}
	if m.endpoint == "" {
		m.endpoint = "https://sts.amazonaws.com/"
		if m.region != "us-east-1" {
			m.endpoint = "https://sts." + m.region + ".amazonaws.com/"
		}
	}
	if m.keyID.IsSet() != m.secret.IsSet() {
		return nil, login.Fail(m.Base, errs.Config, "an access key id and a secret access key must be given together")
	}
	if m.session.IsSet() && !m.keyID.IsSet() {
		return nil, login.Fail(m.Base, errs.Config, "a session token needs an access key id and a secret access key")
	}
	if m.provider != nil && m.keyID.IsSet() {
		return nil, login.Fail(m.Base, errs.Config, "give either explicit keys or a credentials provider")
	}
	return m, nil
}

func (m *Method) credentials(ctx context.Context) (awssdk.Credentials, error) {
	if m.keyID.IsSet() {
		var c awssdk.Credentials
		var err error
		if c.AccessKeyID, err = login.Credential(m.Base, "access key id", m.keyID); err != nil {
			return c, err
		}
		if c.SecretAccessKey, err = login.Credential(m.Base, "secret access key", m.secret); err != nil {
			return c, err
		}
		if m.session.IsSet() {
			if c.SessionToken, err = login.Credential(m.Base, "session token", m.session); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	p := m.provider
	if p == nil {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(m.region))
		if err != nil {
			return awssdk.Credentials{}, login.FailCause(m.Base, errs.Config, err, "cannot load the AWS configuration")
		}
		p = cfg.Credentials
	}
	if p == nil {
		return awssdk.Credentials{}, login.Fail(m.Base, errs.Config, "no AWS credentials found")
	}
	c, err := p.Retrieve(ctx)
	if err != nil {
		return c, login.FailCause(m.Base, errs.Unauthenticated, err, "cannot get AWS credentials")
	}
	return c, nil
}

// Login signs sts:GetCallerIdentity and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	creds, err := m.credentials(ctx)
	if err != nil {
		return nil, err
	}
	data, err := m.loginData(ctx, creds, time.Now())
	if err != nil {
		return nil, err
	}
	return login.Write(ctx, m.Base, client, "login", data, creds.SecretAccessKey, creds.SessionToken)
}

// loginData builds the signed request Vault expects.
func (m *Method) loginData(ctx context.Context, creds awssdk.Credentials, now time.Time) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.endpoint, strings.NewReader(stsBody))
	if err != nil {
		return nil, login.Fail(m.Base, errs.Config, "bad sts endpoint %q", m.endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if m.serverID != "" {
		req.Header.Set(ServerIDHeader, m.serverID)
	}
	sum := sha256.Sum256([]byte(stsBody))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", m.region, now); err != nil {
		return nil, login.Fail(m.Base, errs.Unauthenticated, "cannot sign the sts request")
	}
	headers, err := json.Marshal(req.Header)
	if err != nil {
		return nil, login.Fail(m.Base, errs.Unknown, "cannot encode the sts request headers")
	}
	data := map[string]any{
		"iam_http_request_method": http.MethodPost,
		"iam_request_url":         base64.StdEncoding.EncodeToString([]byte(m.endpoint)),
		"iam_request_body":        base64.StdEncoding.EncodeToString([]byte(stsBody)),
		"iam_request_headers":     base64.StdEncoding.EncodeToString(headers),
	}
	if m.role != "" {
		data["role"] = m.role
	}
	return data, nil
}
