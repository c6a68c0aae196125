package cpu

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

func TestSGDOneStepByHand(t *testing.T) {
	// w = 1, g = 0.5, v = 0.2, lr 0.1, weight decay 0.01: g' = 0.51.
	tests := []struct {
		name         string
		p            tensor.SGDParams
		wantW, wantV float64
	}{
		// v = 0·0.2 + 0.51; w = 1 - 0.1·0.51
		{"plain", tensor.SGDParams{LR: 0.1, WeightDecay: 0.01}, 0.949, 0.51},
		// v = 0.9·0.2 + 0.51 = 0.69; w = 1 - 0.1·0.69
		{"momentum", tensor.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01}, 0.931, 0.69},
		// step = 0.51 + 0.9·0.69 = 1.131; w = 1 - 0.1131
		{"nesterov", tensor.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: true}, 0.8869, 0.69},
	}
	for _, tt := range tests {
		be := New()
		w, g, v := from(be, []float32{1}, 1), from(be, []float32{0.5}, 1), from(be, []float32{0.2}, 1)
		be.SGDUpdate(w, g, v, tt.p)
		noErr(t, be)
		expect(t, tt.name+" w", values(be, w), []float64{tt.wantW}, 1e-6)
		expect(t, tt.name+" v", values(be, v), []float64{tt.wantV}, 1e-6)
		expect(t, tt.name+" g unchanged", values(be, g), []float64{0.5}, 0)
	}
}

func TestAdamTwoStepsByHand(t *testing.T) {
	p := tensor.AdamParams{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	be := New()
	w, m, v := from(be, []float32{1}, 1), be.New(tensor.Shape{1}), be.New(tensor.Shape{1})

	// Step 1, g = 0.5: m = 0.05, v = 0.00025; m/(1-0.9) = 0.5, v/(1-0.999) = 0.25:
	// w -= 0.1·0.5/(0.5 + 1e-8) ≈ 0.1.
	be.AdamUpdate(w, from(be, []float32{0.5}, 1), m, v, p)
	expect(t, "m", values(be, m), []float64{0.05}, 1e-7)
	expect(t, "v", values(be, v), []float64{0.00025}, 1e-7)
	expect(t, "w", values(be, w), []float64{1 - 0.1*0.5/(0.5+1e-8)}, 1e-6)

	// Step 2, g = -0.25: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
	// corrections 1-0.9² = 0.19 and 1-0.999² = 0.001999.
	p.Step = 2
	be.AdamUpdate(w, from(be, []float32{-0.25}, 1), m, v, p)
	step := 0.1 / 0.19 * 0.02 / (math.Sqrt(0.00031225)/math.Sqrt(0.001999) + 1e-8)
	expect(t, "m", values(be, m), []float64{0.02}, 1e-7)
	expect(t, "v", values(be, v), []float64{0.00031225}, 1e-7)
	expect(t, "w", values(be, w), []float64{0.9 - step}, 1e-6)
	noErr(t, be)
}

func TestAdamWeightDecay(t *testing.T) {
	// One step from m = v = 0, w = 1, g = 0.5, lr 0.1, weight decay 0.1.
	for _, tt := range []struct {
		name      string
		decoupled bool
		wantW     float64
		wantM     float64
	}{
		// Adam: g' = 0.5 + 0.1·1 = 0.6; the first step moves w by lr·sign.
		{"adam", false, 1 - 0.1*0.6/(0.6+1e-8), 0.06},
		// AdamW: w = 1·(1 - 0.1·0.1) = 0.99 first, then the step of g = 0.5.
		{"adamw", true, 0.99 - 0.1*0.5/(0.5+1e-8), 0.05},
	} {
		be := New()
		w, m, v := from(be, []float32{1}, 1), be.New(tensor.Shape{1}), be.New(tensor.Shape{1})
		be.AdamUpdate(w, from(be, []float32{0.5}, 1), m, v,
			tensor.AdamParams{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decoupled: tt.decoupled, Step: 1})
		noErr(t, be)
		expect(t, tt.name+" w", values(be, w), []float64{tt.wantW}, 1e-6)
		expect(t, tt.name+" m", values(be, m), []float64{tt.wantM}, 1e-7)
	}
}

func TestAdamRejectsStepZero(t *testing.T) {
	be := New()
	one := tensor.Shape{1}
	be.AdamUpdate(be.New(one), be.New(one), be.New(one), be.New(one), tensor.AdamParams{LR: 0.1, Beta1: 0.9, Beta2: 0.999})
	if be.Err() == nil {
		t.Error("step 0: no error")
	}
}
