/* fuzz-gguf.c - the GGUF reader on arbitrary bytes. Every successful open is
 * walked completely (each key through every getter, arrays down to their
 * last element, every tensor) and its model facts computed, and whatever the
 * reader hands out must lie inside the input buffer. */
#include "fuzz.h"
#include "gguf/gguf.h"

#include <string.h>

/* Elements looked at per open: enough to reach every code path, bounded so
 * a file with a 64M-element array does not stall the fuzzer. */
#define WALK_BUDGET 100000u

typedef struct walk {
    const uint8_t *lo;
    size_t         size;
    uint64_t       budget;
} walk;

static int in_input(const walk *w, const void *p, uint64_t len)
{
    const uint8_t *q = p;
    return q >= w->lo && q <= w->lo + w->size && len <= (uint64_t)(w->lo + w->size - q);
}

static size_t elem_size(gguf_type t)
{
    static const size_t sizes[GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return t < GGUF_TYPE_COUNT ? sizes[t] : 0;
}

static void walk_str(const walk *w, gguf_str s)
{
    FUZZ_CHECK(s.len <= GGUF_MAX_STRING);
    FUZZ_CHECK(s.len == 0 || in_input(w, s.ptr, s.len));
}

static void walk_arr(walk *w, const gguf_arr *arr, unsigned depth)
{
    FUZZ_CHECK(depth <= GGUF_MAX_ARRAY_DEPTH);
    FUZZ_CHECK(arr->type < GGUF_TYPE_COUNT && arr->count <= GGUF_MAX_ARRAY);
    size_t es = elem_size(arr->type);
    if (es) {
        FUZZ_CHECK(arr->count == 0 || in_input(w, arr->data, arr->count * es));
        /* Touch the last element so ASan sees the bound. */
        if (arr->count) {
            uint8_t last[8];
            memcpy(last, (const uint8_t *)arr->data + (arr->count - 1) * es, es);
        }
        return;
    }
    gguf_str s;
    gguf_arr child;
    /* One past the end must be refused. */
    if (arr->type == GGUF_TYPE_STRING)
        FUZZ_CHECK(gguf_arr_str(arr, arr->count, &s) == MM_EINVAL);
    else
        FUZZ_CHECK(gguf_arr_arr(arr, arr->count, &child) == MM_EINVAL);
    for (uint64_t i = 0; i < arr->count && w->budget > 0; i++, w->budget--) {
        if (arr->type == GGUF_TYPE_STRING) {
            FUZZ_CHECK(gguf_arr_str(arr, i, &s) == 0);
            walk_str(w, s);
        } else {
            FUZZ_CHECK(gguf_arr_arr(arr, i, &child) == 0);
            walk_arr(w, &child, depth + 1);
        }
    }
}

/* Every getter on key i; the one matching the stored type must succeed. */
static void walk_kv(walk *w, const gguf_file *f, size_t i)
{
    const char *key = gguf_kv_key(f, i);
    FUZZ_CHECK(key && key[0] && strlen(key) <= GGUF_MAX_KEY);
    FUZZ_CHECK(gguf_find_key(f, key) == (int64_t)i);
    gguf_type type = gguf_kv_type(f, i);
    FUZZ_CHECK(type < GGUF_TYPE_COUNT);
    const void *data = gguf_kv_data(f, i);
    FUZZ_CHECK(data && in_input(w, data, elem_size(type)));

    union { uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; float f32; double f64; bool b; } v;
    int rc_u64 = gguf_get_u64(f, key, &v.u64);
    int rc_i64 = gguf_get_i64(f, key, &v.i64);
    (void)gguf_get_u32(f, key, &v.u32);
    (void)gguf_get_i32(f, key, &v.i32);
    int rc_f32 = gguf_get_f32(f, key, &v.f32);
    int rc_f64 = gguf_get_f64(f, key, &v.f64);
    int rc_bool = gguf_get_bool(f, key, &v.b);
    bool negative;
    uint64_t magnitude;
    int rc_int = gguf_kv_int(f, i, &negative, &magnitude);
    gguf_str s;
    gguf_arr arr;
    int rc_str = gguf_kv_str(f, i, &s);
    int rc_arr = gguf_kv_arr(f, i, &arr);
    FUZZ_CHECK((rc_str == 0) == (type == GGUF_TYPE_STRING));
    FUZZ_CHECK((rc_arr == 0) == (type == GGUF_TYPE_ARRAY));
    FUZZ_CHECK((gguf_get_str(f, key, &s) == 0) == (type == GGUF_TYPE_STRING));
    switch (type) {
    case GGUF_TYPE_STRING:
        walk_str(w, s);
        break;
    case GGUF_TYPE_ARRAY:
        FUZZ_CHECK(gguf_get_arr(f, key, &arr) == 0);
        walk_arr(w, &arr, 1);
        break;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        FUZZ_CHECK(rc_f32 == 0 || rc_f64 == 0);
        break;
    case GGUF_TYPE_BOOL:
        FUZZ_CHECK(rc_bool == 0);
        break;
    default:
        /* An integer always has a sign and magnitude, and fits 64 bits one
         * way or the other. */
        FUZZ_CHECK(rc_int == 0);
        FUZZ_CHECK(rc_u64 == 0 || rc_i64 == 0);
        if (rc_u64 == 0)
            FUZZ_CHECK(!negative && v.u64 == magnitude);
        break;
    }
}

static void walk_tensor(const walk *w, const gguf_file *f, size_t i)
{
    const gguf_tensor *t = gguf_tensor_at(f, i);
    FUZZ_CHECK(t && t->name && t->name[0] && strlen(t->name) < GGUF_MAX_NAME);
    FUZZ_CHECK(gguf_find_tensor(f, t->name) == t);
    FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
    FUZZ_CHECK(ggml_type_get_traits(t->type) != NULL);
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        FUZZ_CHECK(t->ne[d] >= 1);
        FUZZ_CHECK(n <= UINT64_MAX / t->ne[d]);
        n *= t->ne[d];
    }
    FUZZ_CHECK(n == t->n_elements);
    FUZZ_CHECK(t->nbytes == ggml_row_size(t->type, t->ne[0]) * (n / t->ne[0]));
    FUZZ_CHECK(t->nbytes == 0 || in_input(w, t->data, t->nbytes));
    FUZZ_CHECK((const uint8_t *)t->data == w->lo + gguf_data_offset(f) + t->offset);
    if (t->nbytes) {
        volatile uint8_t last = ((const uint8_t *)t->data)[t->nbytes - 1];
        (void)last;
    }
    FUZZ_CHECK(ggml_type_name(t->type) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f = NULL;
    mm_error err = { 0 };
    int rc = gguf_open_buffer(data, size, &f, &err);
    if (rc != 0) {
        FUZZ_CHECK(f == NULL && rc < 0 && err.code == rc && err.message[0]);
        return 0;
    }
    walk w = { data, size, WALK_BUDGET };
    FUZZ_CHECK(gguf_version(f) >= 2 && gguf_version(f) <= 3);
    FUZZ_CHECK(gguf_file_size(f) == size);
    uint32_t align = gguf_alignment(f);
    FUZZ_CHECK(align != 0 && (align & (align - 1)) == 0);
    FUZZ_CHECK(gguf_data_offset(f) <= size);
    size_t n_kv = gguf_kv_count(f);
    FUZZ_CHECK(n_kv <= GGUF_MAX_KV);
    for (size_t i = 0; i < n_kv; i++)
        walk_kv(&w, f, i);
    FUZZ_CHECK(gguf_kv_key(f, n_kv) == NULL && gguf_kv_data(f, n_kv) == NULL);
    size_t n_tensors = gguf_tensor_count(f);
    FUZZ_CHECK(n_tensors <= GGUF_MAX_TENSORS);
    for (size_t i = 0; i < n_tensors; i++)
        walk_tensor(&w, f, i);
    FUZZ_CHECK(gguf_tensor_at(f, n_tensors) == NULL);

    mm_model_facts facts;
    gguf_model_facts(f, &facts);
    FUZZ_CHECK(memchr(facts.architecture, 0, sizeof facts.architecture) != NULL);
    FUZZ_CHECK(memchr(facts.name, 0, sizeof facts.name) != NULL);
    FUZZ_CHECK(memchr(facts.file_type_name, 0, sizeof facts.file_type_name) != NULL);
    FUZZ_CHECK(facts.file_size == size);
    if (facts.file_type >= 0)
        (void)gguf_file_type_name(facts.file_type);
    gguf_close(f);
    return 0;
}
