/* test-conformance.c - the reader against real GGUF files written by
 * llama.cpp and gguf-py (../shared/models): every file opens, and the facts
 * match what is known about those models independently (shared/README.md). */
// labels: conformance
#include "gguf/gguf.h"
#include "support/test.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>

/* Every tensor's data lies inside the file, after the data section start. */
static void check_invariants(const gguf_file *f, const char *path)
{
    const uint8_t *lo = NULL;
    CHECK(gguf_data_offset(f) <= gguf_file_size(f));
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(gguf_find_tensor(f, t->name) == t);
        CHECK(t->offset % gguf_alignment(f) == 0);
        CHECK(gguf_data_offset(f) + t->offset + t->nbytes <= gguf_file_size(f));
        if (i == 0)
            lo = (const uint8_t *)t->data - gguf_data_offset(f) - t->offset;
        else
            CHECK((const uint8_t *)t->data == lo + gguf_data_offset(f) + t->offset);
    }
    (void)path;
}

/* "mini-q4_k_m.gguf" -> "Q4_K_M" */
static void expected_ftype(const char *file, char *out, size_t size)
{
    const char *p = file + strlen("mini-");
    size_t n = 0;
    while (p[n] && p[n] != '.' && n + 1 < size) {
        out[n] = (char)toupper((unsigned char)p[n]);
        n++;
    }
    out[n] = '\0';
}

static void test_mini(const char *dir)
{
    /* Computed from the README's shape: 256 dim, 4 layers, 8 heads of 32, 4
     * kv heads, FFN 768, 512 tokens, untied output. */
    const uint64_t d = 256, ff = 768, kv = 4 * 32, vocab = 512, layers = 4;
    const uint64_t params = 2 * d * vocab + d +
                            layers * (d * d * 2 + d * kv * 2 + 3 * d * ff + 2 * d);
    DIR *dh = opendir(dir);
    CHECK(dh != NULL);
    if (!dh)
        return;
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (strncmp(de->d_name, "mini-", 5) != 0 || !mm_str_has_suffix(de->d_name, ".gguf"))
            continue;
        char path[4096], want[32];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        expected_ftype(de->d_name, want, sizeof want);
        gguf_file *f = NULL;
        mm_error err = { 0 };
        int rc = gguf_open(path, &f, &err);
        CHECK_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "%s\n", err.message);
            continue;
        }
        seen++;
        mm_model_facts mf;
        gguf_model_facts(f, &mf);
        CHECK_STR(mf.architecture, "llama");
        CHECK_INT(mf.embedding_length, 256);
        CHECK_INT(mf.block_count, 4);
        CHECK_INT(mf.head_count, 8);
        CHECK_INT(mf.head_count_kv, 4);
        CHECK_INT(mf.vocab_size, 512);
        CHECK_INT(mf.n_params, params);
        CHECK_STR(mf.file_type_name, want);
        CHECK(!mf.has_chat_template);
        const gguf_tensor *up = gguf_find_tensor(f, "blk.0.ffn_up.weight");
        CHECK(up != NULL);
        if (up) {
            CHECK_INT(up->n_dims, 2);
            CHECK_INT(up->ne[0], 256);
            CHECK_INT(up->ne[1], 768);
        }
        const gguf_tensor *k = gguf_find_tensor(f, "blk.3.attn_k.weight");
        CHECK(k && k->ne[0] == 256 && k->ne[1] == 128);
        /* Single-type files: the matrices carry the type the name says. */
        const gguf_tensor *q = gguf_find_tensor(f, "blk.1.attn_q.weight");
        static const char *const simple[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0",
                                              "Q4_1", "Q5_0", "Q5_1" };
        for (size_t i = 0; q && i < MM_ARRAY_LEN(simple); i++)
            if (strcmp(want, simple[i]) == 0)
                CHECK_STR(ggml_type_name(q->type), want);
        gguf_arr tokens;
        CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens), 0);
        gguf_str s = { 0 };
        CHECK_INT(gguf_arr_str(&tokens, 2, &s), 0);
        CHECK(s.len == 4 && memcmp(s.ptr, "</s>", 4) == 0);
        check_invariants(f, path);
        gguf_close(f);
    }
    closedir(dh);
    CHECK(seen >= 12);
}

static void test_stories(const char *path)
{
    gguf_file *f = NULL;
    mm_error err = { 0 };
    CHECK_INT(gguf_open(path, &f, &err), 0);
    if (!f)
        return;
    mm_model_facts mf;
    gguf_model_facts(f, &mf);
    CHECK_STR(mf.architecture, "llama");
    CHECK_INT(mf.embedding_length, 64);
    CHECK_INT(mf.block_count, 5);
    CHECK_INT(mf.head_count, 8);
    CHECK_INT(mf.head_count_kv, 4);
    CHECK_INT(mf.vocab_size, 512);
    CHECK_INT(mf.file_type, -1);          /* llama2.c exports carry no file type */
    CHECK_STR(mf.file_type_name, "F32");
    gguf_arr tokens;
    gguf_str s = { 0 };
    CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens), 0);
    /* SentencePiece byte fallback: ids 3..258 are <0x00>..<0xFF>. */
    CHECK_INT(gguf_arr_str(&tokens, 3, &s), 0);
    CHECK(s.len == 6 && memcmp(s.ptr, "<0x00>", 6) == 0);
    CHECK_INT(gguf_arr_str(&tokens, 258, &s), 0);
    CHECK(s.len == 6 && memcmp(s.ptr, "<0xFF>", 6) == 0);
    CHECK_INT(gguf_arr_str(&tokens, 512, &s), MM_EINVAL);
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    CHECK(emb && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->type == GGML_TYPE_F32);
    check_invariants(f, path);
    gguf_close(f);
}

/* Largest token id in a llama.cpp tokenizer test's expected output. */
static long max_expected_id(const char *out_path)
{
    char *text = NULL;
    size_t len = 0;
    long max = -1;
    if (mm_file_read(out_path, 1 << 20, &text, &len, NULL) != 0)
        return -1;
    for (char *p = text; *p;) {
        if (isdigit((unsigned char)*p)) {
            long v = 0;
            while (isdigit((unsigned char)*p) && v < 100000000)
                v = v * 10 + (*p++ - '0');
            if (v > max)
                max = v;
        } else {
            p++;
        }
    }
    free(text);
    return max;
}

static void test_vocab(const char *dir)
{
    DIR *dh = opendir(dir);
    CHECK(dh != NULL);
    if (!dh)
        return;
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!mm_str_has_suffix(de->d_name, ".gguf"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        gguf_file *f = NULL;
        mm_error err = { 0 };
        int rc = gguf_open(path, &f, &err);
        CHECK_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "%s\n", err.message);
            continue;
        }
        seen++;
        mm_model_facts mf;
        gguf_model_facts(f, &mf);
        gguf_arr tokens;
        CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens), 0);
        CHECK_INT(tokens.type, GGUF_TYPE_STRING);
        CHECK(mf.vocab_size > 0);
        CHECK(tokens.count >= mf.vocab_size);
        gguf_str s;
        CHECK_INT(gguf_arr_str(&tokens, tokens.count - 1, &s), 0);
        char out_path[4200];
        snprintf(out_path, sizeof out_path, "%s.out", path);
        long max_id = max_expected_id(out_path);
        if (max_id >= 0)
            CHECK((uint64_t)max_id < tokens.count);
        if (strcmp(de->d_name, "ggml-vocab-llama-spm.gguf") == 0) {
            CHECK_INT(mf.vocab_size, 32000);
            CHECK_INT(gguf_arr_str(&tokens, 1, &s), 0);
            CHECK(s.len == 3 && memcmp(s.ptr, "<s>", 3) == 0);
        }
        if (strcmp(de->d_name, "ggml-vocab-gpt-2.gguf") == 0)
            CHECK_INT(mf.vocab_size, 50257);
        check_invariants(f, path);
        gguf_close(f);
    }
    closedir(dh);
    CHECK(seen >= 10);
}

/* Each chat-templates/gguf/NAME.gguf carries NAME.jinja as its template. */
static void test_templates(const char *dir)
{
    char gguf_dir[4096];
    snprintf(gguf_dir, sizeof gguf_dir, "%s/gguf", dir);
    DIR *dh = opendir(gguf_dir);
    CHECK(dh != NULL);
    if (!dh)
        return;
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!mm_str_has_suffix(de->d_name, ".gguf"))
            continue;
        char path[4500], jinja[4500];
        snprintf(path, sizeof path, "%s/%s", gguf_dir, de->d_name);
        snprintf(jinja, sizeof jinja, "%s/%.*s.jinja", dir, (int)(strlen(de->d_name) - 5), de->d_name);
        char *want = NULL;
        size_t want_len = 0;
        if (mm_file_read(jinja, 1 << 20, &want, &want_len, NULL) != 0)
            continue;
        gguf_file *f = NULL;
        CHECK_INT(gguf_open(path, &f, NULL), 0);
        gguf_str s = { 0 };
        if (f) {
            seen++;
            mm_model_facts mf;
            gguf_model_facts(f, &mf);
            CHECK(mf.has_chat_template);
            CHECK_INT(gguf_get_str(f, "tokenizer.chat_template", &s), 0);
            if (s.len != want_len || memcmp(s.ptr, want, want_len) != 0)
                mmtest_fail(__FILE__, __LINE__, "%s: template differs from %s", path, jinja);
            check_invariants(f, path);
            gguf_close(f);
        }
        free(want);
    }
    closedir(dh);
    CHECK(seen >= 10);
}

int main(void)
{
    char *mini = mmtest_shared_path("models/mini");
    char *stories = mmtest_shared_path("models/stories260K.gguf");
    char *vocab = mmtest_shared_path("models/vocab");
    if (!mini || !stories || !vocab) {
        free(mini);
        free(stories);
        free(vocab);
        mmtest_skip("../shared/models (mini/, stories260K.gguf, vocab/) not present");
    }
    test_mini(mini);
    test_stories(stories);
    test_vocab(vocab);
    char *templates = mmtest_shared_path("models/chat-templates");
    if (templates)
        test_templates(templates);
    else
        printf("chat-templates not present: template files not checked\n");
    free(templates);
    free(mini);
    free(stories);
    free(vocab);
    return mmtest_finish();
}
