/* router-signals.c - THE table of complexity signals: what each measures, its
 * weight, and the scanner that measures it. The complexity of a request is
 * the weighted sum of the values, so the weights sum to 1 and each value is
 * in [0, 1]. docs/ROUTER.md shows this table; change both together. */
#include "router/router.h"

#include <ctype.h>
#include <string.h>

/* value = min(1, hits / saturation): a few hits are enough to call a prompt
 * "about code", and more do not make it more so. */
static double saturate(double hits, double saturation)
{
    double v = hits / saturation;
    return v > 1.0 ? 1.0 : v;
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Occurrences of a lowercase ASCII word in text, case-insensitively. The
 * locale's tolower() is a call per byte; this runs on every prompt. */
static size_t count_ci(const char *text, size_t len, const char *word)
{
    size_t wlen = strlen(word), hits = 0;
    if (wlen == 0 || wlen > len)
        return 0;
    const unsigned char first = (unsigned char)word[0];
    for (size_t i = 0; i + wlen <= len; i++) {
        if (lower((unsigned char)text[i]) != first)
            continue;
        size_t j = 1;
        while (j < wlen && lower((unsigned char)text[i + j]) == (unsigned char)word[j])
            j++;
        if (j == wlen) {
            hits++;
            i += wlen - 1;
        }
    }
    return hits;
}

static size_t count_words(const char *text, size_t len, const char *const *words)
{
    size_t hits = 0;
    for (size_t i = 0; words[i]; i++)
        hits += count_ci(text, len, words[i]);
    return hits;
}

/* Length: 2000 prompt tokens count as fully "long". */
static double measure_length(const char *text, size_t len, const router_request *req,
                             int64_t prompt_tokens)
{
    return saturate((double)prompt_tokens, 2000.0);
}

/* Code: each ``` fence counts 2, each code-like token 1; 6 saturate. */
static double measure_code(const char *text, size_t len, const router_request *req,
                           int64_t prompt_tokens)
{
    static const char *const tokens[] = {
        "#include", "def ", "function ", "return ", "=>", "();", "{\n", "};",
        "class ", "import ", "select ", "printf(", "int main", "fn ", NULL
    };
    size_t fences = count_ci(text, len, "```");
    return saturate((double)(2 * fences + count_words(text, len, tokens)), 6.0);
}

/* Math: math vocabulary, LaTeX commands and digit-operator-digit; 4 saturate. */
static double measure_math(const char *text, size_t len, const router_request *req,
                           int64_t prompt_tokens)
{
    static const char *const words[] = {
        "integral", "derivative", "equation", "theorem", "matrix", "probability",
        "\\frac", "\\sum", "\\int", "solve for", "prove that", NULL
    };
    size_t hits = count_words(text, len, words);
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
                                int64_t prompt_tokens)
{
    static const char *const cues[] = {
        "step by step", "explain why", "reason", "analyze", "analyse", "compare",
        "trade-off", "tradeoff", "pros and cons", "first,", "then ", "finally",
        "justify", "evaluate", "design ", NULL
    };
    return saturate((double)count_words(text, len, cues), 3.0);
}

/* Questions: one is the normal case; each more adds; 5 in all saturate. */
static double measure_questions(const char *text, size_t len, const router_request *req,
                                int64_t prompt_tokens)
{
    size_t q = 0;
    for (size_t i = 0; i < len; i++)
        q += text[i] == '?';
    return q <= 1 ? 0.0 : saturate((double)(q - 1), 4.0);
}

/* Conversation depth: 11 messages or more saturate. */
static double measure_depth(const char *text, size_t len, const router_request *req,
                            int64_t prompt_tokens)
{
    return req->n_messages <= 1 ? 0.0 : saturate((double)(req->n_messages - 1), 10.0);
}

const router_signal router_signals[] = {
    { "length",    0.20, "prompt tokens / 2000", measure_length },
    { "code",      0.25, "(2 x ``` fences + code-like tokens) / 6", measure_code },
    { "math",      0.15, "(math words, LaTeX, digit-operator-digit) / 4", measure_math },
    { "reasoning", 0.20, "multi-step and reasoning cues / 3", measure_reasoning },
    { "questions", 0.10, "(question marks - 1) / 4", measure_questions },
    { "depth",     0.10, "(messages - 1) / 10", measure_depth },
};

const size_t router_n_signals = MM_ARRAY_LEN(router_signals);
