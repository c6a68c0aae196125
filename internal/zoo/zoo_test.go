package zoo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var update = flag.Bool("update", false, "rewrite testdata/summary_*.txt")

// want holds the reference counts of scripts/torch_zoo.py (3x32x32, 10 classes).
var want = []struct {
	name         string
	params, macs int64
}{
	{"lenet", 62_006, 651_720},
	{"lenet-bn", 62_050, 651_720},
	{"alexnet", 23_272_266, 62_742_528},
	{"vgg11", 9_750_922, 153_293_824},
	{"vgg13", 9_935_434, 228_791_296},
	{"vgg16", 15_245_130, 313_725_952},
	{"vgg19", 20_554_826, 398_660_608},
	{"vgg11-bn", 9_756_426, 153_293_824},
	{"vgg13-bn", 9_941_322, 228_791_296},
	{"vgg16-bn", 15_253_578, 313_725_952},
	{"vgg19-bn", 20_565_834, 398_660_608},
	{"nin", 966_986, 222_486_528},
	{"googlenet", 6_166_250, 1_521_756_160},
	{"resnet", 195_738, 28_754_560},
	{"resnet20", 269_722, 40_551_040},
	{"resnet56", 853_018, 125_485_696},
	{"mlp", 29_409_290, 29_401_088},
}

func TestNames(t *testing.T) {
	var names []string
	for _, w := range want {
		names = append(names, w.name)
	}
	got := strings.Join(Names(), " ")
	if len(Names()) != len(want) {
		t.Fatalf("Names() = %s, want the %d models %s", got, len(want), strings.Join(names, " "))
	}
	for _, n := range names {
		if !strings.Contains(" "+got+" ", " "+n+" ") {
			t.Errorf("Names() = %s lacks %s", got, n)
		}
	}
}

func TestCountZoo(t *testing.T) {
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			s, err := Load(w.name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Description == "" {
				t.Error("no description")
			}
			params, macs, err := Count(s, tensor.Shape{3, 32, 32}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if params != w.params || macs != w.macs {
				t.Errorf("params %d MACs %d, want %d and %d", params, macs, w.params, w.macs)
			}
			// The defaults in the file give the same counts.
			if p, m, err := Count(s, nil, 0); err != nil || p != params || m != macs {
				t.Errorf("with the spec's defaults: %d, %d, %v", p, m, err)
			}
		})
	}
}

func TestCountLeNetMNIST(t *testing.T) {
	s, err := Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	params, _, err := Count(s, tensor.Shape{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if params != 44_426 {
		t.Errorf("lenet on 1x28x28: %d params, want 44,426", params)
	}
}

func TestCountClasses(t *testing.T) {
	s, err := Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	p10, _, err := Count(s, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	p100, _, err := Count(s, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if p100-p10 != 90*65 { // linear 64 -> classes, with bias
		t.Errorf("100 classes add %d params, want %d", p100-p10, 90*65)
	}
}

// TestFullNames checks PyTorch's state_dict names on a few layers.
func TestFullNames(t *testing.T) {
	cases := map[string][]string{
		"resnet":    {"conv", "bn", "layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample.0", "layer2.0.downsample.1", "layer3.1.conv2", "fc"},
		"resnet56":  {"conv1", "bn1", "layer1.8.conv2", "layer2.0.shortcut", "layer3.8.bn2", "linear"},
		"googlenet": {"pre_layers.0", "a3.b1.0", "a3.b3.7", "b5.b4.1", "linear"},
		"vgg19-bn":  {"features.0", "features.1", "features.49", "classifier.6"},
		"lenet-bn":  {"conv.0", "conv.1", "conv.4", "conv.6", "mlp.0", "mlp.2", "mlp.4"},
		"alexnet":   {"features.0", "features.10", "classifier.1", "classifier.6"},
		"nin":       {"classifier.0", "classifier.20", "classifier.22"},
	}
	for model, names := range cases {
		s, err := Load(model)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Summary(s, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, row := range r.Rows {
			have[row.Name] = true
		}
		for _, n := range names {
			if !have[n] {
				t.Errorf("%s: no layer named %s", model, n)
			}
		}
	}
}

func TestHash(t *testing.T) {
	a, err := Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../configs/models/lenet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Another name, description, comments and explicit defaults: same network.
	edited := strings.Replace(string(data), "name: lenet\n", "# my copy\nname: mylenet\n", 1)
	edited = strings.Replace(edited, "out: 120}", "out: 120, bias: true}", 1)
	b, err := Parse("edited.yaml", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() || len(a.Hash()) != 64 {
		t.Errorf("hash changed with cosmetic edits: %s vs %s", a.Hash(), b.Hash())
	}
	c, err := Parse("changed.yaml", []byte(strings.Replace(string(data), "out: 120}", "out: 121}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() == c.Hash() {
		t.Error("hash unchanged when fc1 changed size")
	}
	seen := map[string]string{}
	for _, n := range Names() {
		s, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[s.Hash()]; dup {
			t.Errorf("%s and %s hash the same", n, other)
		}
		seen[s.Hash()] = n
	}
}

func TestUserModelFromPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	src := `name: tiny
description: a user's model
layers:
  - {type: conv2d, name: conv, out: 8, kernel: 3, padding: 1}
  - {type: relu, name: relu}
  - {type: globalavgpool, name: pool}
  - {type: flatten, name: flatten}
  - {type: linear, name: head, out: classes}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "tiny" || s.File != path || s.Input != nil {
		t.Errorf("spec %q from %q, input %v", s.Name, s.File, s.Input)
	}
	if _, _, err := Count(s, nil, 0); err == nil || !strings.Contains(err.Error(), "no input shape") {
		t.Errorf("without an input shape: %v", err)
	}
	params, macs, err := Count(s, tensor.Shape{1, 28, 28}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if wantP, wantM := int64(8*9+8+8*5+5), int64(8*28*28*9+8*5); params != wantP || macs != wantM {
		t.Errorf("params %d MACs %d, want %d and %d", params, macs, wantP, wantM)
	}
}

func TestLoadUnknown(t *testing.T) {
	_, err := Load("resnet21")
	if err == nil || !strings.Contains(err.Error(), `not a built-in model (did you mean "resnet20"?), nor a file`) {
		t.Errorf("Load(resnet21): %v", err)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load(missing.yaml): %v", err)
	}
}

func TestSummaryGolden(t *testing.T) {
	for _, name := range []string{"lenet", "resnet"} {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Summary(s, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "summary_"+name+".txt")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/zoo -run Golden -update)", err)
			}
			if b.String() != string(golden) {
				t.Errorf("summary differs from %s (rerun with -update if intended):\n%s", path, b.String())
			}
		})
	}
}

// TestREADMEExample keeps the worked example of configs/README.md valid.
func TestREADMEExample(t *testing.T) {
	data, err := os.ReadFile("../../configs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "## Worked example")
	if i < 0 {
		t.Fatal("README has no worked example")
	}
	text = text[i:]
	start := strings.Index(text, "```yaml\n") + len("```yaml\n")
	end := strings.Index(text[start:], "```")
	s, err := Parse("README.md", []byte(text[start:start+end]))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Summary(s, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// stem 864 + bn 64 + conv1 18432 + bn1 128 + conv2 36864 + bn2 128 +
	// downsample 2048 + 128 + fc 650.
	if r.Params != 59_306 {
		t.Errorf("params %d, want 59,306", r.Params)
	}
	names := map[string]bool{}
	for _, row := range r.Rows {
		names[row.Name] = true
	}
	for _, n := range []string{"block.conv1", "block.downsample.0", "fc"} {
		if !names[n] {
			t.Errorf("no layer %s", n)
		}
	}
}
