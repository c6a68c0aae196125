package train

import (
	"errors"
	"fmt"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// recorder is a fake backend for tests: it wraps a real one (the CPU) and
// counts the calls made through it, by method, so a test can see how many
// ops a step queues, how many of them make the host wait for the device
// (Download, Sync, Err) and whether anything is allocated (New).
//
// It is also a tensor.Capturer that behaves as a CUDA stream capture
// does: between BeginCapture and EndCapture each op is recorded as a
// closure instead of run, keeping its arguments as they were at the call
// (host values frozen, tensors read afresh), and Replay runs the closures
// again. A call that waits for the device (Download, Sync) or copies from
// host memory (Upload) fails the capture, as it does on a GPU; allocation
// runs at once (the GPU's relaxed capture mode allows it).
//
// Every Backend method is written out below, counted. A method added to
// tensor.Backend later comes from the embedded unrecorded interface, which
// is nil: calling it panics, so nothing goes uncounted; add it below.
type recorder struct {
	unrecorded
	be    tensor.Backend
	calls map[string]int

	capturing  bool
	recorded   []func() // the ops of the capture under way
	captureErr error    // its first failure
	// endErr, when set, is what EndCapture returns (a driver that cannot
	// instantiate the graph), dropping the recorded ops.
	endErr   error
	captures int // successful captures
	replays  int
}

// unrecorded is tensor.Backend under a name of its own, embedded nil in
// recorder.
type unrecorded = tensor.Backend

func newRecorder(be tensor.Backend) *recorder { return &recorder{be: be, calls: map[string]int{}} }

// reset clears the counts.
func (r *recorder) reset() { r.calls = map[string]int{} }

// total is the number of calls; syncs those that wait for the device.
func (r *recorder) total() (n int) {
	for _, c := range r.calls {
		n += c
	}
	return n
}
func (r *recorder) syncs() int { return r.calls["Download"] + r.calls["Sync"] + r.calls["Err"] }

// op counts the call name and runs it, or records it during a capture.
func (r *recorder) op(name string, f func()) {
	r.calls[name]++
	if !r.capturing {
		f()
		return
	}
	switch name {
	case "Download", "Sync":
		r.failCapture("%s waits for the device", name)
	case "Upload":
		r.failCapture("Upload copies from pageable host memory")
	default:
		r.recorded = append(r.recorded, f)
	}
}

func (r *recorder) failCapture(format string, args ...any) {
	if r.captureErr == nil {
		r.captureErr = fmt.Errorf("fake capture: "+format, args...)
	}
}

// BeginCapture starts recording ops instead of running them.
func (r *recorder) BeginCapture() error {
	if r.capturing {
		return errors.New("fake capture: already capturing")
	}
	r.capturing, r.recorded, r.captureErr = true, nil, nil
	return nil
}

// EndCapture returns the recorded ops as a graph, or the capture's failure.
func (r *recorder) EndCapture() (tensor.Graph, error) {
	if !r.capturing {
		return nil, errors.New("fake capture: not capturing")
	}
	ops, err := r.recorded, r.captureErr
	r.capturing, r.recorded, r.captureErr = false, nil, nil
	if err == nil {
		err = r.endErr
	}
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, errors.New("fake capture: nothing was recorded")
	}
	r.captures++
	return &fakeGraph{r: r, ops: ops}, nil
}

// fakeGraph is the recorder's captured work.
type fakeGraph struct {
	r   *recorder
	ops []func()
}

func (g *fakeGraph) Replay() error {
	if g.ops == nil {
		return errors.New("fake graph: closed")
	}
	if g.r.capturing {
		g.r.failCapture("replay inside a capture")
		return nil
	}
	g.r.replays++
	for _, f := range g.ops {
		f()
	}
	return nil
}

func (g *fakeGraph) Close() error { g.ops = nil; return nil }

func (r *recorder) Name() string { r.calls["Name"]++; return r.be.Name() }
func (r *recorder) Err() error   { r.calls["Err"]++; return r.be.Err() }
func (r *recorder) Sync() error {
	var err error
	r.op("Sync", func() { err = r.be.Sync() })
	return err
}
func (r *recorder) Close() error { r.calls["Close"]++; return r.be.Close() }
func (r *recorder) New(s tensor.Shape) *tensor.Tensor {
	r.calls["New"]++
	return r.be.New(s)
}
func (r *recorder) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	r.calls["New"]++ // an allocation, as New
	return r.be.NewTyped(s, dt)
}
func (r *recorder) UploadBytes(t *tensor.Tensor, src []byte) {
	r.op("Upload", func() { r.be.UploadBytes(t, src) })
}
func (r *recorder) DownloadBytes(dst []byte, t *tensor.Tensor) {
	r.op("Download", func() { r.be.DownloadBytes(dst, t) }) // a host sync, as Download
}
func (r *recorder) Cast(dst, src *tensor.Tensor) { r.op("Cast", func() { r.be.Cast(dst, src) }) }
func (r *recorder) Free(t *tensor.Tensor)        { r.calls["Free"]++; r.be.Free(t) }
func (r *recorder) Upload(t *tensor.Tensor, src []float32) {
	r.op("Upload", func() { r.be.Upload(t, src) })
}
func (r *recorder) Download(dst []float32, t *tensor.Tensor) {
	r.op("Download", func() { r.be.Download(dst, t) })
}
func (r *recorder) Fill(t *tensor.Tensor, v float32) { r.op("Fill", func() { r.be.Fill(t, v) }) }
func (r *recorder) Copy(dst, src *tensor.Tensor)     { r.op("Copy", func() { r.be.Copy(dst, src) }) }
func (r *recorder) Conv2DForward(x, w, b, y *tensor.Tensor, p tensor.ConvParams) {
	r.op("Conv2DForward", func() { r.be.Conv2DForward(x, w, b, y, p) })
}
func (r *recorder) Conv2DBackwardData(dy, w, dx *tensor.Tensor, p tensor.ConvParams) {
	r.op("Conv2DBackwardData", func() { r.be.Conv2DBackwardData(dy, w, dx, p) })
}
func (r *recorder) Conv2DBackwardFilter(x, dy, dw, db *tensor.Tensor, p tensor.ConvParams) {
	r.op("Conv2DBackwardFilter", func() { r.be.Conv2DBackwardFilter(x, dy, dw, db, p) })
}
func (r *recorder) LinearForward(x, w, b, y *tensor.Tensor) {
	r.op("LinearForward", func() { r.be.LinearForward(x, w, b, y) })
}
func (r *recorder) LinearBackward(x, w, dy, dx, dw, db *tensor.Tensor) {
	r.op("LinearBackward", func() { r.be.LinearBackward(x, w, dy, dx, dw, db) })
}
func (r *recorder) MaxPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	r.op("MaxPool2DForward", func() { r.be.MaxPool2DForward(x, y, p) })
}
func (r *recorder) MaxPool2DBackward(x, dy, dx *tensor.Tensor, p tensor.PoolParams) {
	r.op("MaxPool2DBackward", func() { r.be.MaxPool2DBackward(x, dy, dx, p) })
}
func (r *recorder) AvgPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	r.op("AvgPool2DForward", func() { r.be.AvgPool2DForward(x, y, p) })
}
func (r *recorder) AvgPool2DBackward(dy, dx *tensor.Tensor, p tensor.PoolParams) {
	r.op("AvgPool2DBackward", func() { r.be.AvgPool2DBackward(dy, dx, p) })
}
func (r *recorder) ActivationForward(a tensor.Activation, x, y *tensor.Tensor) {
	r.op("ActivationForward", func() { r.be.ActivationForward(a, x, y) })
}
func (r *recorder) ActivationBackward(a tensor.Activation, y, dy, dx *tensor.Tensor) {
	r.op("ActivationBackward", func() { r.be.ActivationBackward(a, y, dy, dx) })
}
func (r *recorder) BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	r.op("BatchNormForwardTrain", func() { r.be.BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p) })
}
func (r *recorder) BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	r.op("BatchNormForwardInfer", func() { r.be.BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y, p) })
}
func (r *recorder) BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	r.op("BatchNormBackward", func() { r.be.BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) })
}
func (r *recorder) Add(a, b, y *tensor.Tensor) { r.op("Add", func() { r.be.Add(a, b, y) }) }
func (r *recorder) Mul(a, b, y *tensor.Tensor) { r.op("Mul", func() { r.be.Mul(a, b, y) }) }
func (r *recorder) ShortcutPadForward(x, y *tensor.Tensor, stride int) {
	r.op("ShortcutPadForward", func() { r.be.ShortcutPadForward(x, y, stride) })
}
func (r *recorder) ShortcutPadBackward(dy, dx *tensor.Tensor, stride int) {
	r.op("ShortcutPadBackward", func() { r.be.ShortcutPadBackward(dy, dx, stride) })
}
func (r *recorder) CopyChannels(dst, src *tensor.Tensor, off int) {
	r.op("CopyChannels", func() { r.be.CopyChannels(dst, src, off) })
}
func (r *recorder) ExtractChannels(dst, src *tensor.Tensor, off int) {
	r.op("ExtractChannels", func() { r.be.ExtractChannels(dst, src, off) })
}
func (r *recorder) DropoutForward(x, mask, y *tensor.Tensor, p float32, seed, counter uint64) {
	r.op("DropoutForward", func() { r.be.DropoutForward(x, mask, y, p, seed, counter) })
}
func (r *recorder) SoftmaxCrossEntropy(logits, labels, loss, dlogits *tensor.Tensor, smoothing float32) {
	r.op("SoftmaxCrossEntropy", func() { r.be.SoftmaxCrossEntropy(logits, labels, loss, dlogits, smoothing) })
}
func (r *recorder) SGDUpdate(w, g, v *tensor.Tensor, p tensor.SGDParams) {
	r.op("SGDUpdate", func() { r.be.SGDUpdate(w, g, v, p) })
}
func (r *recorder) AdamUpdate(w, g, m, v *tensor.Tensor, p tensor.AdamParams) {
	r.op("AdamUpdate", func() { r.be.AdamUpdate(w, g, m, v, p) })
}

// stepRecorder is a recorder that also passes on the wrapped backend's
// tensor.StepOps and tensor.DropoutAt (the plain recorder hides them,
// which makes a Step fall back to hostOps).
type stepRecorder struct {
	*recorder
	ops tensor.StepOps
	// frozen, when set, makes the double a mutant that reads a per-step
	// value on the host when the op is queued and passes it by value, as
	// an op that cannot be captured would: "lr" (SGDUpdateAt's learning
	// rate) or "dropout" (DropoutForwardAt's counter). Uncaptured it trains correctly; a capture freezes the value.
	frozen string
}

// now reads element i of t on the host, uncounted and at once, even
// during a capture: only the mutants use it.
func (r stepRecorder) now(t *tensor.Tensor, i int) float32 {
	v := make([]float32, t.Numel())
	r.be.Download(v, t)
	return v[i]
}

func (r stepRecorder) SGDUpdateAt(w, g, v, lrs, at, skip *tensor.Tensor, p tensor.SGDParams) {
	if r.frozen == "lr" {
		p.LR = r.now(lrs, int(r.now(at, 0)))
		r.op("SGDUpdate", func() { r.be.SGDUpdate(w, g, v, p) })
		return
	}
	r.op("SGDUpdateAt", func() { r.ops.SGDUpdateAt(w, g, v, lrs, at, skip, p) })
}
func (r stepRecorder) AdamUpdateAt(w, g, m, v, lrs, at, step, skip *tensor.Tensor, p tensor.AdamParams) {
	r.op("AdamUpdateAt", func() { r.ops.AdamUpdateAt(w, g, m, v, lrs, at, step, skip, p) })
}
func (r stepRecorder) DropoutForwardAt(x, mask, y *tensor.Tensor, p float32, seed uint64, counter *tensor.Tensor) {
	if r.frozen == "dropout" {
		n := uint64(r.now(counter, 0))
		r.op("DropoutForward", func() { r.be.DropoutForward(x, mask, y, p, seed, n) })
		return
	}
	r.op("DropoutForwardAt", func() { r.be.(tensor.DropoutAt).DropoutForwardAt(x, mask, y, p, seed, counter) })
}
func (r stepRecorder) StepMetrics(loss, logits, labels, acc, at, flag *tensor.Tensor) {
	r.op("StepMetrics", func() { r.ops.StepMetrics(loss, logits, labels, acc, at, flag) })
}
func (r stepRecorder) AddScalar(t *tensor.Tensor, v float32) {
	r.op("AddScalar", func() { r.ops.AddScalar(t, v) })
}

var (
	_ tensor.Backend   = (*recorder)(nil)
	_ tensor.StepOps   = stepRecorder{}
	_ tensor.DropoutAt = stepRecorder{}
	_ tensor.Capturer  = (*recorder)(nil)
)
