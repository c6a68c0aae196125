#!/usr/bin/env bash
# Cuts testdata/cifar10-jpeg-subset.tar.gz, the class-balanced CIFAR-10 subset
# that scripts/test-accuracy.sh trains on, from the 50,000 CIFAR-10 training
# JPEGs (../shared/data/cifar10-train-jpeg.tar.gz, train/<class>/NNNN.jpg,
# NNNN = 0000..4999 per class; see testdata/README.md).
#
#   train/<class>/0000.jpg … 0399.jpg   the first TRAIN (400) images of each class
#   test/<class>/4900.jpg … 4999.jpg    the last TEST (100) images of each class
#
# The two parts never overlap. The tarball is written reproducibly (sorted
# names, fixed mtime and owner, gzip -n), so the same source, tar and gzip give
# the same bytes; testdata/README.md records the sha256.
#
#   scripts/cut-cifar-subset.sh [SOURCE.tar.gz] [OUT.tar.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/data/cifar10-train-jpeg.tar.gz}
out=${2:-testdata/cifar10-jpeg-subset.tar.gz}
ntrain=${TRAIN:-400}
ntest=${TEST:-100}
[ -f "$src" ] || { echo "cut-cifar-subset: $src not found" >&2; exit 1; }
classes="airplane automobile bird cat deer dog frog horse ship truck"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$src" -C "$tmp" --wildcards 'train/*/*.jpg'
mkdir -p "$tmp/out"
for c in $classes; do
  [ -d "$tmp/train/$c" ] || { echo "cut-cifar-subset: $src has no train/$c/" >&2; exit 1; }
  mkdir -p "$tmp/out/train/$c" "$tmp/out/test/$c"
  for ((i = 0; i < ntrain; i++)); do
    mv "$tmp/train/$c/$(printf %04d $i).jpg" "$tmp/out/train/$c/"
  done
  for ((i = 5000 - ntest; i < 5000; i++)); do
    mv "$tmp/train/$c/$(printf %04d $i).jpg" "$tmp/out/test/$c/"
  done
done
tar --sort=name --mtime=2020-01-01 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX \
  -C "$tmp/out" -cf - train test | gzip -n -9 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out: $((10 * ntrain)) train + $((10 * ntest)) test images, $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)"
