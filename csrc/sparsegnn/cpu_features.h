// Run-time CPU feature detection, shared by the CPU kernels and the module's info functions.
#pragma once

namespace sparsegnn {

inline bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

inline bool cpu_has_vnni() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

// AVX2 with FMA and F16C (every x86-64 CPU since Haswell / Zen 1).
inline bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

// AVX-VNNI: the 256-bit VEX vpdpbusd (Alder Lake, Sapphire Rapids, Zen 5), on top of AVX2.
inline bool cpu_has_avx_vnni() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

}  // namespace sparsegnn
