// N-API binding of the few Open MPI calls data-parallel training needs: init, rank, size,
// in-place sum allreduce / reduce (float32, float64), broadcast of any typed array,
// barrier, abort, finalize. Built only where `mpicc` exists (scripts/build-native.mjs);
// everything else in repghost works without it. Every collective blocks the JS thread
// until it completes, which is what a training step wants.
#include <dlfcn.h>
#include <mpi.h>
#include <node_api.h>
#include <string>

namespace {

bool g_initialized = false;

napi_value Undefined(napi_env env) { napi_value u; napi_get_undefined(env, &u); return u; }
napi_value Number(napi_env env, double v) { napi_value r; napi_create_double(env, v, &r); return r; }
napi_value Bool(napi_env env, bool v) { napi_value r; napi_get_boolean(env, v, &r); return r; }

napi_value Throw(napi_env env, const std::string& msg) {
  napi_throw_error(env, "ERR_REPGHOST_MPI", msg.c_str());
  return nullptr;
}

/** Throws a JS error for a failed MPI call (only reached when errors are not fatal). */
bool Check(napi_env env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return true;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  Throw(env, std::string(what) + " failed: " + std::string(text, len));
  return false;
}

bool RequireInit(napi_env env) {
  if (!g_initialized) Throw(env, "MPI is not initialized: call init() first");
  return g_initialized;
}

struct View { void* data = nullptr; size_t length = 0; size_t bytes = 0; napi_typedarray_type type; };

/** The typed array argument `i`, or false with a thrown error. */
bool TypedArg(napi_env env, napi_value v, View* out) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) { Throw(env, "argument must be a typed array"); return false; }
  napi_get_typedarray_info(env, v, &out->type, &out->length, &out->data, nullptr, nullptr);
  size_t elem = 1;
  switch (out->type) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: elem = 1;
  }
  out->bytes = out->length * elem;
  return true;
}

/** The MPI datatype of a summable float array, or MPI_DATATYPE_NULL with a thrown error. */
MPI_Datatype FloatType(napi_env env, const View& v) {
  if (v.type == napi_float32_array) return MPI_FLOAT;
  if (v.type == napi_float64_array) return MPI_DOUBLE;
  Throw(env, "sum reductions take a Float32Array or a Float64Array");
  return MPI_DATATYPE_NULL;
}

size_t Args(napi_env env, napi_callback_info info, napi_value* argv, size_t max) {
  size_t argc = max;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  return argc;
}

int IntArg(napi_env env, napi_value* argv, size_t argc, size_t i, int fallback) {
  if (i >= argc) return fallback;
  int32_t v = fallback;
  if (napi_get_value_int32(env, argv[i], &v) != napi_ok) return fallback;
  return v;
}

// init(): MPI_Init once. Open MPI loads its transport plugins with dlopen and they expect
// libmpi's symbols to be global; a Node addon is loaded RTLD_LOCAL, so libmpi is re-opened
// RTLD_GLOBAL first (the path comes from the loaded library itself).
napi_value Init(napi_env env, napi_callback_info) {
  if (g_initialized) return Undefined(env);
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init), &info) && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
  int done = 0;
  MPI_Initialized(&done);
  if (!done) {
    int provided = 0;
    if (!Check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SINGLE, &provided), "MPI_Init")) return nullptr;
  }
  g_initialized = true;
  return Undefined(env);
}

napi_value Rank(napi_env env, napi_callback_info) {
  if (!RequireInit(env)) return nullptr;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return Number(env, r);
}

napi_value Size(napi_env env, napi_callback_info) {
  if (!RequireInit(env)) return nullptr;
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return Number(env, s);
}

// allreduce(buf): element-wise sum over all ranks, in place.
napi_value Allreduce(napi_env env, napi_callback_info info) {
  if (!RequireInit(env)) return nullptr;
  napi_value argv[1];
  if (Args(env, info, argv, 1) < 1) return Throw(env, "allreduce(buf) needs a buffer");
  View v;
  if (!TypedArg(env, argv[0], &v)) return nullptr;
  MPI_Datatype t = FloatType(env, v);
  if (t == MPI_DATATYPE_NULL) return nullptr;
  if (v.length > static_cast<size_t>(INT32_MAX)) return Throw(env, "buffer too large for one allreduce");
  if (!Check(env, MPI_Allreduce(MPI_IN_PLACE, v.data, static_cast<int>(v.length), t, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce")) return nullptr;
  return Undefined(env);
}

// reduce(buf, root): element-wise sum into root's buffer, in place (other ranks' buffers unchanged).
napi_value Reduce(napi_env env, napi_callback_info info) {
  if (!RequireInit(env)) return nullptr;
  napi_value argv[2];
  size_t argc = Args(env, info, argv, 2);
  if (argc < 1) return Throw(env, "reduce(buf, root) needs a buffer");
  View v;
  if (!TypedArg(env, argv[0], &v)) return nullptr;
  MPI_Datatype t = FloatType(env, v);
  if (t == MPI_DATATYPE_NULL) return nullptr;
  if (v.length > static_cast<size_t>(INT32_MAX)) return Throw(env, "buffer too large for one reduce");
  const int root = IntArg(env, argv, argc, 1, 0);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const void* send = rank == root ? MPI_IN_PLACE : v.data;
  void* recv = rank == root ? v.data : nullptr;
  if (!Check(env, MPI_Reduce(send, recv, static_cast<int>(v.length), t, MPI_SUM, root, MPI_COMM_WORLD), "MPI_Reduce")) return nullptr;
  return Undefined(env);
}

// broadcast(buf, root): root's bytes into every rank's buffer (any typed array, same size everywhere).
napi_value Broadcast(napi_env env, napi_callback_info info) {
  if (!RequireInit(env)) return nullptr;
  napi_value argv[2];
  size_t argc = Args(env, info, argv, 2);
  if (argc < 1) return Throw(env, "broadcast(buf, root) needs a buffer");
  View v;
  if (!TypedArg(env, argv[0], &v)) return nullptr;
  if (v.bytes > static_cast<size_t>(INT32_MAX)) return Throw(env, "buffer too large for one broadcast");
  const int root = IntArg(env, argv, argc, 1, 0);
  if (!Check(env, MPI_Bcast(v.data, static_cast<int>(v.bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast")) return nullptr;
  return Undefined(env);
}

napi_value Barrier(napi_env env, napi_callback_info) {
  if (!RequireInit(env)) return nullptr;
  if (!Check(env, MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier")) return nullptr;
  return Undefined(env);
}

// abort(code): ends every rank of the job (mpirun exits non-zero).
napi_value Abort(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = Args(env, info, argv, 1);
  const int code = IntArg(env, argv, argc, 0, 1);
  if (g_initialized) MPI_Abort(MPI_COMM_WORLD, code);
  return Undefined(env);
}

napi_value Finalize(napi_env env, napi_callback_info) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_initialized && !finalized) {
    if (!Check(env, MPI_Finalize(), "MPI_Finalize")) return nullptr;
  }
  return Undefined(env);
}

napi_value Initialized(napi_env env, napi_callback_info) { return Bool(env, g_initialized); }

napi_value Version(napi_env env, napi_callback_info) {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  napi_value r;
  napi_create_string_utf8(env, text, len, &r);
  return r;
}

napi_value Module(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
    {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"rank", nullptr, Rank, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"size", nullptr, Size, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"allreduce", nullptr, Allreduce, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"broadcast", nullptr, Broadcast, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"barrier", nullptr, Barrier, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"abort", nullptr, Abort, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"finalize", nullptr, Finalize, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"initialized", nullptr, Initialized, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Module)
