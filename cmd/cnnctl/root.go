package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/term"
)

// Exit codes, distinct so scripts can tell a typo from a failed run.
const (
	exitOK          = 0
	exitFailure     = 1 // the work failed (bad data, diverged, I/O)
	exitUsage       = 2 // bad flags or arguments
	exitNoCUDA      = 3 // --device cuda and no usable GPU / not built with CUDA
	exitInterrupted = 130
)

// usageError marks errors that come from how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errNoCUDA is wrapped by errors that mean "the GPU the user asked for is not there".
var errNoCUDA = errors.New("no usable CUDA device")

// errInterrupted is returned after a clean stop on SIGINT/SIGTERM.
var errInterrupted = errors.New("interrupted")

// Factory carries what every command needs: the streams and the one viper
// instance (flags > CNNCTL_* environment > config file > defaults).
type Factory struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrIsTerminal decides between progress bars and plain log lines.
	ErrIsTerminal bool
	Viper         *viper.Viper
}

func newFactory(in io.Reader, out, errOut io.Writer) *Factory {
	v := viper.New()
	v.SetEnvPrefix("CNNCTL")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	isTerm := false
	if f, ok := errOut.(*os.File); ok {
		isTerm = term.IsTerminal(int(f.Fd()))
	}
	return &Factory{In: in, Out: out, ErrOut: errOut, ErrIsTerminal: isTerm, Viper: v}
}

func newRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "cnnctl",
		Short: "Train, evaluate and benchmark the classic CNNs (LeNet … ResNet) on GPU or CPU",
		Long: `cnnctl trains, evaluates and benchmarks the classic image-classification CNNs
(LeNet, AlexNet, VGG, NiN, GoogLeNet, BatchNorm LeNet, ResNet) from YAML model
configs, on an NVIDIA GPU through cnnctl's own CUDA kernels or on the CPU
through a pure-Go engine, and exchanges weights with PyTorch.

Every flag can also be set in the environment as CNNCTL_<FLAG> (dashes become
underscores), e.g. CNNCTL_BATCH_SIZE=64.`,
		Example: `  cnnctl models                               # the model zoo
  cnnctl summary resnet                       # layer-by-layer shapes, params, MACs
  cnnctl train --model lenet --data fashion-mnist --epochs 5 --out runs/lenet
  cnnctl eval runs/lenet/best
  cnnctl bench --model resnet --batch-size 128`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Int("threads", 0, "threads of the CPU engine (0: every core the process may use). "+
		"The same seed and thread count give bit-identical runs; another count may change the last bits")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyThreads(cmd) }
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	root.SetIn(f.In)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(
		newVersionCmd(f, nil),
		newModelsCmd(f, nil),
		newSummaryCmd(f, nil),
		newDeviceCmd(f, nil),
		newTrainCmd(f, nil),
		newEvalCmd(f, nil),
		newPredictCmd(f, nil),
		newExportCmd(f, nil),
		newImportCmd(f, nil),
		newBenchCmd(f, nil),
		newDataCmd(f),
	)
	return root
}

// run executes the command line and maps errors to exit codes.
func run(args []string, in io.Reader, out, errOut io.Writer) int {
	f := newFactory(in, out, errOut)
	root := newRootCmd(f)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // --threads lasts one command line
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(errOut, "cnnctl:", err)
	var ue usageError
	switch {
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintln(errOut, "Run 'cnnctl --help' or 'cnnctl <command> --help' for usage.")
		return exitUsage
	case errors.Is(err, errNoCUDA):
		return exitNoCUDA
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	}
	return exitFailure
}

// isCobraUsage recognises cobra's own argument errors, which are plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// bindFlags makes cmd's flags visible through viper, so a value comes from
// the flag, else a config file, else CNNCTL_*, else the flag's default.
func bindFlags(f *Factory, cmd *cobra.Command) error {
	if err := checkEnv(cmd); err != nil {
		return err
	}
	return f.Viper.BindPFlags(cmd.Flags())
}

// applyThreads sets the CPU engine's thread count from --threads, else
// CNNCTL_THREADS, when either is positive: the engine's loops split over
// GOMAXPROCS goroutines (internal/parallel), so that is the one setting.
func applyThreads(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("threads")
	if fl == nil {
		return nil
	}
	val, from := fl.Value.String(), "--threads"
	if env, ok := os.LookupEnv(envName("threads")); ok && env != "" && !fl.Changed {
		val, from = env, fmt.Sprintf("environment variable %s", envName("threads"))
	}
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || n < 0 {
		return usagef("%s=%q: want a thread count, 0 or more (0: every core)", from, val)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return nil
}
