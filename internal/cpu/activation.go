package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// ActivationForward: y = f(x) elementwise, any shape; y may be x.
// relu: max(x, 0); sigmoid: 1/(1+e^-x); tanh: tanh x.
func (b *Backend) ActivationForward(a tensor.Activation, x, y *tensor.Tensor) {
	if hasBF16(x, y) {
		b.emulate("activation forward", []*tensor.Tensor{x, y}, 1<<1, func(t []*tensor.Tensor) { b.ActivationForward(a, t[0], t[1]) })
		return
	}
	c := b.call(activationOp(a, "forward"))
	xd := c.data("x", x, 0)
	yd := c.data("y", y, 0)
	if !(len(xd) == len(yd)) {
		c.fail("x %v and y %v differ in size", x.Shape, y.Shape)
	}
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown activation")
	if !c.ok() {
		return
	}
	if !b.ref {
		f := reluForward
		switch a {
		case tensor.Sigmoid:
			f = sigmoidForward
		case tensor.Tanh:
			f = tanhForward
		}
		parallelElems(len(xd), func(lo, hi int) { f(xd[lo:hi], yd[lo:hi]) })
		return
	}
	parallelElems(len(xd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := xd[i]
			switch a {
			case tensor.ReLU:
				if !(v > 0) && v == v { // NaN passes through, as in PyTorch
					v = 0
				}
			case tensor.Sigmoid:
				v = float32(1 / (1 + math.Exp(-float64(v))))
			case tensor.Tanh:
				v = float32(math.Tanh(float64(v)))
			}
			yd[i] = v
		}
	})
}

// ActivationBackward: dx = dy · f'(x), written with y = f(x); dx may be dy.
// relu: dy if y > 0 else 0; sigmoid: dy·y·(1-y); tanh: dy·(1-y²).
func (b *Backend) ActivationBackward(a tensor.Activation, y, dy, dx *tensor.Tensor) {
	if hasBF16(y, dy, dx) {
		b.emulate("activation backward", []*tensor.Tensor{y, dy, dx}, 1<<2, func(t []*tensor.Tensor) { b.ActivationBackward(a, t[0], t[1], t[2]) })
		return
	}
	c := b.call(activationOp(a, "backward"))
	yd := c.data("y", y, 0)
	dyd := c.data("dy", dy, 0)
	dxd := c.data("dx", dx, 0)
	if !(len(yd) == len(dyd) && len(yd) == len(dxd)) {
		c.fail("y %v, dy %v and dx %v differ in size", y.Shape, dy.Shape, dx.Shape)
	}
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown activation")
	if !c.ok() {
		return
	}
	if !b.ref && a != tensor.Tanh {
		f := reluBackward
		if a == tensor.Sigmoid {
			f = sigmoidBackward
		}
		parallelElems(len(yd), func(lo, hi int) { f(yd[lo:hi], dyd[lo:hi], dxd[lo:hi]) })
		return
	}
	parallelElems(len(yd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v, g := yd[i], dyd[i]
			switch a {
			case tensor.ReLU:
				if v <= 0 { // a NaN y passes dy through, as in PyTorch
					g = 0
				}
			case tensor.Sigmoid:
				g *= v * (1 - v)
			case tensor.Tanh:
				g *= 1 - v*v
			}
			dxd[i] = g
		}
	})
}

// reluForward is the fast engine's relu: y = max(x, 0), NaN kept (Go's max
// returns NaN for a NaN operand and orders -0 below 0).
func reluForward(x, y []float32) {
	y = y[:len(x)]
	done := reluVector(x, y)
	x, y = x[done:], y[done:]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluBackward is the fast engine's relu gradient: dx = dy where y > 0 or
// y is NaN, else 0.
func reluBackward(y, dy, dx []float32) {
	dy = dy[:len(y)]
	dx = dx[:len(y)]
	done := reluBackwardVector(y, dy, dx)
	y, dy, dx = y[done:], dy[done:], dx[done:]
	for i, v := range y {
		// Selecting integer bits lets the compiler use a conditional move:
		// with a branch, relu's random signs cost a misprediction each.
		g := math.Float32bits(dy[i])
		if v <= 0 {
			g = 0
		}
		dx[i] = math.Float32frombits(g)
	}
}

// activationOp names an activation's pass for errors: a constant for the
// known activations, so that an op does not build the string every call.
func activationOp(a tensor.Activation, pass string) string {
	switch {
	case a == tensor.ReLU && pass == "forward":
		return "relu forward"
	case a == tensor.ReLU && pass == "backward":
		return "relu backward"
	case a == tensor.Sigmoid && pass == "forward":
		return "sigmoid forward"
	case a == tensor.Sigmoid && pass == "backward":
		return "sigmoid backward"
	case a == tensor.Tanh && pass == "forward":
		return "tanh forward"
	case a == tensor.Tanh && pass == "backward":
		return "tanh backward"
	}
	return a.String() + " " + pass
}
