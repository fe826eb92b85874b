{
  "targets": [
    {
      "target_name": "repghost_kernels",
      "sources": ["src/addon.cc", "src/gemm.cc", "src/batch_norm.cc", "src/depthwise.cc", "src/conv.cc", "src/optim.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-std=c++17", "-fno-math-errno"],
      "ldflags": ["-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
