package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

func TestOpenResume(t *testing.T) {
	lenet, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if ck, note, err := OpenResume("", out, lenet, "lenet"); ck != nil || note != "" || err != nil {
		t.Errorf("no --resume: %v %q %v", ck, note, err)
	}
	ck, note, err := OpenResume("auto", out, lenet, "lenet")
	if ck != nil || err != nil || !strings.Contains(note, "no "+filepath.Join(out, "last")+" yet, starting a new run") {
		t.Errorf("auto without last: %v %q %v", ck, note, err)
	}
	saved := &checkpoint.Checkpoint{Meta: checkpoint.Meta{Model: "lenet", ConfigHash: lenet.Hash(), Epoch: 2}}
	if err := checkpoint.Save(filepath.Join(out, "last"), saved); err != nil {
		t.Fatal(err)
	}
	if ck, _, err := OpenResume("auto", out, lenet, "lenet"); err != nil || ck == nil || ck.Epoch != 2 {
		t.Errorf("auto with last: %v, %v", ck, err)
	}
	if ck, _, err := OpenResume(filepath.Join(out, "last"), t.TempDir(), lenet, "lenet"); err != nil || ck == nil {
		t.Errorf("a path: %v, %v", ck, err)
	}
	_, _, err = OpenResume("auto", out, resnet, "resnet20")
	if err == nil || !strings.Contains(err.Error(), `trained with model "lenet"`) || !strings.Contains(err.Error(), "not resnet20") {
		t.Errorf("another model: %v", err)
	}
	if _, _, err := OpenResume(filepath.Join(out, "missing"), out, lenet, "lenet"); err == nil {
		t.Error("a missing checkpoint gave no error")
	}
}
