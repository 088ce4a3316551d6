/* test-crafted.c - the reader against GGUF bytes assembled by hand (not by
 * the project's writer): a valid file decoded field by field, and one
 * malformed file per check the reader must make, each with its message. */
#include "gguf/gguf.h"
#include "support/test.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- a little-endian byte builder ---- */

typedef struct bb {
    uint8_t data[4096];
    size_t  len;
} bb;

static void put(bb *b, const void *p, size_t n)
{
    if (b->len + n > sizeof b->data)
        abort();
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void u8(bb *b, uint8_t v) { put(b, &v, 1); }
static void u32(bb *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        u8(b, (uint8_t)(v >> (8 * i)));
}
static void u64(bb *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        u8(b, (uint8_t)(v >> (8 * i)));
}
static void str(bb *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->len = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(bb *b, const char *key, uint32_t v)
{
    str(b, key);
    u32(b, GGUF_TYPE_UINT32);
    u32(b, v);
}
static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset)
{
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        u64(b, ne[i]);
    u32(b, type);
    u64(b, offset);
}
static void pad_to(bb *b, size_t align)
{
    while (b->len % align)
        u8(b, 0);
}
static void zeros(bb *b, size_t n)
{
    while (n--)
        u8(b, 0);
}

/* Open b and expect failure with code and a message containing needle. */
static void expect_fail(const bb *b, int code, const char *needle, int line)
{
    gguf_file *f = NULL;
    mm_error err = { 0 };
    int rc = gguf_open_buffer(b->data, b->len, &f, &err);
    if (rc != code || !strstr(err.message, needle))
        mmtest_fail(__FILE__, line, "rc %d (expected %d), message \"%s\" (expected \"%s\")",
                    rc, code, err.message, needle);
    mmtest_checks++;
    CHECK(f == NULL);
    gguf_close(f);
}
#define EXPECT_FAIL(b, code, needle) expect_fail(b, code, needle, __LINE__)

static void test_valid(void)
{
    bb b;
    header(&b, 3, 2, 5);
    kv_u32(&b, "general.alignment", 64);
    str(&b, "general.architecture"); u32(&b, GGUF_TYPE_STRING); str(&b, "llama");
    str(&b, "t.neg"); u32(&b, GGUF_TYPE_INT16); u8(&b, 0xfe); u8(&b, 0xff);   /* -2 */
    str(&b, "t.strs"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_STRING); u64(&b, 3);
    str(&b, "a"); str(&b, ""); str(&b, "ccc");
    /* [[1,2],[]] of u16 */
    str(&b, "t.nested"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_ARRAY); u64(&b, 2);
    u32(&b, GGUF_TYPE_UINT16); u64(&b, 2); u8(&b, 1); u8(&b, 0); u8(&b, 2); u8(&b, 0);
    u32(&b, GGUF_TYPE_UINT16); u64(&b, 0);
    uint64_t ne_a[2] = { 32, 2 }, ne_b[1] = { 8 };
    tinfo(&b, "a", 2, ne_a, GGML_TYPE_Q8_0, 0);      /* 2 blocks of 34 bytes */
    tinfo(&b, "b", 1, ne_b, GGML_TYPE_F16, 128);
    size_t data_at = (b.len + 63) / 64 * 64;
    pad_to(&b, 64);
    zeros(&b, 128 + 16);
    b.data[data_at + 128] = 0xAB;

    gguf_file *f = NULL;
    mm_error err = { 0 };
    CHECK_INT(gguf_open_buffer(b.data, b.len, &f, &err), 0);
    if (!f) {
        fprintf(stderr, "%s\n", err.message);
        return;
    }
    CHECK_INT(gguf_version(f), 3);
    CHECK_INT(gguf_alignment(f), 64);
    CHECK_INT(gguf_data_offset(f), data_at);
    CHECK_INT(gguf_kv_count(f), 5);
    CHECK_STR(gguf_kv_key(f, 3), "t.strs");
    CHECK_INT(gguf_kv_type(f, 2), GGUF_TYPE_INT16);
    CHECK_INT(gguf_find_key(f, "t.nested"), 4);
    CHECK_INT(gguf_find_key(f, "t.none"), -1);
    uint32_t u = 0;
    int32_t i32 = 0;
    uint64_t u64v = 0;
    CHECK_INT(gguf_get_u32(f, "general.alignment", &u), 0);
    CHECK_INT(u, 64);
    CHECK_INT(gguf_get_i32(f, "t.neg", &i32), 0);
    CHECK_INT(i32, -2);
    CHECK_INT(gguf_get_u64(f, "t.neg", &u64v), MM_EFORMAT);     /* negative */
    CHECK_INT(gguf_get_u32(f, "general.architecture", &u), MM_EFORMAT);
    CHECK_INT(gguf_get_u32(f, "nope", &u), MM_ENOTFOUND);
    gguf_str s;
    CHECK_INT(gguf_get_str(f, "general.architecture", &s), 0);
    CHECK(s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    gguf_arr arr, inner;
    CHECK_INT(gguf_get_arr(f, "t.strs", &arr), 0);
    CHECK_INT(arr.count, 3);
    CHECK_INT(gguf_arr_str(&arr, 2, &s), 0);
    CHECK(s.len == 3 && memcmp(s.ptr, "ccc", 3) == 0);
    CHECK_INT(gguf_arr_str(&arr, 1, &s), 0);
    CHECK_INT(s.len, 0);
    CHECK_INT(gguf_arr_str(&arr, 3, &s), MM_EINVAL);
    CHECK_INT(gguf_arr_arr(&arr, 0, &inner), MM_EINVAL);
    CHECK_INT(gguf_get_arr(f, "t.nested", &arr), 0);
    CHECK_INT(arr.type, GGUF_TYPE_ARRAY);
    CHECK_INT(gguf_arr_arr(&arr, 0, &inner), 0);
    CHECK_INT(inner.type, GGUF_TYPE_UINT16);
    CHECK_INT(inner.count, 2);
    uint16_t v16;
    memcpy(&v16, (const uint8_t *)inner.data + 2, 2);
    CHECK_INT(v16, 2);
    CHECK_INT(gguf_arr_arr(&arr, 1, &inner), 0);
    CHECK_INT(inner.count, 0);
    CHECK_INT(gguf_tensor_count(f), 2);
    const gguf_tensor *t = gguf_find_tensor(f, "b");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->nbytes, 16);
        CHECK_INT(t->n_elements, 8);
        CHECK_INT(t->ne[1], 1);
        CHECK(t->data == b.data + data_at + 128);
        CHECK_INT(*(const uint8_t *)t->data, 0xAB);
    }
    t = gguf_tensor_at(f, 0);
    CHECK(t && t->nbytes == 68 && t->n_elements == 64 && strcmp(t->name, "a") == 0);
    CHECK(gguf_tensor_at(f, 2) == NULL);
    gguf_close(f);
}

static void test_header_errors(void)
{
    bb b;
    b.len = 0;
    EXPECT_FAIL(&b, MM_EFORMAT, "not a GGUF file");
    put(&b, "GGML", 4);
    u32(&b, 3);
    EXPECT_FAIL(&b, MM_EFORMAT, "not a GGUF file");
    header(&b, 1, 0, 0);
    EXPECT_FAIL(&b, MM_EUNSUPPORTED, "GGUF version 1 is obsolete; reconvert the model");
    header(&b, 0x03000000u, 0, 0);           /* a big-endian v3 read as LE */
    EXPECT_FAIL(&b, MM_EUNSUPPORTED, "big-endian GGUF files are not supported");
    header(&b, 4, 0, 0);
    EXPECT_FAIL(&b, MM_EUNSUPPORTED, "GGUF version 4 is not supported");
    header(&b, 3, 0, 0);
    b.len = 20;
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 16: metadata count: file ends inside the field");
    header(&b, 3, 0, UINT64_MAX);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 16: metadata count 18446744073709551615 exceeds the file size");
    header(&b, 3, 1u << 30, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 8: tensor count 1073741824 exceeds the file size");
    /* A v2 file with no content is valid. */
    header(&b, 2, 0, 0);
    gguf_file *f = NULL;
    CHECK_INT(gguf_open_buffer(b.data, b.len, &f, NULL), 0);
    CHECK(f && gguf_version(f) == 2 && gguf_data_offset(f) == 24);
    gguf_close(f);
}

static void test_metadata_errors(void)
{
    bb b;
    header(&b, 3, 0, 4);
    kv_u32(&b, "a.b", 1);
    kv_u32(&b, "a.c", 1);
    kv_u32(&b, "a.d", 1);
    u64(&b, UINT64_MAX);
    zeros(&b, 16);
    EXPECT_FAIL(&b, MM_EFORMAT,
                ": offset 81: metadata key 3: key length 18446744073709551615 exceeds the file size");
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, GGUF_TYPE_STRING); u64(&b, UINT64_MAX - 3); zeros(&b, 8);
    EXPECT_FAIL(&b, MM_EFORMAT,
                "offset 37: metadata key 0 ('k'): string length 18446744073709551612 exceeds the file size");
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_UINT32); u64(&b, UINT64_MAX / 2);
    zeros(&b, 8);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 41: metadata key 0 ('k'): array count 9223372036854775807 "
                                "exceeds the file size");
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_STRING); u64(&b, 1ull << 61);
    EXPECT_FAIL(&b, MM_EFORMAT, "array count 2305843009213693952 exceeds the file size");
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, 13); u32(&b, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 33: metadata key 0 ('k'): value type 13 is not a GGUF value type");
    header(&b, 3, 0, 1);
    str(&b, "k"); u32(&b, GGUF_TYPE_BOOL); u8(&b, 2);
    EXPECT_FAIL(&b, MM_EFORMAT, "bool value is 2");
    header(&b, 3, 0, 2);
    kv_u32(&b, "same", 1);
    kv_u32(&b, "same", 2);
    EXPECT_FAIL(&b, MM_EFORMAT, "metadata key 1 ('same'): duplicate key");
    header(&b, 3, 0, 1);
    kv_u32(&b, "", 1);
    EXPECT_FAIL(&b, MM_EFORMAT, "key is empty");
    header(&b, 3, 0, 1);
    kv_u32(&b, "bad\nkey", 1);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 35: metadata key 0: key contains byte 0x0a");
    /* Nesting: GGUF_MAX_ARRAY_DEPTH levels are fine, one more is not. */
    for (unsigned depth = GGUF_MAX_ARRAY_DEPTH; depth <= GGUF_MAX_ARRAY_DEPTH + 1; depth++) {
        header(&b, 3, 0, 1);
        str(&b, "deep");
        u32(&b, GGUF_TYPE_ARRAY);
        for (unsigned d = 1; d < depth; d++) {
            u32(&b, GGUF_TYPE_ARRAY);
            u64(&b, 1);
        }
        u32(&b, GGUF_TYPE_UINT8);
        u64(&b, 0);
        gguf_file *f = NULL;
        mm_error err = { 0 };
        int rc = gguf_open_buffer(b.data, b.len, &f, &err);
        if (depth <= GGUF_MAX_ARRAY_DEPTH) {
            CHECK_INT(rc, 0);
        } else {
            CHECK_INT(rc, MM_EFORMAT);
            CHECK_CONTAINS(err.message, "arrays nested deeper than 8 levels");
        }
        gguf_close(f);
    }
    /* general.alignment must be a UINT32 power of two. */
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    EXPECT_FAIL(&b, MM_EFORMAT, "general.alignment 48 is not a power of two");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "general.alignment 0 is not a power of two");
    header(&b, 3, 0, 1);
    str(&b, "general.alignment"); u32(&b, GGUF_TYPE_UINT64); u64(&b, 32);
    EXPECT_FAIL(&b, MM_EFORMAT, "general.alignment must be UINT32");
}

/* One tensor "w" with the given info fields and 256 bytes of data space. */
static void one_tensor(bb *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
    header(b, 3, 1, 0);
    tinfo(b, "w", n_dims, ne, type, offset);
    pad_to(b, 32);
    zeros(b, 256);
}

static void test_tensor_errors(void)
{
    bb b;
    uint64_t ne[5] = { 32, 2, 1, 1, 1 };
    one_tensor(&b, 2, ne, GGML_TYPE_F32, 0);   /* 256 bytes: exactly fits */
    gguf_file *f = NULL;
    CHECK_INT(gguf_open_buffer(b.data, b.len, &f, NULL), 0);
    gguf_close(f);
    one_tensor(&b, 2, ne, GGML_TYPE_F32, 32);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 57: tensor 0 ('w'): data (offset 32 + 256 bytes from the "
                                "data section at 96) lies outside the file of 352 bytes");
    one_tensor(&b, 2, ne, GGML_TYPE_F32, 8);
    EXPECT_FAIL(&b, MM_EFORMAT, "data offset 8 is not a multiple of the alignment 32");
    one_tensor(&b, 2, ne, GGML_TYPE_F32, UINT64_MAX - 31);
    EXPECT_FAIL(&b, MM_EFORMAT, "lies outside the file");
    one_tensor(&b, 5, ne, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 33: tensor 0 ('w'): n_dims 5 is out of range (1..4)");
    one_tensor(&b, 0, ne, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "n_dims 0 is out of range");
    uint64_t zero[2] = { 32, 0 };
    one_tensor(&b, 2, zero, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "offset 45: tensor 0 ('w'): dimension 1 is 0");
    uint64_t huge[4] = { 1ull << 32, 1ull << 32, 1, 1 };
    one_tensor(&b, 4, huge, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "element count overflows at dimension 1");
    uint64_t big[2] = { 1ull << 40, 1ull << 20 };
    one_tensor(&b, 2, big, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "lies outside the file");
    one_tensor(&b, 2, ne, 99, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "tensor 0 ('w'): tensor type 99 is unknown");
    one_tensor(&b, 2, ne, 4, 0);   /* Q4_2, removed from ggml */
    EXPECT_FAIL(&b, MM_EFORMAT, "tensor type 4 is unknown or removed");
    uint64_t odd[2] = { 48, 2 };
    one_tensor(&b, 2, odd, GGML_TYPE_Q4_K, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "tensor 0 ('w'): ne[0] = 48 is not a multiple of the Q4_K block size 256");
    /* Two tensors of one name. */
    header(&b, 3, 2, 0);
    tinfo(&b, "w", 1, ne, GGML_TYPE_F32, 0);
    tinfo(&b, "w", 1, ne, GGML_TYPE_F32, 128);
    pad_to(&b, 32);
    zeros(&b, 256);
    EXPECT_FAIL(&b, MM_EFORMAT, "tensor 1 ('w'): duplicate tensor name");
    /* A name of 64 bytes is over llama.cpp's limit. */
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    header(&b, 3, 1, 0);
    tinfo(&b, name, 1, ne, GGML_TYPE_F32, 0);
    pad_to(&b, 32);
    zeros(&b, 256);
    EXPECT_FAIL(&b, MM_EFORMAT, "name length 64 exceeds the limit of 63 bytes");
    /* Data section starting past the end of the file. */
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 1, ne, GGML_TYPE_F32, 0);
    EXPECT_FAIL(&b, MM_EFORMAT, "past the end of the file");
}

static void test_files(void)
{
    char *dir = mmtest_tmpdir();
    char path[4096];
    gguf_file *f = NULL;
    mm_error err = { 0 };
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    CHECK_INT(gguf_open(path, &f, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "missing.gguf");
    CHECK_INT(gguf_open(dir, &f, &err), MM_EIO);
    snprintf(path, sizeof path, "%s/small.gguf", dir);
    mmtest_write_file(path, "GGUF");
    CHECK_INT(gguf_open(path, &f, &err), MM_EFORMAT);
    /* An error names the file it is about. */
    bb b;
    header(&b, 3, 0, 1);
    kv_u32(&b, "x", 1);
    b.len -= 2;
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    CHECK_INT(mm_file_write_atomic(path, b.data, b.len, NULL), 0);
    CHECK_INT(gguf_open(path, &f, &err), MM_EFORMAT);
    CHECK_CONTAINS(err.message, "model.gguf: offset 37: metadata key 0 ('x'): number value: "
                                "file ends inside the value");
    CHECK(f == NULL);
    mmtest_rmtree(dir);
    free(dir);
}

/* The GGUF_MAX_* bounds, each one past its limit in a file big enough that
 * only the limit (not the file size) can refuse it: sparse files, so the
 * untouched bulk costs no disk or memory. */
static void test_limits(void)
{
    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/big.gguf", dir);
    static const struct { uint64_t file_size; const char *needle; int kind; } cases[] = {
        { 2u << 20, "metadata count 65537 exceeds the limit of 65536", 0 },
        { 3u << 20, "tensor count 65537 exceeds the limit of 65536", 1 },
        { (64u << 20) + 4096, "string length 67108865 exceeds the limit of 67108864 bytes", 2 },
        { (64u << 20) + 4096, "array count 67108865 exceeds the limit of 67108864 elements", 3 },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        bb b;
        switch (cases[i].kind) {
        case 0: header(&b, 3, 0, GGUF_MAX_KV + 1); break;
        case 1: header(&b, 3, GGUF_MAX_TENSORS + 1, 0); break;
        case 2:
            header(&b, 3, 0, 1);
            str(&b, "k"); u32(&b, GGUF_TYPE_STRING); u64(&b, GGUF_MAX_STRING + 1ull);
            break;
        default:
            header(&b, 3, 0, 1);
            str(&b, "k"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_UINT8);
            u64(&b, GGUF_MAX_ARRAY + 1ull);
            break;
        }
        FILE *fp = fopen(path, "wb");
        CHECK(fp != NULL);
        if (!fp)
            break;
        CHECK_INT(fwrite(b.data, 1, b.len, fp), b.len);
        CHECK_INT(ftruncate(fileno(fp), (off_t)cases[i].file_size), 0);
        fclose(fp);
        gguf_file *f = NULL;
        mm_error err = { 0 };
        CHECK_INT(gguf_open(path, &f, &err), MM_EFORMAT);
        CHECK_CONTAINS(err.message, cases[i].needle);
        gguf_close(f);
    }
    mmtest_rmtree(dir);
    free(dir);
}

/* Every id of ggml's type enum against gguf-and-quants.md §2.1 (bits per
 * weight there = 8 * bytes / block, which this also checks). */
static void test_type_table(void)
{
    static const struct { uint32_t id; const char *name; uint32_t block, bytes; double bpw; } want[] = {
        { 0, "F32", 1, 4, 32 }, { 1, "F16", 1, 2, 16 }, { 2, "Q4_0", 32, 18, 4.5 },
        { 3, "Q4_1", 32, 20, 5.0 }, { 6, "Q5_0", 32, 22, 5.5 }, { 7, "Q5_1", 32, 24, 6.0 },
        { 8, "Q8_0", 32, 34, 8.5 }, { 9, "Q8_1", 32, 36, 9.0 }, { 10, "Q2_K", 256, 84, 2.625 },
        { 11, "Q3_K", 256, 110, 3.4375 }, { 12, "Q4_K", 256, 144, 4.5 },
        { 13, "Q5_K", 256, 176, 5.5 }, { 14, "Q6_K", 256, 210, 6.5625 },
        { 15, "Q8_K", 256, 292, 9.125 }, { 16, "IQ2_XXS", 256, 66, 2.0625 },
        { 17, "IQ2_XS", 256, 74, 2.3125 }, { 18, "IQ3_XXS", 256, 98, 3.0625 },
        { 19, "IQ1_S", 256, 50, 1.5625 }, { 20, "IQ4_NL", 32, 18, 4.5 },
        { 21, "IQ3_S", 256, 110, 3.4375 }, { 22, "IQ2_S", 256, 82, 2.5625 },
        { 23, "IQ4_XS", 256, 136, 4.25 }, { 24, "I8", 1, 1, 8 }, { 25, "I16", 1, 2, 16 },
        { 26, "I32", 1, 4, 32 }, { 27, "I64", 1, 8, 64 }, { 28, "F64", 1, 8, 64 },
        { 29, "IQ1_M", 256, 56, 1.75 }, { 30, "BF16", 1, 2, 16 },
        { 34, "TQ1_0", 256, 54, 1.6875 }, { 35, "TQ2_0", 256, 66, 2.0625 },
        { 39, "MXFP4", 32, 17, 4.25 },
    };
    size_t k = 0;
    for (uint32_t id = 0; id < GGML_TYPE_COUNT + 5; id++) {
        const ggml_type_traits *tt = ggml_type_get_traits(id);
        if (k < MM_ARRAY_LEN(want) && want[k].id == id) {
            CHECK(tt != NULL);
            if (tt) {
                CHECK_STR(tt->name, want[k].name);
                CHECK_INT(tt->block_size, want[k].block);
                CHECK_INT(tt->type_size, want[k].bytes);
                CHECK_NEAR(8.0 * tt->type_size / tt->block_size, want[k].bpw, 1e-9);
            }
            k++;
        } else if (tt) {
            mmtest_fail(__FILE__, __LINE__, "type %u (%s) should have no layout", id, tt->name);
        }
    }
}

int main(void)
{
    test_valid();
    test_header_errors();
    test_metadata_errors();
    test_tensor_errors();
    test_files();
    test_limits();
    test_type_table();
    CHECK_STR(ggml_type_name(GGML_TYPE_Q6_K), "Q6_K");
    CHECK_STR(ggml_type_name(77), "type 77");
    CHECK(ggml_type_get_traits(31) == NULL);
    CHECK_STR(gguf_file_type_name(15), "Q4_K_M");
    CHECK(gguf_file_type_name(4) == NULL);
    CHECK(gguf_file_type_name(-1) == NULL);
    /* Row sizes from the block tables: 4096 Q4_K = 16 blocks of 144 bytes. */
    CHECK_INT(ggml_row_size(GGML_TYPE_Q4_K, 4096), 16 * 144);
    CHECK_INT(ggml_row_size(GGML_TYPE_Q5_0, 896), 28 * 22);
    CHECK_INT(ggml_row_size(GGML_TYPE_F16, 7), 14);
    CHECK_INT(ggml_row_size(GGML_TYPE_Q6_K, 896), 0);
    CHECK_INT(ggml_row_size(99, 32), 0);
    return mmtest_finish();
}
