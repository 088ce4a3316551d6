/* test-batch-worker.c - the shared engine worker driven step by step
 * (manual mode): 1, 2 and 3 streams that join at different steps are
 * decoded together (steps of 2 and 3 rows are observed) and each stream's
 * tokens equal the same stream run alone on its own engine context (greedy
 * and seeded sampling); a cancelled or stopped stream ends without
 * disturbing the others; a slot's next job reuses its cached prefix. */
// labels: model
#include "engine/engine.h"
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GEN 16

static engine_model *model;

typedef struct stream {
    int32_t  prompt[80];
    uint32_t n_prompt;
    uint32_t max_new;
    float    temperature;       /* 0 greedy */
    int      start;             /* the step before which it joins */
    int32_t  expect[MAX_GEN];   /* run alone */
    int32_t  got[MAX_GEN];
    uint32_t n_got;
    const char *finish;
    bool     started, ended;
    engine_sampler *sampler;
    atomic_bool cancel;
    uint32_t slot;
} stream;

static bool never_eog(const void *user, int32_t token)
{
    (void)user;
    (void)token;
    return false;
}

static engine_sampler *make_sampler(const stream *st)
{
    engine_sampler_params sp;
    engine_sampler_default_params(&sp);
    sp.temperature = st->temperature;
    sp.seed = 99;
    engine_sampler *s = NULL;
    CHECK_INT(engine_sampler_new(&sp, model->hp.n_vocab, &s, NULL), 0);
    for (uint32_t i = 0; s && i < st->n_prompt; i++)
        engine_sampler_accept(s, st->prompt[i]);
    return s;
}

/* The stream alone: its own context, prompt, then sample/eval one by one;
 * greedy is an argmax written here. */
static void run_alone(stream *st)
{
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_ctx = 256;
    engine_ctx *ctx = NULL;
    CHECK_INT(engine_ctx_new(model, &p, &ctx, NULL), 0);
    engine_sampler *s = make_sampler(st);
    if (!ctx || !s)
        goto out;
    CHECK_INT(engine_eval(ctx, st->prompt, st->n_prompt, NULL), 0);
    const float *lg = engine_ctx_logits(ctx, st->n_prompt - 1);
    for (uint32_t k = 0; k < st->max_new; k++) {
        int32_t tok = 0;
        if (st->temperature <= 0) {
            for (uint32_t v = 1; v < model->hp.n_vocab; v++)
                if (lg[v] > lg[tok])
                    tok = (int32_t)v;
        } else {
            tok = engine_sampler_sample(s, lg);
            engine_sampler_accept(s, tok);
        }
        st->expect[k] = tok;
        CHECK_INT(engine_eval(ctx, &tok, 1, NULL), 0);
        lg = engine_ctx_logits(ctx, 0);
    }
out:
    engine_sampler_free(s);
    engine_ctx_free(ctx);
}

static void start(rt_batch *b, stream *st)
{
    st->sampler = make_sampler(st);
    rt_batch_job job = { st->prompt, st->n_prompt, st->max_new, st->sampler, &st->cancel,
                         never_eog, NULL };
    rt_batch_start(b, st->slot, &job);
    st->started = true;
}

/* Take every token the stream has so far. */
static void drain(rt_batch *b, stream *st)
{
    while (st->started && !st->ended) {
        int32_t tok;
        const char *finish = NULL;
        mm_error err = { 0 };
        int rc = rt_batch_next(b, st->slot, &tok, &finish, &err);
        if (rc == MM_EBUSY)
            return;
        if (rc == 1) {
            CHECK(st->n_got < MAX_GEN);
            if (st->n_got < MAX_GEN)
                st->got[st->n_got++] = tok;
            continue;
        }
        CHECK_INT(rc, 0);
        st->finish = finish;
        st->ended = true;
        rt_batch_end(b, st->slot);
        engine_sampler_free(st->sampler);
        st->sampler = NULL;
    }
}

static void make_stream(stream *st, uint32_t seed, uint32_t n_prompt, uint32_t max_new, int at)
{
    memset(st, 0, sizeof *st);
    st->n_prompt = n_prompt;
    for (uint32_t i = 0; i < n_prompt; i++)
        st->prompt[i] = (int32_t)(3 + (seed * 131u + i * 17u) % (model->hp.n_vocab - 3));
    st->max_new = max_new;
    st->start = at;
    atomic_init(&st->cancel, false);
}

/* n streams in one manual worker; returns the largest decode step. */
static uint32_t run_together(stream *st, int n, rt_batch *b)
{
    for (int step = 0; step < 64; step++) {
        for (int i = 0; i < n; i++)
            if (!st[i].started && st[i].start <= step)
                start(b, &st[i]);
        bool more = rt_batch_step(b);
        for (int i = 0; i < n; i++)
            drain(b, &st[i]);
        if (!more)
            break;
    }
    rt_batch_stats bs;
    rt_batch_stats_get(b, &bs);
    return bs.max_rows;
}

static void test_streams(int n)
{
    rt_batch *b = NULL;
    CHECK_INT(rt_batch_new(model, 3, 2, true, &b, NULL), 0);
    if (!b)
        return;
    stream st[3];
    static const int starts[3] = { 0, 3, 5 };
    static const uint32_t lens[3] = { 12, 8, 10 };
    for (int i = 0; i < n; i++) {
        make_stream(&st[i], (uint32_t)i + 1, 5 + 4 * (uint32_t)i, lens[i], starts[i]);
        st[i].temperature = i == 1 ? 0.8f : 0.0f;   /* one seeded sampled stream */
        run_alone(&st[i]);
        CHECK_INT(rt_batch_claim(b, &st[i].slot, NULL), 0);
    }
    uint32_t widest = run_together(st, n, b);
    CHECK_INT(widest, (uint32_t)n);   /* every stream shared steps with the others */
    for (int i = 0; i < n; i++) {
        CHECK(st[i].ended);
        CHECK_STR(st[i].finish, "length");
        CHECK_INT(st[i].n_got, st[i].max_new);
        CHECK(memcmp(st[i].got, st[i].expect, st[i].max_new * sizeof(int32_t)) == 0);
    }

    /* The next job on slot 0 extends what it holds: prompt + the tokens it
     * evaluated (all generated but the last); only the rest is evaluated. */
    stream next;
    make_stream(&next, 9, 0, 6, 0);
    memcpy(next.prompt, st[0].prompt, st[0].n_prompt * sizeof(int32_t));
    memcpy(next.prompt + st[0].n_prompt, st[0].got, st[0].max_new * sizeof(int32_t));
    next.n_prompt = st[0].n_prompt + st[0].max_new + 2;
    next.prompt[next.n_prompt - 2] = 7;
    next.prompt[next.n_prompt - 1] = 8;
    next.slot = st[0].slot;
    run_alone(&next);
    next.start = 0;
    run_together(&next, 1, b);
    CHECK_INT(rt_batch_reused(b, next.slot), st[0].n_prompt + st[0].max_new - 1);
    CHECK(memcmp(next.got, next.expect, next.max_new * sizeof(int32_t)) == 0);

    for (int i = 0; i < n; i++)
        rt_batch_release(b, st[i].slot);
    rt_batch_free(b);
}

/* Three streams; after two steps one is cancelled by its flag and one is
 * stopped by its request (rt_batch_end); the third goes on unchanged. */
static void test_cancel(void)
{
    rt_batch *b = NULL;
    CHECK_INT(rt_batch_new(model, 3, 1, true, &b, NULL), 0);
    if (!b)
        return;
    stream st[3];
    for (int i = 0; i < 3; i++) {
        make_stream(&st[i], 20 + (uint32_t)i, 6, 12, 0);
        run_alone(&st[i]);
        CHECK_INT(rt_batch_claim(b, &st[i].slot, NULL), 0);
        start(b, &st[i]);
    }
    for (int step = 0; step < 5; step++) {   /* 3 prefills, then 2 decode steps */
        rt_batch_step(b);
        for (int i = 0; i < 3; i++)
            drain(b, &st[i]);
    }
    CHECK(st[0].n_got >= 2 && st[1].n_got >= 2);
    atomic_store(&st[0].cancel, true);
    rt_batch_end(b, st[1].slot);   /* the request hung up */
    st[1].ended = true;
    engine_sampler_free(st[1].sampler);
    st[1].sampler = NULL;
    uint32_t had0 = st[0].n_got, had1 = st[1].n_got;
    run_together(st, 3, b);
    CHECK_STR(st[0].finish, "cancelled");
    CHECK(st[0].n_got <= had0 + 1);   /* at most the token sampled before the check */
    CHECK_INT(st[1].n_got, had1);
    CHECK_STR(st[2].finish, "length");
    CHECK_INT(st[2].n_got, 12);
    CHECK(memcmp(st[2].got, st[2].expect, 12 * sizeof(int32_t)) == 0);
    CHECK(memcmp(st[0].got, st[0].expect, st[0].n_got * sizeof(int32_t)) == 0);
    for (int i = 0; i < 3; i++)
        rt_batch_release(b, st[i].slot);
    /* every slot is taken back, none is left over */
    uint32_t a = 9, c = 9, d = 9, e = 9;
    CHECK_INT(rt_batch_claim(b, &a, NULL), 0);
    CHECK_INT(rt_batch_claim(b, &c, NULL), 0);
    CHECK_INT(rt_batch_claim(b, &d, NULL), 0);
    CHECK_INT(rt_batch_claim(b, &e, NULL), MM_EBUSY);
    rt_batch_release(b, a);
    rt_batch_release(b, c);
    rt_batch_release(b, d);
    rt_batch_free(b);
}

/* Run one stream alone on slot 0 of b; its tokens must equal the stream run
 * on a fresh context. Returns the prompt tokens the worker reused. */
static uint32_t run_one(rt_batch *b, stream *st)
{
    run_alone(st);
    st->slot = 0;
    run_together(st, 1, b);
    CHECK(st->ended);
    CHECK(memcmp(st->got, st->expect, st->max_new * sizeof(int32_t)) == 0);
    return rt_batch_reused(b, 0);
}

/* One slot, two saved prefixes: a prompt that replaces the slot's cached
 * one saves it first; a later prompt resumes from the saved copy; the least
 * recently used saved prefix is the one replaced. */
static void test_saved_prefixes(void)
{
    rt_batch *b = NULL;
    CHECK_INT(rt_batch_new(model, 1, 2, true, &b, NULL), 0);
    uint32_t slot = 9;
    CHECK_INT(rt_batch_claim(b, &slot, NULL), 0);
    if (!b || slot != 0)
        return;
    stream a, bb, a2, c, a3, b2;
    make_stream(&a, 31, 64, 4, 0);
    make_stream(&bb, 32, 64, 4, 0);
    make_stream(&c, 33, 64, 4, 0);
    CHECK_INT(run_one(b, &a), 0);
    CHECK_INT(run_one(b, &bb), 0);   /* nothing in common; a (67 cells) saved */
    /* a's prompt + 2 other tokens: 64 come back from the saved copy */
    a2 = a;
    a2.n_got = 0;
    a2.started = a2.ended = false;
    a2.prompt[64] = a.got[0] == 5 ? 6 : 5;
    a2.prompt[65] = 7;
    a2.n_prompt = 66;
    CHECK_INT(run_one(b, &a2), 64);   /* bb (67 cells) saved now too */
    rt_batch_stats st;
    rt_batch_stats_get(b, &st);
    CHECK_INT(st.saves, 2);
    CHECK_INT(st.restores, 1);
    /* c replaces a2 in the slot: a2 is saved over bb, used longest ago */
    CHECK_INT(run_one(b, &c), 0);
    a3 = a;
    a3.n_got = 0;
    a3.started = a3.ended = false;
    CHECK_INT(run_one(b, &a3), 63);   /* all of a's prompt but its last token */
    b2 = bb;
    b2.n_got = 0;
    b2.started = b2.ended = false;
    CHECK_INT(run_one(b, &b2), 0);    /* bb's copy was replaced */
    rt_batch_stats_get(b, &st);
    CHECK_INT(st.restores, 2);
    rt_batch_release(b, slot);
    rt_batch_free(b);
}

int main(void)
{
    char *tmp = mmtest_tmpdir();
    char *path = mm_path_join(tmp, "synth.gguf");
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.weight_scale = 0.5f;
    params.n_vocab = 600;
    CHECK_INT(mmtest_synth_model(&params, path), 0);
    CHECK_INT(engine_model_load(path, &model, NULL), 0);
    if (model) {
        test_streams(1);
        test_streams(2);
        test_streams(3);
        test_cancel();
        test_saved_prefixes();
    }
    engine_model_free(model);
    mmtest_rmtree(tmp);
    free(path);
    free(tmp);
    return mmtest_finish();
}
