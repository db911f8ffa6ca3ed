{
  "targets": [
    {
      "target_name": "arca_native",
      "sources": ["native/arca_native.c", "native/rabin.c", "native/cipher.c"],
      "cflags": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
