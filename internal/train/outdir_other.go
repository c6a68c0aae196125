//go:build !unix

package train

import "os"

// tryLock: without flock the lock file is advisory only (always taken).
func tryLock(f *os.File) (bool, error) { return true, nil }
