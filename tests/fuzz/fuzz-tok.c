/* fuzz-tok.c - the tokenizers on arbitrary bytes. The first input byte picks
 * a vocabulary (the synthesizer's SentencePiece vocabulary, plus real ones
 * from ../shared/models/vocab when present) and the special-token flags; the
 * rest is the text. Ids must be in range, the streaming decoder must only
 * ever emit valid UTF-8, and plain text must survive encode-then-decode
 * byte for byte wherever the vocabulary can spell it (every byte for
 * byte-level BPE; UTF-8 for SentencePiece). */
#include "fuzz.h"
#include "support/synth.h"
#include "text/text.h"

#include <string.h>

#ifndef FUZZ_SHARED_DIR
#define FUZZ_SHARED_DIR "../shared"
#endif

/* Longer texts only slow the fuzzer down; the tokenizers' own bound is
 * tested by the unit tests. */
#define TOK_INPUT_MAX 4096u

typedef struct fuzz_vocab {
    text_vocab *v;
    bool        bpe;
    bool        byte_ok[256];   /* BPE: this byte encodes and decodes to itself */
} fuzz_vocab;

static const char *const shared_vocabs[] = {
    "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf",
    "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-phi-3.gguf",
};

static fuzz_vocab vocabs[1 + MM_ARRAY_LEN(shared_vocabs)];
static size_t n_vocabs;
static int32_t ids[TOK_INPUT_MAX + 8];

static void add_vocab(text_vocab *v)
{
    fuzz_vocab *fv = &vocabs[n_vocabs++];
    fv->v = v;
    fv->bpe = text_vocab_get_type(v) == TEXT_VOCAB_BPE;
    for (int b = 0; b < 256 && fv->bpe; b++) {
        char c[4];
        size_t cl = text_utf8_encode(text_byte_to_cpt((uint8_t)b), c);
        int32_t id = text_vocab_find(v, c, cl);
        const char *piece = NULL;
        size_t pl = 0;
        if (id >= 0 && text_token_piece(v, id, false, &piece, &pl) == 0)
            fv->byte_ok[b] = pl == 1 && (uint8_t)piece[0] == b;
    }
}

static void add_gguf_vocab(const void *data, size_t size, const char *what)
{
    gguf_file *f = NULL;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    if (gguf_open_buffer(data, size, &f, &err) == 0 && text_vocab_load(f, &v, &err) == 0)
        add_vocab(v);
    else
        fprintf(stderr, "fuzz-tok: %s skipped: %s\n", what, err.message);
    gguf_close(f);
}

static void setup(void)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.n_embd = 8;
    p.n_head = 2;
    p.n_head_kv = 1;
    p.n_ff = 16;
    p.n_layer = 1;
    p.n_vocab = 600;
    void *buf = NULL;
    size_t size = 0;
    mm_error err = { 0 };
    FUZZ_CHECK(mmtest_synth_model_buffer(&p, &buf, &size, &err) == 0);
    add_gguf_vocab(buf, size, "the synthesized vocabulary");
    free(buf);
    FUZZ_CHECK(n_vocabs == 1);

    const char *shared = getenv("MM_SHARED_DIR");
    for (size_t i = 0; i < MM_ARRAY_LEN(shared_vocabs); i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/vocab/%s", shared && *shared ? shared : FUZZ_SHARED_DIR,
                 shared_vocabs[i]);
        char *data = NULL;
        size_t len = 0;
        if (mm_file_read(path, 64u << 20, &data, &len, NULL) != 0)
            continue;
        add_gguf_vocab(data, len, path);
        free(data);
    }
}

static bool contains(const uint8_t *s, size_t n, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= n; i++)
        if (memcmp(s + i, needle, nl) == 0)
            return true;
    return false;
}

/* Whether decoding must give the text back exactly. */
static bool round_trips(const fuzz_vocab *fv, const uint8_t *text, size_t len)
{
    if (fv->bpe) {
        for (size_t i = 0; i < len; i++)
            if (!fv->byte_ok[text[i]])
                return false;
        return true;
    }
    /* SentencePiece reads U+2581 as a space. */
    return text_utf8_valid(text, len) && !contains(text, len, "\xE2\x96\x81");
}

static void check_stream(const fuzz_vocab *fv, const int32_t *tok, size_t n, bool special,
                         const uint8_t *text, size_t len, bool exact)
{
    text_decoder d;
    text_decoder_init(&d, fv->v, special, !fv->bpe);
    mm_buf s;
    mm_buf_init(&s, 1 << 20);
    mm_error err = { 0 };
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(text_decoder_push(&d, tok[i], &s, &err) == 0);
        FUZZ_CHECK(text_utf8_valid((const uint8_t *)s.data, s.len));
    }
    FUZZ_CHECK(text_decoder_flush(&d, &s, &err) == 0);
    FUZZ_CHECK(text_utf8_valid((const uint8_t *)s.data, s.len));
    if (exact && text_utf8_valid(text, len))
        FUZZ_CHECK(s.len == len && (len == 0 || memcmp(s.data, text, len) == 0));
    mm_buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (n_vocabs == 0)
        setup();
    if (size < 1 || size - 1 > TOK_INPUT_MAX)
        return 0;
    const fuzz_vocab *fv = &vocabs[(data[0] & 0x0F) % n_vocabs];
    bool add_special = data[0] & 0x10, parse_special = data[0] & 0x20;
    const uint8_t *text = data + 1;
    size_t len = size - 1;

    size_t n = 0;
    mm_error err = { 0 };
    int rc = text_tokenize(fv->v, (const char *)text, len, add_special, parse_special,
                           ids, MM_ARRAY_LEN(ids), &n, &err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(n <= MM_ARRAY_LEN(ids));
    uint32_t n_tokens = text_vocab_n_tokens(fv->v);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < n_tokens);

    bool plain = !add_special && !parse_special;
    bool exact = plain && round_trips(fv, text, len);
    /* A user-defined token written in the text is matched even in plain
     * mode, and then, as in llama.cpp, SentencePiece prefixes the next
     * fragment with a space and lstrip/rstrip tokens eat whitespace: such
     * texts do not round-trip by design. */
    for (size_t i = 0; i < n && exact; i++)
        if (fv->v->attr[ids[i]] & (TEXT_ATTR_USER_DEFINED | TEXT_ATTR_CONTROL))
            exact = false;
    mm_buf out;
    mm_buf_init(&out, 1 << 20);
    FUZZ_CHECK(text_detokenize(fv->v, ids, n, !plain, !fv->bpe, &out, &err) == 0);
    if (exact)
        FUZZ_CHECK(out.len == len && (len == 0 || memcmp(out.data, text, len) == 0));
    mm_buf_free(&out);
    check_stream(fv, ids, n, !plain, text, len, exact);
    return 0;
}
