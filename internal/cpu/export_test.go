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

// SetTap forces the per-tap convolutions on (1), off (-1) or back to the
// engine's choice (0); it returns the previous mode.
func SetTap(mode int) int {
	prev := tapMode
	tapMode = mode
	return prev
}

// SetPhase forces the per-phase backward data on (1, stride 1 included) or
// off (-1), 0 for the engine's choice, and returns the previous mode.
func SetPhase(mode int) int {
	prev := phaseMode
	phaseMode = mode
	return prev
}

// SetShift forces the shifted-rows filter gradient on (1) or off (-1), 0
// for the engine's choice, and returns the previous mode.
func SetShift(mode int) int {
	prev := shiftMode
	shiftMode = mode
	return prev
}

// SetRowDot forces the row-dot convolution on (1) or off (-1), 0 for the
// engine's choice, and returns the previous mode.
func SetRowDot(mode int) int {
	prev := rowDotMode
	rowDotMode = mode
	return prev
}

// SetLinearWide forces the w · xᵀ form of the linear forward on (1) or off
// (-1), 0 for the engine's choice, and returns the previous mode.
func SetLinearWide(mode int) int {
	prev := linearWideMode
	linearWideMode = mode
	return prev
}
