/* test-sampler.c - the sampler on hand-made logits: greedy and its tie rule
 * (also against a naive argmax on generated rows),
 * penalties (values worked out by hand), top-k/top-p/min-p cut-offs, the
 * empirical distribution of seeded draws, and seed determinism. */
#include "engine/engine.h"
#include "support/test.h"

#include <math.h>

static engine_sampler *make(const engine_sampler_params *p, uint32_t n_vocab)
{
    engine_sampler *s = NULL;
    mm_error err = { 0 };
    CHECK_INT(engine_sampler_new(p, n_vocab, &s, &err), 0);
    return s;
}

static void greedy_params(engine_sampler_params *p)
{
    engine_sampler_default_params(p);
    p->temperature = 0;
}

static void test_greedy(void)
{
    engine_sampler_params p;
    greedy_params(&p);
    engine_sampler *s = make(&p, 5);
    const float a[5] = { 0.1f, 3.0f, -2.0f, 3.0f, 2.9f };
    CHECK_INT(engine_sampler_sample(s, a), 1);   /* first index wins the tie */
    const float b[5] = { -5, -4, -3, -2, -1 };
    CHECK_INT(engine_sampler_sample(s, b), 4);
    engine_sampler_free(s);

    /* NaN never wins; all -inf still yields a valid id */
    engine_sampler_params q;
    engine_sampler_default_params(&q);
    q.seed = 3;
    s = make(&q, 3);
    const float nan3[3] = { NAN, 1.0f, NAN };
    const float ninf[3] = { -INFINITY, -INFINITY, -INFINITY };
    for (int i = 0; i < 20; i++)
        CHECK_INT(engine_sampler_sample(s, nan3), 1);
    int32_t t = engine_sampler_sample(s, ninf);
    CHECK(t >= 0 && t < 3);
    engine_sampler_free(s);
}

/* The reference: the first index of the largest logit, NaN as -inf. */
static int32_t naive_argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++) {
        float a = isnan(v[i]) ? -INFINITY : v[i], b = isnan(v[best]) ? -INFINITY : v[best];
        if (a > b)
            best = i;
    }
    return (int32_t)best;
}

/* Greedy over vocabularies of every length around the 8-lane scan's edges
 * and one of 32,000, with ties, NaNs, infinities and all-equal rows, against
 * the naive rule. */
static void test_greedy_scan(void)
{
    static float v[32000];
    static const uint32_t sizes[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 32000 };
    uint32_t rng = 12345;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        engine_sampler_params p;
        greedy_params(&p);
        engine_sampler *s = make(&p, n);
        for (int round = 0; round < 40; round++) {
            for (uint32_t i = 0; i < n; i++) {
                rng = rng * 1103515245u + 12345u;
                uint32_t r = (rng >> 16) % 16;
                /* few distinct values, so ties are common */
                v[i] = r == 0 ? NAN : r == 1 ? -INFINITY : (float)(r % 5) - 2.0f;
                if (round % 10 == 9 && r == 2)
                    v[i] = INFINITY;
            }
            if (round == 0)
                for (uint32_t i = 0; i < n; i++)
                    v[i] = i % 2 ? -INFINITY : NAN;   /* nothing finite */
            if (round == 1)
                for (uint32_t i = 0; i < n; i++)
                    v[i] = 0.5f;                      /* all tied */
            if (round == 2 && n > 1)
                v[n - 1] = 100.0f;                    /* the maximum in the tail */
            CHECK_INT(engine_sampler_sample(s, v), naive_argmax(v, n));
        }
        engine_sampler_free(s);
    }
}

static void test_penalties(void)
{
    engine_sampler_params p;
    greedy_params(&p);
    p.repeat_penalty = 1.5f;
    engine_sampler *s = make(&p, 2);
    const float pos[2] = { 2.0f, 1.9f };    /* 2.0 / 1.5 = 1.33 < 1.9 */
    const float neg[2] = { -1.0f, -1.2f };  /* -1.0 * 1.5 = -1.5 < -1.2 */
    CHECK_INT(engine_sampler_sample(s, pos), 0);
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, pos), 1);
    CHECK_INT(engine_sampler_sample(s, neg), 1);
    engine_sampler_reset(s);
    CHECK_INT(engine_sampler_sample(s, pos), 0);
    engine_sampler_free(s);

    const float l[2] = { 3.0f, 2.5f };
    greedy_params(&p);
    p.frequency_penalty = 0.3f;            /* seen twice: 3 - 0.6 = 2.4 < 2.5 */
    s = make(&p, 2);
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, l), 0);   /* once: 2.7 > 2.5 */
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, l), 1);
    engine_sampler_free(s);

    greedy_params(&p);
    p.presence_penalty = 0.4f;             /* 2.6 > 2.5, however often seen */
    s = make(&p, 2);
    engine_sampler_accept(s, 0);
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, l), 0);
    engine_sampler_free(s);
    p.presence_penalty = 0.6f;             /* 2.4 < 2.5 */
    s = make(&p, 2);
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, l), 1);
    engine_sampler_free(s);

    /* the window: with penalty_last_n 2, token 0 slides out after two more */
    greedy_params(&p);
    p.presence_penalty = 0.6f;
    p.penalty_last_n = 2;
    s = make(&p, 3);
    const float w[3] = { 3.0f, 2.5f, 0.0f };
    engine_sampler_accept(s, 0);
    CHECK_INT(engine_sampler_sample(s, w), 1);
    engine_sampler_accept(s, 2);
    engine_sampler_accept(s, 2);
    CHECK_INT(engine_sampler_sample(s, w), 0);
    engine_sampler_free(s);
}

/* Draw n times and count. */
static void histogram(const engine_sampler_params *p, const float *logits, uint32_t nv,
                      int n, int *counts)
{
    engine_sampler *s = make(p, nv);
    for (uint32_t i = 0; i < nv; i++)
        counts[i] = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = engine_sampler_sample(s, logits);
        if (t >= 0 && (uint32_t)t < nv)
            counts[t]++;
    }
    engine_sampler_free(s);
}

static void test_distribution(void)
{
    /* probabilities 0.5, 0.3, 0.2 at temperature 1 */
    const float l[3] = { logf(0.5f), logf(0.3f), logf(0.2f) };
    engine_sampler_params p;
    engine_sampler_default_params(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    int c[3];
    const int n = 20000;
    histogram(&p, l, 3, n, c);
    /* binomial sd at n = 20000 is at most 0.0036: 0.015 is > 4 sd */
    CHECK_NEAR((double)c[0] / n, 0.5, 0.015);
    CHECK_NEAR((double)c[1] / n, 0.3, 0.015);
    CHECK_NEAR((double)c[2] / n, 0.2, 0.015);

    /* temperature 2 flattens: p ~ sqrt(p_i): 0.7071, 0.5477, 0.4472 normalized */
    p.temperature = 2.0f;
    histogram(&p, l, 3, n, c);
    double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.2);
    CHECK_NEAR((double)c[0] / n, sqrt(0.5) / z, 0.015);
    CHECK_NEAR((double)c[2] / n, sqrt(0.2) / z, 0.015);
    p.temperature = 1.0f;

    /* top_p 0.6: 0.5 < 0.6, 0.5 + 0.3 >= 0.6 -> keep two, renormalized 5/8, 3/8 */
    p.top_p = 0.6f;
    histogram(&p, l, 3, n, c);
    CHECK_INT(c[2], 0);
    CHECK_NEAR((double)c[0] / n, 0.625, 0.015);
    p.top_p = 1.0f;

    /* min_p 0.5 keeps p >= 0.25 (tokens 0, 1); 0.7 keeps p >= 0.35 (token 0) */
    p.min_p = 0.5f;
    histogram(&p, l, 3, n, c);
    CHECK_INT(c[2], 0);
    CHECK(c[1] > 0);
    p.min_p = 0.7f;
    histogram(&p, l, 3, 1000, c);
    CHECK_INT(c[0], 1000);
    p.min_p = 0.0f;

    /* top_k 1 is greedy at any temperature */
    p.top_k = 1;
    p.temperature = 5.0f;
    histogram(&p, l, 3, 1000, c);
    CHECK_INT(c[0], 1000);
}

static void test_seed(void)
{
    float l[50];
    for (int i = 0; i < 50; i++)
        l[i] = (float)((i * 37) % 11) * 0.3f;
    engine_sampler_params p;
    engine_sampler_default_params(&p);
    p.temperature = 1.5f;
    p.top_k = 0;
    p.min_p = 0;
    p.seed = 1234;
    engine_sampler *a = make(&p, 50), *b = make(&p, 50);
    p.seed = 1235;
    engine_sampler *c = make(&p, 50);
    int same = 0, differ = 0;
    int32_t first[64];
    for (int i = 0; i < 64; i++) {
        int32_t ta = engine_sampler_sample(a, l), tb = engine_sampler_sample(b, l),
                tc = engine_sampler_sample(c, l);
        first[i] = ta;
        same += ta == tb;
        differ += ta != tc;
    }
    CHECK_INT(same, 64);
    CHECK(differ > 0);
    engine_sampler_reset(a);   /* re-seeds: the same sequence again */
    int again = 0;
    for (int i = 0; i < 64; i++)
        again += engine_sampler_sample(a, l) == first[i];
    CHECK_INT(again, 64);
    engine_sampler_free(a);
    engine_sampler_free(b);
    engine_sampler_free(c);

    mm_error err = { 0 };
    engine_sampler *bad = NULL;
    p.penalty_last_n = -1;
    CHECK_INT(engine_sampler_new(&p, 50, &bad, &err), MM_EINVAL);
    CHECK(bad == NULL);
    engine_sampler_free(NULL);
}

int main(void)
{
    test_greedy();
    test_greedy_scan();
    test_penalties();
    test_distribution();
    test_seed();
    return mmtest_finish();
}
