# cnnctl — see README.md. `make demo` runs the main job, `make test` the tests.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN       := bin
DEMO_OUT  ?= runs/demo-lenet
FUZZTIME  ?= 20s

.PHONY: all build cuda kernels setup demo test test-go test-cuda test-torch test-accuracy fuzz bench bench-cpu soak clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/cnnctl ./cmd/cnnctl

# The CUDA kernels as one fatbin (embedded by internal/gpu); a no-op with a
# message where nvcc is missing.
kernels:
	scripts/build-kernels.sh

# bin/cnnctl-cuda: the GPU engine plus the CPU fallback, one binary.
cuda: kernels
	$(GO) build -tags cuda -ldflags '$(LDFLAGS)' -o $(BIN)/cnnctl-cuda ./cmd/cnnctl

setup:
	scripts/setup.sh

# The main job: a short real training run of LeNet on Fashion-MNIST (GPU if
# present), then its evaluation on the test split.
demo:
	scripts/setup.sh demo
	scripts/demo.sh $(DEMO_OUT)

# Everything CI runs.
test: setup test-go test-torch test-cuda test-accuracy fuzz

# CNNCTL_REQUIRE_TORCH=1: the float64 referee's test (internal/torchcheck,
# minutes) fails instead of skipping where torch is missing.
test-go:
	$(GO) vet ./...
	CNNCTL_REQUIRE_TORCH=1 $(GO) test -count=1 -timeout 30m ./...

# Equivalence with PyTorch (python3-torch): fixtures generated, never skipped here.
test-torch:
	scripts/test-torch.sh
	scripts/test-gpu-check.sh

# The CUDA variant: kernels compiled, binary built, GPU tests built and run
# (they skip with a message where no GPU is present), CPU tests through the cuda build.
test-cuda:
	scripts/test-cuda.sh

# Each fuzz target for a bounded time, corpora in testdata/fuzz.
fuzz:
	scripts/test-fuzz.sh
	scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/...

# cnnctl vs PyTorch on this CPU, side by side, per-model ratios.
bench-cpu: build
	scripts/setup.sh bench
	scripts/bench-cpu.sh

# 20 epochs of LeNet on Fashion-MNIST: RSS and throughput must stay flat.
soak: build
	scripts/soak.sh

clean:
	rm -rf $(BIN) gpu-bundle internal/gpu/kernels.fatbin

# LeNet on Fashion-MNIST and on the CIFAR-10 JPEGs must reach their accuracy bars.
test-accuracy:
	scripts/test-accuracy.sh
