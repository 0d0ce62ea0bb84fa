package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// versionTimeout bounds the server lookup of `vaultly version`.
const versionTimeout = 3 * time.Second

// versionInfo is what `vaultly version` prints.
type versionInfo struct {
	Version       string `json:"version"`            // module version, "(devel)" from a checkout
	Commit        string `json:"commit,omitempty"`   // VCS revision the binary was built from
	Modified      bool   `json:"modified,omitempty"` // built from a tree with local changes
	Go            string `json:"go"`
	ServerAddress string `json:"server_address,omitempty"`
	ServerVersion string `json:"server_version,omitempty"` // "" when the server was not reachable
	ServerError   string `json:"server_error,omitempty"`
}

func buildInfo() versionInfo {
	v := versionInfo{Version: "(unknown)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vaultly's version and the server's, when reachable",
		Long: `Print vaultly's module version and the commit it was built from, the Go
version, and the version of the Vault server at the configured address when
it answers within 3s (sys/seal-status, no token needed). An unreachable or
unconfigured server is shown, not an error.`,
		Example: "  vaultly version\n  vaultly -version\n  vaultly version -format=json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printVersion(cmd, g)
		},
	}
}

func printVersion(cmd *cobra.Command, g *globals) error {
	if err := g.resolveFormat(); err != nil {
		return err
	}
	v := buildInfo()
	if sc, err := g.sysClient(); err == nil {
		v.ServerAddress = sc.Address()
		ctx, cancel := context.WithTimeout(cmd.Context(), versionTimeout)
		st, err := sc.SealStatus(ctx)
		cancel()
		if err != nil {
			v.ServerError = g.errText(err)
		} else {
			v.ServerVersion = st.Version
		}
	}
	out := cmd.OutOrStdout()
	if g.structured() {
		return g.printData(out, v)
	}
	line := "vaultly " + v.Version
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if v.Modified {
			c += "+dirty"
		}
		line += " (" + c + ")"
	}
	fmt.Fprintf(out, "%s, %s\n", line, v.Go)
	switch {
	case v.ServerVersion != "":
		fmt.Fprintf(out, "Server %s: vault %s\n", v.ServerAddress, v.ServerVersion)
	case v.ServerError != "":
		fmt.Fprintf(out, "Server %s: not reachable (%s)\n", v.ServerAddress, v.ServerError)
	}
	return nil
}
