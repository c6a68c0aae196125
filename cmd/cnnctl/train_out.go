package main

import (
	"fmt"
	"os"

	"github.com/cnnctl/cnnctl/internal/train"
)

// claimOut locks --out for this run (a second run on the same folder is
// refused while this one lives) and refuses to train over an earlier run
// unless --resume or --overwrite says what to do with it.
func claimOut(o *trainOptions) (*train.OutLock, error) {
	log := o.f.ErrOut
	lock, stale, err := train.LockOut(o.Out, os.Args)
	if err != nil {
		return nil, err
	}
	if lock.Advisory {
		fmt.Fprintf(log, "warning: --out %s: its file system has no locks, so a second run on this folder would not be refused\n", o.Out)
	}
	if stale > 0 {
		fmt.Fprintf(log, "--out %s: took over the lock of pid %d, a run that ended without releasing it (killed?)\n", o.Out, stale)
	}
	if o.Resume != "" {
		return lock, nil
	}
	prior := train.PriorRun(o.Out)
	switch {
	case prior == "":
	case !o.Clobber:
		lock.Release()
		return nil, usagef("train: %s already holds a run (%s): continue it with --resume auto, train into a new --out, or pass --overwrite to replace it", o.Out, prior)
	default:
		if err := train.ClearRun(o.Out); err != nil {
			lock.Release()
			return nil, err
		}
		fmt.Fprintf(log, "--overwrite: removed the earlier run in %s (%s)\n", o.Out, prior)
	}
	return lock, nil
}
