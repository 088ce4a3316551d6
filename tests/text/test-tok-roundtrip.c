/* test-tok-roundtrip.c - over the real vocabularies in ../shared/models/vocab:
 * encode then decode gives back arbitrary UTF-8 exactly (and arbitrary bytes
 * for byte-level BPE), the streaming decoder never emits a partial UTF-8
 * sequence, and add_special / parse_special behave as the flags say. */
// labels: conformance
#include "support/test.h"
#include "text/text.h"

#include <dirent.h>
#include <stdlib.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    return mmtest_rng_u64(&rng);
}

/* Random UTF-8 mixing ASCII words, spaces, newlines, digits, Latin,
 * Cyrillic, CJK and emoji; never U+2581, which SPM reads as a space. */
static bool byte_ok[256];   /* the vocabulary spells this byte and decodes it back */

static size_t random_text(char *out, size_t max_chars)
{
    static const uint32_t ranges[][2] = {
        { 'a', 'z' }, { 'A', 'Z' }, { '0', '9' }, { ' ', ' ' }, { ' ', '/' }, { '\n', '\n' },
        { '\t', '\t' }, { 0xC0, 0x24F }, { 0x400, 0x4FF }, { 0x4E00, 0x9FFF },
        { 0x1F300, 0x1F64F }, { 0x80, 0x7FF }, { 0x800, 0x2000 }, { 0x3000, 0xD7FF },
        { 0xE000, 0xFFFD }, { 0x10000, 0x10FFFF },
    };
    size_t n = 0, chars = 1 + rnd() % max_chars;
    for (size_t i = 0; i < chars; i++) {
        size_t r = rnd() % MM_ARRAY_LEN(ranges);
        uint32_t c = ranges[r][0] + (uint32_t)(rnd() % (ranges[r][1] - ranges[r][0] + 1));
        if (c == 0x2581)
            c = 0x2580;
        char enc[4];
        size_t el = text_utf8_encode(c, enc);
        bool ok = true;
        for (size_t k = 0; k < el; k++)
            ok = ok && byte_ok[(uint8_t)enc[k]];
        if (!ok)
            continue;
        memcpy(out + n, enc, el);
        n += el;
    }
    return n;
}

static int32_t ids[1 << 16];

static void roundtrip(const char *name, const text_vocab *v, const char *text, size_t len)
{
    bool spm = text_vocab_get_type(v) == TEXT_VOCAB_SPM;
    size_t n = 0;
    mm_error err = { 0 };
    int rc = text_tokenize(v, text, len, false, false, ids, MM_ARRAY_LEN(ids), &n, &err);
    CHECK_INT(rc, 0);
    mm_buf out;
    mm_buf_init(&out, 1 << 20);
    /* SPM's space prefix comes off again on decoding */
    CHECK_INT(text_detokenize(v, ids, n, false, spm, &out, &err), 0);
    mmtest_checks++;
    if (out.len != len || (len > 0 && memcmp(out.data, text, len) != 0))
        mmtest_fail(__FILE__, __LINE__, "%s: round trip of %zu bytes gave %zu bytes", name,
                    len, out.len);
    /* the stream: valid UTF-8 after every token, identical at the end when
     * the input was valid */
    text_decoder d;
    text_decoder_init(&d, v, false, spm);
    mm_buf s;
    mm_buf_init(&s, 1 << 20);
    bool valid = true;
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(text_decoder_push(&d, ids[i], &s, &err), 0);
        valid = valid && text_utf8_valid((const uint8_t *)s.data, s.len);
    }
    CHECK_INT(text_decoder_flush(&d, &s, &err), 0);
    CHECK(valid && text_utf8_valid((const uint8_t *)s.data, s.len));
    if (text_utf8_valid((const uint8_t *)text, len))
        CHECK(s.len == len && (len == 0 || memcmp(s.data, text, len) == 0));
    mm_buf_free(&s);
    mm_buf_free(&out);
}

static void run(const char *dir, const char *name)
{
    char *path = mm_path_join(dir, name);
    gguf_file *f = NULL;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    CHECK_INT(gguf_open(path, &f, &err), 0);
    int rc = f ? text_vocab_load(f, &v, &err) : -1;
    if (rc == MM_EUNSUPPORTED) {
        printf("%-32s skipped: %s\n", name, err.message);
        goto done;
    }
    CHECK_INT(rc, 0);
    if (!v)
        goto done;
    bool bpe = text_vocab_get_type(v) == TEXT_VOCAB_BPE;
    int failures_before = mmtest_failures;
    /* Byte-level vocabularies may lack tokens for bytes that never occur in
     * UTF-8 (0xC0, 0xC1, 0xF5..0xFF), or have them only as user-defined
     * tokens that decode to their text (deepseek's "ø" for 0xF8): those
     * bytes cannot round-trip, in llama.cpp either, so inputs avoid them. */
    uint8_t spellable[256];
    int n_spell = 0;
    for (int b = 0; b < 256; b++) {
        byte_ok[b] = true;
        if (!bpe)
            continue;
        char c[4];
        size_t cl = text_utf8_encode(text_byte_to_cpt((uint8_t)b), c);
        int32_t id = text_vocab_find(v, c, cl);
        const char *piece = NULL;
        size_t pl = 0;
        if (id >= 0)
            text_token_piece(v, id, false, &piece, &pl);
        byte_ok[b] = id >= 0 && pl == 1 && (uint8_t)piece[0] == b;
        if (byte_ok[b])
            spellable[n_spell++] = (uint8_t)b;
    }
    static char text[1 << 16];
    for (int i = 0; i < 200; i++) {
        size_t len = random_text(text, 300);
        roundtrip(name, v, text, len);
    }
    for (int i = 0; i < 100 && bpe && n_spell > 0; i++) {
        size_t len = rnd() % 300;
        for (size_t k = 0; k < len; k++)
            text[k] = (char)spellable[rnd() % (uint64_t)n_spell];
        roundtrip(name, v, text, len);
    }
    int missing = bpe ? 256 - n_spell : 0;
    /* flags: BOS/EOS only with add_special, as the vocabulary says */
    size_t n0 = 0, n1 = 0;
    int32_t a[64], b[64];
    CHECK_INT(text_tokenize(v, "Hello", 5, false, false, a, 64, &n0, &err), 0);
    CHECK_INT(text_tokenize(v, "Hello", 5, true, false, b, 64, &n1, &err), 0);
    size_t extra = (text_vocab_add_bos(v) ? 1 : 0) + (text_vocab_add_eos(v) ? 1 : 0);
    CHECK_INT(n1, n0 + extra);
    if (text_vocab_add_bos(v))
        CHECK_INT(b[0], text_vocab_bos(v));
    /* an EOS written in the text is one token only with parse_special */
    int32_t eos = text_vocab_eos(v);
    size_t tl;
    const char *et = eos >= 0 ? text_vocab_token_text(v, eos, &tl) : NULL;
    if (et && text_vocab_is_control(v, eos)) {
        CHECK_INT(text_tokenize(v, et, tl, false, true, a, 64, &n0, &err), 0);
        CHECK(n0 == 1 && a[0] == eos);
        CHECK_INT(text_tokenize(v, et, tl, false, false, a, 64, &n0, &err), 0);
        CHECK(n0 > 1 || a[0] != eos);
    }
    /* llama.cpp's phi-3 rule: special tokens eat the whitespace after them */
    if (strstr(name, "phi-3")) {
        CHECK_INT(text_tokenize(v, "<|end|> \n  hi", 13, false, true, a, 64, &n0, &err), 0);
        CHECK_INT(text_tokenize(v, "<|end|>hi", 9, false, true, b, 64, &n1, &err), 0);
        CHECK(n0 == n1 && n0 == 2 && memcmp(a, b, n0 * sizeof *a) == 0);
    }
    printf("%-32s round trips %s (%s; %d bytes cannot round-trip)\n", name,
           mmtest_failures == failures_before ? "ok" : "FAILED",
           bpe ? "bpe, text and bytes" : "spm, text", missing);
done:
    text_vocab_free(v);
    gguf_close(f);
    free(path);
}

int main(void)
{
    char *dir = mmtest_shared_path("models/vocab");
    if (!dir)
        mmtest_skip("../shared/models/vocab is absent: no vocabularies to round-trip");
    DIR *d = opendir(dir);
    if (!d)
        mmtest_skip("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (mm_str_has_suffix(e->d_name, ".gguf"))
            run(dir, e->d_name);
    closedir(d);
    free(dir);
    return mmtest_finish();
}
