{
  "targets": [
    {
      "target_name": "repghost_jpeg",
      "sources": ["src/jpeg_addon.cc"],
      "cflags_cc": ["-O2", "-std=c++17"],
      "libraries": ["-ljpeg"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
