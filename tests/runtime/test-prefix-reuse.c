/* test-prefix-reuse.c - prompt-prefix reuse in the engine factory: an
 * instance that already served a request evaluates a new prompt only from
 * the first differing token, and its answers are identical (greedy and
 * seeded sampling) to those of a fresh instance, which has nothing to
 * reuse, for a repeated system prompt with different user messages, chat
 * turns, a repeated prompt (which evaluates nothing: the slot kept its
 * last logits) and a prompt that is a strict prefix of the cached one. The pool hands a request the free instance whose cached
 * request shares the most with it, makes a new instance rather than
 * overwrite a cached prefix while it may grow, and then overwrites the
 * least recently used one. */
// labels: model
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

static const rt_factory *fac;
static mm_model_info info;
static void *model;   /* the handle of the current round */

typedef struct outcome {
    char   *text;
    int64_t prompt_tokens;
    int64_t cached_tokens;
} outcome;

static outcome run_on(void *inst, const mm_gen_request *req)
{
    outcome o = { 0 };
    mm_gen_result res = { 0 };
    mm_error err = { 0 };
    char *text = NULL;
    int rc = fac->generate(fac->user, inst, req, &text, &res, &err);
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "generate: %s\n", err.message);
    o.text = text ? text : mm_strdup("");
    o.prompt_tokens = res.prompt_tokens;
    o.cached_tokens = res.cached_tokens;
    return o;
}

/* The answer of a model loaded just for it, whose one instance has never
 * seen anything (no cached or saved prefix): reuse off. */
static char *fresh_answer(const mm_gen_request *req)
{
    void *handle = NULL, *inst = NULL;
    CHECK_INT(fac->load(fac->user, &info, &handle, NULL), 0);
    if (handle)
        CHECK_INT(fac->instance_new(fac->user, handle, &inst, NULL), 0);
    if (!inst) {
        fac->unload(fac->user, handle);
        return mm_strdup("");
    }
    outcome o = run_on(inst, req);
    CHECK_INT(o.cached_tokens, 0);
    fac->instance_free(fac->user, inst);
    fac->unload(fac->user, handle);
    return o.text;
}

/* Run req on the long-lived instance and on a fresh one; the texts must be
 * identical. Returns the reused instance's cached token count. */
static int64_t same_as_fresh(void *inst, const mm_gen_request *req, const char *what)
{
    outcome o = run_on(inst, req);
    char *expect = fresh_answer(req);
    if (strcmp(o.text, expect) != 0)
        fprintf(stderr, "%s: reused '%s' vs fresh '%s'\n", what, o.text, expect);
    CHECK_STR(o.text, expect);
    CHECK(o.text[0] != '\0');   /* something was generated to compare */
    CHECK(o.cached_tokens < o.prompt_tokens);
    free(o.text);
    free(expect);
    return o.cached_tokens;
}

static void test_reuse(double temperature)
{
    void *inst = NULL;
    CHECK_INT(fac->load(fac->user, &info, &model, NULL), 0);
    if (model)
        CHECK_INT(fac->instance_new(fac->user, model, &inst, NULL), 0);
    if (!inst) {
        fac->unload(fac->user, model);
        return;
    }
    const char *system = "you are a terse assistant that answers in one short line and never "
                         "repeats the question back to the user";
    mm_gen_request base = { .max_tokens = 12, .temperature = temperature, .has_seed = true,
                            .seed = 1234, .top_k = 40, .top_p = 0.9 };

    /* a repeated system prompt with different user messages */
    mm_gen_message m1[] = { { "system", system }, { "user", "what is a cat" } };
    mm_gen_message m2[] = { { "system", system }, { "user", "name a big city" } };
    mm_gen_request r = base;
    r.messages = m1;
    r.n_messages = 2;
    CHECK_INT(same_as_fresh(inst, &r, "first"), 0);
    r.messages = m2;
    CHECK(same_as_fresh(inst, &r, "other user message") > 20);

    /* the same request again: nothing evaluated (the slot kept the last
     * prompt token's logits), the same answer as a fresh instance's */
    outcome turn1 = run_on(inst, &r);
    CHECK_INT(turn1.cached_tokens, turn1.prompt_tokens);
    char *expect = fresh_answer(&r);
    CHECK_STR(turn1.text, expect);
    free(expect);
    /* chat turns: the previous exchange is the next prompt's prefix */
    mm_gen_message m3[] = { { "system", system }, { "user", "name a big city" },
                            { "assistant", turn1.text }, { "user", "and a small one" } };
    r.messages = m3;
    r.n_messages = 4;
    CHECK(same_as_fresh(inst, &r, "second turn") >= turn1.prompt_tokens - 1);
    free(turn1.text);

    /* plain prompts: cached longer, then a strict prefix of it */
    mm_gen_request p = base;
    p.prompt = "the quick brown fox jumps over the lazy dog and runs far away";
    same_as_fresh(inst, &p, "long prompt");
    p.prompt = "the quick brown fox jumps over";
    CHECK(same_as_fresh(inst, &p, "strict prefix") > 5);

    /* an unrelated prompt replaces the chat in the instance; the chat's
     * prefix was saved on the way, and the next turn resumes from it */
    mm_gen_message m4[] = { { "system", system }, { "user", "name a big city" },
                            { "assistant", "x" }, { "user", "and a small one" } };
    r.messages = m4;
    r.n_messages = 4;
    CHECK(same_as_fresh(inst, &r, "saved prefix") > 20);
    fac->instance_free(fac->user, inst);
    fac->unload(fac->user, model);
    model = NULL;
}

/* ---- the pool picks by affinity ---- */

static int aff_new(void *user, void *m, void **inst, mm_error *err)
{
    (void)user;
    (void)m;
    (void)err;
    *inst = calloc(1, 64);
    return *inst ? 0 : MM_ENOMEM;
}

static void aff_free(void *user, void *inst)
{
    (void)user;
    free(inst);
}

/* An instance "holds" the string written into it; the score is the length
 * of the prompt's common prefix with it. */
static uint64_t aff_score(void *user, void *inst, const mm_gen_request *req)
{
    (void)user;
    const char *held = inst;
    uint64_t n = 0;
    while (held[n] && req->prompt[n] == held[n])
        n++;
    return n;
}

static void test_pool_affinity(void)
{
    static const rt_factory aff = { .instance_new = aff_new, .instance_free = aff_free,
                                    .affinity = aff_score };
    rt_pool *pool = NULL;
    CHECK_INT(rt_pool_new(&aff, NULL, 3, 4, "m", &pool, NULL), 0);
    void *a = NULL, *b = NULL, *c = NULL;
    CHECK_INT(rt_pool_acquire(pool, 0, &a, NULL), 0);
    CHECK_INT(rt_pool_acquire(pool, 0, &b, NULL), 0);
    CHECK_INT(rt_pool_acquire(pool, 0, &c, NULL), 0);
    if (!a || !b || !c)
        return;
    mm_strlcpy(a, "alpha one", 64);
    mm_strlcpy(b, "beta two", 64);
    mm_strlcpy(c, "beta three", 64);
    rt_pool_release(pool, a);
    rt_pool_release(pool, b);
    rt_pool_release(pool, c);
    void *got = NULL;
    mm_gen_request req = { .prompt = "beta thr" };
    CHECK_INT(rt_pool_acquire_for(pool, 0, &req, &got, NULL), 0);
    CHECK(got == c);
    void *next = NULL;
    CHECK_INT(rt_pool_acquire_for(pool, 0, &req, &next, NULL), 0);
    CHECK(next == b);   /* "beta t" beats "" */
    void *last = NULL;
    CHECK_INT(rt_pool_acquire_for(pool, 0, &req, &last, NULL), 0);
    CHECK(last == a);
    rt_pool_release(pool, got);
    rt_pool_release(pool, next);
    rt_pool_release(pool, last);
    /* without a request: the first free one, as before */
    CHECK_INT(rt_pool_acquire(pool, 0, &got, NULL), 0);
    CHECK(got == a);
    rt_pool_release(pool, got);
    rt_pool_free(pool);
}

/* A request that shares nothing with any free instance gets a new one while
 * the pool may grow, so the cached prefixes survive; once it is full, the
 * least recently used free instance is overwritten. */
static void test_pool_keeps_prefixes(void)
{
    static const rt_factory aff = { .instance_new = aff_new, .instance_free = aff_free,
                                    .affinity = aff_score };
    rt_pool *pool = NULL;
    CHECK_INT(rt_pool_new(&aff, NULL, 3, 4, "m", &pool, NULL), 0);
    void *a = NULL, *b = NULL, *c = NULL, *got = NULL;
    mm_gen_request ra = { .prompt = "alpha" }, rb = { .prompt = "beta" },
                   rc = { .prompt = "gamma" }, rd = { .prompt = "delta" },
                   ra2 = { .prompt = "alpha two" };
    CHECK_INT(rt_pool_acquire_for(pool, 0, &ra, &a, NULL), 0);
    if (!a)
        return;
    mm_strlcpy(a, "alpha", 64);
    rt_pool_release(pool, a);
    CHECK_INT(rt_pool_acquire_for(pool, 0, &rb, &b, NULL), 0);
    CHECK(b != NULL && b != a);   /* a new instance: "alpha" stays cached */
    if (!b)
        return;
    mm_strlcpy(b, "beta", 64);
    rt_pool_release(pool, b);
    CHECK_INT(rt_pool_acquire_for(pool, 0, &ra2, &got, NULL), 0);
    CHECK(got == a);
    rt_pool_release(pool, got);
    CHECK_INT(rt_pool_acquire_for(pool, 0, &rc, &c, NULL), 0);
    CHECK(c != NULL && c != a && c != b);
    if (!c)
        return;
    mm_strlcpy(c, "gamma", 64);
    rt_pool_release(pool, c);
    rt_pool_stats st;
    rt_pool_stats_get(pool, &st);
    CHECK_INT(st.created, 3);
    /* full: "delta" matches nothing; b was used longest ago */
    CHECK_INT(rt_pool_acquire_for(pool, 0, &rd, &got, NULL), 0);
    CHECK(got == b);
    rt_pool_release(pool, got);
    rt_pool_free(pool);
}

int main(void)
{
    test_pool_affinity();
    test_pool_keeps_prefixes();

    char *tmp = mmtest_tmpdir();
    char *path = mm_path_join(tmp, "synth.gguf");
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.weight_scale = 0.5f;   /* logits far apart: a wrong KV shows in the text */
    params.n_vocab = 600;
    params.n_ctx = 512;
    CHECK_INT(mmtest_synth_model(&params, path), 0);
    fac = rt_factory_engine();
    const char *paths[1] = { path };
    info.key = "synth";
    info.format = MM_FORMAT_GGUF;
    info.paths = paths;
    info.n_paths = 1;
    test_reuse(0.0);
    test_reuse(0.9);
    mmtest_rmtree(tmp);
    free(path);
    free(tmp);
    return mmtest_finish();
}
