package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/atomicfile"
	"github.com/vaultly/vaultly/pkisecrets"
)

func certCmd(g *globals) *cobra.Command {
	return group("cert", "Get TLS certificates from Vault's PKI engine",
		`  vaultly cert issue web -cn web.example.com
  vaultly cert issue -mount pki_int web -cn web.example.com -alt-names www.example.com -ttl 72h`,
		certIssueCmd(g))
}

// certOut is what cert issue prints: never the key.
type certOut struct {
	Serial     string    `json:"serial_number"`
	CommonName string    `json:"common_name"`
	NotAfter   time.Time `json:"not_after"`
	Mode       string    `json:"mode"` // "sign": the key was generated here; "issue": by Vault
	Files      certFiles `json:"files"`
}

type certFiles struct {
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"private_key"`
	CAChain     string `json:"ca_chain"`
}

func certIssueCmd(g *globals) *cobra.Command {
	var (
		o                     pkisecrets.Options
		ttl                   time.Duration
		mode, keyType         string
		certFile, keyFile, ca string
	)
	c := &cobra.Command{
		Use:   "issue ROLE",
		Short: "Get a certificate and key for a role and write them to files",
		Long: `Get a certificate for ROLE of the PKI engine at -mount and write three PEM
files: the certificate with its intermediate CAs (-cert), the private key
(-key, PKCS #8) and the CA chain (-chain). Each file is replaced atomically
with mode 0600 (written to a temporary file, synced, renamed), the key
first, then the certificate, then the chain. Nothing secret is printed:
the output names the serial number, the end of validity and the files.

By default (-mode auto) the key is generated here (-key-type, ECDSA P-256
by default) and only a certificate signing request goes to Vault
(POST MOUNT/sign/ROLE), so the key never crosses the network; when the
role or the token's policy does not allow signing, Vault generates key and
certificate (POST MOUNT/issue/ROLE). -mode sign or -mode issue forces one.
The policy needs "update" on MOUNT/sign/ROLE or MOUNT/issue/ROLE.

An unknown role exits with code 3.`,
		Example: `  vaultly cert issue web -cn web.example.com
  vaultly cert issue web -cn web.example.com -ip-sans 10.0.0.5 -ttl 24h -cert /etc/web/tls.crt -key /etc/web/tls.key -chain /etc/web/ca.pem
  vaultly cert issue -mount pki_int -mode issue web -cn web.example.com -format=json`,
		Args: exactArgs("ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Mode, err = pkisecrets.ParseMode(mode); err != nil {
				return usagef("-mode %q: want auto, sign or issue", mode)
			}
			if o.KeyType, err = pkisecrets.ParseKeyType(keyType); err != nil {
				return usagef("-key-type %q: want ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519", keyType)
			}
			if certFile == "" || keyFile == "" || ca == "" {
				return usagef("-cert, -key and -chain must not be empty")
			}
			o.TTL = ttl
			o.Logger = g.options().Logger // errors only: the outcome is in the output
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			crt, err := pkisecrets.Issue(cmd.Context(), b, args[0], &o)
			if err != nil {
				if e, ok := errors.AsType[*vaultly.Error](err); ok && e.Op == "cert config" {
					return &usageError{err}
				}
				return err
			}
			key, err := crt.Key.RevealPEM()
			if err != nil {
				return err
			}
			for _, f := range []struct {
				name string
				data []byte
			}{{keyFile, key}, {certFile, crt.CertPEM()}, {ca, crt.ChainPEM()}} {
				if err := atomicfile.WriteFile(f.name, f.data); err != nil {
					return &vaultly.Error{Op: "cert issue", Ref: f.name, Code: vaultly.Unknown, Err: err}
				}
			}
			out := certOut{Serial: crt.Serial, CommonName: crt.Leaf.Subject.CommonName, NotAfter: crt.NotAfter().UTC(),
				Mode: "issue", Files: certFiles{certFile, keyFile, ca}}
			if crt.LocalKey {
				out.Mode = "sign"
			}
			if g.structured() {
				return g.printData(cmd.OutOrStdout(), out)
			}
			return printTable(cmd.OutOrStdout(), [2]string{"Key", "Value"}, []row{
				{"serial_number", out.Serial},
				{"common_name", out.CommonName},
				{"not_after", timeText(out.NotAfter)},
				{"mode", out.Mode},
				{"certificate", certFile},
				{"private_key", keyFile + " (mode 0600)"},
				{"ca_chain", ca},
			})
		},
	}
	f := c.Flags()
	// Shadows the global -mount (a KV mount) for this command.
	f.StringVar(&o.Mount, "mount", "pki", "mount path of the PKI engine")
	f.StringVar(&o.CommonName, "cn", "", "common name of the certificate (Vault adds it to the DNS SANs)")
	f.StringSliceVar(&o.AltNames, "alt-names", nil, "DNS names and email addresses for the SANs, comma-separated or repeated")
	f.StringSliceVar(&o.IPSANs, "ip-sans", nil, "IP addresses for the SANs, comma-separated or repeated")
	f.StringSliceVar(&o.URISANs, "uri-sans", nil, "URIs for the SANs, comma-separated or repeated")
	f.DurationVar(&ttl, "ttl", 0, "lifetime to ask for, e.g. 72h (default: the role's ttl; Vault caps it at the role's max_ttl)")
	f.StringVar(&mode, "mode", "auto", `"auto" (sign a local key if allowed, else issue), "sign" or "issue"`)
	f.StringVar(&keyType, "key-type", "ec-p256", "key generated for signing: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519")
	f.StringVar(&certFile, "cert", "cert.pem", "file for the certificate and its intermediate CAs")
	f.StringVar(&keyFile, "key", "key.pem", "file for the private key (mode 0600)")
	f.StringVar(&ca, "chain", "chain.pem", "file for the CA chain")
	return c
}
