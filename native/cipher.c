/*
 * restic's sealed-blob crypto (AES-256-CTR, and Poly1305-AES as its MAC) through the OpenSSL
 * that Node itself links (its symbols are exported to addons). Node's createCipheriv builds a
 * JavaScript cipher object per call and returns a new buffer per update, and Node has no
 * Poly1305 at all (libsodium took 50 ms to load in every thread): for a backup of many small
 * files that cost more than the cryptography. Here each thread keeps one OpenSSL context per
 * algorithm and re-keys it per call, writing straight into the caller's buffer.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cipher.h"

/* One set of contexts per Node environment (the main thread and each worker thread). */
typedef struct {
  EVP_CIPHER_CTX *ctr;
  EVP_CIPHER_CTX *ecb;
  EVP_MAC *poly1305;
  EVP_MAC_CTX *mac;
  /* Set once a context has its cipher: later calls only re-key it (no cipher lookup). */
  bool ctr_ready;
  bool ecb_ready;
} contexts;

static void free_contexts(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  contexts *c = data;
  EVP_CIPHER_CTX_free(c->ctr);
  EVP_CIPHER_CTX_free(c->ecb);
  EVP_MAC_CTX_free(c->mac);
  EVP_MAC_free(c->poly1305);
  free(c);
}

static contexts *get_contexts(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return data;
  contexts *c = calloc(1, sizeof *c);
  if (c != NULL) {
    c->ctr = EVP_CIPHER_CTX_new();
    c->ecb = EVP_CIPHER_CTX_new();
    c->poly1305 = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_POLY1305, NULL);
    c->mac = c->poly1305 != NULL ? EVP_MAC_CTX_new(c->poly1305) : NULL;
  }
  if (c == NULL || c->ctr == NULL || c->ecb == NULL || c->mac == NULL ||
      napi_set_instance_data(env, c, free_contexts, NULL) != napi_ok) {
    if (c != NULL) free_contexts(env, c, NULL);
    napi_throw_error(env, "ERR_CRYPTO", "cannot set up OpenSSL's AES and Poly1305");
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

static bool aes128(napi_env env, contexts *c, const uint8_t *key, const uint8_t *in, uint8_t *out);

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
  if (EVP_EncryptInit_ex(c->ctr, c->ctr_ready ? NULL : EVP_aes_256_ctr(), NULL, key, iv) != 1) {
    napi_throw_error(env, "ERR_CRYPTO", "AES-256-CTR setup failed");
    return NULL;
  }
  c->ctr_ready = true;
  run(env, c->ctr, input, input_length, out + at);
  return NULL;
}

/* One AES-128 block of `in` under `key` into `out`; false after throwing. */
static bool aes128(napi_env env, contexts *c, const uint8_t *key, const uint8_t *in, uint8_t *out) {
  if (EVP_EncryptInit_ex(c->ecb, c->ecb_ready ? NULL : EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
      EVP_CIPHER_CTX_set_padding(c->ecb, 0) != 1) {
    napi_throw_error(env, "ERR_CRYPTO", "AES-128 setup failed");
    return false;
  }
  c->ecb_ready = true;
  return run(env, c->ecb, in, 16, out);
}

/* poly1305Aes(macK: 16 bytes, macR: 16 bytes, nonce: 16 bytes, msg, out: 16 bytes): restic's
 * MAC, Poly1305 with the key r ‖ AES-128(macK, nonce). OpenSSL clamps r itself, so keys
 * stored unclamped (restic >= 0.17) give the same MAC. */
napi_value arca_poly1305_aes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_argv(env, info, 5, argv)) return NULL;
  uint8_t *k, *r, *nonce, *msg, *out;
  size_t k_length, r_length, nonce_length, msg_length, out_length;
  if (!bytes_arg(env, argv[0], &k, &k_length) || !bytes_arg(env, argv[1], &r, &r_length) ||
      !bytes_arg(env, argv[2], &nonce, &nonce_length) || !bytes_arg(env, argv[3], &msg, &msg_length) ||
      !bytes_arg(env, argv[4], &out, &out_length))
    return NULL;
  if (k_length != 16 || r_length != 16 || nonce_length != 16 || out_length < 16) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "poly1305Aes: keys, nonce and output must be 16 bytes");
    return NULL;
  }
  contexts *c = get_contexts(env);
  if (c == NULL) return NULL;
  uint8_t key[32];
  memcpy(key, r, 16);
  if (!aes128(env, c, k, nonce, key + 16)) {
    OPENSSL_cleanse(key, sizeof key);
    return NULL;
  }
  size_t written = 0;
  bool good = EVP_MAC_init(c->mac, key, sizeof key, NULL) == 1;
  for (size_t at = 0; good && at < msg_length;) {
    size_t step = msg_length - at > (size_t)INT_MAX ? (size_t)INT_MAX : msg_length - at;
    good = EVP_MAC_update(c->mac, msg + at, step) == 1;
    at += step;
  }
  good = good && EVP_MAC_final(c->mac, out, &written, 16) == 1 && written == 16;
  OPENSSL_cleanse(key, sizeof key);
  if (!good) napi_throw_error(env, "ERR_CRYPTO", "Poly1305 failed");
  return NULL;
}
