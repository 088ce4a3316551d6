/* core.h - the shared base every subsystem builds on: error helpers, the
 * logging macros, growable capped buffers, strict number parsing, files
 * written atomically and small time helpers. */
#ifndef MM_CORE_H
#define MM_CORE_H

#include "modelmgr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define MM_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define MM_PRINTF(fmt_idx, arg_idx)
#endif

/* Programmer errors only: never for bad input. Aborts with file:line. */
#define MM_ASSERT(cond) \
    do { if (!(cond)) mm__assert_fail(#cond, __FILE__, __LINE__); } while (0)
void mm__assert_fail(const char *expr, const char *file, int line);

/* ---- errors ---- */

/* Fill err (if not NULL) with code and a printf-style message; returns code,
 * so a failing path can `return mm_error_set(err, MM_EIO, "...")`. */
int mm_error_set(mm_error *err, int code, const char *fmt, ...) MM_PRINTF(3, 4);
/* Prefix an existing message: "context: old message". Returns err->code. */
int mm_error_prefix(mm_error *err, const char *fmt, ...) MM_PRINTF(2, 3);
void mm_error_clear(mm_error *err);

/* ---- logging ---- */

void mm_log_write(mm_log_level level, const char *fmt, ...) MM_PRINTF(2, 3);
bool mm_log_enabled(mm_log_level level);

/* The level is checked before any argument is evaluated. */
#define MM_LOG_AT(level, ...) \
    do { if (mm_log_enabled(level)) mm_log_write(level, __VA_ARGS__); } while (0)
#define MM_LOG_ERROR(...) MM_LOG_AT(MM_LOG_LEVEL_ERROR, __VA_ARGS__)
#define MM_LOG_WARN(...)  MM_LOG_AT(MM_LOG_LEVEL_WARN, __VA_ARGS__)
#define MM_LOG_INFO(...)  MM_LOG_AT(MM_LOG_LEVEL_INFO, __VA_ARGS__)
#define MM_LOG_DEBUG(...) MM_LOG_AT(MM_LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Replace every registered secret in buf (in place; the result is never
 * longer than the input). Used by the logger and by anything that prints
 * text which might carry a secret (error messages, audit lines). */
void mm_redact_secrets(char *buf);

/* ---- buffers ---- */

/* A growable byte buffer with a hard cap; data is always NUL-terminated. */
typedef struct mm_buf {
    char  *data;
    size_t len;
    size_t cap;       /* allocated bytes */
    size_t max;       /* hard limit on len; appending past it fails */
    bool   failed;    /* an append failed (ENOMEM or over max); sticky */
} mm_buf;

void mm_buf_init(mm_buf *b, size_t max);
int  mm_buf_append(mm_buf *b, const void *data, size_t len);
int  mm_buf_puts(mm_buf *b, const char *s);
int  mm_buf_printf(mm_buf *b, const char *fmt, ...) MM_PRINTF(2, 3);
/* Hand the data to the caller (free()) and reset b. Never NULL unless OOM. */
char *mm_buf_take(mm_buf *b);
void mm_buf_free(mm_buf *b);

/* ---- strings ---- */

char *mm_strdup(const char *s);            /* NULL in -> NULL out; caller frees */
char *mm_strndup(const char *s, size_t n);
char *mm_asprintf(const char *fmt, ...) MM_PRINTF(1, 2);   /* caller frees */
/* Bounded copy that always terminates; returns strlen(src) like strlcpy. */
size_t mm_strlcpy(char *dst, const char *src, size_t size);
bool mm_str_has_suffix(const char *s, const char *suffix);
bool mm_str_has_prefix(const char *s, const char *prefix);
/* Trim ASCII whitespace at both ends, in place; returns s. */
char *mm_str_trim(char *s);
/* "a" + "/" + "b", without doubling slashes; caller frees. */
char *mm_path_join(const char *a, const char *b);

/* ---- strict parsing ---- */

/* Whole-string decimal integer within [min, max]; 0 or MM_EINVAL. */
int mm_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out);
/* 1/0/true/false/yes/no/on/off, case-insensitive; 0 or MM_EINVAL. */
int mm_parse_bool(const char *text, bool *out);
/* Byte size: "1024", "512K", "1.5G", "2GiB", "800MB" (K/M/G/T = 1024^n). */
int mm_parse_size(const char *text, uint64_t *out);
/* A JSON number that must be a count (a size, a token count): true and *out
 * set when v is a whole number in [0, max] and max <= 2^53 (above which a
 * double no longer holds every integer). Casting any other double to an
 * integer type is undefined behaviour, so every such number passes here. */
bool mm_double_to_count(double v, uint64_t max, uint64_t *out);
#define MM_COUNT_MAX 9007199254740992ull   /* 2^53 */

/* ---- files ---- */

/* Read a whole file, refusing files larger than max_bytes (MM_ELIMIT).
 * *out is NUL-terminated and owned by the caller. */
int mm_file_read(const char *path, size_t max_bytes, char **out, size_t *len, mm_error *err);
/* Write data to path atomically: a temporary in the same directory, fsync,
 * rename, fsync of the directory. Readers see the old or the new file. */
int mm_file_write_atomic(const char *path, const void *data, size_t len, mm_error *err);
/* mkdir -p with mode 0755. */
int mm_mkdirs(const char *path, mm_error *err);

/* ---- time ---- */

int64_t mm_now_ms(void);          /* CLOCK_MONOTONIC, milliseconds */
int64_t mm_now_us(void);          /* CLOCK_MONOTONIC, microseconds */
int64_t mm_wall_ms(void);         /* CLOCK_REALTIME, ms since the epoch */
/* "2026-11-27T03:10:21Z" for a Unix time in seconds. */
void mm_time_rfc3339(int64_t unix_s, char *out, size_t out_size);

#endif /* MM_CORE_H */
