package train

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// MemoryPlan estimates the memory a run needs: parameters with their
// gradients and optimiser slots, plus per image every layer's output and
// input gradient (kept for the backward).
type MemoryPlan struct {
	Params, ParamBytes, MACs int64
	ActPerImage              int64
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

// Bytes is the plan's total at batch size batch.
func (p MemoryPlan) Bytes(batch int) int64 { return p.ParamBytes + p.ActPerImage*int64(batch) }

// LargestBatch is the biggest batch whose plan fits in free bytes.
func (p MemoryPlan) LargestBatch(free int64) int64 {
	if p.ActPerImage == 0 || free <= p.ParamBytes {
		return 0
	}
	return (free - p.ParamBytes) / p.ActPerImage
}

// CPUPlan is plan p as the CPU engine lives it: its convolutions' work
// buffers and the collector's slack take more than the layer outputs and
// gradients (peak RSS per image of the batch, 2-core machine: resnet 1.33x
// the plan, vgg11-bn 1.0x, lenet 0.5x), so activations count 1.5 times;
// hostPerImage (the loaders' buffers) is added.
func (p MemoryPlan) CPUPlan(hostPerImage int64) MemoryPlan {
	p.ActPerImage = p.ActPerImage*3/2 + hostPerImage
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
			prefix, batch, MiB(need), MiB(p.ParamBytes), MiB(p.ActPerImage*int64(batch)), where, fit, fit)
	}
	return fmt.Errorf("out of %smemory before starting: the model's %s parameters with their gradients and optimizer state alone need about %.0f MiB, %s: the model is too big for it (see its layer sizes with 'cnnctl summary')",
		prefix, Commas(p.Params), MiB(p.ParamBytes+p.ActPerImage), where)
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
