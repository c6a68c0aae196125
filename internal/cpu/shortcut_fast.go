package cpu

// The fast engine's shortcut: the reference's loops split over the planes
// (images × channels) and walked a row at a time. A pure copy, so it gives
// the reference's bits.

// shortcutForward: x (N,C,H,W) -> y (N,K,OH,OW), as ShortcutPadForward.
func shortcutForward(g shortcut, xd, yd []float32) {
	ohw := g.OH * g.OW
	forPlanes(g.N*g.K, g.N*g.K*ohw, func(lo, hi int) {
		for nk := lo; nk < hi; nk++ {
			n, k := nk/g.K, nk%g.K
			out := yd[nk*ohw : (nk+1)*ohw]
			ch := k - g.off
			if ch < 0 || ch >= g.C {
				clear(out)
				continue
			}
			plane := xd[(n*g.C+ch)*g.H*g.W : (n*g.C+ch+1)*g.H*g.W]
			for oh := range g.OH {
				dst := out[oh*g.OW : (oh+1)*g.OW]
				src := plane[oh*g.stride*g.W:]
				if g.stride == 1 {
					copy(dst, src)
					continue
				}
				src = src[:(g.OW-1)*g.stride+1]
				for ow := range dst {
					dst[ow] = src[ow*g.stride]
				}
			}
		}
	})
}

// shortcutBackward: dy (N,K,OH,OW) -> dx (N,C,H,W), as ShortcutPadBackward.
func shortcutBackward(g shortcut, dyd, dxd []float32) {
	ohw, hw := g.OH*g.OW, g.H*g.W
	forPlanes(g.N*g.C, g.N*g.C*hw, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			n, ch := nc/g.C, nc%g.C
			plane := dxd[nc*hw : (nc+1)*hw]
			in := dyd[(n*g.K+ch+g.off)*ohw : (n*g.K+ch+g.off+1)*ohw]
			if g.stride == 1 {
				copy(plane, in)
				continue
			}
			clear(plane)
			for oh := range g.OH {
				src := in[oh*g.OW : (oh+1)*g.OW]
				dst := plane[oh*g.stride*g.W:]
				dst = dst[:(g.OW-1)*g.stride+1]
				for ow, v := range src {
					dst[ow*g.stride] = v
				}
			}
		}
	})
}
