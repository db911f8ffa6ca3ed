/* The chunker's hot loop (rabin.c), registered by arca_native.c. */
#ifndef ARCA_RABIN_H
#define ARCA_RABIN_H

#include <node_api.h>

napi_value arca_rabin_scan(napi_env env, napi_callback_info info);

#endif
