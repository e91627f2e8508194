// The double SpMM and segment_reduce kernels (spmm_impl.h; the ops are in spmm_cpu.cpp).
#include "spmm_impl.h"

SPARSEGNN_SPMM_INSTANCES(template, double)
