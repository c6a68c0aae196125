package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/fetch"
	"github.com/spf13/cobra"
)

type dataInfoOptions struct {
	f       *Factory
	Spec    string
	JSON    bool
	SkipBad bool
}

type dataFetchOptions struct {
	f       *Factory
	Name    string
	Dir     string
	BaseURL string
}

func newDataCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect data sets (info) or download them (fetch)",
		Long: `data works with the data sets cnnctl reads (--data KIND:PATH):
  fashion-mnist[:DIR]     IDX files (default DIR /usr/share/datasets/fashion-mnist,
                          Debian's dataset-fashion-mnist package)
  mnist:DIR               IDX files, gzipped or not
  cifar10:DIR|FILE.tar.gz the official CIFAR-10 binary version
  imagefolder:DIR|.tar.gz DIR/<class>/*.jpg|png, or DIR/train and DIR/test|val
                          (only DIR/test|val: a set to evaluate on)
  synthetic[:CxHxW]       seeded random images (1024 train, 256 test, 10 classes)

'cnnctl train' without --data fetches CIFAR-10 once into the user cache
directory (cnnctl/cifar10) as 'data fetch cifar10 --dir' would.`,
	}
	cmd.AddCommand(newDataInfoCmd(f, nil), newDataFetchCmd(f, nil))
	return cmd
}

func newDataInfoCmd(f *Factory, runF func(*dataInfoOptions) error) *cobra.Command {
	opts := &dataInfoOptions{f: f}
	cmd := &cobra.Command{
		Use:     "info SPEC",
		Short:   "Counts per class, image shape, pixel mean and std of each split",
		Example: "  cnnctl data info fashion-mnist\n  cnnctl data info imagefolder:cifar10-train-jpeg.tar.gz --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Spec = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runDataInfo(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&opts.SkipBad, "skip-bad-images", false, "imagefolder: skip (and count) files that do not decode")
	return cmd
}

func runDataInfo(o *dataInfoOptions) error {
	ds, err := data.Open(o.Spec, data.Options{SkipBadImages: o.SkipBad})
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(o.f.ErrOut, "data: warning: %s\n", w)
	}
	if len(ds.Skipped) > 0 {
		fmt.Fprintf(o.f.ErrOut, "data: skipped %d files that do not decode (--skip-bad-images), e.g. %s\n", len(ds.Skipped), ds.Skipped[0])
	}
	info := ds.Info()
	if o.JSON {
		return printJSON(o.f, info)
	}
	w := o.f.Out
	fmt.Fprintf(w, "%s (%s) at %s, %d classes\n", info.Name, info.Kind, info.Path, len(info.Classes))
	for _, s := range info.Splits {
		fmt.Fprintf(w, "\n%s: %d images of %dx%dx%d, pixel mean %s, std %s\n", s.Name, s.N, s.C, s.H, s.W, floats(s.Mean), floats(s.Std))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, c := range info.Classes {
			if i < len(s.Counts) {
				fmt.Fprintf(tw, "  %d\t%s\t%d\n", i, c, s.Counts[i])
			}
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\ndefault normalisation: mean %s, std %s\n", floats32(info.DefaultMean), floats32(info.DefaultStd))
	return nil
}

func floats(v []float64) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf("%.4f", x)
	}
	return strings.Join(p, ",")
}

func floats32(v []float32) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf("%.4f", x)
	}
	return strings.Join(p, ",")
}

func newDataFetchCmd(f *Factory, runF func(*dataFetchOptions) error) *cobra.Command {
	opts := &dataFetchOptions{f: f}
	cmd := &cobra.Command{
		Use:   "fetch cifar10|mnist|fashion-mnist [--dir DIR]",
		Short: "Download a data set from its official source, verified and resumable",
		Long: `fetch downloads a data set's files from their official URLs into DIR,
checks each against its published MD5, and resumes a cut download where it
stopped. A file appears under its real name only once it is complete and
verified. It prints the --data spec to use.`,
		Example: "  cnnctl data fetch cifar10 --dir ~/data\n  cnnctl train --model resnet --data cifar10:~/data",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if _, err := fetch.Lookup(opts.Name); err != nil {
				return usageError{err}
			}
			if runF != nil {
				return runF(opts)
			}
			return runDataFetch(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "data", "folder to download into")
	cmd.Flags().StringVar(&opts.BaseURL, "base-url", "", "fetch from this mirror instead of the official URL")
	return cmd
}

func runDataFetch(cmd *cobra.Command, o *dataFetchOptions) error {
	ctx, stop := signalContext()
	defer stop()
	_, spec, err := fetch.Fetch(ctx, o.Name, o.Dir, fetch.Options{BaseURL: o.BaseURL, Progress: fetchProgress(o.f)})
	if o.f.ErrIsTerminal {
		fmt.Fprintln(o.f.ErrOut)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.Out, "%s is ready: --data %s\n", o.Name, spec)
	return nil
}

// fetchProgress reports a download on stderr: a percentage updated in place
// on a terminal, else one line per file.
func fetchProgress(f *Factory) func(fetch.Progress) {
	last := ""
	return func(p fetch.Progress) {
		if !f.ErrIsTerminal {
			if p.File != last {
				fmt.Fprintf(f.ErrOut, "fetching %s\n", p.File)
				last = p.File
			}
			return
		}
		if p.Total > 0 {
			fmt.Fprintf(f.ErrOut, "\r%s %5.1f%% of %.1f MiB ", p.File, 100*float64(p.Done)/float64(p.Total), float64(p.Total)/(1<<20))
		}
	}
}
