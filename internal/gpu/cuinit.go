//go:build cuda

package gpu

/*
#cgo linux CFLAGS: -I/usr/local/cuda/include
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64 -L/usr/local/cuda/lib64/stubs -lcuda -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <cuda.h>

// gorgonia.org/cu calls cuInit in its package init and exits the process
// when it fails, so a binary importing it would die before main on a
// machine with the driver library but no GPU. This definition of cuInit, in
// the executable, takes the place of libcuda's for every caller: it calls
// the real one, records the result for New and Devices to report, and
// returns success so that cu's init carries on.
static int cnnctl_init_called;
static CUresult cnnctl_init_result;

CUresult CUDAAPI cuInit(unsigned int flags)
{
	if (cnnctl_init_called)
		return cnnctl_init_result == CUDA_SUCCESS ? CUDA_SUCCESS : cnnctl_init_result;
	cnnctl_init_called = 1;
	CUresult (*real)(unsigned int) = (CUresult(*)(unsigned int))dlsym(RTLD_NEXT, "cuInit");
	if (real == NULL)
		cnnctl_init_result = CUDA_ERROR_NOT_INITIALIZED;
	else
		cnnctl_init_result = real(flags);
	return CUDA_SUCCESS;
}

static CUresult cnnctl_init_status(void)
{
	if (!cnnctl_init_called)
		cuInit(0);
	return cnnctl_init_result;
}

static const char *cnnctl_error_string(CUresult r)
{
	const char *s = NULL;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || s == NULL)
		return "unknown CUDA error";
	return s;
}

static const char *cnnctl_error_name(CUresult r)
{
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL)
		return "CUDA_ERROR_UNKNOWN";
	return s;
}
*/
import "C"

import "fmt"

// initError is the result of the driver's cuInit, as the interposer above
// recorded it: nil when the driver found a GPU.
func initError() error {
	r := C.cnnctl_init_status()
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%w: cuInit: %s (%s)", ErrNoDevice, C.GoString(C.cnnctl_error_string(r)), C.GoString(C.cnnctl_error_name(r)))
}
