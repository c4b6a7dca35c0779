package cli

import (
	"github.com/spf13/cobra"
)

// NewCmdCompletion returns 'trustsync completion', which prints cobra's
// shell completion scripts.
func NewCmdCompletion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: heredoc(`
			Print a script that lets your shell complete trustsync's commands and
			flags. Load it in your shell's start-up file, as the examples show.
		`),
		Example: examples(`
			# bash, in ~/.bashrc:
			$ source <(trustsync completion bash)
			# zsh, in ~/.zshrc (after compinit):
			$ source <(trustsync completion zsh)
			# fish:
			$ trustsync completion fish > ~/.config/fish/completions/trustsync.fish
		`),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs("SHELL")(cmd, args); err != nil {
				return err
			}
			if err := cobra.OnlyValidArgs(cmd, args); err != nil {
				return usageErrorf("unknown shell %q: choose bash, zsh, fish or powershell", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), f.IOStreams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}
