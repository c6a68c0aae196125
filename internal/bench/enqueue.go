package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
)

// HostEnqueue is the host's side of a training step through train.Step
// (what `cnnctl train` runs): the time Step.Run takes to queue one step,
// op by op and as a replay of its CUDA graph, without waiting for the
// device. Medians of Config.Iters steps, each started on an idle queue
// (the step before was read back), after two untimed ones (the warm-up
// and, with graphs, the capture).
type HostEnqueue struct {
	EagerUS  *float64 `json:"eager_us"`  // op by op; null where not measured
	ReplayUS *float64 `json:"replay_us"` // one graph launch; null where not measured
	Note     string   `json:"note,omitempty"`
}

// hostEnqueue measures HostEnqueue on m with the batch (hx, hy) of n
// images and the optimiser opt.
func hostEnqueue(m *layers.Model, opt *train.Optimizer, hx, hy []float32, n int, cfg Config) (*HostEnqueue, error) {
	be := m.Ctx.Backend
	if _, device := be.(tensor.MemInfo); !device {
		return &HostEnqueue{Note: "n/a on the cpu: its ops run as they are queued, so queueing a step is running it"}, nil
	}
	b := &train.Batch{X: hx, Y: hy, N: n}
	measure := func(graphs bool) (us float64, off string, err error) {
		const untimed = 2
		steps := cfg.Iters + untimed
		s := train.NewStep(m, opt, n, steps, 1, 0)
		defer s.Free()
		if graphs && !s.UseGraphs(func(format string, args ...any) { off = fmt.Sprintf(format, args...) }) {
			return 0, "the backend cannot capture graphs", nil
		}
		lrs := make([]float32, steps)
		for i := range lrs {
			lrs[i] = lr
		}
		s.StartEpoch(lrs, 0)
		var ds []time.Duration
		for i := range steps {
			s.Load(b)
			start := time.Now()
			s.Run()
			d := time.Since(start)
			if _, err := s.Read(); err != nil {
				return 0, "", err
			}
			if i >= untimed {
				ds = append(ds, d)
			}
		}
		return summarize(ds).median * 1000, off, nil
	}
	h := &HostEnqueue{}
	eager, _, err := measure(false)
	if err != nil {
		return nil, err
	}
	h.EagerUS = &eager
	if cfg.NoGraphs {
		h.Note = "replay not measured: --no-graphs"
		return h, nil
	}
	replay, off, err := measure(true)
	if err != nil {
		return nil, err
	}
	if off != "" {
		h.Note = "replay not measured: " + strings.TrimPrefix(off, "warning: ")
		return h, nil
	}
	h.ReplayUS = &replay
	return h, nil
}

// us formats a HostEnqueue time: "12.3 µs", or "n/a" when not measured.
func us(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f µs", *v)
}
