#!/usr/bin/env bash
# check-tc-sass.sh: static evidence for the tensor-core kernels, no GPU needed.
# Compiles kernels/conv2d_tc.cu and kernels/conv2d_bf16.cu for sm_80 and
# sm_90 as build-kernels.sh does, and fails unless
#   - each TF32 kernel (the convolutions, the small-channel flat forward and
#     the linears) contains HMMA (tensor-core mma) and LDGSTS (cp.async)
#     instructions,
#   - the TF32 kernels with the swizzled layout (LDSM_tc: the forward and the
#     data and filter gradients) contain LDSM (ldmatrix),
#   - each bf16 kernel contains HMMA in its bf16 form (HMMA.16816.F32.BF16)
#     and LDSM (ldmatrix), the bf16 linears and 1x1 kernels (gemm_bf16.cu) too,
#   - the 1x1 kernels (gemm_tc.cu) contain HMMA and LDGSTS, their filter
#     gradients LDSM, their 16-byte forms (_v4) LDGSTS.E.BYPASS.128
#     (cp.async.cg of 16 bytes),
#   - none spills or has a stack frame (ptxas -v);
# and for sm_70 (in the same fatbin, never selected) that none holds HMMA;
# then the same of the shipped fatbin, where build-kernels.sh has built it.
# Prints registers, shared memory, theoretical occupancy and the SASS
# instruction mix (docs/gpu-results.md records them).
#
# Environment: NVCC (default nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
# Per source: its kernels and the SASS each must contain on sm_80/sm_90
# (an instruction's name, or name.with.modifiers for an exact form).
SOURCES="tc bf16 g1 bflin"
SRC_tc=kernels/conv2d_tc.cu
KERNELS_tc="conv2d_forward_tf32 conv2d_forward_flat_tf32 conv2d_backward_data_tf32 conv2d_backward_filter_tf32
  linear_forward_tf32 linear_backward_data_tf32 linear_backward_filter_tf32
  conv2d_forward_bnstats_tf32 conv2d_forward_flat_bnstats_tf32"
NEED_tc="HMMA LDGSTS"
# TF32 kernels whose fragments ldmatrix loads (Op::ldsm in conv2d_tc.cu).
LDSM_tc="conv2d_forward_tf32 conv2d_backward_data_tf32 conv2d_backward_filter_tf32 conv2d_forward_bnstats_tf32"
SRC_bf16=kernels/conv2d_bf16.cu
KERNELS_bf16="conv2d_forward_bf16 conv2d_backward_data_bf16 conv2d_backward_filter_bf16 conv2d_forward_bnstats_bf16"
NEED_bf16="HMMA.16816.F32.BF16 LDSM"
SRC_g1=kernels/gemm_tc.cu
KERNELS_g1="conv2d_forward_1x1_tf32 conv2d_forward_1x1_v4_tf32 conv2d_backward_data_1x1_tf32
  conv2d_backward_data_1x1_v4_tf32 conv2d_backward_filter_1x1_tf32 conv2d_backward_filter_1x1_v4_tf32
  conv2d_forward_1x1_bnstats_tf32 conv2d_forward_1x1_v4_bnstats_tf32"
NEED_g1="HMMA.1688.F32.TF32 LDGSTS"
LDSM_g1="conv2d_backward_filter_1x1_tf32 conv2d_backward_filter_1x1_v4_tf32"
# Kernels whose copies are (partly) 16-byte cp.async.
VEC_g1="conv2d_forward_1x1_v4_tf32 conv2d_backward_data_1x1_v4_tf32 conv2d_backward_filter_1x1_v4_tf32
  conv2d_forward_1x1_v4_bnstats_tf32"
SRC_bflin=kernels/gemm_bf16.cu
KERNELS_bflin="linear_forward_bf16 linear_backward_data_bf16 linear_backward_filter_bf16
  conv2d_forward_1x1_bf16 conv2d_backward_data_1x1_bf16 conv2d_backward_filter_1x1_bf16
  conv2d_forward_1x1_bnstats_bf16"
NEED_bflin="HMMA.16816.F32.BF16 LDSM"
THREADS=256 # TC_THREADS in kernels/conv2d_tc.cuh (BF_THREADS in conv2d_bf16.cuh)
KERNELS="$KERNELS_tc $KERNELS_bf16 $KERNELS_g1 $KERNELS_bflin"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for arch in 70 80 90; do
 for grp in $SOURCES; do
  src=SRC_$grp kernels=KERNELS_$grp need=NEED_$grp
  "$NVCC" -cubin -O3 -std=c++17 -arch=sm_$arch -Xptxas -v -I kernels -o "$tmp/${grp}_sm_$arch.cubin" \
    "${!src}" 2>"$tmp/ptxas_${grp}_$arch.txt"
  for k in ${!kernels}; do
    info=$(awk -v k="$k" -v a="sm_$arch" '
      /Compiling entry function/ { on = index($0, "'\''" k "'\''") && index($0, "'\''" a "'\''") }
      on && /Function properties|spill|Used/ { print }' "$tmp/ptxas_${grp}_$arch.txt")
    sass=$(cuobjdump --dump-sass -fun "$k" "$tmp/${grp}_sm_$arch.cubin")
    ops=$(printf '%s\n' "$sass" | grep -oE '^\s+/\*[0-9a-f]+\*/\s+(@!?U?P[0-9T] )?[A-Z][A-Z0-9_]*' |
      awk '{print $NF}' | sort | uniq -c | sort -rn)
    count() { printf '%s\n' "$ops" | awk -v o="$1" '$2 == o { print $1; f = 1 } END { if (!f) print 0 }'; }
    # form: instructions whose full name (with modifiers) is $1.
    form() { printf '%s\n' "$sass" | grep -cE "^\s+/\*[0-9a-f]+\*/\s+(@!?U?P[0-9T] )?$(printf '%s' "$1" | sed 's/\./\\./g')[ ;]" || true; }
    hmma=$(count HMMA)
    if [ "$arch" = 70 ]; then
      echo "sm_70 $k: $hmma HMMA (never selected below sm_80; the body traps)"
      [ "$hmma" = 0 ] || { echo "check-tc-sass: sm_70 $k has HMMA" >&2; fail=1; }
      continue
    fi
    regs=$(printf '%s\n' "$info" | grep -oE 'Used [0-9]+ registers' | grep -oE '[0-9]+')
    smem=$(printf '%s\n' "$info" | grep -oE '[0-9]+ bytes smem' | grep -oE '^[0-9]+' || echo 0)
    # Theoretical occupancy, sm_80/sm_90: 65536 registers per SM allocated
    # per warp in units of 256, 64 warps, 32 blocks, shared memory 164 KB
    # (sm_80) or 228 KB (sm_90) per SM plus 1 KB reserved per block.
    smem_sm=$([ "$arch" = 90 ] && echo 233472 || echo 167936)
    occ=$(awk -v r="$regs" -v s="$smem" -v t="$THREADS" -v S="$smem_sm" 'BEGIN {
      wpb = t / 32; rw = int((r * 32 + 255) / 256) * 256
      b1 = int(int(65536 / rw) / wpb); b2 = int(64 / wpb); b3 = int(S / (s + 1024)); b = b1
      if (b2 < b) b = b2; if (b3 < b) b = b3; if (b > 32) b = 32
      printf "%d blocks x %d warps = %d of 64 warps (%.0f%%); limits: registers %d, warps %d, shared memory %d blocks",
        b, wpb, b * wpb, 100 * b * wpb / 64, b1, b2, b3 }')
    echo "sm_$arch $k: $regs registers, $smem bytes static shared memory, $occ"
    echo "  $(printf '%s\n' "$info" | grep -E 'stack frame' | sed 's/^ *//')"
    have=""
    needk=${!need}
    ldsm=LDSM_$grp
    case " ${!ldsm:-} " in *" $k "*) needk="$needk LDSM" ;; esac
    vec=VEC_$grp
    case " $(echo ${!vec:-}) " in *" $k "*) needk="$needk LDGSTS.E.BYPASS.128" ;; esac
    for o in $needk; do
      case $o in *.*) n=$(form "$o") ;; *) n=$(count "$o") ;; esac
      have="$have$n $o, "
      [ "$n" -gt 0 ] || { echo "check-tc-sass: sm_$arch $k has no $o" >&2; fail=1; }
    done
    echo "  SASS: ${have%, }; mix: $(printf '%s\n' "$ops" | head -14 | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
    # A here-string, not a pipe: grep -q exits at the first match, and under
    # pipefail printf's SIGPIPE would then fail the check at random.
    grep -q '0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads' <<<"$info" ||
      { echo "check-tc-sass: sm_$arch $k spills or uses a stack frame" >&2; fail=1; }
  done
 done
done
# The fatbin that ships (internal/gpu/kernels.fatbin, from build-kernels.sh's
# one translation unit) must hold the same: tensor-core code for sm_80 and
# sm_90, none for sm_70.
FATBIN=${FATBIN:-internal/gpu/kernels.fatbin}
if [ -f "$FATBIN" ]; then
  for k in $KERNELS; do
    for arch in 70 80 90; do
      n=$(cuobjdump --dump-sass -arch sm_$arch -fun "$k" "$FATBIN" | grep -c 'HMMA' || true)
      if { [ "$arch" = 70 ] && [ "$n" != 0 ]; } || { [ "$arch" != 70 ] && [ "$n" = 0 ]; }; then
        echo "check-tc-sass: $FATBIN: sm_$arch $k has $n HMMA" >&2
        fail=1
      fi
    done
  done
  echo "$FATBIN: the TF32 and bf16 kernels have HMMA for sm_80 and sm_90, none for sm_70"
fi
[ "$fail" = 0 ] && echo "check-tc-sass: ok (TF32 convolutions, flat forward, 1x1 kernels and linears: HMMA and LDGSTS, the forward, data and filter gradients LDSM, the 1x1 _v4 forms LDGSTS.E.BYPASS.128; bf16 convolutions and linears: HMMA.16816.F32.BF16 and LDSM; no spills)"
exit "$fail"
