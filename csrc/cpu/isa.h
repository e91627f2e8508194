// Which SIMD path the CPU kernels run, chosen at each call from the CPU's features and
// SPARSEGNN_ISA, and the target regions the paths are compiled in.
//
// SPARSEGNN_ISA=avx512|avx2|portable forces a path; unset, empty or "auto" takes the widest the CPU
// has. Asking for a path the CPU lacks (or an unknown name) is an error that names the paths it
// has: a forced path never silently becomes another, so a benchmark or test labelled "avx2" ran
// AVX2. SPARSEGNN_DISABLE_VNNI=1 keeps the INT8 kernel off vpdpbusd (AVX-512 VNNI and AVX-VNNI):
// it then uses vpmaddwd on 256 bits.
#pragma once

#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sparsegnn/cpu_features.h"

// Functions defined between BEGIN and END are compiled for that ISA (the rest of a translation
// unit stays baseline x86-64, so the module loads on any CPU). Headers must be included before.
#define SPARSEGNN_BEGIN_AVX512 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,fma,f16c\")")
#define SPARSEGNN_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define SPARSEGNN_BEGIN_AVX_VNNI \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avxvnni\")")
#define SPARSEGNN_END_TARGET _Pragma("GCC pop_options")

namespace sparsegnn {
namespace cpu {

// Reads an environment switch at call time ("1", "true", "yes" mean on).
inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  return std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "yes") == 0;
}

enum class Isa : int { Portable = 0, Avx2 = 1, Avx512 = 2 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

inline bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return cpu_has_avx512();
    case Isa::Avx2: return cpu_has_avx2();
    default: return true;
  }
}

// The paths this CPU can run, widest first.
inline std::vector<std::string> isa_paths() {
  std::vector<std::string> out;
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Portable})
    if (isa_supported(isa)) out.push_back(isa_name(isa));
  return out;
}

// The ISA of the latest float kernel call (-1: none yet), for tests and benchmarks to check that a
// forced path was the one that ran.
inline std::atomic<int> last_isa{-1};

// The path a call would run now (SPARSEGNN_ISA read here).
inline Isa requested_isa() {
  const char* v = std::getenv("SPARSEGNN_ISA");
  Isa isa = cpu_has_avx512() ? Isa::Avx512 : cpu_has_avx2() ? Isa::Avx2 : Isa::Portable;
  if (v != nullptr && *v != '\0' && std::strcmp(v, "auto") != 0) {
    std::string paths;
    for (const auto& p : isa_paths()) paths += (paths.empty() ? "" : ", ") + p;
    bool known = false;
    for (Isa cand : {Isa::Avx512, Isa::Avx2, Isa::Portable}) {
      if (std::strcmp(v, isa_name(cand)) == 0) {
        TORCH_CHECK(isa_supported(cand), "SPARSEGNN_ISA=", v, " asks for a path this CPU lacks; it has: ", paths,
                    " (unset SPARSEGNN_ISA or set it to 'auto' for the widest)");
        isa = cand;
        known = true;
      }
    }
    TORCH_CHECK(known, "SPARSEGNN_ISA must be one of 'avx512', 'avx2', 'portable' or 'auto', got '", v,
                "'; this CPU has: ", paths);
  }
  return isa;
}

// requested_isa(), recorded as the latest float kernel call's path.
inline Isa selected_isa() {
  const Isa isa = requested_isa();
  last_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return isa;
}

inline std::string last_isa_name() {
  const int v = last_isa.load(std::memory_order_relaxed);
  return v < 0 ? "" : isa_name(static_cast<Isa>(v));
}

// INT8 kernels: vpdpbusd on 512 bits (AVX-512 VNNI) or 256 bits (AVX-VNNI), vpmaddwd on 256 bits
// (AVX2), or the portable loop.
enum class Int8Path : int { Portable = 0, Avx2 = 1, AvxVnni = 2, Avx512Vnni = 3 };

inline const char* int8_path_name(Int8Path p) {
  switch (p) {
    case Int8Path::Avx512Vnni: return "avx512-vnni";
    case Int8Path::AvxVnni: return "avx-vnni";
    case Int8Path::Avx2: return "avx2";
    default: return "portable";
  }
}

inline std::atomic<int> last_int8_path{-1};

// The INT8 kernel of the selected ISA: AVX-512 takes its VNNI kernel where the CPU has it, else
// the AVX2 ones (every AVX-512 CPU has AVX2); AVX2 takes AVX-VNNI where the CPU has it.
inline Int8Path selected_int8_path() {
  const Isa isa = requested_isa();
  const bool vnni = !env_flag("SPARSEGNN_DISABLE_VNNI");
  Int8Path p = Int8Path::Portable;
  if (isa == Isa::Avx512 && vnni && cpu_has_vnni())
    p = Int8Path::Avx512Vnni;
  else if (isa != Isa::Portable && cpu_has_avx2())
    p = vnni && cpu_has_avx_vnni() ? Int8Path::AvxVnni : Int8Path::Avx2;
  last_int8_path.store(static_cast<int>(p), std::memory_order_relaxed);
  return p;
}

inline std::string last_int8_path_name() {
  const int v = last_int8_path.load(std::memory_order_relaxed);
  return v < 0 ? "" : int8_path_name(static_cast<Int8Path>(v));
}

}  // namespace cpu
}  // namespace sparsegnn
