package main

import (
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envName is the CNNCTL_* variable that sets a flag.
func envName(flag string) string {
	return "CNNCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// checkEnv rejects a CNNCTL_* value its flag could not take: viper reads
// CNNCTL_LR=abc as 0 and CNNCTL_NESTEROV=maybe as false, silently. A flag
// given on the command line wins, so its variable is not looked at.
func checkEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		val, ok := os.LookupEnv(envName(fl.Name))
		if err != nil || !ok || fl.Changed {
			return
		}
		if e := checkRecipeType(fl, val); e != nil {
			err = usagef("environment variable %s=%q (it sets --%s): %v", envName(fl.Name), val, fl.Name, e)
		}
	})
	return err
}

// checkFiniteFlags rejects an infinite or NaN value of any float flag,
// wherever it came from (flag, CNNCTL_*, recipe): --lr inf diverges at
// step 1.
func checkFiniteFlags(f *Factory, cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Value.Type() != "float64" {
			return
		}
		if x := f.Viper.GetFloat64(fl.Name); math.IsInf(x, 0) || math.IsNaN(x) {
			err = usagef("%s: --%s must be a finite number, got %v", cmd.Name(), fl.Name, x)
		}
	})
	return err
}
