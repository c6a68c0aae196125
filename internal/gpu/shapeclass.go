package gpu

// Shape classes of the tensor-core convolutions: the one place that picks
// the form a selected tf32 or bf16 conv2d_forward, conv2d_backward_data or
// conv2d_backward_filter takes for a layer's shape. Free of cgo, so that
// it is tested in every build; the classes are those of tc_forward_class
// in kernels/conv2d_tc.cuh, the 16-byte choice g1_vec4's in
// kernels/gemm_tc.cuh (TestShapeClasses and internal/kernelhost hold
// them to it).

// The shape classes (Kernel.Class); the wide class is the empty one: the
// generic kernel, which serves every shape.
const (
	// classSmallC: C <= tcSmallC input channels (a first layer on RGB or
	// grey images): the forward's reduction taken flat over C*R*S; the
	// gradients run the generic kernels.
	classSmallC = "small-c"
	// class1x1: R = S = 1, stride 1, padding 0 (GoogLeNet's reductions,
	// NiN's mlpconv layers): the batched-GEMM kernels of
	// kernels/gemm_tc.cu, no im2col, for the forward and both gradients,
	// each with 16-byte copies where tc1x1Vec4 allows; in bf16 those of
	// kernels/gemm_bf16.cu.
	class1x1 = "1x1"
	// classWide: the rest (3x3 and larger over more than tcSmallC
	// channels, strided or padded 1x1).
	classWide = "wide"
)

// The epilogue-statistics forms of the tensor-core forwards
// (kernels/conv_bnstats.cuh): registered under these classes, never
// selected themselves; bnStatsForward maps a selected forward to its form.
const (
	classBNStats       = "bnstats"
	classSmallCBNStats = "small-c bnstats"
	class1x1BNStats    = "1x1 bnstats"
)

// bnStatsForward is the form of forward kernel name that also writes the
// batch-norm partials of its output (kernels/bnstats.cuh), if it has one:
// the TF32 and bf16 tensor-core forwards do (those of the 1x1 class too,
// kernels/gemm_tc.cu and gemm_bf16.cu); the fp32 CUDA-core forward
// does not (fp32 stays the plain ops' bits: conv2d_forward, then
// batchnorm_stats and batchnorm_forward_train).
func bnStatsForward(name string) (string, bool) {
	switch name {
	case "conv2d_forward_tf32":
		return "conv2d_forward_bnstats_tf32", true
	case "conv2d_forward_flat_tf32":
		return "conv2d_forward_flat_bnstats_tf32", true
	case "conv2d_forward_bf16":
		return "conv2d_forward_bnstats_bf16", true
	case "conv2d_forward_1x1_tf32":
		return "conv2d_forward_1x1_bnstats_tf32", true
	case "conv2d_forward_1x1_v4_tf32":
		return "conv2d_forward_1x1_v4_bnstats_tf32", true
	case "conv2d_forward_1x1_bf16":
		return "conv2d_forward_1x1_bnstats_bf16", true
	}
	return "", false
}

// tcSmallC is TC_SMALL_C in kernels/conv2d_tc.cuh; tcStep is TC_BK.
const tcSmallC, tcStep = 4, 16

// tcShape is what the choice depends on: a convolution's input channels,
// kernel size, stride, padding and image size (H*W), and whether the
// tensors the kernel copies from are 16-byte aligned in device memory.
type tcShape struct {
	C, R, S, StrideH, StrideW, PadH, PadW, HW int
	Aligned                                   bool
}

// class is g's shape class.
func (g tcShape) class() string {
	switch {
	case g.C <= tcSmallC:
		return classSmallC
	case g.R == 1 && g.S == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0:
		return class1x1
	}
	return classWide
}

// tc1x1Vec4 is g1_vec4: slot's 1x1 kernel may copy 16 bytes at a time: the
// tensors aligned, H*W a multiple of 4 (four pixels never straddle two
// images) and, for the forward, which copies w's rows 4 channels at a
// time, C too.
func tc1x1Vec4(slot string, g tcShape) bool {
	return g.Aligned && g.HW%4 == 0 && (slot != "conv2d_forward" || g.C%4 == 0)
}

// tcForwardPlan is what tcForward chose for one convolution.
type tcForwardPlan struct {
	Class  string // the shape class
	Kernel string // the kernel to launch
	Steps  int    // its pipeline steps per block (each TC_BK columns of the reduction)
}

// tcForward chooses the TF32 forward kernel for convolution g by its shape
// class. The tile (TC_BM x TC_BN, 256 threads) is the same for every
// class; the small-channel class takes the reduction flat, ⌈C·R·S/TC_BK⌉
// steps instead of R·S·⌈C/TC_BK⌉ (3 channels, 3x3: 2 instead of 9); the
// 1x1 class takes the generic kernel's ⌈C/TC_BK⌉ steps without its im2col.
func tcForward(g tcShape) tcForwardPlan {
	generic := g.R * g.S * ceilDiv(g.C, tcStep)
	switch g.class() {
	case classSmallC:
		return tcForwardPlan{classSmallC, "conv2d_forward_flat_tf32", ceilDiv(g.C*g.R*g.S, tcStep)}
	case class1x1:
		return tcForwardPlan{class1x1, tc1x1Kernel("conv2d_forward", g), generic}
	}
	return tcForwardPlan{classWide, "conv2d_forward_tf32", generic}
}

// tcBackward chooses the TF32 kernel of gradient slot
// ("conv2d_backward_data", "conv2d_backward_filter") for g: the 1x1
// class's own, else the generic one (the small-channel class has no
// gradient kernels of its own).
func tcBackward(slot string, g tcShape) string {
	if g.class() == class1x1 {
		return tc1x1Kernel(slot, g)
	}
	return slot + "_tf32"
}

// bfKernel chooses the bf16 kernel of slot (any of the three) for g: the
// 1x1 class's own (kernels/gemm_bf16.cu: the batched GEMM's addressing in
// the generic kernels' loaders), else the generic one (the bf16 kernels
// have no small-channel form).
func bfKernel(slot string, g tcShape) string {
	if g.class() == class1x1 {
		return slot + "_1x1_bf16"
	}
	return slot + "_bf16"
}

// tc1x1Kernel is the 1x1 class's kernel of slot: its 16-byte form where
// tc1x1Vec4 allows, else its 4-byte one.
func tc1x1Kernel(slot string, g tcShape) string {
	if tc1x1Vec4(slot, g) {
		return slot + "_1x1_v4_tf32"
	}
	return slot + "_1x1_tf32"
}
