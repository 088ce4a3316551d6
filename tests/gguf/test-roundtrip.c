/* test-roundtrip.c - the writer against the reader: every value type,
 * nested and string arrays, empty values, versions 2 and 3, alignments 32
 * and 64, tensors of several types; plus the writer's exact bytes for a
 * small file (worked out by hand) and its refusals. */
#include "gguf/gguf.h"
#include "support/test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- the values written, kept to compare against ---- */

static const uint8_t  arr_u8[]  = { 0, 1, 127, 128, 255 };
static const int8_t   arr_i8[]  = { -128, -1, 0, 1, 127 };
static const uint16_t arr_u16[] = { 0, 1, 0x1234, 65535 };
static const int16_t  arr_i16[] = { -32768, -2, 32767 };
static const uint32_t arr_u32[] = { 0, 0xDEADBEEF, UINT32_MAX };
static const int32_t  arr_i32[] = { INT32_MIN, -7, INT32_MAX };
static const float    arr_f32[] = { 0.0f, -1.5f, FLT_MAX, 1e-40f /* subnormal */ };
static const bool     arr_bool[] = { true, false, true };
static const uint64_t arr_u64[] = { 0, 1ull << 63, UINT64_MAX };
static const int64_t  arr_i64[] = { INT64_MIN, -1, INT64_MAX };
static const double   arr_f64[] = { 3.141592653589793, -0.0, DBL_MIN };
static const char *const strs[] = { "alpha", "", "\xe2\x96\x81hello", "<0x0A>", "z" };

typedef struct fixed_case {
    const char *key;
    gguf_type   type;
    const void *data;
    size_t      count;
    size_t      elem;
} fixed_case;

static const fixed_case fixed_cases[] = {
    { "arr.u8",  GGUF_TYPE_UINT8,   arr_u8,  MM_ARRAY_LEN(arr_u8),  1 },
    { "arr.i8",  GGUF_TYPE_INT8,    arr_i8,  MM_ARRAY_LEN(arr_i8),  1 },
    { "arr.u16", GGUF_TYPE_UINT16,  arr_u16, MM_ARRAY_LEN(arr_u16), 2 },
    { "arr.i16", GGUF_TYPE_INT16,   arr_i16, MM_ARRAY_LEN(arr_i16), 2 },
    { "arr.u32", GGUF_TYPE_UINT32,  arr_u32, MM_ARRAY_LEN(arr_u32), 4 },
    { "arr.i32", GGUF_TYPE_INT32,   arr_i32, MM_ARRAY_LEN(arr_i32), 4 },
    { "arr.f32", GGUF_TYPE_FLOAT32, arr_f32, MM_ARRAY_LEN(arr_f32), 4 },
    { "arr.bool", GGUF_TYPE_BOOL,   arr_bool, MM_ARRAY_LEN(arr_bool), 1 },
    { "arr.u64", GGUF_TYPE_UINT64,  arr_u64, MM_ARRAY_LEN(arr_u64), 8 },
    { "arr.i64", GGUF_TYPE_INT64,   arr_i64, MM_ARRAY_LEN(arr_i64), 8 },
    { "arr.f64", GGUF_TYPE_FLOAT64, arr_f64, MM_ARRAY_LEN(arr_f64), 8 },
    { "arr.empty", GGUF_TYPE_UINT32, arr_u32, 0, 4 },
};

typedef struct tensor_case {
    const char *name;
    uint32_t    type;
    uint32_t    n_dims;
    uint64_t    ne[4];
    size_t      nbytes;   /* worked out from the block tables by hand */
} tensor_case;

static const tensor_case tensor_cases[] = {
    { "t.f32",  GGML_TYPE_F32,  1, { 7 }, 28 },
    { "t.f16",  GGML_TYPE_F16,  2, { 3, 5 }, 30 },
    { "t.q4_0", GGML_TYPE_Q4_0, 2, { 64, 3 }, 2 * 18 * 3 },
    { "t.q8_0", GGML_TYPE_Q8_0, 3, { 32, 2, 2 }, 34 * 4 },
    { "t.q4_k", GGML_TYPE_Q4_K, 2, { 512, 1 }, 2 * 144 },
    { "t.q6_k", GGML_TYPE_Q6_K, 4, { 256, 1, 2, 1 }, 2 * 210 },
    { "t.bf16", GGML_TYPE_BF16, 1, { 33 }, 66 },
    { "t.i8",   GGML_TYPE_I8,   2, { 5, 1 }, 5 },
};

/* Nested: [[["a","bb"],[]],[["ccc"]]] (arrays of arrays of strings) and
 * [[1,2,3],[],[4]] of i16. */
static const char *const s_ab[] = { "a", "bb" };
static const char *const s_ccc[] = { "ccc" };
static const int16_t n_123[] = { 1, 2, 3 }, n_4[] = { 4 };

static void write_all(gguf_writer *w, uint8_t *tensor_bytes[])
{
    gguf_writer_set_u8(w, "s.u8", 255);
    gguf_writer_set_i8(w, "s.i8", -128);
    gguf_writer_set_u16(w, "s.u16", 65535);
    gguf_writer_set_i16(w, "s.i16", -32768);
    gguf_writer_set_u32(w, "s.u32", UINT32_MAX);
    gguf_writer_set_i32(w, "s.i32", INT32_MIN);
    gguf_writer_set_u64(w, "s.u64", UINT64_MAX);
    gguf_writer_set_i64(w, "s.i64", INT64_MIN);
    gguf_writer_set_f32(w, "s.f32", -2.5e-3f);
    gguf_writer_set_f64(w, "s.f64", 1.0 / 3.0);
    gguf_writer_set_bool(w, "s.true", true);
    gguf_writer_set_bool(w, "s.false", false);
    gguf_writer_set_str(w, "s.str", "h\xc3\xa9llo, world");
    gguf_writer_set_str(w, "s.empty", "");
    for (size_t i = 0; i < MM_ARRAY_LEN(fixed_cases); i++)
        gguf_writer_set_arr(w, fixed_cases[i].key, fixed_cases[i].type, fixed_cases[i].data,
                            fixed_cases[i].count);
    gguf_writer_set_arr_str(w, "arr.str", strs, MM_ARRAY_LEN(strs));
    gguf_writer_set_arr_str(w, "arr.str.empty", NULL, 0);

    gguf_writer_array lvl2a[] = { { GGUF_TYPE_STRING, 2, s_ab }, { GGUF_TYPE_STRING, 0, NULL } };
    gguf_writer_array lvl2b[] = { { GGUF_TYPE_STRING, 1, s_ccc } };
    gguf_writer_array lvl1[] = { { GGUF_TYPE_ARRAY, 2, lvl2a }, { GGUF_TYPE_ARRAY, 1, lvl2b } };
    gguf_writer_array top = { GGUF_TYPE_ARRAY, 2, lvl1 };
    gguf_writer_set_arr_nested(w, "arr.nested.str", &top);
    gguf_writer_array ints[] = { { GGUF_TYPE_INT16, 3, n_123 }, { GGUF_TYPE_INT16, 0, NULL },
                                 { GGUF_TYPE_INT16, 1, n_4 } };
    gguf_writer_array top2 = { GGUF_TYPE_ARRAY, 3, ints };
    gguf_writer_set_arr_nested(w, "arr.nested.i16", &top2);

    for (size_t i = 0; i < MM_ARRAY_LEN(tensor_cases); i++) {
        const tensor_case *tc = &tensor_cases[i];
        tensor_bytes[i] = malloc(tc->nbytes);
        for (size_t k = 0; k < tc->nbytes; k++)
            tensor_bytes[i][k] = (uint8_t)next_rand();
        gguf_writer_add_tensor(w, tc->name, tc->type, tc->n_dims, tc->ne, tensor_bytes[i], tc->nbytes);
    }
}

static bool str_is(gguf_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void check_scalars(const gguf_file *f)
{
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    gguf_str s;
    CHECK_INT(gguf_kv_type(f, (size_t)gguf_find_key(f, "s.u8")), GGUF_TYPE_UINT8);
    CHECK_INT(gguf_get_u32(f, "s.u8", &u32), 0);
    CHECK_INT(u32, 255);
    CHECK_INT(gguf_kv_type(f, (size_t)gguf_find_key(f, "s.i8")), GGUF_TYPE_INT8);
    CHECK_INT(gguf_get_i32(f, "s.i8", &i32), 0);
    CHECK_INT(i32, -128);
    CHECK_INT(gguf_get_u32(f, "s.i8", &u32), MM_EFORMAT);
    CHECK_INT(gguf_get_u32(f, "s.u16", &u32), 0);
    CHECK_INT(u32, 65535);
    CHECK_INT(gguf_get_i32(f, "s.i16", &i32), 0);
    CHECK_INT(i32, -32768);
    CHECK_INT(gguf_get_u32(f, "s.u32", &u32), 0);
    CHECK(u32 == UINT32_MAX);
    CHECK_INT(gguf_get_i32(f, "s.u32", &i32), MM_EFORMAT);
    CHECK_INT(gguf_get_i32(f, "s.i32", &i32), 0);
    CHECK(i32 == INT32_MIN);
    CHECK_INT(gguf_get_u64(f, "s.u64", &u64), 0);
    CHECK(u64 == UINT64_MAX);
    CHECK_INT(gguf_get_u32(f, "s.u64", &u32), MM_EFORMAT);
    CHECK_INT(gguf_get_i64(f, "s.i64", &i64), 0);
    CHECK(i64 == INT64_MIN);
    CHECK_INT(gguf_get_i64(f, "s.u64", &i64), MM_EFORMAT);
    CHECK_INT(gguf_get_f32(f, "s.f32", &f32), 0);
    CHECK(f32 == -2.5e-3f);
    CHECK_INT(gguf_get_f64(f, "s.f64", &f64), 0);
    CHECK(f64 == 1.0 / 3.0);
    CHECK_INT(gguf_get_f32(f, "s.u8", &f32), MM_EFORMAT);
    CHECK_INT(gguf_get_bool(f, "s.true", &b), 0);
    CHECK(b);
    CHECK_INT(gguf_get_bool(f, "s.false", &b), 0);
    CHECK(!b);
    CHECK_INT(gguf_get_bool(f, "s.u8", &b), MM_EFORMAT);
    CHECK_INT(gguf_get_str(f, "s.str", &s), 0);
    CHECK(str_is(s, "h\xc3\xa9llo, world"));
    CHECK_INT(gguf_get_str(f, "s.empty", &s), 0);
    CHECK_INT(s.len, 0);
    CHECK_INT(gguf_get_str(f, "s.u8", &s), MM_EFORMAT);

    /* The same by index. */
    size_t i8 = (size_t)gguf_find_key(f, "s.i8"), i64i = (size_t)gguf_find_key(f, "s.i64");
    size_t istr = (size_t)gguf_find_key(f, "s.str");
    bool neg = false;
    uint64_t mag = 0;
    CHECK_INT(gguf_kv_int(f, i8, &neg, &mag), 0);
    CHECK(neg && mag == 128);
    CHECK_INT(gguf_kv_int(f, i64i, &neg, &mag), 0);
    CHECK(neg && mag == 1ull << 63);
    CHECK_INT(gguf_kv_int(f, istr, &neg, &mag), MM_EFORMAT);
    CHECK_INT(gguf_kv_int(f, gguf_kv_count(f), &neg, &mag), MM_EINVAL);
    CHECK_INT(gguf_kv_str(f, istr, &s), 0);
    CHECK(str_is(s, "h\xc3\xa9llo, world"));
    CHECK_INT(gguf_kv_str(f, i8, &s), MM_EINVAL);
    gguf_arr arr;
    CHECK_INT(gguf_kv_arr(f, istr, &arr), MM_EINVAL);
    CHECK(gguf_kv_data(f, gguf_kv_count(f)) == NULL);
    CHECK(gguf_kv_key(f, gguf_kv_count(f)) == NULL);
    CHECK_INT(*(const uint8_t *)gguf_kv_data(f, i8), 0x80);
}

static void check_arrays(const gguf_file *f)
{
    gguf_arr arr, l1, l2;
    gguf_str s;
    for (size_t i = 0; i < MM_ARRAY_LEN(fixed_cases); i++) {
        const fixed_case *fc = &fixed_cases[i];
        CHECK_INT(gguf_get_arr(f, fc->key, &arr), 0);
        CHECK_INT(arr.type, fc->type);
        CHECK_INT(arr.count, fc->count);
        if (arr.count == fc->count)   /* little-endian host: stored bytes = host bytes */
            CHECK(memcmp(arr.data, fc->data, fc->count * fc->elem) == 0);
    }
    CHECK_INT(gguf_get_arr(f, "arr.str", &arr), 0);
    CHECK_INT(arr.type, GGUF_TYPE_STRING);
    CHECK_INT(arr.count, MM_ARRAY_LEN(strs));
    for (size_t i = 0; i < MM_ARRAY_LEN(strs); i++) {
        CHECK_INT(gguf_arr_str(&arr, i, &s), 0);
        CHECK(str_is(s, strs[i]));
    }
    CHECK_INT(gguf_get_arr(f, "arr.str.empty", &arr), 0);
    CHECK(arr.type == GGUF_TYPE_STRING && arr.count == 0);
    CHECK_INT(gguf_arr_str(&arr, 0, &s), MM_EINVAL);

    CHECK_INT(gguf_get_arr(f, "arr.nested.str", &arr), 0);
    CHECK(arr.type == GGUF_TYPE_ARRAY && arr.count == 2);
    CHECK_INT(gguf_arr_arr(&arr, 0, &l1), 0);
    CHECK(l1.type == GGUF_TYPE_ARRAY && l1.count == 2);
    CHECK_INT(gguf_arr_arr(&l1, 0, &l2), 0);
    CHECK(l2.type == GGUF_TYPE_STRING && l2.count == 2);
    CHECK(gguf_arr_str(&l2, 1, &s) == 0 && str_is(s, "bb"));
    CHECK(gguf_arr_str(&l2, 0, &s) == 0 && str_is(s, "a"));
    CHECK_INT(gguf_arr_arr(&l1, 1, &l2), 0);
    CHECK(l2.type == GGUF_TYPE_STRING && l2.count == 0);
    CHECK_INT(gguf_arr_arr(&arr, 1, &l1), 0);
    CHECK(l1.count == 1 && gguf_arr_arr(&l1, 0, &l2) == 0);
    CHECK(gguf_arr_str(&l2, 0, &s) == 0 && str_is(s, "ccc"));
    CHECK_INT(gguf_arr_arr(&arr, 2, &l1), MM_EINVAL);

    CHECK_INT(gguf_get_arr(f, "arr.nested.i16", &arr), 0);
    CHECK_INT(arr.count, 3);
    CHECK(gguf_arr_arr(&arr, 0, &l1) == 0 && l1.type == GGUF_TYPE_INT16 && l1.count == 3);
    CHECK(memcmp(l1.data, n_123, sizeof n_123) == 0);
    CHECK(gguf_arr_arr(&arr, 1, &l1) == 0 && l1.count == 0);
    CHECK(gguf_arr_arr(&arr, 2, &l1) == 0 && l1.count == 1);
    CHECK(memcmp(l1.data, n_4, sizeof n_4) == 0);
}

static void check_tensors(const gguf_file *f, uint8_t *const tensor_bytes[], uint32_t alignment)
{
    CHECK_INT(gguf_tensor_count(f), MM_ARRAY_LEN(tensor_cases));
    CHECK_INT(gguf_data_offset(f) % alignment, 0);
    uint64_t expect_offset = 0;
    for (size_t i = 0; i < MM_ARRAY_LEN(tensor_cases); i++) {
        const tensor_case *tc = &tensor_cases[i];
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(t != NULL && gguf_find_tensor(f, tc->name) == t);
        if (!t)
            continue;
        CHECK_STR(t->name, tc->name);
        CHECK_INT(t->type, tc->type);
        CHECK_INT(t->n_dims, tc->n_dims);
        uint64_t n = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            CHECK_INT(t->ne[d], d < tc->n_dims ? tc->ne[d] : 1);
            n *= d < tc->n_dims ? tc->ne[d] : 1;
        }
        CHECK_INT(t->n_elements, n);
        CHECK_INT(t->nbytes, tc->nbytes);
        CHECK_INT(t->offset, expect_offset);
        CHECK(memcmp(t->data, tensor_bytes[i], tc->nbytes) == 0);
        expect_offset += (tc->nbytes + alignment - 1) / alignment * alignment;
    }
    CHECK_INT(gguf_file_size(f), gguf_data_offset(f) + expect_offset);
}

static void test_roundtrip(uint32_t version, uint32_t alignment)
{
    gguf_writer *w = gguf_writer_new();
    uint8_t *tensor_bytes[MM_ARRAY_LEN(tensor_cases)];
    gguf_writer_set_version(w, version);
    gguf_writer_set_alignment(w, alignment);
    write_all(w, tensor_bytes);
    void *buf = NULL;
    size_t size = 0;
    mm_error err = { 0 };
    CHECK_INT(gguf_writer_to_buffer(w, &buf, &size, &err), 0);
    gguf_file *f = NULL;
    CHECK_INT(gguf_open_buffer(buf, size, &f, &err), 0);
    if (f) {
        CHECK_INT(gguf_version(f), version);
        CHECK_INT(gguf_alignment(f), alignment);
        /* All keys in the order written; general.alignment added when not 32. */
        size_t n_expect = 16 + MM_ARRAY_LEN(fixed_cases) + 2 + (alignment != 32);
        CHECK_INT(gguf_kv_count(f), n_expect);
        CHECK_STR(gguf_kv_key(f, 0), "s.u8");
        CHECK_STR(gguf_kv_key(f, 14), fixed_cases[0].key);
        if (alignment != 32)
            CHECK_STR(gguf_kv_key(f, n_expect - 1), "general.alignment");
        check_scalars(f);
        check_arrays(f);
        check_tensors(f, tensor_bytes, alignment);
        gguf_close(f);
    } else {
        fprintf(stderr, "%s\n", err.message);
    }
    /* The same through a file. */
    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.gguf", dir);
    CHECK_INT(gguf_writer_write(w, path, &err), 0);
    CHECK_INT(gguf_open(path, &f, &err), 0);
    if (f) {
        CHECK_INT(gguf_file_size(f), size);
        check_tensors(f, tensor_bytes, alignment);
        gguf_close(f);
    }
    mmtest_rmtree(dir);
    free(dir);
    free(buf);
    for (size_t i = 0; i < MM_ARRAY_LEN(tensor_cases); i++)
        free(tensor_bytes[i]);
    gguf_writer_free(w);
}

/* The writer's bytes for one key and one tensor, worked out from the spec. */
static void test_exact_bytes(void)
{
    static const uint8_t head[] = {
        'G', 'G', 'U', 'F', 2, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0,                 /* tensor count */
        1, 0, 0, 0, 0, 0, 0, 0,                 /* kv count */
        1, 0, 0, 0, 0, 0, 0, 0, 'k',            /* 24: key "k" */
        4, 0, 0, 0, 0x78, 0x56, 0x34, 0x12,     /* UINT32 0x12345678 */
        1, 0, 0, 0, 0, 0, 0, 0, 'w',            /* 41: tensor "w" */
        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,     /* n_dims 1, ne[0] 2 */
        0, 0, 0, 0,                             /* F32 */
        0, 0, 0, 0, 0, 0, 0, 0,                 /* offset 0; 74 bytes so far */
    };
    static const uint8_t payload[] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0 };   /* 1.0f, -2.0f */
    static const uint8_t align_kv[] = {
        17, 0, 0, 0, 0, 0, 0, 0, 'g', 'e', 'n', 'e', 'r', 'a', 'l', '.',
        'a', 'l', 'i', 'g', 'n', 'm', 'e', 'n', 't', 4, 0, 0, 0, 8, 0, 0, 0 };
    const float data[2] = { 1.0f, -2.0f };
    const uint64_t ne[1] = { 2 };
    uint8_t want[128] = { 0 };
    memcpy(want, head, sizeof head);
    memcpy(want + 96, payload, sizeof payload);   /* 74 padded to 32 -> 96; 104 padded -> 128 */

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_version(w, 2);
    gguf_writer_set_u32(w, "k", 0x12345678);
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, ne, data, sizeof data);
    void *buf = NULL;
    size_t size = 0;
    CHECK_INT(gguf_writer_to_buffer(w, &buf, &size, NULL), 0);
    CHECK_INT(size, sizeof want);
    CHECK(buf && size == sizeof want && memcmp(buf, want, size) == 0);
    free(buf);
    gguf_writer_free(w);

    /* Alignment 8, general.alignment set explicitly to the same value (not
     * doubled): "k" (24..41), the alignment key (41..74), the tensor info
     * (74..107), padding to 112, 8 bytes of data: 120. */
    w = gguf_writer_new();
    gguf_writer_set_version(w, 2);
    gguf_writer_set_alignment(w, 8);
    gguf_writer_set_u32(w, "k", 0x12345678);
    gguf_writer_set_u32(w, "general.alignment", 8);
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, ne, data, sizeof data);
    CHECK_INT(gguf_writer_to_buffer(w, &buf, &size, NULL), 0);
    CHECK_INT(size, 120);
    if (buf && size == 120) {
        const uint8_t *p = buf;
        CHECK(memcmp(p, head, 16) == 0);
        CHECK_INT(p[16], 2);
        CHECK(memcmp(p + 24, head + 24, 17) == 0);
        CHECK(memcmp(p + 41, align_kv, sizeof align_kv) == 0);
        CHECK(memcmp(p + 74, head + 41, 33) == 0);
        CHECK(memcmp(p + 112, payload, 8) == 0);
    }
    free(buf);
    gguf_writer_free(w);
}

static void expect_writer_error(gguf_writer *w, int code, const char *needle, int line)
{
    void *buf = NULL;
    size_t size = 0;
    mm_error err = { 0 };
    int rc = gguf_writer_to_buffer(w, &buf, &size, &err);
    mmtest_checks++;
    if (rc != code || !strstr(err.message, needle))
        mmtest_fail(__FILE__, line, "rc %d (expected %d), \"%s\" (expected \"%s\")", rc, code,
                    err.message, needle);
    CHECK(buf == NULL);
    free(buf);
    gguf_writer_free(w);
}
#define EXPECT_WRITER_ERROR(w, code, needle) expect_writer_error(w, code, needle, __LINE__)

static void test_writer_errors(void)
{
    float data[64] = { 0 };
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, (const uint64_t[]){ 4 }, data, 12);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "tensor w: 12 bytes given, its F32 shape needs 16");
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", GGML_TYPE_Q4_0, 1, (const uint64_t[]){ 48 }, data, 36);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "ne[0] = 48 is not a multiple of the Q4_0 block size 32");
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", 5, 1, (const uint64_t[]){ 4 }, data, 16);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "type 5 has no known layout");
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, (const uint64_t[]){ 4 }, data, 16);
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, (const uint64_t[]){ 4 }, data, 16);
    EXPECT_WRITER_ERROR(w, MM_EEXIST, "tensor w added twice");
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 5, (const uint64_t[]){ 1, 1, 1, 1, 4 }, data, 16);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "n_dims 5 is out of range");
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 2, (const uint64_t[]){ 4, 0 }, data, 0);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "dimension 1 (0) is invalid");
    w = gguf_writer_new();
    gguf_writer_set_version(w, 1);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "GGUF version 1 cannot be written");
    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 48);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "alignment 48 is not a power of two");
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "general.alignment must be the UINT32 32");
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "", 1);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "metadata key is empty");
    w = gguf_writer_new();
    gguf_writer_set_arr(w, "k", GGUF_TYPE_STRING, data, 1);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "takes fixed-size elements");
    /* One level deeper than the reader accepts. */
    gguf_writer_array levels[GGUF_MAX_ARRAY_DEPTH + 1];
    for (size_t i = 0; i <= GGUF_MAX_ARRAY_DEPTH; i++) {
        bool last = i == GGUF_MAX_ARRAY_DEPTH;
        levels[i] = (gguf_writer_array){ last ? GGUF_TYPE_UINT8 : GGUF_TYPE_ARRAY, last ? 0 : 1,
                                         last ? NULL : &levels[i + 1] };
    }
    w = gguf_writer_new();
    gguf_writer_set_arr_nested(w, "deep", &levels[0]);
    EXPECT_WRITER_ERROR(w, MM_ELIMIT, "deep: arrays nested deeper than 8 levels");
    /* GGUF_MAX_ARRAY_DEPTH levels are written and read back. */
    w = gguf_writer_new();
    gguf_writer_set_arr_nested(w, "deep", &levels[1]);
    void *buf = NULL;
    size_t size = 0;
    gguf_file *f = NULL;
    CHECK_INT(gguf_writer_to_buffer(w, &buf, &size, NULL), 0);
    CHECK_INT(gguf_open_buffer(buf, size, &f, NULL), 0);
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
    /* The first error sticks; later calls do not replace it. */
    w = gguf_writer_new();
    gguf_writer_set_version(w, 9);
    gguf_writer_set_alignment(w, 3);
    EXPECT_WRITER_ERROR(w, MM_EINVAL, "GGUF version 9");
    /* Setting a key again replaces the value in place. */
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "a", 1);
    gguf_writer_set_u32(w, "b", 2);
    gguf_writer_set_str(w, "a", "now a string");
    CHECK_INT(gguf_writer_to_buffer(w, &buf, &size, NULL), 0);
    CHECK_INT(gguf_open_buffer(buf, size, &f, NULL), 0);
    if (f) {
        gguf_str s;
        CHECK_INT(gguf_kv_count(f), 2);
        CHECK_STR(gguf_kv_key(f, 0), "a");
        CHECK(gguf_get_str(f, "a", &s) == 0 && str_is(s, "now a string"));
        gguf_close(f);
    }
    free(buf);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

int main(void)
{
    test_roundtrip(3, 32);
    test_roundtrip(3, 64);
    test_roundtrip(2, 32);
    test_roundtrip(2, 64);
    test_exact_bytes();
    test_writer_errors();
    return mmtest_finish();
}
