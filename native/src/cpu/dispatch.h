/* Picks the scalar or AVX2 version of an inner loop from kernels_simd.h at run time. */
#ifndef LB_CPU_DISPATCH_H
#define LB_CPU_DISPATCH_H

#include "common.h"
#include "kernels_simd.h"

#ifdef LB_HAVE_AVX2
#define LB_DISPATCH(name, ...) \
    (lb_simd_active >= LB_SIMD_AVX2 ? lb_avx2_##name(__VA_ARGS__) : lb_scalar_##name(__VA_ARGS__))
#else
#define LB_DISPATCH(name, ...) lb_scalar_##name(__VA_ARGS__)
#endif

#endif
