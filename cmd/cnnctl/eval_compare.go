package main

import (
	"fmt"
	"text/tabwriter"
)

// runEvalCompare evaluates several checkpoints and prints one table (or,
// with --json, an array of their results).
func runEvalCompare(o *evalOptions) error {
	var rs []*evalResult
	for _, p := range o.Ckpts {
		r, err := evalCheckpoint(o, p)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if o.JSON {
		return printJSON(o.f, rs)
	}
	tw := tabwriter.NewWriter(o.f.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tMODEL\tPARAMS\tTOP-1\tTOP-5\tLOSS\tIMAGES\tIMAGES/S\tDATA")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%.4f\t%.4f\t%d\t%s\t%s, %s\n", r.Checkpoint, r.Model, commas(r.Params),
			r.Top1, r.Top5, r.Loss, r.N, commas(int64(r.ImagesPerSec+0.5)), r.Data, r.Split)
	}
	return tw.Flush()
}
