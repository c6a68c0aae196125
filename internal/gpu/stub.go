//go:build !cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// Backend is the CUDA backend; in this build (no cuda tag) there is none and
// New always fails with ErrNotBuilt. The embedded interface only gives the
// type the methods of the real one.
type Backend struct {
	tensor.Backend
}

var _ tensor.Backend = (*Backend)(nil)

// Built reports whether this binary has the CUDA engine.
const Built = false

// New returns ErrNotBuilt: this binary was built without CUDA.
func New(device int) (*Backend, error) { return nil, ErrNotBuilt }

// NewWith returns ErrNotBuilt: this binary was built without CUDA.
func NewWith(device int, o Options) (*Backend, error) { return nil, ErrNotBuilt }

// Selected is never reached: New fails in this build.
func (b *Backend) Selected() []Kernel { return nil }

// Devices returns ErrNotBuilt: this binary was built without CUDA.
func Devices() ([]Info, error) { return nil, ErrNotBuilt }

// Info is never reached: New fails in this build.
func (b *Backend) Info() Info { return Info{} }

// SetMath returns ErrNotBuilt: this binary was built without CUDA.
func (b *Backend) SetMath(m Math) error { return ErrNotBuilt }

// Math is never reached: New fails in this build.
func (b *Backend) Math() Math { return MathFP32 }
