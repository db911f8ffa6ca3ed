/*
 * The hot loop of restic's content-defined chunker (src/engine/chunker.ts keeps the rest):
 * find the first position whose Rabin fingerprint over the last 64 bytes has its low 20 bits
 * zero. One fingerprint step is a chain of dependent operations (xor, shift, table load, xor),
 * so a single scan is bound by that latency, not by the CPU's throughput. But at every
 * position where a cut is allowed the fingerprint depends only on the 64 bytes before it
 * (the chunker is linear and slides every older byte out exactly), so several independent
 * lanes can scan neighbouring blocks at once, each starting from the 64 bytes in front of its
 * block. The lowest lane that finds a match has the first cut: the boundaries are exactly
 * those of the one-lane scan, which is also what restic computes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <node_api.h>

#include "rabin.h"

#define WINDOW 64
/* restic's split mask: a cut where the low 20 bits of the fingerprint are zero. */
#define SPLIT_MASK ((UINT64_C(1) << 20) - 1)
#define LANES 4
/* Long enough that the 64-byte warm-up per lane is noise (0.4%), short enough that the work
 * lanes do past a cut in a lower lane stays small next to a chunk's ~1 MiB. */
#define BLOCK 16384

/* The fingerprint of the 64 bytes at p, as restic has it at the position after p[63]. */
static inline uint64_t warm(const uint8_t *p, const uint64_t *mod, unsigned shift) {
  uint64_t d = 0;
  for (int j = 0; j < WINDOW; j++) d = ((d << 8) | p[j]) ^ mod[d >> shift];
  return d;
}

static inline uint64_t slide(uint64_t d, uint8_t out_byte, uint8_t in_byte, const uint64_t *out,
                             const uint64_t *mod, unsigned shift) {
  d ^= out[out_byte];
  return ((d << 8) | in_byte) ^ mod[d >> shift];
}

/* First cut in buf[from, to) at a position >= eligible: the index after it, or -1. Needs
 * from >= 64 (the 64 bytes before from are part of the window). Leaves the fingerprint of the
 * cut, or of the last position scanned, in *fingerprint (restic reports it for a cut at the
 * maximum size too). */
static int64_t scan(const uint8_t *buf, int64_t from, int64_t to, int64_t eligible, const uint64_t *out,
                    const uint64_t *mod, unsigned shift, uint64_t *fingerprint) {
  int64_t i = from > eligible ? from : eligible;
  while (to - i >= (int64_t)LANES * BLOCK) {
    uint64_t d[LANES];
    int64_t hit[LANES];
    uint64_t hit_fp[LANES];
    for (int k = 0; k < LANES; k++) {
      d[k] = warm(buf + i + (int64_t)k * BLOCK - WINDOW, mod, shift);
      hit[k] = -1;
      hit_fp[k] = 0;
    }
    const uint8_t *p0 = buf + i;
    for (int64_t j = 0; j < BLOCK; j++) {
      for (int k = 0; k < LANES; k++) {
        const uint8_t *p = p0 + (int64_t)k * BLOCK + j;
        d[k] = slide(d[k], p[-WINDOW], p[0], out, mod, shift);
        if (__builtin_expect((d[k] & SPLIT_MASK) == 0, 0) && hit[k] < 0) {
          hit[k] = i + (int64_t)k * BLOCK + j;
          hit_fp[k] = d[k];
        }
      }
      /* Nothing any other lane finds can come before lane 0's cut. */
      if (__builtin_expect(hit[0] >= 0, 0)) break;
    }
    for (int k = 0; k < LANES; k++) {
      if (hit[k] >= 0) {
        *fingerprint = hit_fp[k];
        return hit[k] + 1;
      }
    }
    i += (int64_t)LANES * BLOCK;
    *fingerprint = d[LANES - 1];
  }
  if (i >= to) return -1;
  uint64_t d = warm(buf + i - WINDOW, mod, shift);
  for (; i < to; i++) {
    d = slide(d, buf[i - WINDOW], buf[i], out, mod, shift);
    if ((d & SPLIT_MASK) == 0) break;
  }
  *fingerprint = d;
  return i < to ? i + 1 : -1;
}

static bool typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "rabinScan: wrong argument type");
    return false;
  }
  return true;
}

static bool int64_value(napi_env env, napi_value value, int64_t *out) {
  if (napi_get_value_int64(env, value, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "rabinScan: positions must be numbers");
    return false;
  }
  return true;
}

/* rabinScan(buf: Uint8Array, from, to, eligible, tables: BigUint64Array(512) = out ‖ mod,
 *           shift: number, fingerprint: BigUint64Array(1)) -> number */
napi_value arca_rabin_scan(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "rabinScan: missing arguments");
    return NULL;
  }
  void *buf, *tables, *fingerprint;
  size_t buf_length, tables_length, fingerprint_length;
  int64_t from, to, eligible, shift;
  if (!typed_array(env, argv[0], napi_uint8_array, &buf, &buf_length) || !int64_value(env, argv[1], &from) ||
      !int64_value(env, argv[2], &to) || !int64_value(env, argv[3], &eligible) ||
      !typed_array(env, argv[4], napi_biguint64_array, &tables, &tables_length) ||
      !int64_value(env, argv[5], &shift) ||
      !typed_array(env, argv[6], napi_biguint64_array, &fingerprint, &fingerprint_length))
    return NULL;
  if (from < WINDOW || to < from || (uint64_t)to > buf_length || tables_length != 512 || shift < 32 ||
      shift > 45 || fingerprint_length < 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rabinScan: arguments out of range");
    return NULL;
  }
  const uint64_t *t = tables;
  int64_t cut = scan(buf, from, to, eligible, t, t + 256, (unsigned)shift, fingerprint);
  napi_value result;
  if (napi_create_int64(env, cut, &result) != napi_ok) return NULL;
  return result;
}
