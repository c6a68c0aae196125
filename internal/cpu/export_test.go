package cpu

// SetIndirect forces the indirect convolutions on (1), off (-1) or back to
// the engine's choice (0), for tests and benchmarks; it returns the
// previous mode.
func SetIndirect(mode int) int {
	prev := indirectMode
	indirectMode = mode
	return prev
}

// SetPixel forces the per-pixel convolutions on (1), off (-1) or back to
// the engine's choice (0); it returns the previous mode.
func SetPixel(mode int) int {
	prev := pixelMode
	pixelMode = mode
	return prev
}
