/* gguf-write.c - the GGUF writer that tests and tools use to build models:
 * metadata of every value type (nested arrays included) and tensors of any
 * type with a known layout, serialized little-endian to memory or atomically
 * to a file. Setters never fail loudly: the first error is kept and returned
 * by the serializer, so a long run of setters needs one check. */
#include "gguf/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITER_VALUE_MAX ((size_t)1 << 40)   /* cap on one encoded value */

typedef struct wkv {
    char     *key;
    gguf_type type;
    mm_buf    value;   /* encoded value, little-endian */
} wkv;

typedef struct wtensor {
    char    *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint8_t *data;
    size_t   nbytes;
} wtensor;

struct gguf_writer {
    uint32_t version;
    uint32_t alignment;
    wkv     *kv;
    size_t   n_kv, cap_kv;
    wtensor *tensors;
    size_t   n_tensors, cap_tensors;
    int      err_code;                 /* first error, sticky */
    char     err_msg[MM_ERROR_MSG_MAX];
};

static void set_error(gguf_writer *w, int code, const char *fmt, ...) MM_PRINTF(3, 4);
static void set_error(gguf_writer *w, int code, const char *fmt, ...)
{
    if (w->err_code)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err_msg, sizeof w->err_msg, fmt, ap);
    va_end(ap);
    w->err_code = code;
}

gguf_writer *gguf_writer_new(void)
{
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->version = 3;
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    }
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        mm_buf_free(&w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kv);
    free(w->tensors);
    free(w);
}

void gguf_writer_set_version(gguf_writer *w, uint32_t version)
{
    if (version != 2 && version != 3)
        set_error(w, MM_EINVAL, "GGUF version %u cannot be written (2 or 3)", version);
    else
        w->version = version;
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        set_error(w, MM_EINVAL, "alignment %u is not a power of two", alignment);
    else
        w->alignment = alignment;
}

static void put_u32(mm_buf *b, uint32_t v)
{
    uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    mm_buf_append(b, le, 4);
}

static void put_u64(mm_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(mm_buf *b, const char *s, size_t len)
{
    put_u64(b, len);
    mm_buf_append(b, s, len);
}

static size_t value_size(gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Packed fixed-size elements, converted from host order to little-endian. */
static void put_fixed(mm_buf *b, gguf_type t, const void *data, size_t count)
{
    size_t size = value_size(t);
    const uint8_t *p = data;
    for (size_t i = 0; i < count; i++, p += size) {
        uint64_t v = 0;
        switch (size) {
        case 1: v = p[0]; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        default: memcpy(&v, p, 8); break;
        }
        for (size_t k = 0; k < size; k++) {
            uint8_t byte = (uint8_t)(v >> (8 * k));
            mm_buf_append(b, &byte, 1);
        }
    }
}

/* The metadata slot for key (replacing an earlier value of the same key,
 * which keeps its position), or NULL after recording an error. */
static wkv *slot_for(gguf_writer *w, const char *key, gguf_type type)
{
    if (!key || !key[0] || strlen(key) > GGUF_MAX_KEY) {
        set_error(w, MM_EINVAL, "metadata key is empty or longer than %u bytes", GGUF_MAX_KEY);
        return NULL;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            mm_buf_free(&w->kv[i].value);
            mm_buf_init(&w->kv[i].value, WRITER_VALUE_MAX);
            w->kv[i].type = type;
            return &w->kv[i];
        }
    }
    if (w->n_kv >= GGUF_MAX_KV) {
        set_error(w, MM_ELIMIT, "more than %u metadata keys", GGUF_MAX_KV);
        return NULL;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *grown = realloc(w->kv, cap * sizeof *grown);
        if (!grown) {
            set_error(w, MM_ENOMEM, "out of memory adding metadata key %s", key);
            return NULL;
        }
        w->kv = grown;
        w->cap_kv = cap;
    }
    wkv *kv = &w->kv[w->n_kv];
    if (!(kv->key = mm_strdup(key))) {
        set_error(w, MM_ENOMEM, "out of memory adding metadata key %s", key);
        return NULL;
    }
    kv->type = type;
    mm_buf_init(&kv->value, WRITER_VALUE_MAX);
    w->n_kv++;
    return kv;
}

static void check_value(gguf_writer *w, wkv *kv)
{
    if (kv->value.failed)
        set_error(w, MM_ENOMEM, "out of memory encoding metadata key %s", kv->key);
}

static void set_scalar(gguf_writer *w, const char *key, gguf_type type, const void *v)
{
    wkv *kv = slot_for(w, key, type);
    if (!kv)
        return;
    put_fixed(&kv->value, type, v, 1);
    check_value(w, kv);
}

void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) { set_scalar(w, key, GGUF_TYPE_UINT8, &v); }
void gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v) { set_scalar(w, key, GGUF_TYPE_INT8, &v); }
void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) { set_scalar(w, key, GGUF_TYPE_UINT16, &v); }
void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v) { set_scalar(w, key, GGUF_TYPE_INT16, &v); }
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { set_scalar(w, key, GGUF_TYPE_UINT32, &v); }
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { set_scalar(w, key, GGUF_TYPE_INT32, &v); }
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { set_scalar(w, key, GGUF_TYPE_UINT64, &v); }
void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v) { set_scalar(w, key, GGUF_TYPE_INT64, &v); }
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { set_scalar(w, key, GGUF_TYPE_FLOAT32, &v); }
void gguf_writer_set_f64(gguf_writer *w, const char *key, double v) { set_scalar(w, key, GGUF_TYPE_FLOAT64, &v); }

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v)
{
    uint8_t byte = v ? 1 : 0;
    set_scalar(w, key, GGUF_TYPE_BOOL, &byte);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v)
{
    size_t len = v ? strlen(v) : 0;
    if (len > GGUF_MAX_STRING) {
        set_error(w, MM_ELIMIT, "value of %s is longer than %u bytes", key ? key : "(null)",
                  GGUF_MAX_STRING);
        return;
    }
    wkv *kv = slot_for(w, key, GGUF_TYPE_STRING);
    if (!kv)
        return;
    put_str(&kv->value, v ? v : "", len);
    check_value(w, kv);
}

/* Encode an array (element type, count, elements) at nesting depth. */
static void put_array(gguf_writer *w, const char *key, mm_buf *b, const gguf_writer_array *arr,
                      unsigned depth)
{
    if (depth > GGUF_MAX_ARRAY_DEPTH) {
        set_error(w, MM_ELIMIT, "%s: arrays nested deeper than %u levels", key, GGUF_MAX_ARRAY_DEPTH);
        return;
    }
    if (arr->type >= GGUF_TYPE_COUNT || arr->count > GGUF_MAX_ARRAY ||
        (arr->count && !arr->data)) {
        set_error(w, MM_EINVAL, "%s: invalid array (type %d, %zu elements)", key, (int)arr->type,
                  arr->count);
        return;
    }
    put_u32(b, (uint32_t)arr->type);
    put_u64(b, arr->count);
    if (value_size(arr->type)) {
        if (arr->type == GGUF_TYPE_BOOL) {
            for (size_t i = 0; i < arr->count; i++) {
                uint8_t v = ((const uint8_t *)arr->data)[i] != 0;
                mm_buf_append(b, &v, 1);
            }
        } else {
            put_fixed(b, arr->type, arr->data, arr->count);
        }
    } else if (arr->type == GGUF_TYPE_STRING) {
        const char *const *strs = arr->data;
        for (size_t i = 0; i < arr->count; i++) {
            const char *s = strs[i] ? strs[i] : "";
            size_t len = strlen(s);
            if (len > GGUF_MAX_STRING) {
                set_error(w, MM_ELIMIT, "%s: string %zu is longer than %u bytes", key, i, GGUF_MAX_STRING);
                return;
            }
            put_str(b, s, len);
        }
    } else {
        const gguf_writer_array *items = arr->data;
        for (size_t i = 0; i < arr->count; i++)
            put_array(w, key, b, &items[i], depth + 1);
    }
}

void gguf_writer_set_arr_nested(gguf_writer *w, const char *key, const gguf_writer_array *arr)
{
    wkv *kv = slot_for(w, key, GGUF_TYPE_ARRAY);
    if (!kv)
        return;
    put_array(w, key, &kv->value, arr, 1);
    check_value(w, kv);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type, const void *data,
                         size_t count)
{
    if (!value_size(type)) {
        set_error(w, MM_EINVAL, "%s: gguf_writer_set_arr takes fixed-size elements, not type %d",
                  key ? key : "(null)", (int)type);
        return;
    }
    gguf_writer_array arr = { type, count, data };
    gguf_writer_set_arr_nested(w, key, &arr);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, size_t count)
{
    gguf_writer_array arr = { GGUF_TYPE_STRING, count, strs };
    gguf_writer_set_arr_nested(w, key, &arr);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const uint64_t *ne, const void *data, size_t nbytes)
{
    if (!name || !name[0] || strlen(name) >= GGUF_MAX_NAME) {
        set_error(w, MM_EINVAL, "tensor name '%.80s' is empty or not shorter than %u bytes",
                  name ? name : "", GGUF_MAX_NAME);
        return;
    }
    const ggml_type_traits *tt = ggml_type_get_traits(type);
    if (!tt) {
        set_error(w, MM_EINVAL, "tensor %s: %s has no known layout", name, ggml_type_name(type));
        return;
    }
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS) {
        set_error(w, MM_EINVAL, "tensor %s: n_dims %u is out of range (1..%u)", name, n_dims, GGUF_MAX_DIMS);
        return;
    }
    uint64_t rows = 1, want;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX ||
            (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows))) {
            set_error(w, MM_EINVAL, "tensor %s: dimension %u (%llu) is invalid", name, d,
                      (unsigned long long)ne[d]);
            return;
        }
    }
    if (ne[0] % tt->block_size != 0) {
        set_error(w, MM_EINVAL, "tensor %s: ne[0] = %llu is not a multiple of the %s block size %u",
                  name, (unsigned long long)ne[0], tt->name, tt->block_size);
        return;
    }
    if (__builtin_mul_overflow(ne[0] / tt->block_size * tt->type_size, rows, &want) || want != nbytes) {
        set_error(w, MM_EINVAL, "tensor %s: %zu bytes given, its %s shape needs %llu", name, nbytes,
                  tt->name, (unsigned long long)want);
        return;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            set_error(w, MM_EEXIST, "tensor %s added twice", name);
            return;
        }
    }
    if (w->n_tensors >= GGUF_MAX_TENSORS) {
        set_error(w, MM_ELIMIT, "more than %u tensors", GGUF_MAX_TENSORS);
        return;
    }
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 16;
        wtensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown)
            goto oom;
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    wtensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = mm_strdup(name);
    t->data = malloc(nbytes ? nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        goto oom;
    }
    if (nbytes)
        memcpy(t->data, data, nbytes);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    w->n_tensors++;
    return;
oom:
    set_error(w, MM_ENOMEM, "out of memory adding tensor %s", name);
}

static uint64_t align_up(uint64_t v, uint32_t a)
{
    return v + (a - v % a) % a;
}

/* Whether to add general.alignment: not for 32, nor when the caller set it
 * to the same UINT32; a conflicting value is a (sticky) error. */
static bool alignment_key_needed(gguf_writer *w)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        if (strcmp(kv->key, "general.alignment") != 0)
            continue;
        const uint8_t *p = (const uint8_t *)kv->value.data;
        if (kv->type != GGUF_TYPE_UINT32 || kv->value.len != 4 ||
            ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24) !=
                w->alignment)
            set_error(w, MM_EINVAL, "general.alignment must be the UINT32 %u set with "
                      "gguf_writer_set_alignment", w->alignment);
        return false;
    }
    return w->alignment != GGUF_DEFAULT_ALIGNMENT;
}

int gguf_writer_to_buffer(gguf_writer *w, void **out, size_t *size, mm_error *err)
{
    *out = NULL;
    *size = 0;
    bool add_alignment = w->err_code == 0 && alignment_key_needed(w);
    if (w->err_code)
        return mm_error_set(err, w->err_code, "GGUF writer: %s", w->err_msg);
    mm_buf b;
    mm_buf_init(&b, SIZE_MAX - 1);
    mm_buf_append(&b, "GGUF", 4);
    put_u32(&b, w->version);
    put_u64(&b, w->n_tensors);
    put_u64(&b, w->n_kv + (add_alignment ? 1 : 0));
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&b, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(&b, (uint32_t)w->kv[i].type);
        mm_buf_append(&b, w->kv[i].value.data, w->kv[i].value.len);
    }
    if (add_alignment) {
        static const char key[] = "general.alignment";
        put_str(&b, key, sizeof key - 1);
        put_u32(&b, GGUF_TYPE_UINT32);
        put_u32(&b, w->alignment);
    }
    /* Offsets are the running sum of padded sizes, as llama.cpp requires. */
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(&b, t->name, strlen(t->name));
        put_u32(&b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(&b, t->ne[d]);
        put_u32(&b, t->type);
        put_u64(&b, offset);
        if (offset > UINT64_MAX / 2 || t->nbytes > UINT64_MAX / 4) {
            mm_buf_free(&b);
            return mm_error_set(err, MM_ELIMIT, "GGUF writer: tensor data too large");
        }
        offset = align_up(offset + t->nbytes, w->alignment);
    }
    if (b.failed) {
        mm_buf_free(&b);
        return mm_error_set(err, MM_ENOMEM, "GGUF writer: out of memory serializing the header");
    }
    /* One allocation of the final size: models can be large. The last
     * tensor is padded too, as llama.cpp writes it. */
    uint64_t total = w->n_tensors ? align_up(b.len, w->alignment) : b.len;
    if (total < b.len || __builtin_add_overflow(total, offset, &total) || total > SIZE_MAX) {
        mm_buf_free(&b);
        return mm_error_set(err, MM_ELIMIT, "GGUF writer: the file would exceed the address space");
    }
    uint8_t *file = calloc(1, total ? (size_t)total : 1);
    if (!file) {
        mm_buf_free(&b);
        return mm_error_set(err, MM_ENOMEM, "GGUF writer: out of memory for a %llu-byte file",
                            (unsigned long long)total);
    }
    memcpy(file, b.data, b.len);
    uint64_t data_at = w->n_tensors ? align_up(b.len, w->alignment) : b.len;
    mm_buf_free(&b);
    for (size_t i = 0; i < w->n_tensors; i++) {
        memcpy(file + data_at, w->tensors[i].data, w->tensors[i].nbytes);
        data_at = align_up(data_at + w->tensors[i].nbytes, w->alignment);
    }
    *out = file;
    *size = (size_t)total;
    return 0;
}

int gguf_writer_write(gguf_writer *w, const char *path, mm_error *err)
{
    void *data;
    size_t size;
    int rc = gguf_writer_to_buffer(w, &data, &size, err);
    if (rc)
        return rc;
    rc = mm_file_write_atomic(path, data, size, err);
    free(data);
    return rc;
}
