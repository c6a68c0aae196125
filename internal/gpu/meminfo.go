//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

var _ tensor.MemInfo = (*Backend)(nil)

// DeviceMemory is the device's free and total memory when the backend
// started, and its name.
func (b *Backend) DeviceMemory() (free, total int64, name string) {
	i := b.Info()
	return i.FreeMem, i.TotalMem, i.Name
}
