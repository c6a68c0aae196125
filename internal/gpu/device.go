//go:build cuda

package gpu

import (
	"fmt"
	"runtime"

	"gorgonia.org/cu"
)

// Devices lists the GPUs the driver sees, with their free memory. Without a
// usable GPU the error wraps ErrNoDevice.
func Devices() ([]Info, error) {
	if err := initError(); err != nil {
		return nil, err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: count devices: %v", ErrNoDevice, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver found no GPU", ErrNoDevice)
	}
	// Reading free memory needs a current context: lock this goroutine to
	// its thread while one is current.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	infos := make([]Info, 0, n)
	for i := range n {
		dev, err := cu.GetDevice(i)
		if err != nil {
			return nil, fmt.Errorf("gpu: get device %d: %w", i, err)
		}
		info, err := deviceInfo(dev, i)
		if err != nil {
			return nil, err
		}
		ctx, err := dev.RetainPrimaryCtx()
		if err != nil {
			return nil, fmt.Errorf("gpu: device %d (%s): retain context: %w", i, info.Name, err)
		}
		err = cu.SetCurrentContext(ctx)
		if err == nil {
			info.FreeMem, info.TotalMem, err = cu.MemInfo()
			cu.SetCurrentContext(cu.CUContext{})
		}
		if rerr := dev.ReleasePrimaryCtx(); err == nil {
			err = rerr
		}
		if err != nil {
			return nil, fmt.Errorf("gpu: device %d (%s): memory info: %w", i, info.Name, err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// deviceInfo reads a device's name, compute capability, SMs and memory.
func deviceInfo(dev cu.Device, index int) (Info, error) {
	info := Info{Index: index, Driver: cu.Version()}
	var err error
	if info.Name, err = dev.Name(); err != nil {
		return info, fmt.Errorf("gpu: device %d: name: %w", index, err)
	}
	attrs, err := dev.Attributes(cu.ComputeCapabilityMajor, cu.ComputeCapabilityMinor, cu.MultiprocessorCount)
	if err != nil {
		return info, fmt.Errorf("gpu: device %d (%s): attributes: %w", index, info.Name, err)
	}
	info.Major, info.Minor, info.SMs = attrs[0], attrs[1], attrs[2]
	if info.TotalMem, err = dev.TotalMem(); err != nil {
		return info, fmt.Errorf("gpu: device %d (%s): total memory: %w", index, info.Name, err)
	}
	return info, nil
}
