/* Stand-in for the CUDA runtime header in the host emulation (see cuda_host.h). */
#pragma once
#include "cuda_host.h"
