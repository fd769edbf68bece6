/* The NVIDIA driver calls CudaProbe makes (libcuda.so.1), reporting one emulated device. */
#include <cstring>

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return ordinal == 0 ? 0 : 101; }
int cuDeviceGetName(char *name, int len, int) {
    strncpy(name, "host emulation (not a GPU)", (size_t)len);
    name[len - 1] = '\0';
    return 0;
}
}
