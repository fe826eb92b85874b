// N-API bindings of the training kernels. Every buffer is a Float32Array (a view into
// the tfjs wasm heap or a cpu-backend array); sizes are checked against the shapes
// before any kernel runs, so a wrong call throws instead of touching memory it must not.
#include <node_api.h>
#include <omp.h>
#include <cstdint>
#include <string>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include "kernels.h"

namespace {

using namespace repghost;

/**
 * Flush-to-zero and denormals-are-zero while a kernel runs. Training produces
 * denormal activations and gradients, and x86 takes microcode assists on them: a
 * 1568x240x80 product took 130 ms instead of 1.7 ms on such data. Values below
 * 1.2e-38 become 0, far below any tolerance here. The worker threads keep the mode;
 * the JS thread gets its own mode back after each call (JS doubles need denormals).
 */
class FlushDenormals {
#if defined(__SSE__)
  unsigned saved_;
  static int poolThreads_;

 public:
  FlushDenormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | 0x8040);
    const int n = omp_get_max_threads();
    if (poolThreads_ != n) {
#pragma omp parallel num_threads(n)
      _mm_setcsr(_mm_getcsr() | 0x8040);
      poolThreads_ = n;
    }
  }
  ~FlushDenormals() { _mm_setcsr(saved_); }
#endif
};
#if defined(__SSE__)
int FlushDenormals::poolThreads_ = 0;
#endif

struct Args {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  }
  void fail(const std::string& msg) {
    if (!failed) napi_throw_error(env, "ERR_REPGHOST_NATIVE", msg.c_str());
    failed = true;
  }
  bool isNull(size_t i) {
    if (i >= argc) return true;
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  /** Float32Array argument i with at least `need` elements (nullptr for null if allowed). */
  float* f32(size_t i, int64_t need, bool optional = false) {
    if (failed) return nullptr;
    if (optional && isNull(i)) return nullptr;
    bool is = false;
    if (i < argc) napi_is_typedarray(env, argv[i], &is);
    if (!is) { fail("argument " + std::to_string(i) + " must be a Float32Array"); return nullptr; }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (type != napi_float32_array) { fail("argument " + std::to_string(i) + " must be a Float32Array"); return nullptr; }
    if (static_cast<int64_t>(length) < need) {
      fail("argument " + std::to_string(i) + " has " + std::to_string(length) + " elements, needs " + std::to_string(need));
      return nullptr;
    }
    return static_cast<float*>(data);
  }
  /** Element count of the Float32Array argument i (0 and a thrown error when it is not one). */
  int64_t length(size_t i) {
    size_t len = 0;
    if (f32(i, 0)) napi_get_typedarray_info(env, argv[i], nullptr, &len, nullptr, nullptr, nullptr);
    return static_cast<int64_t>(len);
  }
  int64_t i64(size_t i) {
    if (failed) return 0;
    double v = 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok || v < 0 || v > 9e15 || v != static_cast<int64_t>(v)) {
      fail("argument " + std::to_string(i) + " must be a non-negative integer");
      return 0;
    }
    return static_cast<int64_t>(v);
  }
  double f64(size_t i) {
    double v = 0;
    if (!failed && (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok)) fail("argument " + std::to_string(i) + " must be a number");
    return v;
  }
  bool flag(size_t i) {
    bool v = false;
    if (!failed && (i >= argc || napi_get_value_bool(env, argv[i], &v) != napi_ok)) fail("argument " + std::to_string(i) + " must be a boolean");
    return v;
  }
};

napi_value undefined(napi_env env) { napi_value u; napi_get_undefined(env, &u); return u; }

// gemm(A, B, C, M, N, K, transA, transB)
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  const int64_t M = a.i64(3), N = a.i64(4), K = a.i64(5);
  const bool tA = a.flag(6), tB = a.flag(7);
  const float* A = a.f32(0, M * K);
  const float* B = a.f32(1, K * N);
  float* C = a.f32(2, M * N);
  if (!a.failed) gemm(A, B, C, M, N, K, tA, tB);
  return undefined(env);
}

// bnForward(x, C, gamma, beta, z|null, relu, eps, y, mean, var)
napi_value BnForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  const int64_t C = a.i64(1);
  const int64_t n = a.length(0);
  const float* x = a.f32(0, n);
  if (!a.failed && (C == 0 || n % C)) a.fail("x length is not a multiple of the channel count");
  const float* gamma = a.f32(2, C);
  const float* beta = a.f32(3, C);
  const float* z = a.f32(4, n, true);
  const bool relu = a.flag(5);
  const double eps = a.f64(6);
  float* y = a.f32(7, n);
  float* mean = a.f32(8, C);
  float* var = a.f32(9, C);
  if (!a.failed) bnForward(x, n / C, C, gamma, beta, z, relu, eps, y, mean, var);
  return undefined(env);
}

// bnBackward(dy, x, C, gamma, mean, var, y|null, eps, dx, dgamma, dbeta, dz|null)
napi_value BnBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  const int64_t C = a.i64(2);
  const int64_t n = a.length(1);
  const float* x = a.f32(1, n);
  if (!a.failed && (C == 0 || n % C)) a.fail("x length is not a multiple of the channel count");
  const float* dy = a.f32(0, n);
  const float* gamma = a.f32(3, C);
  const float* mean = a.f32(4, C);
  const float* var = a.f32(5, C);
  const float* y = a.f32(6, n, true);
  const double eps = a.f64(7);
  float* dx = a.f32(8, n);
  float* dg = a.f32(9, C);
  float* db = a.f32(10, C);
  float* dz = a.f32(11, n, true);
  if (!a.failed) bnBackward(dy, x, n / C, C, gamma, mean, var, y, eps, dx, dg, db, dz);
  return undefined(env);
}

/** `count` non-negative integers from the array at argument i. */
bool integers(Args& a, size_t i, uint32_t count, int64_t* v) {
  bool is = false;
  if (i < a.argc) napi_is_array(a.env, a.argv[i], &is);
  const std::string what = "geometry must be an array of " + std::to_string(count) + " non-negative integers";
  if (!is) { a.fail(what); return false; }
  for (uint32_t k = 0; k < count; k++) {
    napi_value e;
    double d = -1;
    if (napi_get_element(a.env, a.argv[i], k, &e) != napi_ok || napi_get_value_double(a.env, e, &d) != napi_ok || d < 0 || d > 1e9 || d != static_cast<int64_t>(d)) {
      a.fail(what);
      return false;
    }
    v[k] = static_cast<int64_t>(d);
  }
  return true;
}

/** Shared checks of a conv geometry (the kernels also bound every read by the input size). */
bool checkGeom(Args& a, int64_t sh, int64_t sw, int64_t KH, int64_t KW) {
  if (sh == 0 || sw == 0 || KH == 0 || KW == 0) { a.fail("geometry: zero stride or kernel"); return false; }
  return true;
}

/** Depthwise geometry [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] at argument i. */
bool geom(Args& a, size_t i, DwGeom& g) {
  int64_t v[12];
  if (!integers(a, i, 12, v)) return false;
  g = DwGeom{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  return checkGeom(a, g.sh, g.sw, g.KH, g.KW);
}

/** Dense conv geometry [B, H, W, CI, OH, OW, KH, KW, sh, sw, top, left, CO] at argument i. */
bool convGeom(Args& a, size_t i, ConvGeom& g) {
  int64_t v[13];
  if (!integers(a, i, 13, v)) return false;
  g = ConvGeom{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
  return checkGeom(a, g.sh, g.sw, g.KH, g.KW);
}

napi_value ConvForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  ConvGeom g;
  if (!convGeom(a, 2, g)) return undefined(env);
  const float* x = a.f32(0, g.B * g.H * g.W * g.CI);
  const float* w = a.f32(1, g.KH * g.KW * g.CI * g.CO);
  float* y = a.f32(3, g.B * g.OH * g.OW * g.CO);
  if (!a.failed) convForward(x, w, g, y);
  return undefined(env);
}

napi_value ConvFilterGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  ConvGeom g;
  if (!convGeom(a, 2, g)) return undefined(env);
  const float* x = a.f32(0, g.B * g.H * g.W * g.CI);
  const float* dy = a.f32(1, g.B * g.OH * g.OW * g.CO);
  float* dw = a.f32(3, g.KH * g.KW * g.CI * g.CO);
  if (!a.failed) convFilterGrad(x, dy, g, dw);
  return undefined(env);
}

napi_value DwForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  DwGeom g;
  if (!geom(a, 2, g)) return undefined(env);
  const float* x = a.f32(0, g.B * g.H * g.W * g.C);
  const float* w = a.f32(1, g.KH * g.KW * g.C);
  float* y = a.f32(3, g.B * g.OH * g.OW * g.C);
  if (!a.failed) dwForward(x, w, g, y);
  return undefined(env);
}

napi_value DwInputGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  DwGeom g;
  if (!geom(a, 2, g)) return undefined(env);
  const float* dy = a.f32(0, g.B * g.OH * g.OW * g.C);
  const float* w = a.f32(1, g.KH * g.KW * g.C);
  float* dx = a.f32(3, g.B * g.H * g.W * g.C);
  if (!a.failed) dwInputGrad(dy, w, g, dx);
  return undefined(env);
}

napi_value DwFilterGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  DwGeom g;
  if (!geom(a, 2, g)) return undefined(env);
  const float* x = a.f32(0, g.B * g.H * g.W * g.C);
  const float* dy = a.f32(1, g.B * g.OH * g.OW * g.C);
  float* dw = a.f32(3, g.KH * g.KW * g.C);
  if (!a.failed) dwFilterGrad(x, dy, g, dw);
  return undefined(env);
}

// add(a, b, out)
napi_value Add(napi_env env, napi_callback_info info) {
  Args a(env, info);
  FlushDenormals ftz;
  const int64_t n = a.length(0);
  const float* x = a.f32(0, n);
  const float* y = a.f32(1, n);
  float* out = a.f32(2, n);
  if (!a.failed) add(x, y, out, n);
  return undefined(env);
}

// sgdStep(w, g, buf|null, lr, wd, momentum, dampening, nesterov, first)
napi_value SgdStep(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t n = a.length(0);
  float* w = a.f32(0, n);
  const float* g = a.f32(1, n);
  const double lr = a.f64(3), wd = a.f64(4), m = a.f64(5), damp = a.f64(6);
  float* buf = a.f32(2, n, m == 0);
  const bool nesterov = a.flag(7), first = a.flag(8);
  if (!a.failed) sgdStep(w, g, buf, n, lr, wd, m, damp, nesterov, first);
  return undefined(env);
}

// emaUpdate(ema, cur, d, c)
napi_value EmaUpdate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t n = a.length(0);
  float* ema = a.f32(0, n);
  const float* cur = a.f32(1, n);
  const double d = a.f64(2), c = a.f64(3);
  if (!a.failed) emaUpdate(ema, cur, n, d, c);
  return undefined(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t n = a.i64(0);
  if (!a.failed) setThreads(static_cast<int>(n < 1 ? 1 : n > 256 ? 256 : n));
  return undefined(env);
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, getThreads(), &v);
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
    {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnForward", nullptr, BnForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnBackward", nullptr, BnBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwForward", nullptr, DwForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwInputGrad", nullptr, DwInputGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwFilterGrad", nullptr, DwFilterGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"convFilterGrad", nullptr, ConvFilterGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"add", nullptr, Add, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"sgdStep", nullptr, SgdStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"emaUpdate", nullptr, EmaUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
