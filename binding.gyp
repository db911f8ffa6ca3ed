{
  "targets": [
    {
      "target_name": "arca_native",
      "sources": ["native/arca_native.c"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
