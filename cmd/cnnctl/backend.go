package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// openBackend turns --device into a backend and says on log what it chose:
// auto takes the first GPU when this build has CUDA and a GPU answers, and
// the CPU engine otherwise; cuda[:N] without a usable GPU is an error.
func openBackend(device string, log io.Writer) (tensor.Backend, error) {
	if err := checkDeviceFlag(device); err != nil {
		return nil, err
	}
	switch {
	case device == "cpu":
		be := cpu.New()
		fmt.Fprintf(log, "device: %s\n", be.Name())
		return be, nil
	case device == "auto":
		g, err := gpu.New(0)
		if err == nil {
			fmt.Fprintf(log, "device: %s (--device auto found a GPU)\n", g.Name())
			return g, nil
		}
		be := cpu.New()
		fmt.Fprintf(log, "device: %s (--device auto: %v)\n", be.Name(), gpuReason(err))
		return be, nil
	}
	index := 0
	if strings.HasPrefix(device, "cuda:") {
		index, _ = strconv.Atoi(device[5:])
	}
	g, err := gpu.New(index)
	if err != nil {
		return nil, fmt.Errorf("--device %s: %v: %w", device, err, errNoCUDA)
	}
	fmt.Fprintf(log, "device: %s\n", g.Name())
	return g, nil
}

// gpuReason shortens the GPU error for the auto-fallback line.
func gpuReason(err error) string {
	if errors.Is(err, gpu.ErrNotBuilt) {
		return "this binary has no CUDA engine, using the CPU"
	}
	return fmt.Sprintf("no GPU (%v), using the CPU", err)
}
