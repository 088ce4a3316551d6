/* test-tok-vocab.c - tokenizers over small in-memory vocabularies whose
 * results are worked out by hand: BPE merge order and ties, SPM score
 * merges with byte fallback, special and user-defined tokens, BOS/EOS,
 * end-of-generation, limits; the GGUF loader on synthesized files; and the
 * streaming decoder's UTF-8 property on random input. */
#include "support/test.h"
#include "text/text.h"

#include <pthread.h>
#include <stdlib.h>

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    return mmtest_rng_u64(&rng);
}

static void check_ids(const text_vocab *v, const char *text, bool add_special,
                      bool parse_special, const int32_t *want, size_t n_want, int line)
{
    int32_t got[256];
    size_t n = 0;
    mm_error err = { 0 };
    int rc = text_tokenize(v, text, strlen(text), add_special, parse_special, got, 256, &n, &err);
    bool same = rc == 0 && n == n_want && memcmp(got, want, n * sizeof *got) == 0;
    mmtest_checks++;
    if (!same) {
        mmtest_fail(__FILE__, line, "tokenize \"%s\": rc %d (%s), %zu ids:", text, rc,
                    err.message, n);
        for (size_t i = 0; i < n; i++)
            printf(" %d", got[i]);
        printf("\n");
    }
}
#define CHECK_IDS(v, text, add, parse, ...) do { \
    const int32_t want_[] = { __VA_ARGS__ }; \
    check_ids(v, text, add, parse, want_, MM_ARRAY_LEN(want_), __LINE__); } while (0)

/* ---- byte-level BPE: ids 0..255 are the bytes' GPT-2 characters ---- */

static char *bpe_tokens[300];
static size_t n_bpe_tokens;

static void add_token(const char *s)
{
    bpe_tokens[n_bpe_tokens++] = mm_strdup(s);
}

static text_vocab *make_bpe(const char *pre, const char *const *merges, size_t n_merges,
                            const char *const *extra, size_t n_extra, const int32_t *types)
{
    n_bpe_tokens = 0;
    for (int b = 0; b < 256; b++) {
        char buf[8] = { 0 };
        text_utf8_encode(text_byte_to_cpt((uint8_t)b), buf);
        add_token(buf);
    }
    for (size_t i = 0; i < n_extra; i++)
        add_token(extra[i]);
    text_vocab_spec spec;
    text_vocab_spec_init(&spec, TEXT_VOCAB_BPE);
    spec.pre = pre;
    spec.tokens = (const char *const *)bpe_tokens;
    spec.n_tokens = n_bpe_tokens;
    spec.merges = merges;
    spec.n_merges = n_merges;
    spec.token_types = types;
    spec.eos_id = n_extra > 0 ? 256 : TEXT_TOKEN_NULL;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    CHECK_INT(text_vocab_new(&spec, &v, &err), 0);
    for (size_t i = 0; i < n_bpe_tokens; i++)
        free(bpe_tokens[i]);
    return v;
}

static void test_bpe(void)
{
    /* ids: 256 he, 257 ll, 258 hell, 259 hello, 260 Ġw, 261 or, 262 bc, 263 aa */
    const char *extra[] = { "he", "ll", "hell", "hello", "\xc4\xa0w", "or", "bc", "aa" };
    const char *merges[] = { "h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r",
                             "b c", "a b", "a a" };
    text_vocab *v = make_bpe("gpt-2", merges, MM_ARRAY_LEN(merges), extra,
                             MM_ARRAY_LEN(extra), NULL);
    if (!v)
        return;
    CHECK_INT(text_vocab_n_tokens(v), 264);
    CHECK_IDS(v, "hello", false, false, 259);
    /* " world": Ġ w o r l d -> Ġw (rank 4), or (rank 5); l, d stay bytes */
    CHECK_IDS(v, "hello world", false, false, 259, 260, 261, 'l', 'd');
    /* lower rank first: "b c" (6) beats "a b" (7) */
    CHECK_IDS(v, "abc", false, false, 'a', 262);
    /* equal rank: the leftmost pair merges first */
    CHECK_IDS(v, "aaa", false, false, 263, 'a');
    /* bytes without merges are their own byte tokens: é = C3 A9 */
    CHECK_IDS(v, "\xc3\xa9", false, false, 0xC3, 0xA9);
    /* newline is byte 0x0A whose character is Ċ, id 10 */
    CHECK_IDS(v, "\n", false, false, 10);
    /* BPE adds no BOS by default; add_special leaves it alone */
    CHECK_IDS(v, "aa", true, false, 263);
    CHECK(!text_vocab_add_bos(v));
    CHECK(text_vocab_is_eog(v, 256));
    CHECK(!text_vocab_is_eog(v, 257));

    const char *piece;
    size_t n;
    CHECK_INT(text_token_piece(v, 260, false, &piece, &n), 0);
    CHECK_INT(n, 2);
    CHECK(memcmp(piece, " w", 2) == 0);
    CHECK_INT(text_token_piece(v, 10, false, &piece, &n), 0);
    CHECK(n == 1 && piece[0] == '\n');
    CHECK_INT(text_token_piece(v, 9999, false, &piece, &n), MM_EINVAL);

    /* limits */
    int32_t ids[2];
    size_t n_ids = 0;
    mm_error err = { 0 };
    CHECK_INT(text_tokenize(v, "hello world", 11, false, false, ids, 2, &n_ids, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "more than 2 tokens");
    CHECK_INT(text_tokenize(v, "x", (size_t)TEXT_MAX_INPUT + 1, false, false, ids, 2, &n_ids,
                            &err), MM_ELIMIT);
    CHECK_INT(text_tokenize(v, "", 0, false, false, ids, 2, &n_ids, &err), 0);
    CHECK_INT(n_ids, 0);
    text_vocab_free(v);

    /* llama-bpe: a word that is a token skips merging (ignore_merges) and
     * add_bos defaults to true */
    const char *extra3[] = { "<|begin_of_text|>", "ab", "abc" };
    const char *merges3[] = { "a b" };
    int32_t types[260];
    for (int i = 0; i < 260; i++)
        types[i] = TEXT_TOKEN_NORMAL;
    types[256] = TEXT_TOKEN_CONTROL;
    n_bpe_tokens = 0;
    text_vocab *v3 = make_bpe("llama-bpe", merges3, 1, extra3, 3, types);
    if (!v3)
        return;
    /* without ignore_merges "abc" would be ab + c */
    CHECK_IDS(v3, "abc", false, false, 258);
    CHECK_IDS(v3, "abd", false, false, 257, 'd');
    CHECK(text_vocab_add_bos(v3));
    text_vocab_free(v3);
}

static void test_bpe_special(void)
{
    /* 256 <|im_end|> control, 257 <tool> user-defined */
    const char *extra[] = { "<|im_end|>", "<tool>" };
    int32_t types[258];
    for (int i = 0; i < 258; i++)
        types[i] = TEXT_TOKEN_NORMAL;
    types[256] = TEXT_TOKEN_CONTROL;
    types[257] = TEXT_TOKEN_USER_DEFINED;
    text_vocab *v = make_bpe("gpt-2", NULL, 0, extra, 2, types);
    if (!v)
        return;
    /* control tokens only with parse_special; user-defined always */
    CHECK_IDS(v, "a<|im_end|>", false, true, 'a', 256);
    CHECK_IDS(v, "a<tool>b", false, false, 'a', 257, 'b');
    /* without parse_special the control text is plain bytes:
     * "a<|" (punctuation run) "im" "_" "end" "|>" per the GPT-2 regex */
    CHECK_IDS(v, "a<|im_end|>", false, false, 'a', '<', '|', 'i', 'm', '_', 'e', 'n', 'd',
              '|', '>');
    /* auto-detected end of turn */
    CHECK(text_vocab_is_eog(v, 256));
    CHECK_INT(text_vocab_eot(v), 256);
    const char *piece;
    size_t n;
    CHECK_INT(text_token_piece(v, 256, false, &piece, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(text_token_piece(v, 256, true, &piece, &n), 0);
    CHECK_INT(n, 10);
    text_vocab_free(v);
}

static void test_special_precedence(void)
{
    /* user-defined: 256 "  ", 257 "   ", 258 "abcd", 259 "xab" */
    const char *extra[] = { "  ", "   ", "abcd", "xab" };
    int32_t types[260];
    for (int i = 0; i < 260; i++)
        types[i] = i >= 256 ? TEXT_TOKEN_USER_DEFINED : TEXT_TOKEN_NORMAL;
    text_vocab *v = make_bpe("gpt-2", NULL, 0, extra, 4, types);
    if (!v)
        return;
    /* the longer token wins wherever it occurs, even to the right of an
     * earlier shorter one: "abcd" splits "xabcd" before "xab" is tried */
    CHECK_IDS(v, "xabcd", false, false, 'x', 258);
    CHECK_IDS(v, "xab cd", false, false, 259, ' ', 'c', 'd');
    /* 8 spaces: "   " at 0 and 3, then "  " in what is left */
    CHECK_IDS(v, "        ", false, false, 257, 257, 256);
    /* a long run stays bounded: 1 MiB of spaces is 349525 x "   " + " " */
    size_t big = 1u << 20;
    char *sp = malloc(big);
    int32_t *ids = malloc(big * sizeof *ids);
    if (sp && ids) {
        memset(sp, ' ', big);
        size_t n = 0;
        mm_error err = { 0 };
        CHECK_INT(text_tokenize(v, sp, big, false, false, ids, big, &n, &err), 0);
        CHECK_INT(n, big / 3 + 1);
        CHECK_INT(ids[0], 257);
        CHECK_INT(ids[n - 1], ' ');
    }
    free(sp);
    free(ids);
    text_vocab_free(v);
}

/* ---- SPM ---- */

static text_vocab *make_spm(void)
{
    /* 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces */
    static char names[256][8];
    const char *toks[300];
    float scores[300] = { 0 };
    int32_t types[300];
    size_t n = 0;
    toks[n] = "<unk>"; types[n++] = TEXT_TOKEN_UNKNOWN;
    toks[n] = "<s>"; types[n++] = TEXT_TOKEN_CONTROL;
    toks[n] = "</s>"; types[n++] = TEXT_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        toks[n] = names[b];
        types[n++] = TEXT_TOKEN_BYTE;
    }
    const char *pieces[] = { "\xe2\x96\x81", "h", "e", "l", "o", "he", "ll", "hell", "hello",
                             "\xe2\x96\x81hello", "<|u|>" };
    const float sc[] = { -1, -10, -10, -10, -10, -2, -1, -3, -4, -5, 0 };
    for (size_t i = 0; i < MM_ARRAY_LEN(pieces); i++) {
        toks[n] = pieces[i];
        scores[n] = sc[i];
        types[n++] = i + 1 == MM_ARRAY_LEN(pieces) ? TEXT_TOKEN_USER_DEFINED : TEXT_TOKEN_NORMAL;
    }
    text_vocab_spec spec;
    text_vocab_spec_init(&spec, TEXT_VOCAB_SPM);
    spec.tokens = toks;
    spec.n_tokens = n;
    spec.scores = scores;
    spec.token_types = types;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    CHECK_INT(text_vocab_new(&spec, &v, &err), 0);
    return v;
}

enum { SP = 259, H, E, L, O, HE, LL, HELL, HELLO, SP_HELLO, U };
#define BYTE(b) (3 + (b))

static void test_spm(void)
{
    text_vocab *v = make_spm();
    if (!v)
        return;
    /* "▁hello": ll (-1), he (-2), hell (-3), hello (-4), ▁hello (-5) */
    CHECK_IDS(v, "hello", false, false, SP_HELLO);
    CHECK_IDS(v, "hello", true, false, 1, SP_HELLO);          /* BOS by default */
    /* é has no piece: byte fallback */
    CHECK_IDS(v, "h\xc3\xa9", false, false, SP, H, BYTE(0xC3), BYTE(0xA9));
    /* special token text, parsed or not; the space prefix follows a special */
    CHECK_IDS(v, "<s>hello", false, true, 1, SP_HELLO);
    CHECK_IDS(v, "<s>hello", false, false, SP, BYTE('<'), BYTE('s'), BYTE('>'), HELLO);
    CHECK_IDS(v, "h<|u|>h", false, false, SP, H, U, SP, H);
    CHECK(text_vocab_is_eog(v, 2));
    CHECK(!text_vocab_is_eog(v, 1));
    CHECK_INT(text_vocab_bos(v), 1);
    CHECK_INT(text_vocab_eos(v), 2);
    CHECK_INT(text_vocab_unk(v), 0);

    /* decoding undoes ▁ and byte tokens; the prefix space can be stripped */
    const int32_t ids[] = { 1, SP_HELLO, SP, H, BYTE(0xC3), BYTE(0xA9), 2 };
    mm_buf out;
    mm_buf_init(&out, 1024);
    mm_error err = { 0 };
    CHECK_INT(text_detokenize(v, ids, MM_ARRAY_LEN(ids), false, true, &out, &err), 0);
    CHECK_STR(out.data, "hello h\xc3\xa9");
    out.len = 0;
    CHECK_INT(text_detokenize(v, ids, MM_ARRAY_LEN(ids), true, false, &out, &err), 0);
    out.data[out.len] = '\0';
    CHECK_STR(out.data, "<s> hello h\xc3\xa9</s>");
    mm_buf_free(&out);
    text_vocab_free(v);
}

/* ---- GGUF loading ---- */

typedef void (*synth_hook)(gguf_writer *w);

static text_vocab *load_synth_hook(const char *model, const char *pre, bool with_tokens,
                                   synth_hook hook, int *rc, mm_error *err)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre)
        gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    const char *toks[258];
    char store[256][8];
    for (int b = 0; b < 256; b++) {
        memset(store[b], 0, sizeof store[b]);
        text_utf8_encode(text_byte_to_cpt((uint8_t)b), store[b]);
        toks[b] = store[b];
    }
    toks[256] = "he";
    toks[257] = "<|endoftext|>";
    if (with_tokens)
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 258);
    const char *merges[] = { "h e" };
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 257);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    if (hook)
        hook(w);
    void *buf = NULL;
    size_t size = 0;
    gguf_file *f = NULL;
    text_vocab *v = NULL;
    *rc = gguf_writer_to_buffer(w, &buf, &size, err);
    if (*rc == 0)
        *rc = gguf_open_buffer(buf, size, &f, err);
    if (*rc == 0)
        *rc = text_vocab_load(f, &v, err);
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
    return v;
}

static text_vocab *load_synth(const char *model, const char *pre, bool with_tokens, int *rc,
                              mm_error *err)
{
    return load_synth_hook(model, pre, with_tokens, NULL, rc, err);
}

static void hook_bad_scores(gguf_writer *w)
{
    const char *s[] = { "not", "a", "score" };
    gguf_writer_set_arr_str(w, "tokenizer.ggml.scores", s, 3);
}

static void hook_short_types(gguf_writer *w)
{
    int32_t t[3] = { 1, 1, 1 };
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, t, 3);
}

static void hook_bad_bos(gguf_writer *w)
{
    gguf_writer_set_str(w, "tokenizer.ggml.bos_token_id", "one");
}

static void hook_bos_out_of_range(gguf_writer *w)
{
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 999999);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
}

static void test_load_errors(void)
{
    int rc;
    mm_error err = { 0 };
    text_vocab *v = load_synth_hook("gpt2", "gpt-2", true, hook_bad_scores, &rc, &err);
    CHECK_INT(rc, MM_EFORMAT);
    CHECK_CONTAINS(err.message, "tokenizer.ggml.scores");
    CHECK(v == NULL);
    v = load_synth_hook("gpt2", "gpt-2", true, hook_short_types, &rc, &err);
    CHECK_INT(rc, MM_EFORMAT);
    CHECK_CONTAINS(err.message, "tokenizer.ggml.token_type has 3 entries for 258 tokens");
    v = load_synth_hook("gpt2", "gpt-2", true, hook_bad_bos, &rc, &err);
    CHECK_INT(rc, MM_EFORMAT);
    CHECK_CONTAINS(err.message, "tokenizer.ggml.bos_token_id");
    /* an out-of-range id falls back to the default (11 for gpt2), as llama.cpp */
    v = load_synth_hook("gpt2", "gpt-2", true, hook_bos_out_of_range, &rc, &err);
    CHECK_INT(rc, 0);
    if (v) {
        CHECK_INT(text_vocab_bos(v), 11);
        CHECK_IDS(v, "he", true, false, 11, 256);
    }
    text_vocab_free(v);
}

static void test_load(void)
{
    int rc;
    mm_error err = { 0 };
    text_vocab *v = load_synth("gpt2", "gpt-2", true, &rc, &err);
    CHECK_INT(rc, 0);
    if (v) {
        CHECK_IDS(v, "hehe\n", false, false, 256, 256, 10);
        CHECK_INT(text_vocab_eos(v), 257);
        CHECK(text_vocab_is_eog(v, 257));
        CHECK_STR(text_vocab_pre_name(v), "gpt-2");
        text_vocab_free(v);
    }
    v = load_synth("bert", NULL, true, &rc, &err);
    CHECK_INT(rc, MM_EUNSUPPORTED);
    CHECK_CONTAINS(err.message, "unsupported tokenizer model 'bert'");
    CHECK(v == NULL);
    v = load_synth("gpt2", "klingon", true, &rc, &err);
    CHECK_INT(rc, MM_EUNSUPPORTED);
    CHECK_CONTAINS(err.message, "unsupported BPE pre-tokenizer 'klingon'");
    v = load_synth("gpt2", "gpt-2", false, &rc, &err);
    CHECK_INT(rc, MM_EFORMAT);
    CHECK_CONTAINS(err.message, "tokenizer.ggml.tokens");
    /* no pre key: the "default" pre-tokenizer, as llama.cpp */
    v = load_synth("gpt2", NULL, true, &rc, &err);
    CHECK_INT(rc, 0);
    if (v)
        CHECK_STR(text_vocab_pre_name(v), "default");
    text_vocab_free(v);
    text_vocab_free(NULL);
}

/* ---- streaming decoder ---- */

static size_t random_utf8(char *out, size_t max_chars)
{
    static const uint32_t ranges[][2] = {
        { 0x20, 0x7E }, { 0xA0, 0x7FF }, { 0x800, 0xD7FF }, { 0xE000, 0xFFFD },
        { 0x10000, 0x10FFFF }, { 0x09, 0x0A },
    };
    size_t n = 0, chars = rnd() % max_chars;
    for (size_t i = 0; i < chars; i++) {
        size_t r = rnd() % MM_ARRAY_LEN(ranges);
        uint32_t c = ranges[r][0] + (uint32_t)(rnd() % (ranges[r][1] - ranges[r][0] + 1));
        n += text_utf8_encode(c, out + n);
    }
    return n;
}

static void test_stream(void)
{
    text_vocab *v = make_bpe("gpt-2", NULL, 0, NULL, 0, NULL);
    if (!v)
        return;
    char text[4096];
    int32_t ids[4096];
    mm_error err = { 0 };
    for (int iter = 0; iter < 300; iter++) {
        bool garbage = iter % 3 == 2;
        size_t len;
        if (garbage) {
            len = rnd() % 64;
            for (size_t i = 0; i < len; i++)
                text[i] = (char)rnd();
        } else {
            len = random_utf8(text, 200);
        }
        size_t n = 0;
        CHECK_INT(text_tokenize(v, text, len, false, false, ids, 4096, &n, &err), 0);
        /* exact round trip, any bytes */
        mm_buf whole;
        mm_buf_init(&whole, 1 << 16);
        CHECK_INT(text_detokenize(v, ids, n, false, false, &whole, &err), 0);
        CHECK(whole.len == len && (len == 0 || memcmp(whole.data, text, len) == 0));
        mm_buf_free(&whole);
        /* streaming: every prefix is valid UTF-8 */
        text_decoder d;
        text_decoder_init(&d, v, false, false);
        mm_buf out;
        mm_buf_init(&out, 1 << 16);
        bool all_valid = true;
        for (size_t i = 0; i < n; i++) {
            CHECK_INT(text_decoder_push(&d, ids[i], &out, &err), 0);
            all_valid = all_valid && text_utf8_valid((const uint8_t *)out.data, out.len);
        }
        CHECK_INT(text_decoder_flush(&d, &out, &err), 0);
        all_valid = all_valid && text_utf8_valid((const uint8_t *)out.data, out.len);
        CHECK(all_valid);
        if (!garbage)
            CHECK(out.len == len && (len == 0 || memcmp(out.data, text, len) == 0));
        mm_buf_free(&out);
    }
    /* hand-worked: € split over three tokens, then a stray continuation
     * byte, then an unfinished sequence at the end */
    text_decoder d;
    text_decoder_init(&d, v, false, false);
    mm_buf out;
    mm_buf_init(&out, 64);
    CHECK_INT(text_decoder_push(&d, 0xE2, &out, &err), 0);
    CHECK_INT(out.len, 0);
    CHECK_INT(text_decoder_push(&d, 0x82, &out, &err), 0);
    CHECK_INT(out.len, 0);
    CHECK_INT(text_decoder_push(&d, 0xAC, &out, &err), 0);
    CHECK_STR(out.data, "\xE2\x82\xAC");
    CHECK_INT(text_decoder_push(&d, 0x80, &out, &err), 0);
    CHECK_STR(out.data, "\xE2\x82\xAC\xEF\xBF\xBD");
    CHECK_INT(text_decoder_push(&d, 0xE2, &out, &err), 0);
    CHECK_INT(text_decoder_push(&d, 'a', &out, &err), 0);   /* breaks the sequence */
    CHECK_STR(out.data, "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD" "a");
    CHECK_INT(text_decoder_push(&d, 0xF0, &out, &err), 0);
    CHECK_INT(text_decoder_flush(&d, &out, &err), 0);
    CHECK_STR(out.data, "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD" "a\xEF\xBF\xBD");
    CHECK_INT(text_decoder_push(&d, -1, &out, &err), MM_EINVAL);
    mm_buf_free(&out);
    text_vocab_free(v);
}

/* ---- one vocabulary, many threads ---- */

typedef struct thread_job {
    const text_vocab *v;
    const char       *text;
    size_t            len;
    int32_t           ids[2048];
    size_t            n;
    int               rc;
} thread_job;

static void *tokenize_thread(void *arg)
{
    thread_job *j = arg;
    for (int k = 0; k < 50 && j->rc == 0; k++)
        j->rc = text_tokenize(j->v, j->text, j->len, true, true, j->ids, 2048, &j->n, NULL);
    return NULL;
}

static void test_threads(void)
{
    const char *extra[] = { "he", "ll", "hell", "hello", "\xc4\xa0w", "or", "<|im_end|>" };
    const char *merges[] = { "h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r" };
    text_vocab *v = make_bpe("llama-bpe", merges, MM_ARRAY_LEN(merges), extra,
                             MM_ARRAY_LEN(extra), NULL);
    if (!v)
        return;
    char text[1024];
    size_t len = 0;
    static const char unit[] = "hello world<|im_end|> 123 \xc3\xa9t\xc3\xa9\n";
    while (len + sizeof unit < sizeof text) {
        memcpy(text + len, unit, sizeof unit - 1);
        len += sizeof unit - 1;
    }
    thread_job *jobs = calloc(4, sizeof *jobs);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].v = v;
        jobs[i].text = text;
        jobs[i].len = len;
        CHECK_INT(pthread_create(&th[i], NULL, tokenize_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(jobs[i].rc, 0);
        CHECK(jobs[i].n == jobs[0].n && jobs[i].n > 0 &&
              memcmp(jobs[i].ids, jobs[0].ids, jobs[0].n * sizeof(int32_t)) == 0);
    }
    free(jobs);
    text_vocab_free(v);
}

int main(void)
{
    test_bpe();
    test_load_errors();
    test_threads();
    test_bpe_special();
    test_special_precedence();
    test_spm();
    test_load();
    test_stream();
    return mmtest_finish();
}
