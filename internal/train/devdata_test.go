package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// synthSplit is n images of the synthetic data set (3x32x32, 10 classes).
func synthSplit(t *testing.T, n int) *data.Split {
	t.Helper()
	d, err := data.Open("synthetic", data.Options{SyntheticTrain: n, SyntheticTest: 1, Seed: 41})
	if err != nil {
		t.Fatal(err)
	}
	return d.Train
}

// cifarLoader shuffles, crops with padding 4 and flips, as resnet's recipes.
func cifarLoader(t *testing.T, s *data.Split, batch int) LoaderSource {
	t.Helper()
	l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: batch, Shuffle: true, Seed: 9, Workers: 2,
		Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616},
		Augment: data.Augment{Pad: 4, HFlip: true}})
	if err != nil {
		t.Fatal(err)
	}
	return LoaderSource{l}
}

// notes records Progress's notes and, at a given step count, cancels.
type notes struct {
	quiet
	lines  []string
	steps  int
	stopAt int
	cancel func()
}

func (n *notes) Note(format string, args ...any) {
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
}
func (n *notes) Step(batch int, loss, top1, imagesPerSec float64) {
	if n.steps++; n.steps == n.stopAt {
		n.cancel()
	}
}

// evalLoader walks s in order without augmentation, as a validation or
// cnnctl eval's loader does.
func evalLoader(t *testing.T, s *data.Split, batch int) LoaderSource {
	t.Helper()
	l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: batch, Workers: 2,
		Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}})
	if err != nil {
		t.Fatal(err)
	}
	return LoaderSource{l}
}

// heldRun trains resnet20 on be with SGD for 2 epochs of 21 images at batch 8
// (the last batch of each epoch holds 5), validating on 11 others (the
// last batch of 3), its batches made where place says; stopAt > 0
// interrupts after that many steps.
func heldRun(t *testing.T, be tensor.Backend, out, place string, stopAt int, resume *checkpoint.Checkpoint) (*Result, *notes, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr := &notes{stopAt: stopAt, cancel: cancel}
	r := &Run{
		Cfg: Config{Epochs: 2, BatchSize: 8, Out: out, NaNCheck: "step", DataOn: place, ReadEvery: 1,
			Optimizer: OptimizerConfig{Kind: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4},
			Schedule:  Schedule{Kind: "cosine", BaseLR: 0.05, Epochs: 2, WarmupEpochs: 0.5}},
		Model: buildModel(t, be, "resnet20"), Train: cifarLoader(t, synthSplit(t, 21), 8), Resume: resume, Progress: pr,
		Val:  evalLoader(t, synthSplit(t, 32).Subset([]int{21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}), 8),
		Meta: checkpoint.Meta{Model: "resnet20", Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
	}
	res, err := r.Execute(ctx)
	return res, pr, err
}

// TestHeldDataSameBits: training resnet20 with batches gathered from the
// set held by the (CPU) backend, and validating on a held validation set,
// gives, bit for bit, the weights, optimiser state, epoch metrics
// (validation loss, top-1 and top-5 too) and checkpoints of training and
// validating on the loader's batches, smaller last batches included; each
// run says where its data is; and a held run interrupted mid-epoch and
// resumed ends as the uninterrupted one.
func TestHeldDataSameBits(t *testing.T) {
	heldSameBits(t, func() tensor.Backend { return cpu.New() })
}

// heldSameBits is TestHeldDataSameBits on the backends open returns.
func heldSameBits(t *testing.T, open func() tensor.Backend) {
	dir := t.TempDir()
	host, hn, err := heldRun(t, open(), filepath.Join(dir, "host"), DataHost, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, dn, err := heldRun(t, open(), filepath.Join(dir, "held"), DataDevice, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hn.lines) == 0 || hn.lines[0] != "data: streamed from the host: asked for (--data-on host); validation too" {
		t.Errorf("host run's notes %q", hn.lines)
	}
	if len(dn.lines) == 0 || !strings.HasPrefix(dn.lines[0], "data: on the device (0 MiB: 21 images of 3x32x32 and their tables); validation on the device (0 MiB: 11 images of 3x32x32)") {
		t.Errorf("held run's notes %q", dn.lines)
	}
	hm, err := ReadMetrics(host.LastPath[:len(host.LastPath)-len("/last")])
	if err != nil {
		t.Fatal(err)
	}
	dm, err := ReadMetrics(held.LastPath[:len(held.LastPath)-len("/last")])
	if err != nil {
		t.Fatal(err)
	}
	if len(hm) != 2 || len(dm) != 2 {
		t.Fatalf("%d and %d epochs of metrics, want 2", len(hm), len(dm))
	}
	for i := range hm {
		if math.Float64bits(hm[i].TrainLoss) != math.Float64bits(dm[i].TrainLoss) || hm[i].TrainTop1 != dm[i].TrainTop1 || hm[i].Step != dm[i].Step {
			t.Errorf("epoch %d: host loss %v top-1 %v step %d, held %v %v %d", i+1, hm[i].TrainLoss, hm[i].TrainTop1, hm[i].Step, dm[i].TrainLoss, dm[i].TrainTop1, dm[i].Step)
		}
		if !hm[i].HasVal || math.Float64bits(hm[i].ValLoss) != math.Float64bits(dm[i].ValLoss) || hm[i].ValTop1 != dm[i].ValTop1 || hm[i].ValTop5 != dm[i].ValTop5 {
			t.Errorf("epoch %d: host validation loss %v top-1 %v top-5 %v, held %v %v %v", i+1, hm[i].ValLoss, hm[i].ValTop1, hm[i].ValTop5, dm[i].ValLoss, dm[i].ValTop1, dm[i].ValTop5)
		}
	}
	if hm[1].Step != 6 {
		t.Errorf("%d steps in 2 epochs, want 6 (3 batches each, the last of 5)", hm[1].Step)
	}
	want := load(t, host.LastPath)
	sameCheckpoint(t, "held vs streamed", want, load(t, held.LastPath))

	// Cancelled at the 4th step's read: the run stops after the next step,
	// the second of epoch 2's three, then resumes.
	res, _, err := heldRun(t, open(), filepath.Join(dir, "resumed"), DataDevice, 4, nil)
	if !errors.Is(err, context.Canceled) || !res.Stopped {
		t.Fatalf("interrupt gave %v", err)
	}
	stopped := load(t, res.LastPath)
	if stopped.Step != 5 || stopped.Epoch != 1 || stopped.EpochSeen != 16 {
		t.Fatalf("stopped at step %d epoch %d with %d images seen, want 5, 1 and 16", stopped.Step, stopped.Epoch, stopped.EpochSeen)
	}
	res, _, err = heldRun(t, open(), filepath.Join(dir, "resumed"), DataDevice, 0, stopped)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, "held, resumed vs streamed, uninterrupted", want, load(t, res.LastPath))
}

// memBackend is the CPU backend posing as a device with free bytes of
// memory of its own (tensor.MemInfo).
type memBackend struct {
	*cpu.Backend
	free int64
}

func (m memBackend) DeviceMemory() (free, total int64, name string) {
	return m.free, 2 * m.free, "fake GPU"
}

// noHold hides the CPU backend's tensor.DataHolder.
type noHold struct{ tensor.Backend }

// TestPlaceData: where the batches are made, and the line that says so,
// for each reason to stream from the host, a set that does not fit beside
// the run's memory plan among them.
func TestPlaceData(t *testing.T) {
	src := cifarLoader(t, synthSplit(t, 100), 8) // 100 images: 307,200 bytes + 2,000 of tables + 24 of normalisation
	need := int64(100*3*32*32 + 20*100 + 8*3)
	mib := float64(need) / (1 << 20)
	for _, tc := range []struct {
		name    string
		be      tensor.Backend
		place   string
		reserve int64
		src     Source
		held    bool
		note    string
	}{
		{"asked for host", memBackend{cpu.New(), 1 << 30}, DataHost, 0, src, false, "data: streamed from the host: asked for (--data-on host)"},
		{"unknown placement", memBackend{cpu.New(), 1 << 30}, "gpu", 0, src, false, `data: streamed from the host: unknown data placement "gpu" (want auto, device or host)`},
		{"auto on the CPU", cpu.New(), DataAuto, 0, src, false, "data: streamed from the host: the backend (" + cpu.New().Name() + ") uses the host's memory, where the loader's workers make the batches beside the step"},
		{"unset on the CPU", cpu.New(), "", 0, src, false, "data: streamed from the host: the backend (" + cpu.New().Name() + ") uses the host's memory, where the loader's workers make the batches beside the step"},
		{"device on the CPU", cpu.New(), DataDevice, 0, src, true, "data: on the device (0 MiB: 100 images of 3x32x32 and their tables)"},
		{"auto on a device", memBackend{cpu.New(), 1 << 30}, DataAuto, 1 << 29, src, true, "data: on the device (0 MiB: 100 images"},
		{"fits exactly", memBackend{cpu.New(), need + 1000}, DataAuto, 1000, src, true, "data: on the device"},
		{"a byte short", memBackend{cpu.New(), need + 999}, DataAuto, 1000, src, false,
			fmt.Sprintf("data: streamed from the host: the training set's %.0f MiB and the run's 0 MiB (its memory plan) do not fit the %.0f MiB free on fake GPU", mib, float64(need+999)/(1<<20))},
		{"the plan takes it all", memBackend{cpu.New(), 3 << 30}, DataDevice, 3 << 30, src, false,
			"data: streamed from the host: the training set's 0 MiB and the run's 3072 MiB (its memory plan) do not fit the 3072 MiB free on fake GPU"},
		{"free memory unknown", memBackend{cpu.New(), 0}, DataAuto, 0, src, false, "data: streamed from the host: fake GPU reported no free memory to check the training set's 0 MiB against"},
		{"no DataHolder", noHold{cpu.New()}, DataDevice, 0, src, false, "data: streamed from the host: the backend (" + cpu.New().Name() + ") cannot hold a data set"},
		{"source not holdable", cpu.New(), DataDevice, 0, &memSource{bs: batches([]int{2})}, false,
			"data: streamed from the host: the training set's source (*train.memSource) cannot be held by a backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, set, note := placeData(Config{DataOn: tc.place, DeviceReserve: tc.reserve}, tc.be, tc.src)
			if !strings.HasPrefix(note, tc.note) {
				t.Errorf("note %q, want %q", note, tc.note)
			}
			if (set != nil) != tc.held {
				t.Fatalf("held %v, want %v", set != nil, tc.held)
			}
			if !tc.held {
				if got != tc.src {
					t.Errorf("the streamed source is %T, not the run's own", got)
				}
				return
			}
			defer set.Free()
			if got.Batches() != 13 || got.Images() != 100 {
				t.Errorf("held source: %d batches of %d images, want 13 and 100", got.Batches(), got.Images())
			}
			it := got.Epoch(0, 11)
			var sizes []int
			for b, ok := it.Next(); ok; b, ok = it.Next() {
				if !b.Held || b.X != nil {
					t.Fatalf("batch %+v is not a held batch", b)
				}
				sizes = append(sizes, b.N)
			}
			if fmt.Sprint(sizes) != "[8 4]" {
				t.Errorf("batches 11 and 12 of epoch 0 hold %v images, want [8 4]", sizes)
			}
		})
	}
}

// TestHeldDropLast: with DropLast, the held epoch has the loader's full
// batches only.
func TestHeldDropLast(t *testing.T) {
	l, err := data.NewLoader(synthSplit(t, 17), data.LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 2, DropLast: true, Augment: data.Augment{Pad: 2, HFlip: true}})
	if err != nil {
		t.Fatal(err)
	}
	src, set, note := placeData(Config{DataOn: DataDevice}, cpu.New(), LoaderSource{l})
	if set == nil {
		t.Fatal(note)
	}
	defer set.Free()
	var sizes []int
	it := src.Epoch(1, 0)
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		sizes = append(sizes, b.N)
	}
	if fmt.Sprint(sizes) != "[8 8]" {
		t.Errorf("held batches %v, want [8 8]", sizes)
	}
}

// holdRecorder is a stepRecorder that also passes on the CPU's
// tensor.DataHolder; the held set's own calls are not counted.
type holdRecorder struct{ stepRecorder }

func (r holdRecorder) HoldData(images []uint8, labels []int32, p tensor.DataParams) (tensor.DataSet, error) {
	return r.be.(tensor.DataHolder).HoldData(images, labels, p)
}

// TestHeldStepUploadsNothing: with the set held, Load and Run of a step
// copy nothing from the host, wait for nothing and, after the first step,
// allocate nothing.
func TestHeldStepUploadsNothing(t *testing.T) {
	rec := newRecorder(cpu.New())
	hr := holdRecorder{stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}}
	m := buildModel(t, hr, "resnet20")
	opt, err := NewOptimizer(m, stepCases[0].opt)
	if err != nil {
		t.Fatal(err)
	}
	src, set, note := placeData(Config{DataOn: DataDevice}, hr, cifarLoader(t, synthSplit(t, 19), 8))
	if set == nil {
		t.Fatal(note)
	}
	defer set.Free()
	s := NewStep(m, opt, 8, src.Batches(), src.Batches(), 0)
	defer s.Free()
	s.Hold(set, 8)
	s.StartEpoch([]float32{0.1, 0.1, 0.1}, 0)
	it := src.Epoch(0, 0)
	var bs []*Batch
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		c := *b
		bs = append(bs, &c)
	}
	if len(bs) != 3 || bs[2].N != 3 {
		t.Fatalf("%d batches, want 3 (the last of 3 images)", len(bs))
	}
	for i, b := range bs {
		rec.reset()
		s.Load(b)
		s.Run()
		if n := rec.calls["Upload"] + rec.calls["UploadBytes"]; n != 0 {
			t.Errorf("step %d: %d uploads from the host: %v", i, n, rec.calls)
		}
		if n := rec.syncs(); n != 0 {
			t.Errorf("step %d: %d host syncs: %v", i, n, rec.calls)
		}
		if i > 0 && rec.calls["New"] != 0 {
			t.Errorf("step %d: allocated %d tensors", i, rec.calls["New"])
		}
	}
	got, err := s.Read()
	if err != nil || len(got.Loss) != 3 || fmt.Sprint(got.N) != "[8 8 3]" {
		t.Fatalf("read: %v, losses %v, sizes %v", err, got.Loss, got.N)
	}
}

// recordedSet queues its Gather through the capturing fake, as a gather
// kernel goes onto the GPU's stream: captured with the step, replayed with
// it.
type recordedSet struct {
	tensor.DataSet
	rec *recorder
}

func (s recordedSet) Gather(x, y, at *tensor.Tensor, batch int) {
	s.rec.op("Gather", func() { s.DataSet.Gather(x, y, at, batch) })
}

// graphHoldRecorder is the capturing fake (stepRecorder) with a held set
// whose gathers are captured too.
type graphHoldRecorder struct{ stepRecorder }

func (r graphHoldRecorder) HoldData(images []uint8, labels []int32, p tensor.DataParams) (tensor.DataSet, error) {
	set, err := r.be.(tensor.DataHolder).HoldData(images, labels, p)
	if err != nil {
		return nil, err
	}
	return recordedSet{set, r.recorder}, nil
}

// TestHeldGraphsSameBits: the held set's gather captured with the step and
// replayed (the batch index read from the device counter each replay)
// trains resnet20 to the bits of the streamed, uncaptured run.
func TestHeldGraphsSameBits(t *testing.T) {
	dir := t.TempDir()
	host, _, err := heldRun(t, cpu.New(), filepath.Join(dir, "host"), DataHost, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(cpu.New())
	be := graphHoldRecorder{stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}}
	held, _, err := heldRun(t, be, filepath.Join(dir, "held"), DataDevice, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.captures == 0 || rec.replays == 0 || rec.calls["Gather"] == 0 {
		t.Fatalf("%d captures, %d replays, %d gathers: want the held gather captured and replayed", rec.captures, rec.replays, rec.calls["Gather"])
	}
	sameCheckpoint(t, "held and replayed vs streamed", load(t, host.LastPath), load(t, held.LastPath))
}
