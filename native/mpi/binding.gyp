{
  "targets": [
    {
      "target_name": "repghost_mpi",
      "sources": ["src/mpi_addon.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "<!@(mpicc --showme:compile)"],
      "ldflags": ["<!@(mpicc --showme:link)"],
      "libraries": ["<!@(mpicc --showme:link)", "-ldl"],
      "defines": ["NAPI_VERSION=8", "OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1"]
    }
  ]
}
