package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newDataCmd is a placeholder until the command is built.
func newDataCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "data info|fetch",
		Short: "Inspect data sets (info) or download them (fetch) (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("%s is not built yet in this version of cnnctl", cmd.Name())
		},
	}
}
