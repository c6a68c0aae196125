package gpu

// Shape classes of the TF32 forward convolution: the one place that picks
// the form a selected tf32 conv2d_forward takes for a layer's shape. Free
// of cgo, so that it is tested in every build; the classes are those of
// tc_forward_class in kernels/conv2d_tc.cuh (TestShapeClasses and
// internal/kernelhost hold them to it).

// The shape classes (Kernel.Class); the wide class is the empty one: the
// generic kernel, which serves every shape.
const (
	// classSmallC: C <= tcSmallC input channels (a first layer on RGB or
	// grey images): the reduction taken flat over C*R*S.
	classSmallC = "small-c"
	// class1x1: R = S = 1 (GoogLeNet's, NiN's 1x1 layers): the generic
	// kernel, whose tap loop then has one tap.
	class1x1 = "1x1"
	// classWide: the rest (3x3 and larger over more than tcSmallC channels).
	classWide = "wide"
)

// The epilogue-statistics forms of the tensor-core forwards
// (kernels/conv_bnstats.cuh): registered under these classes, never
// selected themselves; bnStatsForward maps a selected forward to its form.
const (
	classBNStats       = "bnstats"
	classSmallCBNStats = "small-c bnstats"
)

// bnStatsForward is the form of forward kernel name that also writes the
// batch-norm partials of its output (kernels/bnstats.cuh), if it has one:
// the TF32 and bf16 tensor-core forwards do; the fp32 CUDA-core forward
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
	}
	return "", false
}

// tcSmallC is TC_SMALL_C in kernels/conv2d_tc.cuh; tcStep is TC_BK.
const tcSmallC, tcStep = 4, 16

// tcForwardPlan is what tcForward chose for one convolution.
type tcForwardPlan struct {
	Class  string // the shape class
	Kernel string // the kernel to launch
	Steps  int    // its pipeline steps per block (each TC_BK columns of the reduction)
}

// tcForward chooses the TF32 forward kernel for convolution g by its shape
// class. The tile (TC_BM x TC_BN, 256 threads) is the same for every
// class; the small-channel class takes the reduction flat, ⌈C·R·S/TC_BK⌉
// steps instead of R·S·⌈C/TC_BK⌉ (3 channels, 3x3: 2 instead of 9).
func tcForward(c, r, s int) tcForwardPlan {
	generic := r * s * ceilDiv(c, tcStep)
	switch {
	case c <= tcSmallC:
		return tcForwardPlan{classSmallC, "conv2d_forward_flat_tf32", ceilDiv(c*r*s, tcStep)}
	case r == 1 && s == 1:
		return tcForwardPlan{class1x1, "conv2d_forward_tf32", generic}
	}
	return tcForwardPlan{classWide, "conv2d_forward_tf32", generic}
}
