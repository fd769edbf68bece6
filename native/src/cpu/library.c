/* Library-wide state: last error per thread, version, SIMD dispatch level, threads. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef LB_VERSION_STRING
#define LB_VERSION_STRING "0.0.0"
#endif

static _Thread_local char last_error[1024];

lb_status lb_fail(lb_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void lb_clear_error(void) { last_error[0] = '\0'; }

const char *lb_last_error(void) { return last_error; }

const char *lb_version(void) { return LB_VERSION_STRING; }

int32_t lb_nop(int32_t x) { return x; }

lb_status lb_cpu_read_sum(const uint64_t *p, int64_t words, uint64_t *sum) {
    if (!p || !sum) return lb_fail(LB_ERR_INVALID_ARGUMENT, "read_sum: NULL buffer");
    if (words < 0) return lb_fail(LB_ERR_INVALID_ARGUMENT, "read_sum: %lld words", (long long)words);
    uint64_t total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (words > LB_OMP_MIN_WORK)
    for (int64_t i = 0; i < words; i++) total += p[i];
    *sum = total;
    return LB_OK;
}

static int32_t detect_simd(void) {
#if defined(__x86_64__) && defined(LB_HAVE_AVX2)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("f16c")) return LB_SIMD_SCALAR;
#ifdef LB_HAVE_AVX512 /* the AVX-512 level also runs every AVX2 kernel */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni"))
        return LB_SIMD_AVX512;
#endif
    return LB_SIMD_AVX2;
#else
    return LB_SIMD_SCALAR;
#endif
}

static int32_t simd_max = -1;
int32_t lb_simd_active = LB_SIMD_SCALAR;

/* Runs when the library is loaded; LOWBIT_SIMD=scalar|avx2 lowers the level. */
__attribute__((constructor)) static void lb_init(void) {
    simd_max = detect_simd();
    lb_simd_active = simd_max;
    const char *env = getenv("LOWBIT_SIMD");
    if (env && strcmp(env, "scalar") == 0) lb_simd_active = LB_SIMD_SCALAR;
    if (env && strcmp(env, "avx2") == 0 && simd_max > LB_SIMD_AVX2) lb_simd_active = LB_SIMD_AVX2;
}

int32_t lb_cpu_simd_level(void) { return lb_simd_active; }

int32_t lb_cpu_simd_level_max(void) { return simd_max; }

lb_status lb_cpu_set_simd_level(int32_t level) {
    if (level < LB_SIMD_SCALAR || level > simd_max)
        return lb_fail(LB_ERR_UNSUPPORTED, "SIMD level %d is not available on this CPU/build (max %d)",
                       (int)level, (int)simd_max);
    lb_simd_active = level;
    return LB_OK;
}

int32_t lb_cpu_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

lb_status lb_cpu_set_num_threads(int32_t threads) {
    if (threads < 1) return lb_fail(LB_ERR_INVALID_ARGUMENT, "threads must be >= 1, got %d", (int)threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    return LB_OK;
}

void lb_pack_codes(const uint8_t *codes, int64_t count, int32_t bits, uint32_t *row, int64_t j0) {
    if (bits == 8 && (j0 & 3) == 0) { /* byte aligned: little-endian bytes are the stream */
        memcpy((uint8_t *)row + j0, codes, (size_t)count);
        return;
    }
    if (bits == 4 && (j0 & 7) == 0) {
        uint32_t *dst = row + (j0 >> 3);
        int64_t full = count >> 3;
        for (int64_t i = 0; i < full; i++) {
            uint64_t v;
            memcpy(&v, codes + 8 * i, 8);
            v = (v | (v >> 4)) & 0x00FF00FF00FF00FFull;
            v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
            v = (v | (v >> 16)) & 0x00000000FFFFFFFFull;
            dst[i] = (uint32_t)v;
        }
        codes += 8 * full;
        j0 += 8 * full;
        count -= 8 * full;
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t bit = (j0 + i) * bits;
        uint64_t v = (uint64_t)codes[i] << (bit & 31);
        row[bit >> 5] |= (uint32_t)v;
        if ((bit & 31) + bits > 32) row[(bit >> 5) + 1] |= (uint32_t)(v >> 32);
    }
}

void lb_unpack_codes(const uint32_t *row, int64_t j0, int64_t count, int32_t bits, uint8_t *codes) {
    if (bits == 8 && (j0 & 3) == 0) {
        memcpy(codes, (const uint8_t *)row + j0, (size_t)count);
        return;
    }
    for (int64_t i = 0; i < count; i++) codes[i] = (uint8_t)lb_get_code(row, j0 + i, bits);
}
