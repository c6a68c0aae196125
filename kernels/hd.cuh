// hd.cuh: CNNCTL_HD marks index math compiled for both the GPU and the host tests.
#ifndef CNNCTL_HD_CUH
#define CNNCTL_HD_CUH
#ifdef __CUDACC__
#define CNNCTL_HD __host__ __device__ __forceinline__
#else
#define CNNCTL_HD static inline
#endif
#endif
