package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newExportCmd is a placeholder until the command is built.
func newExportCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "export CKPT",
		Short: "Write a checkpoint's weights as PyTorch state_dict safetensors (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("%s is not built yet in this version of cnnctl", cmd.Name())
		},
	}
}
