/* Stand-in for cuda_fp16.h in the host emulation: IEEE half through the compiler's _Float16. */
#pragma once
#include "cuda_host.h"
struct __half {
    _Float16 v;
};
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half_rn(float f) { return __half{(_Float16)f}; }
