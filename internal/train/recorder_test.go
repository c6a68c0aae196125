package train

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// recorder is a fake backend for tests: it wraps a real one (the CPU) and
// counts the calls made through it, by method, so a test can see how many
// ops a step queues, how many of them make the host wait for the device
// (Download, Sync, Err) and whether anything is allocated (New).
//
// Every Backend method is written out below, counted. A method added to
// tensor.Backend later comes from the embedded unrecorded interface, which
// is nil: calling it panics, so nothing goes uncounted; add it below.
type recorder struct {
	unrecorded
	be    tensor.Backend
	calls map[string]int
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

func (r *recorder) Name() string { r.calls["Name"]++; return r.be.Name() }
func (r *recorder) Err() error   { r.calls["Err"]++; return r.be.Err() }
func (r *recorder) Sync() error  { r.calls["Sync"]++; return r.be.Sync() }
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
	r.calls["Upload"]++
	r.be.UploadBytes(t, src)
}
func (r *recorder) DownloadBytes(dst []byte, t *tensor.Tensor) {
	r.calls["Download"]++ // a host sync, as Download
	r.be.DownloadBytes(dst, t)
}
func (r *recorder) Cast(dst, src *tensor.Tensor) { r.calls["Cast"]++; r.be.Cast(dst, src) }
func (r *recorder) Free(t *tensor.Tensor)        { r.calls["Free"]++; r.be.Free(t) }
func (r *recorder) Upload(t *tensor.Tensor, src []float32) {
	r.calls["Upload"]++
	r.be.Upload(t, src)
}
func (r *recorder) Download(dst []float32, t *tensor.Tensor) {
	r.calls["Download"]++
	r.be.Download(dst, t)
}
func (r *recorder) Fill(t *tensor.Tensor, v float32) { r.calls["Fill"]++; r.be.Fill(t, v) }
func (r *recorder) Copy(dst, src *tensor.Tensor)     { r.calls["Copy"]++; r.be.Copy(dst, src) }
func (r *recorder) Conv2DForward(x, w, b, y *tensor.Tensor, p tensor.ConvParams) {
	r.calls["Conv2DForward"]++
	r.be.Conv2DForward(x, w, b, y, p)
}
func (r *recorder) Conv2DBackwardData(dy, w, dx *tensor.Tensor, p tensor.ConvParams) {
	r.calls["Conv2DBackwardData"]++
	r.be.Conv2DBackwardData(dy, w, dx, p)
}
func (r *recorder) Conv2DBackwardFilter(x, dy, dw, db *tensor.Tensor, p tensor.ConvParams) {
	r.calls["Conv2DBackwardFilter"]++
	r.be.Conv2DBackwardFilter(x, dy, dw, db, p)
}
func (r *recorder) LinearForward(x, w, b, y *tensor.Tensor) {
	r.calls["LinearForward"]++
	r.be.LinearForward(x, w, b, y)
}
func (r *recorder) LinearBackward(x, w, dy, dx, dw, db *tensor.Tensor) {
	r.calls["LinearBackward"]++
	r.be.LinearBackward(x, w, dy, dx, dw, db)
}
func (r *recorder) MaxPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	r.calls["MaxPool2DForward"]++
	r.be.MaxPool2DForward(x, y, p)
}
func (r *recorder) MaxPool2DBackward(x, dy, dx *tensor.Tensor, p tensor.PoolParams) {
	r.calls["MaxPool2DBackward"]++
	r.be.MaxPool2DBackward(x, dy, dx, p)
}
func (r *recorder) AvgPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	r.calls["AvgPool2DForward"]++
	r.be.AvgPool2DForward(x, y, p)
}
func (r *recorder) AvgPool2DBackward(dy, dx *tensor.Tensor, p tensor.PoolParams) {
	r.calls["AvgPool2DBackward"]++
	r.be.AvgPool2DBackward(dy, dx, p)
}
func (r *recorder) ActivationForward(a tensor.Activation, x, y *tensor.Tensor) {
	r.calls["ActivationForward"]++
	r.be.ActivationForward(a, x, y)
}
func (r *recorder) ActivationBackward(a tensor.Activation, y, dy, dx *tensor.Tensor) {
	r.calls["ActivationBackward"]++
	r.be.ActivationBackward(a, y, dy, dx)
}
func (r *recorder) BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	r.calls["BatchNormForwardTrain"]++
	r.be.BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p)
}
func (r *recorder) BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	r.calls["BatchNormForwardInfer"]++
	r.be.BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y, p)
}
func (r *recorder) BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	r.calls["BatchNormBackward"]++
	r.be.BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}
func (r *recorder) Add(a, b, y *tensor.Tensor) { r.calls["Add"]++; r.be.Add(a, b, y) }
func (r *recorder) Mul(a, b, y *tensor.Tensor) { r.calls["Mul"]++; r.be.Mul(a, b, y) }
func (r *recorder) ShortcutPadForward(x, y *tensor.Tensor, stride int) {
	r.calls["ShortcutPadForward"]++
	r.be.ShortcutPadForward(x, y, stride)
}
func (r *recorder) ShortcutPadBackward(dy, dx *tensor.Tensor, stride int) {
	r.calls["ShortcutPadBackward"]++
	r.be.ShortcutPadBackward(dy, dx, stride)
}
func (r *recorder) CopyChannels(dst, src *tensor.Tensor, off int) {
	r.calls["CopyChannels"]++
	r.be.CopyChannels(dst, src, off)
}
func (r *recorder) ExtractChannels(dst, src *tensor.Tensor, off int) {
	r.calls["ExtractChannels"]++
	r.be.ExtractChannels(dst, src, off)
}
func (r *recorder) DropoutForward(x, mask, y *tensor.Tensor, p float32, seed, counter uint64) {
	r.calls["DropoutForward"]++
	r.be.DropoutForward(x, mask, y, p, seed, counter)
}
func (r *recorder) SoftmaxCrossEntropy(logits, labels, loss, dlogits *tensor.Tensor, smoothing float32) {
	r.calls["SoftmaxCrossEntropy"]++
	r.be.SoftmaxCrossEntropy(logits, labels, loss, dlogits, smoothing)
}
func (r *recorder) SGDUpdate(w, g, v *tensor.Tensor, p tensor.SGDParams) {
	r.calls["SGDUpdate"]++
	r.be.SGDUpdate(w, g, v, p)
}
func (r *recorder) AdamUpdate(w, g, m, v *tensor.Tensor, p tensor.AdamParams) {
	r.calls["AdamUpdate"]++
	r.be.AdamUpdate(w, g, m, v, p)
}

// stepRecorder is a recorder that also passes on the wrapped backend's
// tensor.StepOps (the plain recorder hides them, which makes a Step fall
// back to hostOps).
type stepRecorder struct {
	*recorder
	ops tensor.StepOps
}

func (r stepRecorder) SGDUpdateAt(w, g, v, lrs, at, skip *tensor.Tensor, p tensor.SGDParams) {
	r.calls["SGDUpdateAt"]++
	r.ops.SGDUpdateAt(w, g, v, lrs, at, skip, p)
}
func (r stepRecorder) AdamUpdateAt(w, g, m, v, lrs, at, step, skip *tensor.Tensor, p tensor.AdamParams) {
	r.calls["AdamUpdateAt"]++
	r.ops.AdamUpdateAt(w, g, m, v, lrs, at, step, skip, p)
}
func (r stepRecorder) StepMetrics(loss, logits, labels, acc, at, flag *tensor.Tensor) {
	r.calls["StepMetrics"]++
	r.ops.StepMetrics(loss, logits, labels, acc, at, flag)
}
func (r stepRecorder) AddScalar(t *tensor.Tensor, v float32) {
	r.calls["AddScalar"]++
	r.ops.AddScalar(t, v)
}

var (
	_ tensor.Backend = (*recorder)(nil)
	_ tensor.StepOps = stepRecorder{}
)
