package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// plannedCmds are commands whose engine is not built yet: they exist so
// --help says what they will do, and they say plainly that they cannot yet.
func plannedCmds() []*cobra.Command {
	var cmds []*cobra.Command
	for _, p := range []struct{ use, short string }{} {
		p := p
		cmds = append(cmds, &cobra.Command{
			Use:   p.use,
			Short: p.short + " (not built yet)",
			RunE: func(cmd *cobra.Command, args []string) error {
				return fmt.Errorf("%s is not built yet in this version of cnnctl", cmd.Name())
			},
		})
	}
	return cmds
}
