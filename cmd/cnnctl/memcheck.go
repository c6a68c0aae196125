package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// hostMemory is the memory this process may still use: MemAvailable from
// /proc/meminfo, lowered to the room left under the cgroup's limit (v1 or
// v2). 0 when neither can be read (then nothing is checked).
func hostMemory() (avail int64, source string) {
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

// checkMemory refuses a run whose memory plan does not fit where it will
// run, before any allocation: the GPU's free memory, and the host's
// available memory for the host-side batch buffers (hostPerImage bytes per
// image of the batch), or for both when the backend is the CPU.
func checkMemory(be tensor.Backend, p memoryPlan, batch int, hostPerImage int64) error {
	host := memoryPlan{params: p.params, actPerImage: hostPerImage}
	if _, ok := be.(*gpu.Backend); ok {
		if err := checkGPUMemory(be, p, batch); err != nil {
			return err
		}
	} else {
		host = cpuPlan(p, hostPerImage)
	}
	avail, source := hostMemory()
	if avail <= 0 {
		return nil
	}
	return memoryFit(host, batch, avail, fmt.Sprintf("this machine has %.0f MiB %s", mib(avail), source), "")
}

// cpuPlan is plan p as the CPU engine lives it: its convolutions' work
// buffers and the collector's slack take more than the layer outputs and
// gradients (peak RSS per image of the batch, 2-core machine: resnet 1.33x
// the plan, vgg11-bn 1.0x, lenet 0.5x), so activations count 1.5 times;
// hostPerImage (the loaders' buffers) is added.
func cpuPlan(p memoryPlan, hostPerImage int64) memoryPlan {
	p.actPerImage = p.actPerImage*3/2 + hostPerImage
	return p
}

// loaderBytes is what the data loaders hold per image of the batch: each
// keeps 2*workers+1 batches of float32 images (see data.NewLoader).
func loaderBytes(in tensor.Shape, workers, loaders int) int64 {
	return int64(loaders) * int64(2*workers+1) * int64(in.Numel()) * 4
}

// memoryFit is the out-of-memory error for a plan that needs more than
// free bytes (nil when it fits), with the largest batch that does.
func memoryFit(p memoryPlan, batch int, free int64, where, prefix string) error {
	need := p.bytes(batch)
	if need <= free {
		return nil
	}
	if fit := p.largestBatch(free); fit >= 1 {
		return fmt.Errorf("out of %smemory before starting: batch %d needs about %.0f MiB (%.0f MiB parameters, gradients and optimizer state + %.0f MiB activations), %s; the largest batch that fits is about %d (try --batch-size %d)",
			prefix, batch, mib(need), mib(p.paramBytes), mib(p.actPerImage*int64(batch)), where, fit, fit)
	}
	return fmt.Errorf("out of %smemory before starting: the model's %s parameters with their gradients and optimizer state alone need about %.0f MiB, %s: the model is too big for it (see its layer sizes with 'cnnctl summary')",
		prefix, commas(p.params), mib(p.paramBytes+p.actPerImage), where)
}

// checkInferenceMemory refuses an eval or predict batch whose forward pass
// (weights, the input batch and every layer's output) does not fit.
func checkInferenceMemory(lm *loadedModel, batch int) error {
	p, err := planFor(lm.spec, tensor.Shape(lm.ck.Input), len(lm.ck.Classes), 1, 1)
	if err != nil {
		return err
	}
	// eval's loader (2 workers) or predict's one batch of images.
	return checkMemory(lm.be, p, batch, loaderBytes(tensor.Shape(lm.ck.Input), 2, 1))
}

// checkBenchMemory refuses a benchmark whose training step (SGD with
// momentum) does not fit, as train does.
func checkBenchMemory(be tensor.Backend, spec *zoo.Spec, cfg bench.Config) error {
	p, err := planFor(spec, cfg.Input, cfg.Classes, 3, 2)
	if err != nil {
		return err
	}
	return checkMemory(be, p, cfg.Batch, 0)
}
