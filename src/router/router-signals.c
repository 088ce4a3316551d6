/* router-signals.c - THE table of complexity signals: what each measures, its
 * weight, and the scanner that measures it. The complexity of a request is
 * the weighted sum of the values, so the weights sum to 1 and each value is
 * in [0, 1]. docs/ROUTER.md shows this table; change both together. */
#define _GNU_SOURCE 1   /* memmem */
#include "router/router.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

/* value = min(1, hits / saturation): a few hits are enough to call a prompt
 * "about code", and more do not make it more so. */
static double saturate(double hits, double saturation)
{
    double v = hits / saturation;
    return v > 1.0 ? 1.0 : v;
}

/* Non-overlapping occurrences of word in text (lowercased by the caller). */
static size_t count_ci(const char *text, size_t len, const char *word)
{
    size_t wlen = strlen(word), hits = 0;
    const char *p = text, *end = text + len;
    while (wlen && (size_t)(end - p) >= wlen) {
        const char *hit = memmem(p, (size_t)(end - p), word, wlen);
        if (!hit)
            break;
        hits++;
        p = hit + wlen;
    }
    return hits;
}

static const char *const code_words[] = {
    "#include", "def ", "function ", "return ", "=>", "();", "{\n", "};",
    "class ", "import ", "select ", "printf(", "int main", "fn ", NULL
};

static const char *const math_words[] = {
    "integral", "derivative", "equation", "theorem", "matrix", "probability",
    "\\frac", "\\sum", "\\int", "solve for", "prove that", NULL
};

static const char *const reasoning_words[] = {
    "step by step", "explain why", "reason", "analyze", "analyse", "compare",
    "trade-off", "tradeoff", "pros and cons", "first,", "then ", "finally",
    "justify", "evaluate", "design ", NULL
};

/* Length: 2000 prompt tokens count as fully "long". */
static double measure_length(const char *text, size_t len, const router_request *req,
                             int64_t prompt_tokens, size_t word_hits)
{
    return saturate((double)prompt_tokens, 2000.0);
}

/* Code: each ``` fence counts 2, each code-like token 1; 6 saturate. */
static double measure_code(const char *text, size_t len, const router_request *req,
                           int64_t prompt_tokens, size_t word_hits)
{
    size_t fences = count_ci(text, len, "```");
    return saturate((double)(2 * fences + word_hits), 6.0);
}

/* Math: math vocabulary, LaTeX commands and digit-operator-digit; 4 saturate. */
static double measure_math(const char *text, size_t len, const router_request *req,
                           int64_t prompt_tokens, size_t word_hits)
{
    size_t hits = word_hits;
    for (size_t i = 1; i + 1 < len; i++) {
        char c = text[i];
        if ((c == '+' || c == '*' || c == '/' || c == '^' || c == '=') &&
            isdigit((unsigned char)text[i - 1]) && isdigit((unsigned char)text[i + 1]))
            hits++;
    }
    return saturate((double)hits, 4.0);
}

/* Multi-step or reasoning cues; 3 saturate. */
static double measure_reasoning(const char *text, size_t len, const router_request *req,
                                int64_t prompt_tokens, size_t word_hits)
{
    return saturate((double)word_hits, 3.0);
}

/* Questions: one is the normal case; each more adds; 5 in all saturate. */
static double measure_questions(const char *text, size_t len, const router_request *req,
                                int64_t prompt_tokens, size_t word_hits)
{
    size_t q = 0;
    for (const char *p = text, *end = text + len; (p = memchr(p, '?', (size_t)(end - p))); p++)
        q++;
    return q <= 1 ? 0.0 : saturate((double)(q - 1), 4.0);
}

/* Conversation depth: 11 messages or more saturate. */
static double measure_depth(const char *text, size_t len, const router_request *req,
                            int64_t prompt_tokens, size_t word_hits)
{
    return req->n_messages <= 1 ? 0.0 : saturate((double)(req->n_messages - 1), 10.0);
}

const router_signal router_signals[] = {
    { "length",    0.20, "prompt tokens / 2000", NULL, measure_length },
    { "code",      0.25, "(2 x ``` fences + code-like tokens) / 6", code_words, measure_code },
    { "math",      0.15, "(math words, LaTeX, digit-operator-digit) / 4", math_words, measure_math },
    { "reasoning", 0.20, "multi-step and reasoning cues / 3", reasoning_words, measure_reasoning },
    { "questions", 0.10, "(question marks - 1) / 4", NULL, measure_questions },
    { "depth",     0.10, "(messages - 1) / 10", NULL, measure_depth },
};

const size_t router_n_signals = MM_ARRAY_LEN(router_signals);

/* ---- one pass over the text for every signal's words ---- */

#define WORDS_MAX 96

typedef struct word_entry {
    const char *text;
    uint8_t     len;
    uint8_t     signal;
} word_entry;

/* The words grouped by first byte: by_first[c] .. by_first[c + 1] index
 * into words. Built once; read-only afterwards. */
static word_entry words[WORDS_MAX];
static uint16_t   by_first[257];
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

static void build_index(void)
{
    size_t n = 0;
    for (unsigned c = 0; c < 256; c++) {
        by_first[c] = (uint16_t)n;
        for (size_t s = 0; s < router_n_signals && s < ROUTER_MAX_SIGNALS; s++)
            for (size_t w = 0; router_signals[s].words && router_signals[s].words[w]; w++) {
                const char *text = router_signals[s].words[w];
                size_t len = strlen(text);
                MM_ASSERT(len > 0 && len < 256);
                if ((unsigned char)text[0] == c && n < WORDS_MAX)
                    words[n++] = (word_entry){ text, (uint8_t)len, (uint8_t)s };
            }
    }
    by_first[256] = (uint16_t)n;
}

void router_signals_count(const char *text, size_t len, size_t *hits)
{
    pthread_once(&words_once, build_index);
    size_t next_ok[WORDS_MAX] = { 0 };   /* keeps each word's hits non-overlapping */
    for (size_t s = 0; s < ROUTER_MAX_SIGNALS; s++)
        hits[s] = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)text[i];
        for (size_t k = by_first[c]; k < by_first[c + 1]; k++) {
            const word_entry *w = &words[k];
            if (i < next_ok[k] || w->len > len - i || memcmp(text + i, w->text, w->len) != 0)
                continue;
            hits[w->signal]++;
            next_ok[k] = i + w->len;
        }
    }
}
