/* Group-wise weight quantization (min-max or MSE-searched ranges), dequantization and per-group
 * code sums. One block per (row, group); the MSE search gives each of its 80 candidate ranges a
 * thread that sums the squared error in the CPU's order, so the chosen range, and hence every
 * code, equals the CPU's. */
#include "common.cuh"

#include <float.h>
#include <string.h>

#define MSE_GRID 100 /* shrink factors 1 - i / MSE_GRID for i < MSE_STEPS, as the CPU */
#define MSE_STEPS 80
#define GROUP_THREADS 128

/* Reports: index * 2 + kind, kind 0 = non-finite weight, 1 = fp16 scale overflow. */
enum { BAD_NON_FINITE = 0, BAD_RANGE = 1 };

/* Packs the codes of a group (gs weights at wg) into its words of the row's stream; groups start
 * on word boundaries (gs * bits is a multiple of 32, or the group is the whole row). */
__device__ void write_group_codes(const float *wg, int64_t gs, int32_t bits, float s, float z, uint32_t *words,
                                  int64_t nwords) {
    const float r = lb_reciprocal(s), maxq = (float)((1 << bits) - 1);
    for (int64_t wd = threadIdx.x; wd < nwords; wd += blockDim.x) {
        const int64_t bit0 = wd * 32, first = bit0 / bits;
        int64_t last = (bit0 + 32 + bits - 1) / bits;
        if (last > gs) last = gs;
        uint32_t word = 0;
        for (int64_t j = first; j < last; j++) {
            const uint32_t code = (uint32_t)lb_code(wg[j], s, r, z, maxq);
            const int64_t shift = j * bits - bit0;
            word |= shift >= 0 ? code << shift : code >> -shift;
        }
        words[wd] = word;
    }
}

__device__ double group_sq_error(const float *w, int64_t len, float s, float z, float maxq) {
    const float r = lb_reciprocal(s);
    double err = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const float q = lb_code(w[i], s, r, z, maxq);
        const double d = __dsub_rn((double)__fmul_rn(__fsub_rn(q, z), s), (double)w[i]);
        err = __dadd_rn(err, __dmul_rn(d, d));
    }
    return err;
}

/* Words of group g of a row: its offset in the row and its count. */
__device__ __forceinline__ void group_words(const lb_qweight &q, int64_t g, int64_t *offset, int64_t *count) {
    const int64_t wpr = lb_words_per_row(q.k, q.bits);
    *offset = g * q.group_size * q.bits / 32;
    *count = q.group_size == q.k ? wpr : (int64_t)q.group_size * q.bits / 32;
}

__global__ void quantize_kernel(const float *w, int64_t ldw, lb_qweight q, int symmetric, int range,
                                unsigned long long *flag) {
    const int64_t groups = q.k / q.group_size, item = blockIdx.x, r = item / groups, g = item % groups;
    const int64_t gs = q.group_size;
    const float *wg = w + r * ldw + g * gs;
    float lo, hi;
    const unsigned long long at = (unsigned long long)(r * q.k + g * gs);
    if (!lb_block_range(wg, gs, &lo, &hi)) {
        if (threadIdx.x == 0) lb_flag_report(flag, at * 2 + BAD_NON_FINITE);
        return;
    }
    __shared__ float cand_scale[MSE_STEPS], cand_zero[MSE_STEPS];
    __shared__ double cand_err[MSE_STEPS];
    __shared__ float scale, zero;
    __shared__ int ok;
    if (range == LB_RANGE_MINMAX) {
        if (threadIdx.x == 0) ok = lb_range_params(lo, hi, q.bits, symmetric, q.scale_dtype, &scale, &zero);
    } else {
        const int i = threadIdx.x;
        if (i < MSE_STEPS) {
            const float shrink = __fsub_rn(1.0f, __fdiv_rn((float)i, (float)MSE_GRID));
            float s, z;
            int fits = lb_range_params(__fmul_rn(shrink, lo), __fmul_rn(shrink, hi), q.bits, symmetric, q.scale_dtype, &s, &z);
            cand_scale[i] = s;
            cand_zero[i] = z;
            cand_err[i] = fits ? group_sq_error(wg, gs, s, z, (float)((1 << q.bits) - 1)) : INFINITY;
        }
        __syncthreads();
        if (threadIdx.x == 0) { /* the first (widest) wins ties, as on the CPU */
            double best = INFINITY;
            ok = 0;
            for (int c = 0; c < MSE_STEPS; c++)
                if (cand_err[c] < best) {
                    best = cand_err[c];
                    scale = cand_scale[c];
                    zero = cand_zero[c];
                    ok = 1;
                }
        }
    }
    __syncthreads();
    if (!ok) {
        if (threadIdx.x == 0) lb_flag_report(flag, at * 2 + BAD_RANGE);
        return;
    }
    if (threadIdx.x == 0) {
        lb_store_param(q.scales, q.scale_dtype, r * groups + g, scale);
        lb_store_param(q.zeros, q.scale_dtype, r * groups + g, zero);
    }
    int64_t offset, count;
    group_words(q, g, &offset, &count);
    write_group_codes(wg, gs, q.bits, scale, zero, q.codes + r * lb_words_per_row(q.k, q.bits) + offset, count);
}

static lb_status check_weights_args(const char *what, const float *w, int64_t ldw, const lb_qweight *q) {
    lb_status st = lb_check_qweight(q, what, 1);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: weights pointer is NULL", what);
    if (ldw < q->k) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: ldw %lld < k %lld", what, (long long)ldw, (long long)q->k);
    if (q->n * (q->k / q->group_size) > INT32_MAX)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: more than 2^31 groups", what);
    return LB_OK;
}

extern "C" lb_status lb_cuda_quantize_weights(const float *w, int64_t ldw, const lb_qweight *out, int32_t symmetric,
                                              int32_t range, cudaStream_t stream) {
    const char *what = "cuda_quantize_weights";
    lb_status st = check_weights_args(what, w, ldw, out);
    if (st) return st;
    if (symmetric != 0 && symmetric != 1) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: symmetric must be 0 or 1", what);
    if (range != LB_RANGE_MINMAX && range != LB_RANGE_MSE)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: range mode %d is not supported (0 min-max, 1 mse)", what, (int)range);
    lb_flag flag;
    if ((st = lb_flag_open(&flag, stream, what))) return st;
    const int64_t blocks = out->n * (out->k / out->group_size);
    quantize_kernel<<<(unsigned)blocks, GROUP_THREADS, 0, stream>>>(w, ldw, *out, symmetric, range, flag.dev);
    unsigned long long first;
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first != ~0ULL) {
        const unsigned long long at = first / 2;
        if (first % 2 == BAD_NON_FINITE)
            return lb_fail(LB_ERR_NON_FINITE, "%s: NaN or Inf in the group starting at weight [%lld, %lld]", what,
                           (long long)(at / out->k), (long long)(at % out->k));
        return lb_fail(LB_ERR_RANGE, "%s: the scale of the group starting at [%lld, %lld] exceeds fp16's 65504; use fp32 scales",
                       what, (long long)(at / out->k), (long long)(at % out->k));
    }
    lb_clear_error();
    return LB_OK;
}

/* Reports groups whose given scale is not finite and > 0 or whose zero is outside [0, maxq]. */
__global__ void check_params_kernel(lb_qweight q, unsigned long long *flag) {
    const int64_t count = q.n * (q.k / q.group_size), maxq = (1 << q.bits) - 1;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        const float s = lb_load_param(q.scales, q.scale_dtype, i), z = lb_load_param(q.zeros, q.scale_dtype, i);
        if (!(s > 0.0f) || !isfinite(s) || !(z >= 0.0f && z <= (float)maxq)) lb_flag_report(flag, (unsigned long long)i);
    }
}

__global__ void quantize_with_params_kernel(const float *w, int64_t ldw, lb_qweight q, unsigned long long *flag) {
    const int64_t groups = q.k / q.group_size, item = blockIdx.x, r = item / groups, g = item % groups;
    const int64_t gs = q.group_size;
    const float *wg = w + r * ldw + g * gs;
    int finite = 1;
    for (int64_t j = threadIdx.x; j < gs; j += blockDim.x) finite &= isfinite(wg[j]) != 0;
    if (!__syncthreads_and(finite)) {
        if (threadIdx.x == 0) lb_flag_report(flag, (unsigned long long)r);
        return;
    }
    int64_t offset, count;
    group_words(q, g, &offset, &count);
    write_group_codes(wg, gs, q.bits, lb_load_param(q.scales, q.scale_dtype, item), lb_load_param(q.zeros, q.scale_dtype, item),
                      q.codes + r * lb_words_per_row(q.k, q.bits) + offset, count);
}

extern "C" lb_status lb_cuda_quantize_weights_with_params(const float *w, int64_t ldw, const lb_qweight *q,
                                                          cudaStream_t stream) {
    const char *what = "cuda_quantize_weights_with_params";
    lb_status st = check_weights_args(what, w, ldw, q);
    if (st) return st;
    const int64_t groups = q->n * (q->k / q->group_size);
    lb_flag flag;
    unsigned long long first;
    if ((st = lb_flag_open(&flag, stream, what))) return st;
    check_params_kernel<<<lb_blocks(groups < (1 << 20) ? groups : (1 << 20), 256), 256, 0, stream>>>(*q, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first != ~0ULL) {
        const size_t bytes = q->scale_dtype == LB_DTYPE_F16 ? 2 : 4;
        unsigned char s[4] = {0}, z[4] = {0};
        LB_CUDA_TRY(cudaMemcpy(s, (const char *)q->scales + first * bytes, bytes, cudaMemcpyDeviceToHost), what);
        LB_CUDA_TRY(cudaMemcpy(z, (const char *)q->zeros + first * bytes, bytes, cudaMemcpyDeviceToHost), what);
        float sv, zv;
        if (bytes == 2) {
            sv = __half2float(*(__half *)s);
            zv = __half2float(*(__half *)z);
        } else {
            memcpy(&sv, s, 4);
            memcpy(&zv, z, 4);
        }
        const int64_t per_row = q->k / q->group_size;
        return lb_fail(LB_ERR_INVALID_ARGUMENT,
                       "%s: row %lld group %lld has scale %g, zero %g (need scale > 0 finite, 0 <= zero <= %d)", what,
                       (long long)(first / per_row), (long long)(first % per_row), (double)sv, (double)zv, (1 << q->bits) - 1);
    }
    if ((st = lb_flag_open(&flag, stream, what))) return st;
    quantize_with_params_kernel<<<(unsigned)groups, GROUP_THREADS, 0, stream>>>(w, ldw, *q, flag.dev);
    if ((st = lb_flag_close(&flag, stream, &first, what))) return st;
    if (first != ~0ULL) return lb_fail(LB_ERR_NON_FINITE, "%s: NaN or Inf in weight row %lld", what, (long long)first);
    lb_clear_error();
    return LB_OK;
}

__global__ void dequantize_kernel(lb_qweight q, float *w, int64_t ldw) {
    const int64_t total = q.n * q.k, wpr = lb_words_per_row(q.k, q.bits), groups = q.k / q.group_size;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / q.k, j = i % q.k, p = r * groups + j / q.group_size;
        const float s = lb_load_param(q.scales, q.scale_dtype, p), z = lb_load_param(q.zeros, q.scale_dtype, p);
        w[r * ldw + j] = __fmul_rn(__fsub_rn((float)lb_get_code(q.codes + r * wpr, j, q.bits), z), s);
    }
}

extern "C" lb_status lb_cuda_dequantize_weights(const lb_qweight *q, float *w, int64_t ldw, cudaStream_t stream) {
    const char *what = "cuda_dequantize_weights";
    lb_status st = lb_check_qweight(q, what, 1);
    if (st) return st;
    if (!w) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: output pointer is NULL", what);
    if (ldw < q->k) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: ldw %lld < k %lld", what, (long long)ldw, (long long)q->k);
    const int64_t total = q->n * q->k;
    dequantize_kernel<<<lb_blocks(total < (1 << 26) ? total : (1 << 26), 256), 256, 0, stream>>>(*q, w, ldw);
    return lb_cuda_launched(what);
}

__global__ void code_sums_kernel(lb_qweight q, int32_t *sums) {
    const int64_t groups = q.k / q.group_size, total = q.n * groups, wpr = lb_words_per_row(q.k, q.bits);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / groups, j0 = (i % groups) * q.group_size;
        int32_t acc = 0;
        for (int64_t j = j0; j < j0 + q.group_size; j++) acc += (int32_t)lb_get_code(q.codes + r * wpr, j, q.bits);
        sums[i] = acc;
    }
}

extern "C" lb_status lb_cuda_weight_code_sums(const lb_qweight *w, int32_t *sums, cudaStream_t stream) {
    const char *what = "cuda_weight_code_sums";
    lb_status st = lb_check_qweight(w, what, 1);
    if (st) return st;
    if (!sums) return lb_fail(LB_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if ((int64_t)w->group_size * 255 > INT32_MAX) return lb_fail(LB_ERR_UNSUPPORTED, "%s: group of %d codes may overflow int32", what, (int)w->group_size);
    const int64_t total = w->n * (w->k / w->group_size);
    code_sums_kernel<<<lb_blocks(total < (1 << 22) ? total : (1 << 22), 256), 256, 0, stream>>>(*w, sums);
    return lb_cuda_launched(what);
}
