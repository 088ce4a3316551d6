/* test-tok-utf8.c - UTF-8 checking against hand-worked byte sequences,
 * GPT-2's byte-to-unicode table against its definition, and the
 * pre-tokenizer cascades against splits worked out by hand from the
 * upstream regexes. */
#include "support/test.h"
#include "text/text.h"

#include <stdlib.h>

static int check(const char *bytes, size_t n)
{
    return text_utf8_check((const uint8_t *)bytes, n);
}

static void test_utf8_check(void)
{
    CHECK_INT(check("A", 1), 1);
    CHECK_INT(check("\xC3\xA9", 2), 2);              /* é */
    CHECK_INT(check("\xE2\x82\xAC", 3), 3);          /* € */
    CHECK_INT(check("\xF0\x9F\xA6\x99", 4), 4);      /* 🦙 */
    CHECK_INT(check("\xE2\x82", 2), 0);              /* incomplete € */
    CHECK_INT(check("\xF0\x9F", 2), 0);
    CHECK_INT(check("\x80", 1), -1);                 /* stray continuation */
    CHECK_INT(check("\xC0\x80", 2), -1);             /* overlong lead */
    CHECK_INT(check("\xC1\xBF", 2), -1);
    CHECK_INT(check("\xE0\x80\x80", 3), -1);         /* overlong 3-byte */
    CHECK_INT(check("\xED\xA0\x80", 3), -1);         /* surrogate U+D800 */
    CHECK_INT(check("\xF4\x90\x80\x80", 4), -1);     /* > U+10FFFF */
    CHECK_INT(check("\xF5\x80", 2), -1);
    CHECK_INT(check("\xE2\x41", 2), -1);             /* lead then ASCII */
    CHECK_INT(check("\xF0\x9F\x41", 3), -2);         /* two-byte ill-formed subpart */
    CHECK(text_utf8_valid((const uint8_t *)"h\xC3\xA9llo \xE2\x82\xAC", 10));
    CHECK(!text_utf8_valid((const uint8_t *)"ab\xE2\x82", 4));
}

static void test_byte_map(void)
{
    /* from the definition: printable bytes keep their code point; the 68
     * others (0x00-0x20, 0x7F-0xA0, 0xAD) map to U+0100.. in order */
    CHECK_INT(text_byte_to_cpt('A'), 'A');
    CHECK_INT(text_byte_to_cpt('!'), '!');
    CHECK_INT(text_byte_to_cpt(0x00), 0x100);
    CHECK_INT(text_byte_to_cpt('\n'), 0x10A);        /* Ċ */
    CHECK_INT(text_byte_to_cpt(' '), 0x120);         /* Ġ */
    CHECK_INT(text_byte_to_cpt(0x7F), 0x121);
    CHECK_INT(text_byte_to_cpt(0xA0), 0x142);
    CHECK_INT(text_byte_to_cpt(0xAD), 0x143);
    CHECK_INT(text_byte_to_cpt(0xAE), 0xAE);
    CHECK_INT(text_byte_to_cpt(0xFF), 0xFF);
    int seen[0x200] = { 0 };
    for (int b = 0; b < 256; b++) {
        uint32_t c = text_byte_to_cpt((uint8_t)b);
        CHECK(c < 0x144);
        if (c < 0x200)
            seen[c]++;
        CHECK_INT(text_cpt_to_byte(c), b);
    }
    for (int c = 0; c < 0x144; c++)
        if (seen[c] == 0)
            CHECK_INT(text_cpt_to_byte((uint32_t)c), -1);
    CHECK_INT(text_cpt_to_byte(0x144), -1);
    CHECK_INT(text_cpt_to_byte(0x2581), -1);
    char buf[4];
    CHECK_INT(text_utf8_encode(0x20AC, buf), 3);
    CHECK(memcmp(buf, "\xE2\x82\xAC", 3) == 0);
    CHECK_INT(text_utf8_encode(0x1F999, buf), 4);
    CHECK(memcmp(buf, "\xF0\x9F\xA6\x99", 4) == 0);
}

/* words: NULL-terminated expected split */
static void check_split(const char *pre, const char *text, const char *const *words)
{
    text_pretok *p = NULL;
    mm_error err = { 0 };
    text_pretok_info info;
    CHECK_INT(text_pretok_new(pre, &p, &info, &err), 0);
    if (!p) {
        printf("  %s: %s\n", pre, err.message);
        return;
    }
    text_spans out = { 0 }, scratch = { 0 };
    CHECK_INT(text_pretok_split(p, text, strlen(text), &out, &scratch, &err), 0);
    size_t n = 0;
    while (words[n])
        n++;
    bool same = out.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = out.v[i].len == strlen(words[i]) &&
               memcmp(text + out.v[i].off, words[i], out.v[i].len) == 0;
    mmtest_checks++;
    if (!same) {
        mmtest_fail(__FILE__, __LINE__, "pre-tokenizer %s split \"%s\" differently", pre, text);
        for (size_t i = 0; i < out.n; i++)
            printf("    [%.*s]\n", (int)out.v[i].len, text + out.v[i].off);
    }
    text_spans_free(&out);
    text_spans_free(&scratch);
    text_pretok_free(p);
}

static void test_pretok(void)
{
    /* GPT-2: \s+(?!\S) leaves the last space of a run to the next word */
    const char *gpt2[] = { "Hello", " world", "'s", " 123", " ", " x", "\n", NULL };
    check_split("gpt-2", "Hello world's 123  x\n", gpt2);
    /* Llama 3: optional non-letter prefix, digits in threes, newline runs */
    const char *llama3[] = { "Hello", ",", " y", "'all", "!", " ", "123", "456", "7",
                             "\n\n", " ", " x", NULL };
    check_split("llama-bpe", "Hello, y'all! 1234567\n\n  x", llama3);
    const char *llama3b[] = { "I", "'M", " here", NULL };
    check_split("llama-bpe", "I'M here", llama3b);
    /* Qwen2: the same with single digits */
    const char *qwen2[] = { "a", "1", "2", "3", NULL };
    check_split("qwen2", "a123", qwen2);
    /* default: punctuation runs split first, then the GPT-2 rules */
    const char *dflt[] = { "a", "+", "b", "=", "3", ".", "14", NULL };
    check_split("default", "a+b=3.14", dflt);
    /* starcoder: every digit alone */
    const char *star[] = { "x", "1", "2", " y", NULL };
    check_split("starcoder", "x12 y", star);
    /* deepseek-coder: CJK runs and single digits */
    const char *dsc[] = { "\xe4\xbd\xa0\xe5\xa5\xbd", "1", "2", NULL };
    check_split("deepseek-coder", "\xe4\xbd\xa0\xe5\xa5\xbd" "12", dsc);
    /* bytes that are not UTF-8 stay in gaps instead of failing */
    const char *bad[] = { "a", "\xff\xfe", "b", NULL };
    check_split("gpt-2", "a\xff\xfe" "b", bad);

    text_pretok *p = NULL;
    mm_error err = { 0 };
    CHECK_INT(text_pretok_new("no-such-pre", &p, NULL, &err), MM_EUNSUPPORTED);
    CHECK_CONTAINS(err.message, "unsupported BPE pre-tokenizer 'no-such-pre'");
    CHECK(p == NULL);
    text_pretok_info info;
    CHECK_INT(text_pretok_new("llama3", &p, &info, &err), 0);
    CHECK(info.ignore_merges);
    CHECK(info.add_bos);
    text_pretok_free(p);
    text_pretok_free(NULL);
}

static uint64_t rng = 0x853C49E6748FEA9Bull;
static uint64_t rnd(void)
{
    return mmtest_rng_u64(&rng);
}

/* Every pre-tokenizer compiles, and on any input (valid UTF-8 or not) its
 * words are non-empty, in order and cover the text exactly. */
static void test_pretok_cover(void)
{
    static const char *const names[] = {
        "default", "gpt-2", "phi-2", "mpt", "llama-bpe", "llama3", "dbrx", "chatglm-bpe",
        "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "refact", "smollm", "qwen2",
        "poro-chat", "tekken", "gpt-4o", "seed-coder",
    };
    static const char *const pieces[] = {
        "Hello", " world", "'s", "'LL", "  ", "\n", "\r\n", "\t", "123456", "3.14", "!?",
        "\xe4\xbd\xa0\xe5\xa5\xbd", "\xd0\x91\xd1\x8a", "\xf0\x9f\xa6\x99", "\xc3\xa9",
        "\xe2\x80\x83", "\xff", "\xe2\x82", "\x80", "<|x|>", "$+=", "\xef\xbc\x81",
    };
    char text[2048];
    for (size_t k = 0; k < MM_ARRAY_LEN(names); k++) {
        text_pretok *p = NULL;
        mm_error err = { 0 };
        CHECK_INT(text_pretok_new(names[k], &p, NULL, &err), 0);
        if (!p)
            continue;
        text_spans out = { 0 }, scratch = { 0 };
        bool ok = true;
        for (int it = 0; it < 200 && ok; it++) {
            size_t len = 0;
            int n = (int)(rnd() % 40);
            for (int i = 0; i < n; i++) {
                const char *pc = pieces[rnd() % MM_ARRAY_LEN(pieces)];
                size_t pl = strlen(pc);
                memcpy(text + len, pc, pl);
                len += pl;
            }
            if (it % 5 == 4)          /* sometimes plain random bytes */
                for (size_t i = 0; i < len; i++)
                    text[i] = (char)rnd();
            out.n = 0;
            ok = text_pretok_split(p, text, len, &out, &scratch, &err) == 0;
            size_t at = 0;
            for (size_t i = 0; ok && i < out.n; i++) {
                ok = out.v[i].off == at && out.v[i].len > 0;
                at += out.v[i].len;
            }
            ok = ok && at == len;
        }
        mmtest_checks++;
        if (!ok)
            mmtest_fail(__FILE__, __LINE__, "pre-tokenizer %s lost or reordered bytes", names[k]);
        text_spans_free(&out);
        text_spans_free(&scratch);
        text_pretok_free(p);
    }
}

/* Split text with fast and slow (PCRE2 only); false, with the text and
 * both splits printed, when they differ. The spans are the caller's, reused. */
static bool same_split(const char *name, const text_pretok *fast, const text_pretok *slow,
                       const char *text, size_t len, text_spans *a, text_spans *b,
                       text_spans *sa, text_spans *sb)
{
    mm_error err = { 0 };
    a->n = b->n = 0;
    CHECK_INT(text_pretok_split(fast, text, len, a, sa, &err), 0);
    CHECK_INT(text_pretok_split(slow, text, len, b, sb, &err), 0);
    bool same = a->n == b->n && memcmp(a->v, b->v, a->n * sizeof *a->v) == 0;
    mmtest_checks++;
    if (same)
        return true;
    mmtest_fail(__FILE__, __LINE__, "%s: hand-written split differs from PCRE2", name);
    printf("    text:");
    for (size_t i = 0; i < len; i++)
        printf(" %02x", (uint8_t)text[i]);
    printf("\n    fast:");
    for (size_t i = 0; i < a->n; i++)
        printf(" [%u,%u)", a->v[i].off, a->v[i].off + a->v[i].len);
    printf("\n    pcre:");
    for (size_t i = 0; i < b->n; i++)
        printf(" [%u,%u)", b->v[i].off, b->v[i].off + b->v[i].len);
    printf("\n");
    return false;
}

/* The hand-written GPT-2 / Llama 3 / Qwen2 splitters, the one-class
 * splitter (tok-class.c) and the fused cascades agree with PCRE2 on the same
 * patterns, word for word, on random UTF-8 with a few invalid bytes mixed
 * in: a valid text goes through the fused cascade where the pre-tokenizer
 * has one, a text with an invalid byte through the splitters level by level. */
static void test_custom_split(void)
{
    static const char *const names[] = { "gpt-2", "llama-bpe", "qwen2", "starcoder",
                                         "deepseek-llm", "deepseek-coder", "default", "falcon",
                                         "bloom" };
    static const char *const pieces[] = {
        "a", "Z", "hello", " ", "  ", "\t", "\n", "\r", "\v", "\f", "\xc2\xa0", "\xe3\x80\x80",
        "\xe2\x80\xa8", "\xc2\x85", "'", "'s", "'S", "'ll", "'LL", "'Re", "'ve", "'d", "'m", "'t",
        "'x", "1", "42", "12345", "\xd9\xa3", "\xc2\xbd", "!", "?!", ".", ",", "-", "_", "$", "+",
        "\xe4\xbd\xa0", "\xf0\x9f\xa6\x99", "\xcc\x81", "\xc3\xa9", "\xd0\xaf", "\x01",
        "\xef\xbf\xbd", "\xf3\xa0\x80\x81",
        /* deepseek's classes: fullwidth '!' and 'A', Greek alpha, Hangul, U+0800,
         * U+4E00, U+9FA6 (just past its CJK range), curly quote, ideographic
         * full stop, micro sign, "\r\n", '~', '|', '`', '^' */
        "\xef\xbc\x81", "\xef\xbc\xa1", "\xce\xb1", "\xea\xb0\x80", "\xe0\xa0\x80",
        "\xe4\xb8\x80", "\xe9\xbe\xa6", "\xe2\x80\x98", "\xe3\x80\x82", "\xc2\xb5",
        "\r\n", "~", "|", "`", "^", " a", " !", "123",
        /* invalid UTF-8: pieces holding it go to PCRE2 on both sides */
        "\xff", "\xe2\x82", "\x80",
    };
    char text[4096];
    for (size_t k = 0; k < MM_ARRAY_LEN(names); k++) {
        text_pretok *fast = NULL, *slow = NULL;
        mm_error err = { 0 };
        CHECK_INT(text_pretok_new(names[k], &fast, NULL, &err), 0);
        CHECK_INT(text_pretok_new(names[k], &slow, NULL, &err), 0);
        if (!fast || !slow) {
            text_pretok_free(fast);
            text_pretok_free(slow);
            continue;
        }
        text_pretok_use_pcre_only(slow);
        text_spans a = { 0 }, b = { 0 }, sa = { 0 }, sb = { 0 };
        int bad = 0;
        for (int it = 0; it < 3000 && bad < 3; it++) {
            size_t len = 0;
            int n = 1 + (int)(rnd() % 24);
            for (int i = 0; i < n; i++) {
                const char *pc = pieces[rnd() % MM_ARRAY_LEN(pieces)];
                size_t pl = strlen(pc);
                memcpy(text + len, pc, pl);
                len += pl;
            }
            if (!same_split(names[k], fast, slow, text, len, &a, &b, &sa, &sb))
                bad++;
        }
        text_spans_free(&a);
        text_spans_free(&b);
        text_spans_free(&sa);
        text_spans_free(&sb);
        text_pretok_free(fast);
        text_pretok_free(slow);
    }
}

/* The fused cascades (tok-cascade.c: deepseek-llm, deepseek-coder,
 * "default", falcon, starcoder) split valid UTF-8 exactly as PCRE2 running
 * the patterns one after the other, on random and adversarial text: code
 * points at the edges of every class the cascades use, every \s character,
 * digits and letters of other scripts, astral planes, contractions, long
 * runs of one character (the map is searched eight bytes at a time). */
static uint32_t random_cpt(void)
{
    static const uint32_t edges[] = {
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x20, 0x85, 0xA0, 0x1680, 0x180E, 0x2000, 0x200A,
        0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF,
        0x21, 0x24, 0x27, 0x2B, 0x2F, 0x30, 0x39, 0x3A, 0x3C, 0x3E, 0x40, 0x5B, 0x5E, 0x60,
        0x7B, 0x7C, 0x7E, 0x7F, 0xB5, 0xBD, 0xC0, 0xD6, 0xD7, 0xD8, 0xF6, 0xF7, 0xF8, 0x1BA,
        0x1BB, 0x1BC, 0x294, 0x301, 0x37F, 0x5D0, 0x627, 0x660, 0x7FF, 0x800, 0x905, 0x966,
        0x2018, 0x201F, 0x2020, 0x2026, 0x2167, 0x2460, 0x3001, 0x3002, 0x3003, 0x3042,
        0x4DFF, 0x4E00, 0x4E01, 0x9FA5, 0x9FA6, 0xABFF, 0xAC00, 0xD7A3, 0xD7FF, 0xE000,
        0xFF01, 0xFF0F, 0xFF10, 0xFF1A, 0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0xFF5E, 0xFF5F,
        0x10400, 0x1044F, 0x10450, 0x1D7CE, 0x1E900, 0x1E943, 0x1E944, 0x1F600, 0x1F999,
        0xE0001, 0x10FFFF,
    };
    uint32_t c;
    switch (rnd() % 4) {
    case 0:  return edges[rnd() % MM_ARRAY_LEN(edges)];
    case 1:  return (uint32_t)(rnd() % 0x80);
    case 2:  c = (uint32_t)(rnd() % 0x10000); break;
    default: c = (uint32_t)(rnd() % 0x110000); break;
    }
    return c >= 0xD800 && c <= 0xDFFF ? 0x20 : c;
}

static void test_fused_split(void)
{
    static const char *const names[] = { "deepseek-llm", "deepseek-coder", "default", "falcon",
                                         "starcoder" };
    static const char *const snippets[] = {
        "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'x", "'", " ", "  ", "\r\n", "\n\n",
        "123", "1234567", "abc", "Hello", " world", "3.14", "!!", "  \t", "don't",
    };
    char text[8192];
    for (size_t k = 0; k < MM_ARRAY_LEN(names); k++) {
        text_pretok *fast = NULL, *slow = NULL;
        mm_error err = { 0 };
        CHECK_INT(text_pretok_new(names[k], &fast, NULL, &err), 0);
        CHECK_INT(text_pretok_new(names[k], &slow, NULL, &err), 0);
        if (!fast || !slow) {
            text_pretok_free(fast);
            text_pretok_free(slow);
            continue;
        }
        /* else this test would compare PCRE2 with the level-by-level path */
        CHECK(text_pretok_fused(fast));
        text_pretok_use_pcre_only(slow);
        text_spans a = { 0 }, b = { 0 }, sa = { 0 }, sb = { 0 };
        int bad = 0;
        for (int it = 0; it < 4000 && bad < 3; it++) {
            size_t len = 0;
            int n = 1 + (int)(rnd() % (it % 10 == 9 ? 400 : 40));
            for (int i = 0; i < n && len + 4 * 24 < sizeof text; i++) {
                uint64_t r = rnd() % 8;
                if (r < 3) {
                    const char *sn = snippets[rnd() % MM_ARRAY_LEN(snippets)];
                    memcpy(text + len, sn, strlen(sn));
                    len += strlen(sn);
                } else {
                    uint32_t c = random_cpt();
                    int reps = r == 7 ? 2 + (int)(rnd() % 20) : 1;
                    for (int j = 0; j < reps; j++)
                        len += text_utf8_encode(c, text + len);
                }
            }
            if (!text_utf8_valid((const uint8_t *)text, len)) {
                mmtest_fail(__FILE__, __LINE__, "the generator made invalid UTF-8");
                break;
            }
            if (!same_split(names[k], fast, slow, text, len, &a, &b, &sa, &sb))
                bad++;
        }
        text_spans_free(&a);
        text_spans_free(&b);
        text_spans_free(&sa);
        text_spans_free(&sb);
        text_pretok_free(fast);
        text_pretok_free(slow);
    }
}

int main(void)
{
    test_fused_split();
    test_custom_split();
    test_pretok_cover();
    test_utf8_check();
    test_byte_map();
    test_pretok();
    return mmtest_finish();
}
