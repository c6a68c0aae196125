package train

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// MemoryPlan estimates the memory a run needs: parameters with their
// gradients and optimiser slots, plus the per-batch tensors. Without a
// compiled plan (PlanMemory) those are, per image, every layer's output
// and input gradient (kept for the backward); with one (EstimateMemory)
// they are the plan's arena, sized by internal/plan as Compile lays it
// out, plus the step's own tensors per image.
type MemoryPlan struct {
	Params, ParamBytes, MACs int64
	// ActPerImage is the per-batch bytes that grow by image: all of them
	// without a plan; with one, the step's input, labels, losses and loss
	// gradient (and, in a host plan, the loaders' buffers).
	ActPerImage int64
	// Arena, when not nil, is the plan's arena in bytes for a batch: what
	// plan.Compile allocates for it (plan.Plan.ArenaBytes).
	Arena func(batch int) int64
	// Beside, when not nil, is what a batch needs on the device beside
	// the arena that does not grow by image: an evaluation's logits buffer
	// (EvalLogitBytes), and for a validating run the validation's buffers
	// (WithValidation).
	Beside func(batch int) int64

	classes    int   // the model's outputs, for EvalSplit and WithValidation
	evalImage  int64 // an evaluation's per-image tensors outside a plan (its stepper's input, labels, losses, loss gradient)
	copyImage  int64 // the copy queue's device slots per image (copySlotBytes), 0 without one
	logitsFrom int   // the split's images the logits are sized for (0: any split)
}

// ParamSlots is the number of copies of the parameters training with the
// optimiser kind keeps: weights, gradients and one slot for SGD's
// momentum, or two for Adam's moments.
func ParamSlots(kind string) int64 {
	if kind == "sgd" {
		return 3
	}
	return 4
}

// PlanMemory is the plan with slots copies of the parameters and acts
// copies of every layer's output per image (2 for training: output and
// gradient; 1 for inference).
func PlanMemory(spec *zoo.Spec, in tensor.Shape, classes int, slots, acts int64) (MemoryPlan, error) {
	rep, err := zoo.Summary(spec, in, classes)
	if err != nil {
		return MemoryPlan{}, err
	}
	act := int64(rep.In.Numel()) // the input batch
	for _, r := range rep.Rows {
		if r.Leaf {
			act += int64(r.Out.Numel())
		}
	}
	return MemoryPlan{Params: rep.Params, MACs: rep.MACs, ParamBytes: rep.Params * 4 * slots, ActPerImage: act * 4 * acts}, nil
}

// EstimateMemory is the memory a run of spec on be needs: training (with
// slots copies of the parameters, ParamSlots) or evaluation. With a
// compiled plan (plan.Enabled: training and evaluation run one) the
// per-batch part is the plan's arena, laid out by internal/plan for a
// model built on a dry backend with be's fused ops (plan.NewDryLike; be
// nil: the CPU's and GPU's, all of them), so what is checked is what
// Compile will allocate; plus, per image, the step's input, labels, losses
// and loss gradient. With CNNCTL_PLAN=0 (or a backend with only some of
// the fused ops), it is PlanMemory's estimate: every layer's tensors.
//
// Either way it adds the device buffers of the run outside the model: on a
// backend with a copy queue (tensor.CopyQueue) its two device slots of a
// batch (the estimate assumes streamed batches: a set held on the device
// allocates none), and for an evaluation its logits buffer (Beside:
// EvalLogitBytes for a split of any size; EvalSplit sizes it for one).
func EstimateMemory(be tensor.Backend, spec *zoo.Spec, in tensor.Shape, classes int, slots int64, train bool) (MemoryPlan, error) {
	p, err := estimateModel(be, spec, in, classes, slots, train)
	if err != nil {
		return p, err
	}
	p.classes = classes
	p.evalImage = int64(in.Numel()+2+classes) * 4
	if _, ok := be.(tensor.CopyQueue); ok {
		p.copyImage = copySlotBytes(in, 1)
		p.ActPerImage += p.copyImage
	}
	if !train {
		p.Beside = p.logits
	}
	return p, nil
}

// logits is an evaluation's logits buffer at batch batch (EvalLogitBytes).
func (p MemoryPlan) logits(batch int) int64 { return EvalLogitBytes(batch, p.classes, p.logitsFrom) }

// EvalSplit is evaluation plan p (EstimateMemory's, train false) for a
// split of images images: its logits buffer holds at most the split's.
func (p MemoryPlan) EvalSplit(images int) MemoryPlan {
	p.logitsFrom = images
	if p.Beside != nil {
		p.Beside = p.logits
	}
	return p
}

// WithValidation is training plan p (EstimateMemory's, train true) for a
// run that validates on a split of images images after each epoch: the
// validation runs on the step's plan (no arena of its own) but allocates
// beside the step, for as long as it runs, its input, labels, losses and
// loss gradient, the copy queue's slots (p's backend has one) and its
// logits buffer.
func (p MemoryPlan) WithValidation(images int) MemoryPlan {
	p.logitsFrom = images
	p.Beside = func(batch int) int64 {
		return (p.evalImage+p.copyImage)*int64(batch) + p.logits(batch)
	}
	return p
}

// estimateModel is EstimateMemory's model part: the plan's arena and the
// step's per-image tensors, or PlanMemory's every layer's tensors.
func estimateModel(be tensor.Backend, spec *zoo.Spec, in tensor.Shape, classes int, slots int64, train bool) (MemoryPlan, error) {
	acts := int64(1)
	if train {
		acts = 2
	}
	p, err := PlanMemory(spec, in, classes, slots, acts)
	if err != nil || !plan.Enabled() {
		return p, err
	}
	dry, ok := plan.NewDryLike(be)
	if !ok {
		return p, nil
	}
	m, err := zoo.Build(spec, dry, in, classes, 0)
	if err != nil {
		return MemoryPlan{}, err
	}
	pl, err := plan.Describe(m, 1, train, plan.FromEnv())
	if err != nil {
		return MemoryPlan{}, fmt.Errorf("memory estimate: %w", err)
	}
	// x (N, In...), labels (N), losses (N) and the loss gradient (N, Out...).
	p.ActPerImage = int64(m.In.Numel()+2+m.Out.Numel()) * 4
	p.Arena = pl.ArenaBytes
	return p, nil
}

// Bytes is the plan's total at batch size batch.
func (p MemoryPlan) Bytes(batch int) int64 { return p.ParamBytes + p.Activations(batch) }

// Activations is the per-batch part of Bytes: the arena and Beside (if
// any) and ActPerImage per image.
func (p MemoryPlan) Activations(batch int) int64 {
	a := p.ActPerImage * int64(batch)
	if p.Arena != nil {
		a += p.Arena(batch)
	}
	if p.Beside != nil {
		a += p.Beside(batch)
	}
	return a
}

// LargestBatch is the biggest batch whose plan fits in free bytes (0 when
// none does). With an arena or Beside, whose sizes are not linear in the
// batch (alignment, tensors of a fixed size), it is searched for: Bytes grows
// with the batch.
func (p MemoryPlan) LargestBatch(free int64) int64 {
	if p.Arena == nil && p.Beside == nil {
		if p.ActPerImage == 0 || free <= p.ParamBytes {
			return 0
		}
		return (free - p.ParamBytes) / p.ActPerImage
	}
	const limit = 1 << 30 // a batch past any memory
	if p.Bytes(1) > free {
		return 0
	}
	lo, hi := int64(1), int64(2) // Bytes(lo) fits, Bytes(hi) may not
	for p.Bytes(int(hi)) <= free {
		if hi >= limit {
			return hi
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; p.Bytes(int(mid)) <= free {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// CPUPlan is plan p as the CPU engine lives it: its convolutions' work
// buffers and the collector's slack take more than the layer outputs and
// gradients (peak RSS per image of the batch, 2-core machine, measured
// without a compiled plan: resnet 1.33x the plan, vgg11-bn 1.0x, lenet
// 0.5x), so activations (the arena too) count 1.5 times; hostPerImage
// (the loaders' buffers) is added.
func (p MemoryPlan) CPUPlan(hostPerImage int64) MemoryPlan {
	p.ActPerImage = p.ActPerImage*3/2 + hostPerImage
	if a := p.Arena; a != nil {
		p.Arena = func(batch int) int64 { return a(batch) * 3 / 2 }
	}
	return p
}

// LoaderBytes is what the data loaders hold per image of the batch: each
// keeps 2*workers+1 batches of float32 images (see data.NewLoader).
func LoaderBytes(in tensor.Shape, workers, loaders int) int64 {
	return int64(loaders) * int64(2*workers+1) * int64(in.Numel()) * 4
}

// CheckMemory refuses a run whose plan does not fit where it will run,
// before any allocation: the device's free memory (a backend with
// tensor.MemInfo), and the host's available memory for the host-side batch
// buffers (hostPerImage bytes per image of the batch), or for both when
// the backend uses the host's memory.
func CheckMemory(be tensor.Backend, p MemoryPlan, batch int, hostPerImage int64) error {
	host := MemoryPlan{Params: p.Params, ActPerImage: hostPerImage}
	if mi, ok := be.(tensor.MemInfo); ok {
		if free, _, name := mi.DeviceMemory(); free > 0 {
			if err := memoryFit(p, batch, free, fmt.Sprintf("%s has %.0f MiB free", name, MiB(free)), "GPU "); err != nil {
				return err
			}
		}
	} else {
		host = p.CPUPlan(hostPerImage)
	}
	avail, source := HostMemory()
	if avail <= 0 {
		return nil
	}
	return memoryFit(host, batch, avail, fmt.Sprintf("this machine has %.0f MiB %s", MiB(avail), source), "")
}

// memoryFit is the out-of-memory error for a plan that needs more than
// free bytes (nil when it fits), with the largest batch that does.
func memoryFit(p MemoryPlan, batch int, free int64, where, prefix string) error {
	need := p.Bytes(batch)
	if need <= free {
		return nil
	}
	if fit := p.LargestBatch(free); fit >= 1 {
		return fmt.Errorf("out of %smemory before starting: batch %d needs about %.0f MiB (%.0f MiB parameters, gradients and optimizer state + %.0f MiB activations), %s; the largest batch that fits is about %d (try --batch-size %d)",
			prefix, batch, MiB(need), MiB(p.ParamBytes), MiB(p.Activations(batch)), where, fit, fit)
	}
	return fmt.Errorf("out of %smemory before starting: the model's %s parameters with their gradients and optimizer state alone need about %.0f MiB, %s: the model is too big for it (see its layer sizes with 'cnnctl summary')",
		prefix, Commas(p.Params), MiB(p.Bytes(1)), where)
}

// MiB is b bytes in mebibytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// HostMemory is the memory this process may still use: MemAvailable from
// /proc/meminfo, lowered to the room left under the cgroup's limit (v1 or
// v2). 0 when neither can be read (then nothing is checked).
func HostMemory() (avail int64, source string) {
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemAvailable:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					avail, source = kb<<10, "available (MemAvailable)"
				}
			}
		}
	}
	if room, ok := cgroupRoom(); ok && (avail == 0 || room < avail) {
		avail, source = room, "left under this process's cgroup memory limit"
	}
	return avail, source
}

// cgroupRoom is the cgroup memory limit minus its current usage.
func cgroupRoom() (int64, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var limit, usage string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			dir := filepath.Join("/sys/fs/cgroup", parts[2])
			limit, usage = filepath.Join(dir, "memory.max"), filepath.Join(dir, "memory.current")
		case strings.Contains(","+parts[1]+",", ",memory,"): // v1
			dir := filepath.Join("/sys/fs/cgroup/memory", parts[2])
			limit, usage = filepath.Join(dir, "memory.limit_in_bytes"), filepath.Join(dir, "memory.usage_in_bytes")
		default:
			continue
		}
		l, err1 := readInt(limit)
		u, err2 := readInt(usage)
		// v1 writes "no limit" as a huge number, v2 as "max".
		if err1 == nil && err2 == nil && l > 0 && l < 1<<60 {
			return max(l-u, 0), true
		}
	}
	return 0, false
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Commas writes n with thousands separators: 1,234,567.
func Commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
