/* gguf.h - GGUF files: a validating reader over a read-only mmap (tensor data
 * is never copied) and a writer that tests and tools use to synthesize
 * models. Hostile input is the norm: every count, length, offset and type is
 * checked against the file size before use. */
#ifndef MM_GGUF_H
#define MM_GGUF_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as stored in the file. */
typedef enum gguf_type {
    GGUF_TYPE_UINT8   = 0,
    GGUF_TYPE_INT8    = 1,
    GGUF_TYPE_UINT16  = 2,
    GGUF_TYPE_INT16   = 3,
    GGUF_TYPE_UINT32  = 4,
    GGUF_TYPE_INT32   = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL    = 7,
    GGUF_TYPE_STRING  = 8,
    GGUF_TYPE_ARRAY   = 9,
    GGUF_TYPE_UINT64  = 10,
    GGUF_TYPE_INT64   = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

/* ggml tensor element types (the numbering of ggml.h). */
typedef enum ggml_type {
    GGML_TYPE_F32  = 0,
    GGML_TYPE_F16  = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS  = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S   = 19,
    GGML_TYPE_IQ4_NL  = 20,
    GGML_TYPE_IQ3_S   = 21,
    GGML_TYPE_IQ2_S   = 22,
    GGML_TYPE_IQ4_XS  = 23,
    GGML_TYPE_I8   = 24,
    GGML_TYPE_I16  = 25,
    GGML_TYPE_I32  = 26,
    GGML_TYPE_I64  = 27,
    GGML_TYPE_F64  = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40   /* bound for tables indexed by type */
} ggml_type;

/* Block geometry of a tensor type: block_size elements take type_size bytes. */
typedef struct ggml_type_traits {
    const char *name;        /* "Q4_K", "F16", ... */
    uint32_t    block_size;
    uint32_t    type_size;
} ggml_type_traits;

/* Traits of a type the reader knows the layout of, or NULL. Knowing the
 * layout (to validate sizes) does not mean the engine can compute with it. */
const ggml_type_traits *ggml_type_get_traits(uint32_t type);
const char *ggml_type_name(uint32_t type);   /* "type 99" style for unknown; static */
/* Bytes of one row of ne0 elements: (ne0 / block_size) * type_size; 0 when
 * the type is unknown or ne0 is not a multiple of its block size. */
uint64_t ggml_row_size(uint32_t type, uint64_t ne0);

/* Bounds applied to every file, so a hostile header cannot make the reader
 * allocate or loop without limit. */
#define GGUF_MAX_KV          65536u
#define GGUF_MAX_TENSORS     65536u
#define GGUF_MAX_STRING      (64u << 20)      /* one string: 64 MiB */
#define GGUF_MAX_ARRAY       (1u << 26)       /* elements in one array */
#define GGUF_MAX_ARRAY_DEPTH 8u
/* Index slots for O(1) element access, all arrays together: one per string,
 * two per nested array (at most 1 GiB of index for the worst file). */
#define GGUF_MAX_INDEXED     (1u << 27)
#define GGUF_MAX_DIMS        4u
/* Keys are 1..GGUF_MAX_KEY printable ASCII bytes; tensor names 1..63 bytes
 * without control bytes; tensors have 1..4 dimensions of at least 1. */
#define GGUF_MAX_KEY         65535u           /* bytes in one key (spec) */
#define GGUF_MAX_NAME        64u              /* tensor name bytes, exclusive (llama.cpp) */
#define GGUF_DEFAULT_ALIGNMENT 32u

/* A string inside the mapped file: NOT NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t    len;
} gguf_str;

/* An array value. Elements of fixed-size types are packed at data (possibly
 * unaligned: read with memcpy); strings and nested arrays are reached with
 * gguf_arr_str / gguf_arr_arr. Borrowed from the file. */
typedef struct gguf_arr {
    gguf_type   type;       /* element type */
    uint64_t    count;
    const void *data;       /* first element in the map */
    const struct gguf_file *file;
    int64_t     index_base; /* internal: where the element index starts */
} gguf_arr;

typedef struct gguf_tensor {
    const char *name;       /* NUL-terminated copy owned by the file object */
    uint32_t    n_dims;
    uint64_t    ne[GGUF_MAX_DIMS];  /* ne[0] innermost; unused dims are 1 */
    uint32_t    type;       /* ggml_type */
    uint64_t    offset;     /* relative to the data section */
    uint64_t    n_elements;
    uint64_t    nbytes;
    const void *data;       /* in the read-only map */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate path; maps it read-only. Caller owns *out (gguf_close).
 * MM_EFORMAT with a message naming the offset and field for a malformed file
 * ("m.gguf: offset 24: metadata key 3: string length 18446744073709551615
 * exceeds the file size"), MM_EUNSUPPORTED for GGUF v1, big-endian files and
 * versions above 3, MM_EIO / MM_ENOTFOUND for filesystem errors. An opened
 * file is immutable: every lookup below is thread-safe, and every pointer it
 * hands out (strings, arrays, tensors, data) is borrowed until gguf_close.
 * The file must not be truncated while open (reading the map would fault);
 * files are replaced by rename, never rewritten in place, in this project. */
int  gguf_open(const char *path, gguf_file **out, mm_error *err);
/* The same over a caller-owned buffer that must outlive the object (tests,
 * fuzzing). Nothing is copied. */
int  gguf_open_buffer(const void *data, size_t size, gguf_file **out, mm_error *err);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
/* Absolute offset of the data section; never past the end of the file (a
 * file without tensors may omit the padding before it). */
uint64_t gguf_data_offset(const gguf_file *f);

/* ---- metadata ---- */
size_t      gguf_kv_count(const gguf_file *f);
const char *gguf_kv_key(const gguf_file *f, size_t i);   /* NUL-terminated, owned by f */
gguf_type   gguf_kv_type(const gguf_file *f, size_t i);
int64_t     gguf_find_key(const gguf_file *f, const char *key);  /* index or -1 */
/* By index, for listing every key: the value's bytes in the map (NULL when
 * i is out of range; fixed-size values are little-endian, possibly
 * unaligned), and decoded forms. MM_EINVAL when i is out of range or the
 * value has another type (gguf_kv_int: MM_EFORMAT for non-integers). */
const void *gguf_kv_data(const gguf_file *f, size_t i);
int gguf_kv_int(const gguf_file *f, size_t i, bool *negative, uint64_t *magnitude);
int gguf_kv_str(const gguf_file *f, size_t i, gguf_str *out);
int gguf_kv_arr(const gguf_file *f, size_t i, gguf_arr *out);

/* Typed getters by key. Return 0, MM_ENOTFOUND (no such key) or MM_EFORMAT
 * (the value has another type or does not fit). Integer getters accept any
 * integer type whose value fits the target. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);  /* f32 or f64 */
int gguf_get_f64(const gguf_file *f, const char *key, double *out); /* f32 or f64 */
int gguf_get_bool(const gguf_file *f, const char *key, bool *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out);
/* Element i of a string array / array of arrays. 0 or MM_EINVAL. */
int gguf_arr_str(const gguf_arr *arr, uint64_t i, gguf_str *out);
int gguf_arr_arr(const gguf_arr *arr, uint64_t i, gguf_arr *out);

/* ---- tensors ---- */
size_t             gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Facts a catalog shows (architecture, parameter count, context length,
 * shape, vocabulary, file type, chat template). file_size is this file's.
 * Absent keys give 0 ("" for strings, -1 for file_type); head_count_kv
 * defaults to head_count; per-layer head-count arrays give their maximum;
 * vocab_size is <arch>.vocab_size or the length of tokenizer.ggml.tokens.
 * Without general.file_type, file_type_name is the matrices' tensor type
 * when they all share one ("F32" for a llama2.c export), else "". */
void gguf_model_facts(const gguf_file *f, mm_model_facts *out);
/* "Q4_K_M" for general.file_type values (llama_ftype); NULL when unknown. */
const char *gguf_file_type_name(int32_t file_type);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);                /* NULL on OOM; gguf_writer_free */
void gguf_writer_free(gguf_writer *w);
/* Version to write (2 or 3, default 3) and alignment (default 32). */
void gguf_writer_set_version(gguf_writer *w, uint32_t version);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);

/* Metadata setters copy key and value; errors (OOM) are sticky and reported
 * by gguf_writer_write. Keys are written in the order first set. */
void gguf_writer_set_u8 (gguf_writer *w, const char *key, uint8_t v);
void gguf_writer_set_i8 (gguf_writer *w, const char *key, int8_t v);
void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Array of fixed-size elements (type is not STRING or ARRAY), packed. */
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type,
                         const void *data, size_t count);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key,
                             const char *const *strs, size_t count);

/* An array value of any element type, including arrays of arrays, for
 * gguf_writer_set_arr_nested. data points to: packed elements for fixed-size
 * types, `const char *const *` (count strings) for STRING, and
 * `const gguf_writer_array *` (count nested arrays) for ARRAY. Nesting deeper
 * than GGUF_MAX_ARRAY_DEPTH is a (sticky) error. */
typedef struct gguf_writer_array {
    gguf_type   type;
    size_t      count;
    const void *data;
} gguf_writer_array;
void gguf_writer_set_arr_nested(gguf_writer *w, const char *key,
                                const gguf_writer_array *arr);

/* Add a tensor; data (nbytes, which must match type and shape) is copied.
 * Names must be unique and shorter than GGUF_MAX_NAME; the type must have a
 * known layout and ne[0] must be a multiple of its block size. */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                            uint32_t n_dims, const uint64_t *ne, const void *data,
                            size_t nbytes);

/* Serialize to memory (caller frees *out) or atomically to path. The first
 * error any setter met (MM_ENOMEM, MM_EINVAL, MM_EEXIST, MM_ELIMIT) is
 * returned here with its message. An alignment other than 32 is recorded as
 * general.alignment (UINT32) unless the caller set that key to the same value. */
int gguf_writer_to_buffer(gguf_writer *w, void **out, size_t *size, mm_error *err);
int gguf_writer_write(gguf_writer *w, const char *path, mm_error *err);

#endif /* MM_GGUF_H */
