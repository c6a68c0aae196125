//go:build cgo

package kernelhost

import (
	"fmt"
	"os"
	"testing"
)

// TestBNPlanTable prints, with BN_PLAN_TABLE=1, the grid of every zoo BN
// shape at batches 8 and 128 on an H200 (132 SMs): docs/gpu-results.md's table.
func TestBNPlanTable(t *testing.T) {
	if os.Getenv("BN_PLAN_TABLE") != "1" {
		t.Skip("set BN_PLAN_TABLE=1 to print the table")
	}
	for _, n := range []int{8, 128, 512} {
		for _, s := range zooBN {
			p, _ := PlanBN(n, s[0], s[1], 132)
			fmt.Printf("| %dx%dx%d | %d | %d | %d | %d | %dx%d | %d | %d |\n", n, s[0], s[1], p.G, p.CB, p.NB, p.LW, p.B, p.TilesC, p.Blocks(), n*s[0]*s[1]/p.Blocks())
		}
	}
}
