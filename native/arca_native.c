/*
 * The Linux syscalls restore and backup need that Node's fs module lacks or makes lossy:
 * nanosecond timestamps (also on symlinks), mknod, l*xattr and SEEK_DATA/SEEK_HOLE; and the
 * chunker's hot loop (rabin.c) and AES and Poly1305 for sealed blobs (cipher.c).
 * Every function is synchronous because each is one fast syscall; a thread-pool round
 * trip would cost more than the call itself.
 */

/* Before any include: glibc hides SEEK_DATA/SEEK_HOLE without _GNU_SOURCE, and the two
 * *_BITS make off_t and time_t 64 bits on 32-bit platforms too. */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#define _TIME_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "cipher.h"
#include "rabin.h"

_Static_assert(sizeof(time_t) == 8, "time_t must be 64 bits");
_Static_assert(sizeof(off_t) == 8, "off_t must be 64 bits");

/* The largest integer a JS number holds exactly (Number.MAX_SAFE_INTEGER). */
#define MAX_SAFE_INTEGER 9007199254740991.0

/* N-API calls only fail on misuse or a pending exception; this makes sure such a failure
 * reaches JS as an exception instead of being ignored. */
static bool ok(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *message = info != NULL && info->error_message != NULL ? info->error_message : "N-API call failed";
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, message);
  return false;
}

/* Throws like Node's own fs errors (code "ENOENT", errno -2, syscall, path, and the message
 * "ENOENT: no such file or directory, lsetxattr '/x'") so callers handle both alike. The
 * wording comes from libuv, which Node itself uses for these messages. */
static void throw_errno(napi_env env, int err, const char *syscall, const char *path, napi_value path_value) {
  char name[64];
  char description[256];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, description, sizeof description);

  const char *format = path != NULL ? "%s: %s, %s '%s'" : "%s: %s, %s";
  int length = snprintf(NULL, 0, format, name, description, syscall, path);
  char *message = length < 0 ? NULL : malloc((size_t)length + 1);
  if (message == NULL) {
    napi_throw_error(env, name, description);
    return;
  }
  snprintf(message, (size_t)length + 1, format, name, description, syscall, path);

  napi_value code_value, message_value, error, errno_value, syscall_value;
  bool built = ok(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value)) &&
               ok(env, napi_create_string_utf8(env, message, (size_t)length, &message_value)) &&
               ok(env, napi_create_error(env, code_value, message_value, &error)) &&
               ok(env, napi_create_int32(env, -err, &errno_value)) &&
               ok(env, napi_set_named_property(env, error, "errno", errno_value)) &&
               ok(env, napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value)) &&
               ok(env, napi_set_named_property(env, error, "syscall", syscall_value)) &&
               (path_value == NULL || ok(env, napi_set_named_property(env, error, "path", path_value)));
  free(message);
  if (built) napi_throw(env, error);
}

static void throw_type_error(napi_env env, const char *code, const char *format, const char *argument) {
  char message[256];
  snprintf(message, sizeof message, format, argument);
  napi_throw_type_error(env, code, message);
}

static bool get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  if (!ok(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))) return false;
  if (argc < expected) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "Missing arguments");
    return false;
  }
  return true;
}

/* A path or attribute name as a fresh NUL-terminated copy the caller frees. A Buffer is
 * taken byte for byte because Linux names need not be UTF-8. Returns NULL after throwing. */
static char *cstring_arg(napi_env env, napi_value value, const char *argument) {
  napi_valuetype type;
  if (!ok(env, napi_typeof(env, value, &type))) return NULL;

  char *copy;
  size_t length;
  if (type == napi_string) {
    if (!ok(env, napi_get_value_string_utf8(env, value, NULL, 0, &length))) return NULL;
    copy = malloc(length + 1);
    if (copy == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      return NULL;
    }
    if (!ok(env, napi_get_value_string_utf8(env, value, copy, length + 1, &length))) {
      free(copy);
      return NULL;
    }
  } else {
    bool is_buffer = false;
    if (!ok(env, napi_is_buffer(env, value, &is_buffer))) return NULL;
    if (!is_buffer) {
      throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type string or Buffer",
                       argument);
      return NULL;
    }
    void *data;
    if (!ok(env, napi_get_buffer_info(env, value, &data, &length))) return NULL;
    copy = malloc(length + 1);
    if (copy == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      return NULL;
    }
    if (length > 0) memcpy(copy, data, length);
    copy[length] = '\0';
  }

  /* The kernel would silently stop at an embedded NUL and act on a different name. */
  if (strlen(copy) != length) {
    free(copy);
    throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument must not contain null bytes", argument);
    return NULL;
  }
  return copy;
}

/* A JS number that is an integer in [min, max], clamped to what a double holds exactly. */
static bool integer_number_arg(napi_env env, napi_value value, const char *argument, double min, double max,
                               double *out) {
  napi_valuetype type;
  if (!ok(env, napi_typeof(env, value, &type))) return false;
  if (type != napi_number) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type number or bigint",
                     argument);
    return false;
  }
  if (!ok(env, napi_get_value_double(env, value, out))) return false;
  if (min < -MAX_SAFE_INTEGER) min = -MAX_SAFE_INTEGER;
  if (max > MAX_SAFE_INTEGER) max = MAX_SAFE_INTEGER;
  if (!isfinite(*out) || trunc(*out) != *out || *out < min || *out > max) {
    char message[256];
    snprintf(message, sizeof message, "The value of \"%s\" is out of range. It must be an integer >= %.0f and <= %.0f",
             argument, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  return true;
}

static void throw_bigint_range(napi_env env, const char *argument) {
  char message[256];
  snprintf(message, sizeof message, "The value of \"%s\" is out of range", argument);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
}

static bool is_bigint(napi_env env, napi_value value, bool *out) {
  napi_valuetype type;
  if (!ok(env, napi_typeof(env, value, &type))) return false;
  *out = type == napi_bigint;
  return true;
}

/* A number or BigInt in [min, max]. */
static bool int64_arg(napi_env env, napi_value value, const char *argument, int64_t min, int64_t max,
                      int64_t *out) {
  bool bigint;
  if (!is_bigint(env, value, &bigint)) return false;
  if (bigint) {
    bool lossless;
    if (!ok(env, napi_get_value_bigint_int64(env, value, out, &lossless))) return false;
    if (!lossless || *out < min || *out > max) {
      throw_bigint_range(env, argument);
      return false;
    }
    return true;
  }
  double number;
  if (!integer_number_arg(env, value, argument, (double)min, (double)max, &number)) return false;
  *out = (int64_t)number;
  return true;
}

/* A non-negative number or BigInt up to 2^64-1, for dev_t. */
static bool uint64_arg(napi_env env, napi_value value, const char *argument, uint64_t *out) {
  bool bigint;
  if (!is_bigint(env, value, &bigint)) return false;
  if (bigint) {
    bool lossless;
    if (!ok(env, napi_get_value_bigint_uint64(env, value, out, &lossless))) return false;
    if (!lossless) {
      throw_bigint_range(env, argument);
      return false;
    }
    return true;
  }
  double number;
  if (!integer_number_arg(env, value, argument, 0, MAX_SAFE_INTEGER, &number)) return false;
  *out = (uint64_t)number;
  return true;
}

static bool bool_arg(napi_env env, napi_value value, const char *argument, bool *out) {
  napi_valuetype type;
  if (!ok(env, napi_typeof(env, value, &type))) return false;
  if (type != napi_boolean) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type boolean", argument);
    return false;
  }
  return ok(env, napi_get_value_bool(env, value, out));
}

/* utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, noFollow) */
static napi_value arca_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;

  int64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec;
  bool no_follow;
  if (!int64_arg(env, argv[1], "atimeSec", INT64_MIN, INT64_MAX, &atime_sec) ||
      !int64_arg(env, argv[2], "atimeNsec", 0, 999999999, &atime_nsec) ||
      !int64_arg(env, argv[3], "mtimeSec", INT64_MIN, INT64_MAX, &mtime_sec) ||
      !int64_arg(env, argv[4], "mtimeNsec", 0, 999999999, &mtime_nsec) ||
      !bool_arg(env, argv[5], "noFollow", &no_follow))
    return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  const struct timespec times[2] = {
      {.tv_sec = (time_t)atime_sec, .tv_nsec = (long)atime_nsec},
      {.tv_sec = (time_t)mtime_sec, .tv_nsec = (long)mtime_nsec},
  };
  if (utimensat(AT_FDCWD, path, times, no_follow ? AT_SYMLINK_NOFOLLOW : 0) != 0)
    throw_errno(env, errno, "utimensat", path, argv[0]);
  free(path);
  return NULL;
}

/* mknod(path, mode, dev) */
static napi_value arca_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;

  int64_t mode;
  uint64_t dev;
  if (!int64_arg(env, argv[1], "mode", 0, UINT32_MAX, &mode) || !uint64_arg(env, argv[2], "dev", &dev))
    return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  if (mknod(path, (mode_t)mode, (dev_t)dev) != 0) throw_errno(env, errno, "mknod", path, argv[0]);
  free(path);
  return NULL;
}

/* lsetxattr(path, name, value) */
static napi_value arca_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;

  bool is_buffer = false;
  if (!ok(env, napi_is_buffer(env, argv[2], &is_buffer))) return NULL;
  if (!is_buffer) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be a Buffer", "value");
    return NULL;
  }
  void *value;
  size_t size;
  if (!ok(env, napi_get_buffer_info(env, argv[2], &value, &size))) return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  char *name = cstring_arg(env, argv[1], "name");
  if (name != NULL) {
    if (lsetxattr(path, name, value, size, 0) != 0) throw_errno(env, errno, "lsetxattr", path, argv[0]);
    free(name);
  }
  free(path);
  return NULL;
}

/* The two xattr reads share one shape: ask for the size, then read into that much room. */
typedef ssize_t (*sized_read)(const char *path, const char *name, char *buffer, size_t size);

static ssize_t read_value(const char *path, const char *name, char *buffer, size_t size) {
  return lgetxattr(path, name, buffer, size);
}

static ssize_t read_names(const char *path, const char *name, char *buffer, size_t size) {
  return llistxattr(path, buffer, size);
}

/* Calls `fetch` with a buffer that fits. The data can grow between the size probe and the
 * read (another process adding attributes), which ERANGE reports, so probe again. Returns
 * the length with *out to free, or -1 with errno set. */
static ssize_t read_sized(sized_read fetch, const char *path, const char *name, char **out) {
  for (;;) {
    ssize_t size = fetch(path, name, NULL, 0);
    if (size < 0) return -1;
    /* +1 so an empty result still gets a real allocation to hand back. */
    char *buffer = malloc((size_t)size + 1);
    if (buffer == NULL) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t length = size == 0 ? 0 : fetch(path, name, buffer, (size_t)size);
    if (length >= 0) {
      *out = buffer;
      return length;
    }
    int err = errno;
    free(buffer);
    if (err != ERANGE) {
      errno = err;
      return -1;
    }
  }
}

/* lgetxattr(path, name) -> Buffer */
static napi_value arca_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  char *name = cstring_arg(env, argv[1], "name");
  if (name == NULL) {
    free(path);
    return NULL;
  }

  napi_value result = NULL;
  char *value;
  ssize_t length = read_sized(read_value, path, name, &value);
  if (length < 0) {
    throw_errno(env, errno, "lgetxattr", path, argv[0]);
  } else {
    if (!ok(env, napi_create_buffer_copy(env, (size_t)length, value, NULL, &result))) result = NULL;
    free(value);
  }
  free(name);
  free(path);
  return result;
}

/* llistxattr(path) -> string[] */
static napi_value arca_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;

  char *list;
  ssize_t length = read_sized(read_names, path, NULL, &list);
  if (length < 0) {
    throw_errno(env, errno, "llistxattr", path, argv[0]);
    free(path);
    return NULL;
  }
  free(path);

  /* The kernel returns the names back to back, each NUL-terminated. */
  napi_value result;
  bool built = ok(env, napi_create_array(env, &result));
  uint32_t index = 0;
  for (ssize_t start = 0; built && start < length; index++) {
    size_t name_length = strnlen(list + start, (size_t)(length - start));
    napi_value name;
    built = ok(env, napi_create_string_utf8(env, list + start, name_length, &name)) &&
            ok(env, napi_set_element(env, result, index, name));
    start += (ssize_t)name_length + 1;
  }
  free(list);
  return built ? result : NULL;
}

/* lremovexattr(path, name) */
static napi_value arca_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;

  char *path = cstring_arg(env, argv[0], "path");
  if (path == NULL) return NULL;
  char *name = cstring_arg(env, argv[1], "name");
  if (name != NULL) {
    if (lremovexattr(path, name) != 0) throw_errno(env, errno, "lremovexattr", path, argv[0]);
    free(name);
  }
  free(path);
  return NULL;
}

/* lseek(fd, offset, whence), where ENXIO ("no data/hole at or after offset") is an answer
 * rather than a failure, so it comes back as -1. */
static napi_value seek(napi_env env, napi_callback_info info, int whence) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;

  int64_t fd, offset;
  if (!int64_arg(env, argv[0], "fd", 0, INT32_MAX, &fd) || !int64_arg(env, argv[1], "offset", 0, INT64_MAX, &offset))
    return NULL;

  off_t position = lseek((int)fd, (off_t)offset, whence);
  if (position < 0 && errno != ENXIO) {
    throw_errno(env, errno, "lseek", NULL, NULL);
    return NULL;
  }
  napi_value result;
  if (!ok(env, napi_create_int64(env, position < 0 ? -1 : (int64_t)position, &result))) return NULL;
  return result;
}

/* seekData(fd, offset) -> number */
static napi_value arca_seek_data(napi_env env, napi_callback_info info) {
  return seek(env, info, SEEK_DATA);
}

/* seekHole(fd, offset) -> number */
static napi_value arca_seek_hole(napi_env env, napi_callback_info info) {
  return seek(env, info, SEEK_HOLE);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"utimensat", NULL, arca_utimensat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, arca_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, arca_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, arca_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, arca_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, arca_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, arca_seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, arca_seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rabinScan", NULL, arca_rabin_scan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aesCtrInto", NULL, arca_aes_ctr_into, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poly1305Aes", NULL, arca_poly1305_aes, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (!ok(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions))) return NULL;
  return exports;
}
