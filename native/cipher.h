/* AES and Poly1305 for sealed blobs through Node's OpenSSL (cipher.c), registered by arca_native.c. */
#ifndef ARCA_CIPHER_H
#define ARCA_CIPHER_H

#include <node_api.h>

napi_value arca_aes_ctr_into(napi_env env, napi_callback_info info);
napi_value arca_poly1305_aes(napi_env env, napi_callback_info info);

#endif
