package zoo

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestBuildAgreesWithCount builds every zoo model on the CPU backend and
// checks that the layers report what the spec walker counted.
func TestBuildAgreesWithCount(t *testing.T) {
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			if testing.Short() && w.params > 10_000_000 {
				t.Skip("large model in -short mode")
			}
			s, err := Load(w.name)
			if err != nil {
				t.Fatal(err)
			}
			be := cpu.New()
			defer be.Close()
			m, err := Build(s, be, nil, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.NumParams() != w.params || m.MACs() != w.macs {
				t.Errorf("built: params %d MACs %d, want %d and %d", m.NumParams(), m.MACs(), w.params, w.macs)
			}
			if !m.Out.Equal(tensor.Shape{10}) {
				t.Errorf("output %v, want 10", m.Out)
			}
			// Every parameter is named after a layer of the summary.
			r, err := Summary(s, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, row := range r.Rows {
				names[row.Name] = true
			}
			for _, p := range m.All() {
				i := strings.LastIndex(p.Name, ".")
				if i < 0 || !names[p.Name[:i]] {
					t.Errorf("parameter %s belongs to no layer of the summary", p.Name)
				}
			}
		})
	}
}

func TestBuildLeNetMNIST(t *testing.T) {
	s, err := Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	defer be.Close()
	m, err := Build(s, be, tensor.Shape{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != 44_426 {
		t.Errorf("lenet on 1x28x28: %d params, want 44,426", m.NumParams())
	}
	var keys []string
	for _, p := range m.All() {
		keys = append(keys, p.Name)
	}
	if got, want := strings.Join(keys, " "), "conv1.weight conv1.bias conv2.weight conv2.bias fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias"; got != want {
		t.Errorf("keys %s\nwant %s", got, want)
	}
}

func TestBuildResNet20Keys(t *testing.T) {
	s, err := Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	defer be.Close()
	m, err := Build(s, be, nil, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range m.All() {
		keys = append(keys, p.Name)
	}
	got := strings.Join(keys[:8], " ")
	want := "conv1.weight bn1.weight bn1.bias bn1.running_mean bn1.running_var layer1.0.conv1.weight layer1.0.bn1.weight layer1.0.bn1.bias"
	if got != want {
		t.Errorf("first keys %s\nwant %s", got, want)
	}
	var shortcut bool
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if l.Name() == "layer2.0.shortcut" && l.Type() != "" {
			shortcut = true
		}
	})
	if !shortcut {
		t.Error("no layer2.0.shortcut in the built model")
	}
}
