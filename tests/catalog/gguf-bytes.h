/* gguf-bytes.h - small GGUF files written byte by byte from the format
 * table (shared/reference/gguf-and-quants.md §1), so the catalog tests do
 * not depend on the project's own GGUF writer. Header-only: static helpers
 * for the tests in this folder. */
#ifndef MM_TEST_GGUF_BYTES_H
#define MM_TEST_GGUF_BYTES_H

#include "core/core.h"
#include "support/test.h"

#include <stdlib.h>

typedef struct bytes {
    unsigned char b[1024];
    size_t n;
} bytes;

static inline void put_raw(bytes *o, const void *p, size_t n)
{
    MM_ASSERT(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static inline void put_u32(bytes *o, uint32_t v) { put_raw(o, &v, 4); }
static inline void put_u64(bytes *o, uint64_t v) { put_raw(o, &v, 8); }
static inline void put_str(bytes *o, const char *s) { put_u64(o, strlen(s)); put_raw(o, s, strlen(s)); }
static inline void kv_str(bytes *o, const char *k, const char *v)
{
    put_str(o, k);
    put_u32(o, 8);   /* GGUF_TYPE_STRING */
    put_str(o, v);
}
static inline void kv_u32(bytes *o, const char *k, uint32_t v)
{
    put_str(o, k);
    put_u32(o, 4);   /* GGUF_TYPE_UINT32 */
    put_u32(o, v);
}

/* Write o to path, creating its directory. Returns the size. */
static inline size_t write_bytes(const char *path, const bytes *o)
{
    char *dir = mm_strdup(path);
    *strrchr(dir, '/') = '\0';
    mm_mkdirs(dir, NULL);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_INT(fwrite(o->b, 1, o->n, f), o->n);
        fclose(f);
    }
    free(dir);
    return o->n;
}

/* Version 3, no tensors, one key (general.architecture), padded to 32.
 * Returns the file size. */
static inline size_t gguf_bytes_minimal(const char *path, const char *arch)
{
    bytes o = { .n = 0 };
    put_raw(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, 0);   /* tensors */
    put_u64(&o, 1);   /* kv pairs */
    kv_str(&o, "general.architecture", arch);
    while (o.n % 32)
        o.b[o.n++] = 0;
    return write_bytes(path, &o);
}

/* A llama-shaped GGUF with the metadata the catalog shows and one F32
 * tensor of ne = [4, 2] (8 parameters): name "Tiny Test", context 2048,
 * embedding 64, 2 layers, 4 heads, 2 kv heads, file type 15 (Q4_K_M), a
 * chat template. Returns the file size. */
static inline size_t gguf_bytes_rich(const char *path)
{
    bytes o = { .n = 0 };
    put_raw(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, 1);   /* tensors */
    put_u64(&o, 9);   /* kv pairs */
    kv_str(&o, "general.architecture", "llama");
    kv_str(&o, "general.name", "Tiny Test");
    kv_u32(&o, "llama.context_length", 2048);
    kv_u32(&o, "llama.embedding_length", 64);
    kv_u32(&o, "llama.block_count", 2);
    kv_u32(&o, "llama.attention.head_count", 4);
    kv_u32(&o, "llama.attention.head_count_kv", 2);
    kv_u32(&o, "general.file_type", 15);   /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    kv_str(&o, "tokenizer.chat_template", "{{ messages }}");
    put_str(&o, "token_embd.weight");
    put_u32(&o, 2);
    put_u64(&o, 4);
    put_u64(&o, 2);
    put_u32(&o, 0);   /* GGML_TYPE_F32 */
    put_u64(&o, 0);   /* offset in the data section */
    while (o.n % 32)
        o.b[o.n++] = 0;
    for (int i = 0; i < 32; i++)   /* 8 floats of data */
        o.b[o.n++] = 0;
    return write_bytes(path, &o);
}

#endif /* MM_TEST_GGUF_BYTES_H */
