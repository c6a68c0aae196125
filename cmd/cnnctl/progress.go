package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/schollz/progressbar/v3"
)

// progress shows training on stderr: a bar per epoch on a terminal, one
// plain line per epoch otherwise (logs, CI, pipes).
type progress struct {
	w      io.Writer
	term   bool
	quiet  bool
	bar    *progressbar.ProgressBar
	epoch  int
	epochs int
}

func newProgress(w io.Writer, term, quiet bool) *progress {
	return &progress{w: w, term: term, quiet: quiet}
}

func (p *progress) StartEpoch(epoch, epochs, batches int) {
	p.epoch, p.epochs = epoch, epochs
	if p.quiet || !p.term {
		return
	}
	p.bar = progressbar.NewOptions(batches,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch+1, epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *progress) Step(batch int, loss, top1, ips float64) {
	if p.bar == nil {
		return
	}
	p.bar.Describe(fmt.Sprintf("epoch %d/%d  loss %.4f acc %.3f %5.0f img/s", p.epoch+1, p.epochs, loss, top1, ips))
	_ = p.bar.Set(batch)
}

func (p *progress) EndEpoch(m train.EpochMetrics) {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	if p.quiet {
		return
	}
	line := fmt.Sprintf("epoch %3d/%d  train loss %.4f acc %.4f", m.Epoch, p.epochs, m.TrainLoss, m.TrainTop1)
	if m.HasVal {
		line += fmt.Sprintf("  val loss %.4f acc %.4f", m.ValLoss, m.ValTop1)
	}
	line += fmt.Sprintf("  lr %.3g  %.1fs  %.0f img/s", m.LR, m.Seconds, m.ImagesPS)
	fmt.Fprintln(p.w, line)
}

// Note prints a line; --quiet hides notes but never warnings.
func (p *progress) Note(format string, args ...any) {
	if p.quiet && !strings.HasPrefix(format, "warning") {
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
