package train

import (
	"fmt"
	"math"
	"time"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Summary is the one-line account of a training run (this invocation's
// part of it, for a resumed run): how long it took and how busy the device
// was.
type Summary struct {
	// WallSeconds is the wall time of Execute: the steps, validations and
	// checkpoint writes (not the data's decoding or the model's build).
	WallSeconds float64 `json:"wall_s"`
	// Epochs is the epochs trained, in steps: 2.5 after two and a half.
	Epochs float64 `json:"epochs"`
	// SecondsPerEpoch is WallSeconds / Epochs (0 when nothing trained).
	SecondsPerEpoch float64 `json:"s_per_epoch"`
	// Images is the training images stepped over; ImagesPerSec is Images
	// per second of WallSeconds, so that the time spent validating and
	// writing checkpoints lowers it (validation images are not counted).
	Images       int64   `json:"images"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// DeviceIdle is the share of the wall time the device did nothing:
	// 1 - (device time of the steps and validation batches, timed by the
	// device's events from the start of each one's work to its end) /
	// wall time. A validation is timed batch by batch, so its host work
	// (building its plan, reading results) is idle time; gaps inside a
	// step or batch (between its kernels, when the host launches them
	// slower than they run) count as busy, so with --no-graphs it is a
	// lower bound. Nil on a backend without a device of its own (the
	// CPU), where the line says "cpu".
	DeviceIdle *float64 `json:"gpu_idle_share"`
}

// Line is the summary as one line, e.g. "run: 1m31s wall, 6.08 s/epoch
// over 15 epochs, 8,221 img/s, GPU idle 12.3%".
func (s Summary) Line() string {
	idle := "GPU idle: cpu (no device to wait for)"
	if s.DeviceIdle != nil {
		idle = fmt.Sprintf("GPU idle %.1f%%", 100**s.DeviceIdle)
	}
	wall := time.Duration(s.WallSeconds * float64(time.Second))
	if wall >= 10*time.Second {
		wall = wall.Round(time.Second)
	} else {
		wall = wall.Round(10 * time.Millisecond)
	}
	return fmt.Sprintf("run: %s wall, %.3g s/epoch over %.4g epochs, %s img/s, %s",
		wall, s.SecondsPerEpoch, s.Epochs, Commas(int64(math.Round(s.ImagesPerSec))), idle)
}

// clock measures a run for its Summary: the wall time, the images trained
// and, on a backend with a tensor.SpanTimer, the device time of each step
// and validation, added up when the host reads anyway.
type clock struct {
	start  time.Time
	spans  tensor.SpanTimer // nil: no device of its own
	open   []tensor.Span    // ended, not yet added up
	busy   time.Duration
	steps  int64
	images int64
}

func newClock(be tensor.Backend) *clock {
	c := &clock{start: time.Now()}
	if st, ok := be.(tensor.SpanTimer); ok {
		if _, device := be.(tensor.MemInfo); device {
			c.spans = st
		}
	}
	return c
}

// begin marks the start of a step's (or validation batch's) work on the
// device; end, called with begin's result, its end. Neither waits; a nil
// clock times nothing.
func (c *clock) begin() tensor.Span {
	if c == nil || c.spans == nil {
		return nil
	}
	return c.spans.StartSpan()
}

func (c *clock) end(s tensor.Span) {
	if s != nil {
		s.End()
		c.open = append(c.open, s)
	}
}

// collect adds up the spans ended so far: call it after the host has
// waited for their work (a read), so that it does not wait.
func (c *clock) collect() {
	for _, s := range c.open {
		c.busy += s.Elapsed()
	}
	c.open = c.open[:0]
}

// summary is the run so far, with batchesPerEpoch steps per epoch.
func (c *clock) summary(batchesPerEpoch int) Summary {
	c.collect()
	wall := time.Since(c.start).Seconds()
	s := Summary{WallSeconds: wall, Images: c.images}
	if batchesPerEpoch > 0 {
		s.Epochs = float64(c.steps) / float64(batchesPerEpoch)
	}
	if s.Epochs > 0 {
		s.SecondsPerEpoch = wall / s.Epochs
	}
	if wall > 0 {
		s.ImagesPerSec = float64(c.images) / wall
	}
	if c.spans != nil && wall > 0 {
		idle := min(max(1-c.busy.Seconds()/wall, 0), 1)
		s.DeviceIdle = &idle
	}
	return s
}
