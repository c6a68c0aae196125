# cnnctl with its CUDA engine.
#
#   docker build -t cnnctl-cuda .
#   docker run --rm --gpus all cnnctl-cuda device
#   docker run --rm --gpus all -v "$PWD/data:/data" -v "$PWD/runs:/runs" cnnctl-cuda \
#       train --model resnet20 --data imagefolder:/data/cifar10-train-jpeg.tar.gz --device cuda --out /runs/r20
#
# Needs the NVIDIA Container Toolkit on the host; the driver (libcuda) comes from
# the host through --gpus. The kernels are compiled for sm_70/80/90 plus PTX.

ARG CUDA_VERSION=12.4.1
ARG UBUNTU=ubuntu22.04

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
ARG GO_VERSION=1.26.8
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl git make gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:/usr/local/cuda/bin:$PATH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# libcuda.so at link time: the toolkit's stub (the real one is the host's, at run time).
ENV CGO_LDFLAGS="-L/usr/local/cuda/lib64/stubs"
RUN make kernels && make cuda VERSION=docker

FROM nvidia/cuda:${CUDA_VERSION}-base-${UBUNTU}
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /src/bin/cnnctl-cuda /usr/local/bin/cnnctl
ENTRYPOINT ["cnnctl"]
CMD ["--help"]
