package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completeTimeout bounds the Vault requests of one completion (log in,
// find the mount, list), so a slow or unreachable server never hangs the
// shell.
const completeTimeout = 2 * time.Second

func completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the completion script for the shell. Secret paths complete by listing
them in Vault (vaultly get secret/myapp/<TAB>), with the address and token
the command would use, bounded by a 2s timeout.

The bash script works without the bash-completion package: where its
_get_comp_words_by_ref is missing, the script defines a minimal one.`,
		Example:   "  source <(vaultly completion bash)\n  vaultly completion fish > ~/.config/fish/completions/vaultly.fish",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs("SHELL (bash, zsh or fish)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return genBash(cmd.Root(), out)
			case "zsh":
				return cmd.Root().GenZshCompletion(out)
			case "fish":
				return cmd.Root().GenFishCompletion(out, true)
			}
			return usagef("unknown shell %q: want bash, zsh or fish", args[0])
		},
	}
}

// bashWordsFallback stands in for bash-completion's _get_comp_words_by_ref
// (which cobra's script calls) when that package is not installed: it
// splits the line up to the cursor on blanks, so "-format=json" and
// "db:key" stay one word, as with `-n =:`.
const bashWordsFallback = `# Without the bash-completion package: a minimal _get_comp_words_by_ref.
if ! declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
_get_comp_words_by_ref() {
    local line="${COMP_LINE:0:COMP_POINT}" w
    local -a ws
    read -r -a ws <<< "$line"
    if [[ -z "$line" || "$line" == *[[:blank:]] ]]; then ws+=(""); fi
    while [[ $# -gt 0 ]]; do
        case "$1" in
        -n) shift ;;
        cur) cur="${ws[${#ws[@]}-1]}" ;;
        prev) prev="${ws[${#ws[@]}-2]}" ;;
        words) words=("${ws[@]}") ;;
        cword) cword=$(( ${#ws[@]} - 1 )) ;;
        esac
        shift
    done
}
fi

`

// genBash writes cobra's bash completion with the fallback in front.
func genBash(root *cobra.Command, w io.Writer) error {
	var buf bytes.Buffer
	if err := root.GenBashCompletionV2(&buf, true); err != nil {
		return err
	}
	script := buf.String()
	// After the header comment, before the first function.
	at := strings.Index(script, "\n__")
	if at < 0 {
		at = 0
	}
	_, err := io.WriteString(w, script[:at+1]+bashWordsFallback+script[at+1:])
	return err
}

// completePaths completes the PATH argument of a kv command by listing
// the folder typed so far. Any failure completes nothing.
func (g *globals) completePaths(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 || strings.ContainsAny(toComplete, ":?") || strings.HasPrefix(toComplete, "vault://") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	g.mountSet = cmd.Flags().Changed("mount")
	dir := ""
	if i := strings.LastIndex(toComplete, "/"); i >= 0 {
		dir = toComplete[:i+1]
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completeTimeout)
	defer cancel()
	g.logLevel = 100 // nothing on stderr while the shell completes
	k, err := g.kv(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer k.Close()
	t, b, err := k.target(ctx, dir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, err := b.List(ctx, t.path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	d := cobra.ShellCompDirectiveNoFileComp
	var out []string
	for _, n := range names {
		if strings.HasPrefix(dir+n, toComplete) {
			out = append(out, dir+n)
			if strings.HasSuffix(n, "/") {
				d |= cobra.ShellCompDirectiveNoSpace // a folder: keep typing
			}
		}
	}
	return out, d
}
