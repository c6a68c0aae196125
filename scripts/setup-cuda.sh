#!/usr/bin/env bash
# setup-cuda.sh installs the CUDA toolchain (nvcc, cuda.h, libcuda.so) from Debian 12's
# contrib/non-free components. Idempotent: safe to run again.
set -euo pipefail

LIST=/etc/apt/sources.list.d/cnnctl-contrib.sources
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

if command -v nvcc >/dev/null 2>&1; then
	echo "nvcc already installed: $(nvcc --version | tail -n 1)"
	exit 0
fi

if [ ! -f "$LIST" ]; then
	echo "adding $LIST (bookworm, bookworm-updates: contrib non-free)"
	$SUDO tee "$LIST" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

$SUDO apt-get -o DPkg::Lock::Timeout=600 update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends nvidia-cuda-toolkit
nvcc --version
