package vaulttest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// STS is a loopback stand-in for the one AWS call that Vault's (real) aws
// auth method makes for IAM logins: sts:GetCallerIdentity. Point the mount's
// sts_endpoint at URL. It checks the request's SigV4 signature against the
// keys registered with AddUser and answers with the user's ARN.
type STS struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	users    map[string]stsUser // by access key ID
	requests []http.Header
}

type stsUser struct {
	secret, arn, account string
}

// StartSTS starts the endpoint on 127.0.0.1, stopped when t ends.
func StartSTS(t testing.TB) *STS {
	t.Helper()
	s := &STS{users: map[string]stsUser{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddUser registers an access key; requests signed with it are answered
// with arn (e.g. "arn:aws:iam::123456789012:user/app").
func (s *STS) AddUser(accessKeyID, secretAccessKey, arn string) {
	account := ""
	if parts := strings.Split(arn, ":"); len(parts) > 4 {
		account = parts[4]
	}
	s.mu.Lock()
	s.users[accessKeyID] = stsUser{secret: secretAccessKey, arn: arn, account: account}
	s.mu.Unlock()
}

// Requests returns the headers of every request received so far.
func (s *STS) Requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.requests...)
}

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, r.Header.Clone())
	s.mu.Unlock()
	if err := s.verify(r, body); err != nil {
		stsError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	if !strings.Contains(string(body), "Action=GetCallerIdentity") {
		stsError(w, http.StatusBadRequest, "InvalidAction", "only GetCallerIdentity is implemented")
		return
	}
	u := s.userOf(r)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>AIDAVAULTLYTEST</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, u.arn, u.account, randHex(8))
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, code, msg, randHex(8))
}

// authParts parses "AWS4-HMAC-SHA256 Credential=AKID/date/region/sts/aws4_request, SignedHeaders=a;b, Signature=..."
func authParts(h string) (keyID, region string, signed []string) {
	for _, f := range strings.Split(strings.TrimPrefix(h, "AWS4-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			p := strings.Split(v, "/")
			if len(p) == 5 {
				keyID, region = p[0], p[2]
			}
		case "SignedHeaders":
			signed = strings.Split(v, ";")
		}
	}
	return keyID, region, signed
}

func (s *STS) userOf(r *http.Request) stsUser {
	keyID, _, _ := authParts(r.Header.Get("Authorization"))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[keyID]
}

// verify signs the same request again with the registered secret and
// compares the Authorization headers.
func (s *STS) verify(r *http.Request, body []byte) error {
	authz := r.Header.Get("Authorization")
	keyID, region, signed := authParts(authz)
	s.mu.Lock()
	u, ok := s.users[keyID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown access key")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date")
	}
	req, err := http.NewRequest(r.Method, "https://"+r.Host+"/", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	for _, h := range signed {
		if h == "host" || h == "x-amz-date" {
			continue
		}
		for _, v := range r.Header.Values(h) {
			req.Header.Add(h, v)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: u.secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", region, when); err != nil {
		return err
	}
	if req.Header.Get("Authorization") != authz {
		return fmt.Errorf("the request signature we calculated does not match the signature you provided")
	}
	return nil
}
