/* Internal helpers of the CUDA kernels: status from CUDA errors, fp16/bf16 loads, the quantizer's
 * rounding written so nvcc cannot contract it (the CPU build uses -ffp-contract=off; the
 * codes must agree bit for bit), warp reductions and a one-flag data check. */
#ifndef LB_CUDA_COMMON_CUH
#define LB_CUDA_COMMON_CUH

#include "checks.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

/* Records a CUDA error (with the operation) and returns LB_ERR_CUDA. */
lb_status lb_cuda_fail(cudaError_t err, const char *what);

/* The last launch's error as a status (LB_OK when it launched). */
lb_status lb_cuda_launched(const char *what);

#define LB_CUDA_TRY(call, what)                                \
    do {                                                       \
        cudaError_t lb_err_ = (call);                          \
        if (lb_err_ != cudaSuccess) return lb_cuda_fail(lb_err_, what); \
    } while (0)

/* A device int the kernels lower with atomicMin to report the first bad item; read back with a
 * stream synchronization. INT64 indices are reported as int64 via atomicMin on unsigned long long. */
typedef struct {
    unsigned long long *dev;
} lb_flag;
lb_status lb_flag_open(lb_flag *f, cudaStream_t stream, const char *what);
/* After the checking kernel's launch: frees the flag, waits for the stream and returns the launch's
 * or the wait's error, else LB_OK with *first the smallest reported index (UINT64_MAX: none). */
lb_status lb_flag_close(lb_flag *f, cudaStream_t stream, unsigned long long *first, const char *what);

__device__ __forceinline__ void lb_flag_report(unsigned long long *flag, unsigned long long index) { atomicMin(flag, index); }

__device__ __forceinline__ float lb_load_param(const void *p, int32_t dtype, int64_t i) {
    return dtype == LB_DTYPE_F16 ? __half2float(((const __half *)p)[i]) : ((const float *)p)[i];
}

__device__ __forceinline__ void lb_store_param(void *p, int32_t dtype, int64_t i, float v) {
    if (dtype == LB_DTYPE_F16) ((__half *)p)[i] = __float2half_rn(v);
    else ((float *)p)[i] = v;
}

__device__ __forceinline__ float lb_to_float(float x) { return x; }
__device__ __forceinline__ float lb_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float lb_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

/* The quantizer's w / s (see lb_reciprocal in the CPU common.h): w * fp32(1 / s), or w / s where 1 / s overflows. */
__device__ __forceinline__ float lb_reciprocal(float s) {
    float r = __fdiv_rn(1.0f, s);
    return isfinite(r) ? r : 0.0f;
}
__device__ __forceinline__ float lb_scaled(float w, float s, float r) { return r != 0.0f ? __fmul_rn(w, r) : __fdiv_rn(w, s); }

/* clamp(rint(w / s) + z, 0, maxq) as a float. */
__device__ __forceinline__ float lb_code(float w, float s, float r, float z, float maxq) {
    float q = __fadd_rn(rintf(lb_scaled(w, s, r)), z);
    return q < 0.0f ? 0.0f : (q > maxq ? maxq : q);
}

__device__ __forceinline__ float lb_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double lb_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float lb_warp_min(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float lb_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Min and max over a block (blockDim.x a multiple of 32, at most 1024), starting from each thread's
 * lo and hi; every thread gets the block's. *finite: whether all threads passed finite != 0. */
__device__ __forceinline__ void lb_block_minmax(float *lo, float *hi, int *finite) {
    __shared__ float s_lo[32], s_hi[32];
    __shared__ int s_finite;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (threadIdx.x == 0) s_finite = 1;
    __syncthreads();
    if (!*finite) s_finite = 0;
    float l = lb_warp_min(*lo), h = lb_warp_max(*hi);
    if (lane == 0) {
        s_lo[warp] = l;
        s_hi[warp] = h;
    }
    __syncthreads();
    l = s_lo[0];
    h = s_hi[0];
    for (int i = 1; i < warps; i++) {
        l = fminf(l, s_lo[i]);
        h = fmaxf(h, s_hi[i]);
    }
    *lo = l;
    *hi = h;
    *finite = s_finite;
    __syncthreads(); /* the shared slots may be reused by the caller's next reduction */
}

/* Asymmetric min-max range of v[0, len) including 0, with the block-wide finite check. */
__device__ __forceinline__ int lb_block_range(const float *v, int64_t len, float *lo, float *hi) {
    float l = INFINITY, h = -INFINITY;
    int finite = 1;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        const float x = v[j];
        finite &= isfinite(x) != 0;
        l = fminf(l, x);
        h = fmaxf(h, x);
    }
    lb_block_minmax(&l, &h, &finite);
    *lo = fminf(l, 0.0f);
    *hi = fmaxf(h, 0.0f);
    return finite;
}

/* Scale and zero of [lo, hi] (lo <= 0 <= hi) exactly as the CPU's range_params: doubles, the scale
 * rounded to its storage dtype before the zero is derived. Returns 0 if an fp16 scale overflows. */
__device__ __forceinline__ int lb_range_params(float lo, float hi, int32_t bits, int symmetric, int32_t dtype,
                                               float *scale, float *zero) {
    const double maxq = (double)((1 << bits) - 1);
    double s;
    float z;
    if (symmetric) {
        s = __ddiv_rn(fmax(-(double)lo, (double)hi), (double)((1 << (bits - 1)) - 1));
        z = (float)(1 << (bits - 1));
    } else {
        s = __ddiv_rn(__dsub_rn((double)hi, (double)lo), maxq);
        z = 0.0f;
    }
    float sf = __double2float_rn(s);
    if (sf == 0.0f) sf = 1.0f;
    if (dtype == LB_DTYPE_F16) {
        if (sf > 65504.0f) return 0;
        sf = __half2float(__float2half_rn(sf));
        if (sf == 0.0f) sf = 0x1p-24f;
    }
    if (!symmetric) {
        z = rintf(__fdiv_rn(-lo, sf));
        z = z < 0.0f ? 0.0f : (z > (float)maxq ? (float)maxq : z);
    }
    *scale = sf;
    *zero = z;
    return 1;
}

/* op (associative, commutative) over the block (blockDim.x a multiple of 32, at most 1024) of each
 * thread's v; every thread gets the result. */
template <typename T, typename Op> __device__ __forceinline__ T lb_block_reduce(T v, Op op) {
    __shared__ T slots[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) slots[warp] = v;
    __syncthreads();
    T r = slots[0];
    for (int i = 1; i < warps; i++) r = op(r, slots[i]);
    __syncthreads(); /* the slots may be reused by the caller's next reduction */
    return r;
}

__device__ __forceinline__ double lb_block_sum(double v) {
    return lb_block_reduce(v, [](double a, double b) { return a + b; });
}

/* NaN ignored, as the CPU's comparisons do. */
__device__ __forceinline__ float lb_block_max(float v) {
    return lb_block_reduce(v, [](float a, float b) { return fmaxf(a, b); });
}

/* Up to this many activation rows the GEMMs run their one-pass CUDA-core kernels; above, tensor cores. */
#define LB_SMALL_M 16

static inline unsigned lb_blocks(int64_t items, int threads) { return (unsigned)((items + threads - 1) / threads); }

#endif
