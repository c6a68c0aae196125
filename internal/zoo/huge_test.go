package zoo

import (
	"strings"
	"testing"
)

// Sizes whose products would overflow int64 (and so slip past any memory
// check with a negative count) are errors naming the layer; a merely huge
// model (4e9 outputs) is left to the memory check of train.
func TestSummaryHugeSizes(t *testing.T) {
	for _, c := range []struct{ layers, want string }{
		{"  - {type: flatten, name: f}\n  - {type: linear, name: fc1, out: 4000000000000000000}\n",
			`m.yaml:5:5: linear "fc1" on input 3072: 1.23e+22 weights, beyond any machine's memory`},
		{"  - {type: conv2d, name: c1, out: 3000000000, kernel: 3000000000}\n",
			`conv2d "c1" on input 3x32x32`},
		{"  - {type: pad, name: p, out: 2000000000001, stride: 1}\n  - {type: flatten, name: f}\n",
			`output 2000000000001x32x32 holds 2.05e+15 values per image`},
	} {
		spec, err := Parse("m.yaml", []byte(head+c.layers))
		if err != nil {
			t.Fatalf("%q: %v", c.layers, err)
		}
		_, err = Summary(spec, nil, 10)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.layers, err, c.want)
		}
	}
	spec, err := Parse("m.yaml", []byte(head+"  - {type: flatten, name: f}\n  - {type: linear, name: fc1, out: 4000000000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Summary(spec, nil, 10)
	if err != nil || r.Params != 4000000000*3073 {
		t.Errorf("out 4e9: %v, params %d", err, r.Params)
	}
}
