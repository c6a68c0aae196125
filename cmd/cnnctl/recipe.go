package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// loadRecipe reads a training recipe (YAML whose keys are train's flag
// names, e.g. "batch-size: 128") into viper below the flags: a flag given
// on the command line wins, then CNNCTL_*, then the recipe, then defaults.
// Unknown keys are errors with the line and a suggestion.
func loadRecipe(f *Factory, cmd *cobra.Command, path string) error {
	b, err := readRecipe(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return usagef("recipe %s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return usagef("recipe %s:%d: expected a mapping of flag names to values", path, top.Line)
	}
	known := map[string]bool{}
	var names []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		known[fl.Name] = true
		names = append(names, fl.Name)
	})
	sort.Strings(names)
	values := map[string]any{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "config", "resume", "dry-run":
			return usagef("recipe %s:%d: %q cannot be set in a recipe", path, k.Line, k.Value)
		}
		if !known[k.Value] {
			return usagef("recipe %s:%d:%d: unknown key %q%s", path, k.Line, k.Column, k.Value, zoo.Suggest(k.Value, names, "keys"))
		}
		var val any
		if err := v.Decode(&val); err != nil {
			return usagef("recipe %s:%d: %s: %v", path, v.Line, k.Value, err)
		}
		if seq, ok := val.([]any); ok { // lists (mean, std) as the flag's comma form
			parts := make([]string, len(seq))
			for i, x := range seq {
				parts[i] = fmt.Sprint(x)
			}
			val = strings.Join(parts, ",")
		}
		if err := checkRecipeType(cmd.Flags().Lookup(k.Value), val); err != nil {
			return usagef("recipe %s:%d:%d: %s: %v", path, v.Line, v.Column, k.Value, err)
		}
		values[k.Value] = val
	}
	return f.Viper.MergeConfigMap(values)
}

// checkRecipeType rejects a value the flag could not take (viper would
// read "epochs: many" as 0 and the error would blame --epochs 0).
func checkRecipeType(fl *pflag.Flag, val any) error {
	s := fmt.Sprint(val)
	var err error
	switch fl.Value.Type() {
	case "int", "int64":
		_, err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
	case "float64":
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Errorf("want a finite number, got %q", s)
		}
	case "bool":
		_, err = strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
	}
	return nil
}

// readRecipe reads a recipe by path, or by name from configs/recipes.
func readRecipe(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if b, rerr := recipeByName(path); rerr == nil {
		return b, nil
	}
	return nil, usagef("recipe: %v", err)
}
