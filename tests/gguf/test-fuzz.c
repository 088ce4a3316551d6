/* test-fuzz.c - hostile bytes: a valid file (metadata of every type, a few
 * tensors) opened truncated at every offset, with every header byte flipped
 * or overwritten, and with seeded random corruption. Each open must fail
 * cleanly or succeed with every invariant holding; buffers are exact-size
 * heap copies so AddressSanitizer (make test-asan) sees any over-read. */
#include "gguf/gguf.h"
#include "support/test.h"

#include <stdlib.h>

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next_rand(void)
{
    return mmtest_rng_u64(&rng);
}

static void *build_valid(size_t *size)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_alignment(w, 64);
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "fuzz");
    gguf_writer_set_u32(w, "llama.context_length", 128);
    gguf_writer_set_u32(w, "llama.embedding_length", 32);
    gguf_writer_set_u8(w, "x.u8", 7);
    gguf_writer_set_i8(w, "x.i8", -7);
    gguf_writer_set_u16(w, "x.u16", 700);
    gguf_writer_set_i16(w, "x.i16", -700);
    gguf_writer_set_i32(w, "general.file_type", 1);
    gguf_writer_set_u64(w, "x.u64", 1ull << 40);
    gguf_writer_set_i64(w, "x.i64", -(1ll << 40));
    gguf_writer_set_f32(w, "x.f32", 0.5f);
    gguf_writer_set_f64(w, "x.f64", 0.25);
    gguf_writer_set_bool(w, "x.bool", true);
    gguf_writer_set_str(w, "tokenizer.chat_template", "{{ messages }}");
    const char *tokens[] = { "<unk>", "<s>", "</s>", "a", "" };
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 5);
    const float scores[] = { 0, 0, 0, -1, -2 };
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 5);
    const uint32_t heads[] = { 4, 4, 2 };
    gguf_writer_set_arr(w, "llama.attention.head_count", GGUF_TYPE_UINT32, heads, 3);
    const bool flags[] = { true, false };
    gguf_writer_set_arr(w, "x.bools", GGUF_TYPE_BOOL, flags, 2);
    const char *pair[] = { "x", "yz" };
    gguf_writer_array inner[] = { { GGUF_TYPE_STRING, 2, pair }, { GGUF_TYPE_UINT16, 0, NULL } };
    gguf_writer_array outer = { GGUF_TYPE_ARRAY, 2, inner };
    gguf_writer_set_arr_nested(w, "x.nested", &outer);

    static uint8_t data[2 * 144];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37);
    gguf_writer_add_tensor(w, "a.f32", GGML_TYPE_F32, 2, (const uint64_t[]){ 4, 3 }, data, 48);
    gguf_writer_add_tensor(w, "b.q8_0", GGML_TYPE_Q8_0, 1, (const uint64_t[]){ 64 }, data, 68);
    gguf_writer_add_tensor(w, "c.q4_k", GGML_TYPE_Q4_K, 3, (const uint64_t[]){ 256, 1, 2 }, data, 288);
    void *buf = NULL;
    mm_error err = { 0 };
    if (gguf_writer_to_buffer(w, &buf, size, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        abort();
    }
    gguf_writer_free(w);
    return buf;
}

static bool in_buf(const uint8_t *lo, size_t size, const void *p, uint64_t len)
{
    const uint8_t *q = p;
    return q >= lo && q <= lo + size && len <= (uint64_t)(lo + size - q);
}

static size_t value_size(gguf_type t)
{
    static const size_t sizes[GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return t < GGUF_TYPE_COUNT ? sizes[t] : 0;
}

/* Walk an array completely; false when any part lies outside the buffer. */
static bool walk_array(const uint8_t *lo, size_t size, const gguf_arr *arr, unsigned depth)
{
    if (depth > GGUF_MAX_ARRAY_DEPTH || arr->type >= GGUF_TYPE_COUNT || arr->count > GGUF_MAX_ARRAY)
        return false;
    size_t es = value_size(arr->type);
    if (es)
        return in_buf(lo, size, arr->data, arr->count * es);
    for (uint64_t i = 0; i < arr->count; i++) {
        if (arr->type == GGUF_TYPE_STRING) {
            gguf_str s;
            if (gguf_arr_str(arr, i, &s) != 0 || !in_buf(lo, size, s.ptr, s.len))
                return false;
        } else {
            gguf_arr child;
            if (gguf_arr_arr(arr, i, &child) != 0 || !walk_array(lo, size, &child, depth + 1))
                return false;
        }
    }
    return true;
}

/* Everything a caller may rely on after a successful open. */
static bool invariants_hold(const gguf_file *f, const uint8_t *lo, size_t size)
{
    if (gguf_version(f) < 2 || gguf_version(f) > 3 || gguf_file_size(f) != size)
        return false;
    uint32_t a = gguf_alignment(f);
    if (a == 0 || (a & (a - 1)) != 0 || gguf_data_offset(f) > size)
        return false;
    for (size_t i = 0; i < gguf_kv_count(f); i++) {
        const char *key = gguf_kv_key(f, i);
        if (!key || !key[0] || strlen(key) > GGUF_MAX_KEY || gguf_find_key(f, key) != (int64_t)i)
            return false;
        gguf_str s;
        gguf_arr arr;
        switch (gguf_kv_type(f, i)) {
        case GGUF_TYPE_STRING:
            if (gguf_get_str(f, key, &s) != 0 || !in_buf(lo, size, s.ptr, s.len))
                return false;
            break;
        case GGUF_TYPE_ARRAY:
            if (gguf_get_arr(f, key, &arr) != 0 || !walk_array(lo, size, &arr, 1))
                return false;
            break;
        default: {
            uint64_t u;
            double d;
            bool b;
            int r1 = gguf_get_u64(f, key, &u), r2 = gguf_get_f64(f, key, &d), r3 = gguf_get_bool(f, key, &b);
            if (r1 != 0 && r2 != 0 && r3 != 0 && gguf_get_i64(f, key, &(int64_t){ 0 }) != 0)
                return false;
        }
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const ggml_type_traits *tt = ggml_type_get_traits(t->type);
        if (!t->name || gguf_find_tensor(f, t->name) != t || !tt || t->n_dims < 1 || t->n_dims > 4)
            return false;
        uint64_t n = 1;
        for (int d = 0; d < 4; d++) {
            if (t->ne[d] == 0 || (d >= (int)t->n_dims && t->ne[d] != 1))
                return false;
            n *= t->ne[d];
        }
        if (n != t->n_elements || t->ne[0] % tt->block_size ||
            t->nbytes != n / tt->block_size * tt->type_size || t->offset % a != 0 ||
            (const uint8_t *)t->data != lo + gguf_data_offset(f) + t->offset ||
            !in_buf(lo, size, t->data, t->nbytes))
            return false;
        volatile uint8_t touch = ((const uint8_t *)t->data)[0];
        touch = ((const uint8_t *)t->data)[t->nbytes - 1];
        (void)touch;
    }
    mm_model_facts mf;
    gguf_model_facts(f, &mf);
    return mf.file_size == size && strlen(mf.architecture) < sizeof mf.architecture;
}

typedef struct tally {
    int ok, failed, bad;
} tally;

/* Open an exact-size copy of data[0..size); record the outcome. */
static void try_open(const uint8_t *data, size_t size, tally *t, const char *what, size_t where)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    gguf_file *f = NULL;
    mm_error err = { 0 };
    int rc = gguf_open_buffer(copy, size, &f, &err);
    if (rc == 0) {
        if (f && invariants_hold(f, copy, size)) {
            t->ok++;
        } else {
            t->bad++;
            mmtest_fail(__FILE__, __LINE__, "%s at %zu: opened but an invariant fails", what, where);
        }
    } else if ((rc == MM_EFORMAT || rc == MM_EUNSUPPORTED) && f == NULL && err.code == rc &&
               err.message[0]) {
        t->failed++;
    } else {
        t->bad++;
        mmtest_fail(__FILE__, __LINE__, "%s at %zu: rc %d, message \"%s\"", what, where, rc, err.message);
    }
    gguf_close(f);
    free(copy);
}

int main(void)
{
    size_t size = 0;
    uint8_t *valid = build_valid(&size);
    gguf_file *f = NULL;
    CHECK_INT(gguf_open_buffer(valid, size, &f, NULL), 0);
    if (!f)
        return mmtest_finish();
    CHECK(invariants_hold(f, valid, size));
    size_t header_end = (size_t)gguf_data_offset(f);
    size_t data_end = 0;   /* end of the last tensor's bytes; padding follows */
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        size_t end = (size_t)(gguf_data_offset(f) + t->offset + t->nbytes);
        data_end = end > data_end ? end : data_end;
    }
    gguf_close(f);
    CHECK(data_end > header_end && data_end <= size);

    /* Every truncation that cuts into the file's content must fail as EFORMAT. */
    int trunc_wrong = 0;
    for (size_t n = 0; n < data_end; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, valid, n);
        mm_error err = { 0 };
        int rc = gguf_open_buffer(copy, n, &f, &err);
        if (rc != MM_EFORMAT || f != NULL || !err.message[0]) {
            trunc_wrong++;
            mmtest_fail(__FILE__, __LINE__, "truncated at %zu: rc %d", n, rc);
        }
        gguf_close(f);
        free(copy);
    }
    CHECK_INT(trunc_wrong, 0);
    tally pad = { 0 };
    for (size_t n = data_end; n <= size; n++)    /* only trailing padding is missing */
        try_open(valid, n, &pad, "trailing padding cut", n);
    CHECK_INT(pad.ok, size - data_end + 1);

    /* Every byte of the header, metadata and tensor infos: flipped and overwritten. */
    static const struct { uint8_t xor_with, set_to; bool set; } patterns[] = {
        { 0xFF, 0, false }, { 0x01, 0, false }, { 0x80, 0, false }, { 0x10, 0, false },
        { 0, 0x00, true }, { 0, 0xFF, true }, { 0, 0x7F, true },
    };
    tally flips = { 0 };
    uint8_t *work = malloc(size);
    for (size_t p = 0; p < MM_ARRAY_LEN(patterns); p++) {
        for (size_t i = 0; i < header_end; i++) {
            memcpy(work, valid, size);
            work[i] = patterns[p].set ? patterns[p].set_to : (uint8_t)(work[i] ^ patterns[p].xor_with);
            try_open(work, size, &flips, "byte changed", i);
        }
    }
    CHECK_INT(flips.bad, 0);
    CHECK(flips.failed > 0 && flips.ok > 0);   /* both outcomes really occur */

    /* Seeded random damage: several bytes, or a large 64-bit value planted. */
    static const uint64_t planted[] = { UINT64_MAX, 1ull << 63, 1ull << 32, 0xFFFFFFFFull,
                                        GGUF_MAX_ARRAY + 1ull, 0 };
    tally random = { 0 };
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(work, valid, size);
        if (iter % 2) {
            int n = 1 + (int)(next_rand() % 6);
            for (int k = 0; k < n; k++)
                work[next_rand() % header_end] = (uint8_t)next_rand();
        } else {
            size_t at = (size_t)(next_rand() % (header_end - 8));
            uint64_t v = planted[next_rand() % MM_ARRAY_LEN(planted)];
            for (int k = 0; k < 8; k++)
                work[at + k] = (uint8_t)(v >> (8 * k));
        }
        try_open(work, size, &random, "random damage", (size_t)iter);
    }
    CHECK_INT(random.bad, 0);
    free(work);
    free(valid);
    printf("truncations: %zu, byte changes: %d ok / %d refused, random: %d ok / %d refused\n",
           data_end, flips.ok, flips.failed, random.ok, random.failed);
    return mmtest_finish();
}
