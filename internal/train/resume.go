package train

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// OpenResume reads the checkpoint a run resumes from: none for "", OUT/last
// for "auto" (none, with a note saying so, when there is no OUT/last yet),
// else the checkpoint at path from. It must have been trained with spec
// (the same config hash); model is the name the user gave it.
func OpenResume(from, out string, spec *zoo.Spec, model string) (ck *checkpoint.Checkpoint, note string, err error) {
	switch from {
	case "":
		return nil, "", nil
	case "auto":
		last := filepath.Join(out, "last")
		if _, err := os.Stat(last); err != nil {
			return nil, fmt.Sprintf("--resume auto: no %s yet, starting a new run", last), nil
		}
		if ck, err = checkpoint.Load(last); err != nil {
			return nil, "", fmt.Errorf("--resume auto: %w", err)
		}
	default:
		if ck, err = checkpoint.Load(from); err != nil {
			return nil, "", err
		}
	}
	if ck.ConfigHash != spec.Hash() {
		return nil, "", fmt.Errorf("resume: the checkpoint was trained with model %q (config %s…), not %s (config %s…): pick the matching --model or another --out",
			ck.Model, ShortHash(ck.ConfigHash), model, ShortHash(spec.Hash()))
	}
	return ck, "", nil
}

// ShortHash is the first 12 characters of a config hash, for messages.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
