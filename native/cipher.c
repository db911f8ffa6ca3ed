/*
 * AES for restic's sealed blobs, through the OpenSSL that Node itself links (its symbols are
 * exported to addons). Node's createCipheriv builds a JavaScript cipher object per call and
 * returns a new buffer per update: for a backup of many small files that cost more than the
 * encryption itself. Here each thread keeps one OpenSSL context and re-keys it per call,
 * writing straight into the caller's buffer.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <node_api.h>
#include <openssl/evp.h>

#include "cipher.h"

/* One set of contexts per Node environment (the main thread and each worker thread). */
typedef struct {
  EVP_CIPHER_CTX *ctr;
  EVP_CIPHER_CTX *ecb;
} contexts;

static void free_contexts(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  contexts *c = data;
  EVP_CIPHER_CTX_free(c->ctr);
  EVP_CIPHER_CTX_free(c->ecb);
  free(c);
}

static contexts *get_contexts(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return data;
  contexts *c = calloc(1, sizeof *c);
  if (c != NULL) {
    c->ctr = EVP_CIPHER_CTX_new();
    c->ecb = EVP_CIPHER_CTX_new();
  }
  if (c == NULL || c->ctr == NULL || c->ecb == NULL ||
      napi_set_instance_data(env, c, free_contexts, NULL) != napi_ok) {
    if (c != NULL) free_contexts(env, c, NULL);
    napi_throw_error(env, "ERR_OUT_OF_MEMORY", "cannot allocate OpenSSL cipher contexts");
    return NULL;
  }
  return c;
}

static bool bytes_arg(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *p;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Uint8Array");
    return false;
  }
  *data = p;
  return true;
}

static bool get_argv(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return false;
  }
  return true;
}

/* Runs `input` through `ctx` (already keyed) into `out`; false after throwing. */
static bool run(napi_env env, EVP_CIPHER_CTX *ctx, const uint8_t *input, size_t length, uint8_t *out) {
  while (length > 0) {
    int step = length > INT_MAX / 2 ? INT_MAX / 2 : (int)length;
    int written = 0;
    if (EVP_EncryptUpdate(ctx, out, &written, input, step) != 1 || written != step) {
      napi_throw_error(env, "ERR_CRYPTO", "AES failed");
      return false;
    }
    input += step;
    out += step;
    length -= (size_t)step;
  }
  return true;
}

/* aesCtrInto(key: 32 bytes, iv: 16 bytes, input, out, at): out[at, at + input.length) =
 * AES-256-CTR(key, iv) of input, the counter being the whole IV as a big-endian number (as in
 * Go's and OpenSSL's CTR). `out` may be `input` itself with at = 0. */
napi_value arca_aes_ctr_into(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_argv(env, info, 5, argv)) return NULL;
  uint8_t *key, *iv, *input, *out;
  size_t key_length, iv_length, input_length, out_length;
  int64_t at;
  if (!bytes_arg(env, argv[0], &key, &key_length) || !bytes_arg(env, argv[1], &iv, &iv_length) ||
      !bytes_arg(env, argv[2], &input, &input_length) || !bytes_arg(env, argv[3], &out, &out_length))
    return NULL;
  if (napi_get_value_int64(env, argv[4], &at) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "offset must be a number");
    return NULL;
  }
  if (key_length != 32 || iv_length != 16 || at < 0 || (uint64_t)at > out_length ||
      input_length > out_length - (size_t)at) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aesCtrInto: bad key, IV or output size");
    return NULL;
  }
  contexts *c = get_contexts(env);
  if (c == NULL) return NULL;
  if (EVP_EncryptInit_ex(c->ctr, EVP_aes_256_ctr(), NULL, key, iv) != 1) {
    napi_throw_error(env, "ERR_CRYPTO", "AES-256-CTR setup failed");
    return NULL;
  }
  run(env, c->ctr, input, input_length, out + at);
  return NULL;
}

/* aes128Block(key: 16 bytes, block: 16 bytes, out: 16 bytes): one AES-128 block (ECB). */
napi_value arca_aes128_block(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_argv(env, info, 3, argv)) return NULL;
  uint8_t *key, *block, *out;
  size_t key_length, block_length, out_length;
  if (!bytes_arg(env, argv[0], &key, &key_length) || !bytes_arg(env, argv[1], &block, &block_length) ||
      !bytes_arg(env, argv[2], &out, &out_length))
    return NULL;
  if (key_length != 16 || block_length != 16 || out_length < 16) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "aes128Block: key and block must be 16 bytes");
    return NULL;
  }
  contexts *c = get_contexts(env);
  if (c == NULL) return NULL;
  if (EVP_EncryptInit_ex(c->ecb, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
      EVP_CIPHER_CTX_set_padding(c->ecb, 0) != 1) {
    napi_throw_error(env, "ERR_CRYPTO", "AES-128 setup failed");
    return NULL;
  }
  run(env, c->ecb, block, 16, out);
  return NULL;
}
