/* test-features.c - request features: the byte-based token estimate, needed
 * context, and the complexity signals on prompts crafted so that each
 * signal's hits can be counted by hand. */
#include "router/router.h"
#include "support/test.h"

#include <stdlib.h>

static size_t signal_index(const char *name)
{
    for (size_t i = 0; i < router_n_signals; i++)
        if (strcmp(router_signals[i].name, name) == 0)
            return i;
    mmtest_fail(__FILE__, __LINE__, "no signal '%s'", name);
    return 0;
}

static router_features features_of(const char *text, int n_messages)
{
    router_request req = { .text = text, .text_len = strlen(text), .n_messages = n_messages,
                           .caps = ROUTER_CAP_CHAT };
    router_features f;
    router_features_compute(&req, &f);
    return f;
}

static double value_of(const router_features *f, const char *signal)
{
    return f->signal_value[signal_index(signal)];
}

static void test_table(void)
{
    double sum = 0.0;
    CHECK(router_n_signals <= ROUTER_MAX_SIGNALS);
    for (size_t i = 0; i < router_n_signals; i++) {
        CHECK(router_signals[i].weight > 0.0);
        sum += router_signals[i].weight;
    }
    CHECK_NEAR(sum, 1.0, 1e-12);
}

static void test_tokens(void)
{
    CHECK_INT(router_estimate_tokens(0), 0);
    CHECK_INT(router_estimate_tokens(1), 1);
    CHECK_INT(router_estimate_tokens(4), 1);
    CHECK_INT(router_estimate_tokens(5), 2);
    CHECK_INT(router_estimate_tokens(4000), 1000);

    router_features f = features_of("hello", 1);   /* 5 bytes -> 2 tokens */
    CHECK_INT(f.prompt_tokens, 2);
    CHECK(f.tokens_estimated);
    CHECK_INT(f.max_tokens, ROUTER_DEFAULT_MAX_TOKENS);
    CHECK_INT(f.needed_context, 2 + ROUTER_DEFAULT_MAX_TOKENS);
    /* Only length is non-zero: 2 / 2000 * 0.20. */
    CHECK_NEAR(f.complexity, 0.0002, 1e-12);

    router_request req = { .text = "hi", .text_len = 2, .prompt_tokens = 5000,
                           .max_tokens = 1000, .caps = ROUTER_CAP_TOOLS };
    router_features_compute(&req, &f);
    CHECK_INT(f.prompt_tokens, 5000);
    CHECK(!f.tokens_estimated);
    CHECK_INT(f.needed_context, 6000);
    CHECK_INT(f.caps, ROUTER_CAP_TOOLS);
    CHECK_NEAR(value_of(&f, "length"), 1.0, 1e-12);   /* 5000 tokens saturate */
    CHECK_NEAR(f.complexity, 0.20, 1e-12);
}

static void test_signals(void)
{
    /* Two fences (2 x 2) + "return " (1) = 5 hits of 6; 17 bytes = 5 tokens. */
    router_features f = features_of("```\nreturn x;\n```", 1);
    CHECK_NEAR(value_of(&f, "code"), 5.0 / 6.0, 1e-12);
    CHECK_NEAR(f.complexity, 0.25 * 5.0 / 6.0 + 0.20 * 5.0 / 2000.0, 1e-12);

    /* "solve for" + 2+2, 2=4, 3*5 = 4 hits: saturated. */
    f = features_of("solve for x: 2+2=4 and 3*5", 1);
    CHECK_NEAR(value_of(&f, "math"), 1.0, 1e-12);
    CHECK_NEAR(value_of(&f, "code"), 0.0, 1e-12);
    CHECK_NEAR(value_of(&f, "questions"), 0.0, 1e-12);

    /* "2 + 2" has spaces: not digit-operator-digit. */
    f = features_of("what is 2 + 2", 1);
    CHECK_NEAR(value_of(&f, "math"), 0.0, 1e-12);

    /* explain why, step by step, then, compare: 4 cues (saturate at 3). */
    f = features_of("Explain why the sky is blue, step by step, then compare it to Mars", 1);
    CHECK_NEAR(value_of(&f, "reasoning"), 1.0, 1e-12);
    f = features_of("ANALYZE this", 1);     /* case-insensitive: 1 of 3 */
    CHECK_NEAR(value_of(&f, "reasoning"), 1.0 / 3.0, 1e-12);

    /* One question is the normal case; three add (3 - 1) / 4. */
    f = features_of("a?", 1);
    CHECK_NEAR(value_of(&f, "questions"), 0.0, 1e-12);
    f = features_of("a? b? c?", 1);
    CHECK_NEAR(value_of(&f, "questions"), 0.5, 1e-12);

    f = features_of("hi", 6);               /* (6 - 1) / 10 */
    CHECK_NEAR(value_of(&f, "depth"), 0.5, 1e-12);
    f = features_of("hi", 40);
    CHECK_NEAR(value_of(&f, "depth"), 1.0, 1e-12);
}

static void test_ordering(void)
{
    const char *simple = "What is the capital of France?";
    const char *hard =
        "Analyze this C code step by step and explain why it crashes, then compare "
        "two fixes. Which is faster? Which is safer? Is the integral of x^2 from 0 "
        "to 1 equal to 1/3?\n```c\n#include <stdio.h>\nint main(void) {\n"
        "  char *p = 0; return *p;\n}\n```\n";
    router_features fs = features_of(simple, 1), fh = features_of(hard, 8);
    CHECK(fs.complexity < 0.1);
    CHECK(fh.complexity > 0.6);
    CHECK(fh.complexity <= 1.0);

    /* Every value stays in [0, 1] even for a pathological prompt. */
    size_t len = 3 * ROUTER_SCAN_MAX;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        big[i] = "?{\n};2+2"[i % 8];
    big[len] = '\0';
    router_features fb = features_of(big, 1000);
    for (size_t i = 0; i < fb.n_signals; i++)
        CHECK(fb.signal_value[i] >= 0.0 && fb.signal_value[i] <= 1.0);
    /* length, code, math, questions and depth saturate; no reasoning cue. */
    CHECK_NEAR(fb.complexity, 0.80, 1e-9);
    free(big);
}

/* The one-pass word counter against a naive reference: for each word, scan
 * every position and skip past each match. */
static size_t naive_count(const char *text, size_t len, const char *word)
{
    size_t wlen = strlen(word), hits = 0;
    for (size_t i = 0; i + wlen <= len; ) {
        if (memcmp(text + i, word, wlen) == 0) {
            hits++;
            i += wlen;
        } else {
            i++;
        }
    }
    return hits;
}

static void test_word_counter(void)
{
    /* Text stitched from word fragments so that matches, near-misses and
     * overlaps ("step by step by step") are common. */
    static const char *const parts[] = {
        "step by ", "step", "then ", "the", "n ", "compare", "compar", "{\n", "{\n}", "};",
        "#include", "def ", "de", "f ", "\\frac", "matrix", "reason", "reasonreason",
        "first,", "fn ", "=>", "=", ">", "();", " ", "x", "?", NULL
    };
    size_t n_parts = 0;
    while (parts[n_parts])
        n_parts++;
    uint64_t seed = 12345;
    char text[4096];
    for (int round = 0; round < 50; round++) {
        size_t len = 0;
        while (len < sizeof text - 32) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *part = parts[(seed >> 33) % n_parts];
            size_t plen = strlen(part);
            memcpy(text + len, part, plen);
            len += plen;
        }
        size_t hits[ROUTER_MAX_SIGNALS];
        router_signals_count(text, len, hits);
        for (size_t s = 0; s < router_n_signals; s++) {
            size_t expect = 0;
            for (size_t w = 0; router_signals[s].words && router_signals[s].words[w]; w++)
                expect += naive_count(text, len, router_signals[s].words[w]);
            CHECK_INT(hits[s], expect);
        }
    }
}

/* docs/ROUTER.md shows the signal table with the weights the code uses. */
static void test_docs_table(void)
{
    const char *src = getenv("MM_SOURCE_DIR");
    if (!src) {
        printf("note: MM_SOURCE_DIR unset, docs check skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/ROUTER.md", src);
    char *doc = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_file_read(path, 1 << 20, &doc, NULL, &err), 0);
    for (size_t i = 0; doc && i < router_n_signals; i++) {
        char row[128];
        snprintf(row, sizeof row, "| `%s` | %.2f |", router_signals[i].name,
                 router_signals[i].weight);
        CHECK_CONTAINS(doc, row);
    }
    free(doc);
}

static void test_caps(void)
{
    char text[96];
    router_caps_format(ROUTER_CAP_CHAT | ROUTER_CAP_TOOLS | ROUTER_CAP_VISION, text, sizeof text);
    CHECK_STR(text, "chat,tools,vision");
    router_caps_format(0, text, sizeof text);
    CHECK_STR(text, "");
    unsigned bit = 0;
    CHECK_INT(router_cap_parse("json", &bit), 0);
    CHECK_INT(bit, ROUTER_CAP_JSON);
    CHECK_INT(router_cap_parse("telepathy", &bit), MM_EINVAL);
}

int main(void)
{
    test_table();
    test_tokens();
    test_signals();
    test_ordering();
    test_word_counter();
    test_docs_table();
    test_caps();
    return mmtest_finish();
}
