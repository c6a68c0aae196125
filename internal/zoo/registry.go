package zoo

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/cnnctl/cnnctl/configs"
)

// builtinDir is where the embedded specs live, as shown in error positions.
const builtinDir = "configs/models/"

// Names lists the built-in models, sorted.
func Names() []string {
	entries, err := fs.ReadDir(configs.Models, "models")
	if err != nil {
		return nil // the embed pattern guarantees the directory
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load returns a built-in model by name ("resnet20") or reads a model file
// by path ("./mynet.yaml"): a name that is not built in is a path.
func Load(nameOrPath string) (*Spec, error) {
	names := Names()
	if contains(names, nameOrPath) {
		data, err := fs.ReadFile(configs.Models, "models/"+nameOrPath+".yaml")
		if err != nil {
			return nil, fmt.Errorf("load model %s: %w", nameOrPath, err)
		}
		s, err := Parse(builtinDir+nameOrPath+".yaml", data)
		if err != nil {
			return nil, err
		}
		if s.Name != nameOrPath {
			return nil, fmt.Errorf("load model %s: %s names itself %q", nameOrPath, s.File, s.Name)
		}
		return s, nil
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		if os.IsNotExist(err) && !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
			return nil, fmt.Errorf("load model %q: not a built-in model%s, nor a file", nameOrPath, suggest(nameOrPath, names, "models"))
		}
		return nil, fmt.Errorf("load model: %w", err)
	}
	return Parse(nameOrPath, data)
}
