package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// predictImageExts are the files predict takes from a folder (case-insensitive).
var predictImageExts = []string{".jpg", ".jpeg", ".png"}

// expandImageArgs replaces each folder among predict's arguments by the
// images below it (any depth, so <class>/ and test/<class>/ trees work),
// in name order; files pass through as given. Names starting with a dot are
// skipped. A tarball is refused with what to do instead.
func expandImageArgs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			l := strings.ToLower(a)
			if err == nil && (strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz")) {
				return nil, usagef("predict: %s is a tarball: unpack it (tar xzf) and pass the folder, or measure accuracy on it with eval --data imagefolder:%s", a, a)
			}
			out = append(out, a) // loadImage reports a missing file
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != a && strings.HasPrefix(de.Name(), ".") {
				if de.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !de.IsDir() && slices.Contains(predictImageExts, strings.ToLower(filepath.Ext(p))) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("predict: folder %s holds no .jpg/.jpeg/.png images", a)
		}
		out = append(out, found...)
	}
	return out, nil
}
