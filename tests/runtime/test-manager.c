/* test-manager.c - the model manager over a fake instance factory: lazy
 * loading, preload, the memory budget (LRU eviction of idle models, refusal
 * with needed vs available bytes), idle unloading on an injected clock,
 * load failures with back-off, fallback to the default model, the response
 * cache, the pool bound under threads, busy answers, health rows and the
 * "No models available at all!" message; the built-in backend the router
 * uses (no fallback, errors mapped to backend codes, pieces streamed); a
 * blob that may not have survived a restart, hashed before it loads. */
#include "backends/backends.h"
#include "runtime/runtime.h"
#include "support/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)

static char *tmp;
static int64_t fake_now = 1000000;
static atomic_int loads, unloads, generates, gen_busy, gen_busy_max;
static atomic_int slow_generate;   /* ms each generate sleeps */

static int64_t fake_clock(void *user)
{
    (void)user;
    return fake_now;
}

/* ---- the fake factory: estimates by name, "broken" never loads ---- */

static int f_estimate(void *user, const mm_model_info *m, int instances, uint64_t *bytes,
                      mm_error *err)
{
    (void)user;
    (void)err;
    uint64_t base = strcmp(m->key, "big") == 0 ? 2048 * MIB : 300 * MIB;
    *bytes = base + (uint64_t)instances * 50 * MIB;
    return 0;
}

static int f_load(void *user, const mm_model_info *m, void **model, mm_error *err)
{
    (void)user;
    atomic_fetch_add(&loads, 1);
    if (strcmp(m->key, "broken") == 0)
        return mm_error_set(err, MM_EFORMAT, "broken.bin: not a model (bad magic)");
    *model = mm_strdup(m->key);
    return 0;
}

static void f_unload(void *user, void *model)
{
    (void)user;
    atomic_fetch_add(&unloads, 1);
    free(model);
}

static int f_inst_new(void *user, void *model, void **inst, mm_error *err)
{
    (void)user;
    (void)err;
    *inst = mm_strdup(model);
    return 0;
}

static void f_inst_free(void *user, void *inst)
{
    (void)user;
    free(inst);
}

static int f_generate(void *user, void *inst, const mm_gen_request *req, char **text,
                      mm_gen_result *res, mm_error *err)
{
    (void)user;
    (void)err;
    (void)res;
    atomic_fetch_add(&generates, 1);
    int now = atomic_fetch_add(&gen_busy, 1) + 1;
    int prev = atomic_load(&gen_busy_max);
    while (now > prev && !atomic_compare_exchange_weak(&gen_busy_max, &prev, now))
        ;
    int ms = atomic_load(&slow_generate);
    if (ms) {
        struct timespec ts = { 0, ms * 1000000L };
        nanosleep(&ts, NULL);
    }
    atomic_fetch_sub(&gen_busy, 1);
    *text = mm_asprintf("%s says %s", (const char *)inst, req->prompt ? req->prompt : "");
    return 0;
}

static const rt_factory fake = {
    .estimate = f_estimate, .load = f_load, .unload = f_unload,
    .instance_new = f_inst_new, .instance_free = f_inst_free, .generate = f_generate,
};

/* ---- set-up ---- */

static void touch_model(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s", tmp, name);
    mmtest_write_file(path, "not really a model");
}

/* A config over tmp/models with extra "key=value" flags. */
static mm_config *make_config(const char *const *extra)
{
    char models_dir[1100], models_file[1100], home[1100], cache[1100];
    snprintf(models_dir, sizeof models_dir, "models_dir=%s/models", tmp);
    snprintf(models_file, sizeof models_file, "models_file=%s/models.txt", tmp);
    snprintf(home, sizeof home, "HOME=%s", tmp);
    snprintf(cache, sizeof cache, "hf_cache=%s/hub", tmp);
    const char *env[] = { home, NULL };
    const char *flags[16] = { models_dir, models_file, cache, "default_model=a",
                              "memory_budget=1G", "pool_size=1", "idle_timeout=60" };
    size_t n = 7;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        flags[n++] = extra[i];
    flags[n] = NULL;
    mm_config_sources src = { .config_path = NULL, .env = env, .flags = flags };
    char cfg_path[1100];
    snprintf(cfg_path, sizeof cfg_path, "%s/none.yaml", tmp);
    mmtest_write_file(cfg_path, "# empty\n");
    src.config_path = cfg_path;
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    if (mm_config_load(&src, &cfg, &err) != 0)
        fprintf(stderr, "config: %s\n", err.message);
    return cfg;
}

static mm_manager *open_mgr(const mm_config *cfg)
{
    rt_options opts = { .factory = &fake, .clock = fake_clock, .no_reaper = true,
                        .queue_timeout_ms = -1, .backoff_min_ms = 5000,
                        .vosk_default = "/nonexistent/vosk" };
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    if (rt_manager_open(cfg, &opts, &mgr, &err) != 0)
        fprintf(stderr, "open: %s\n", err.message);
    return mgr;
}

static const mm_model_health *row_of(const mm_health *h, const char *key)
{
    for (size_t i = 0; i < h->n_models; i++)
        if (strcmp(h->models[i].key, key) == 0)
            return &h->models[i];
    return NULL;
}

static bool is_loaded(mm_manager *mgr, const char *key)
{
    mm_health h;
    mm_manager_health(mgr, &h, NULL);
    const mm_model_health *r = row_of(&h, key);
    bool loaded = r && r->loaded;
    mm_health_clear(&h);
    return loaded;
}

/* ---- tests ---- */

static void test_lazy_and_budget(void)
{
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    CHECK(mgr != NULL);
    if (!mgr)
        return;
    atomic_store(&loads, 0);
    CHECK(!is_loaded(mgr, "a"));   /* nothing loads before it is used */
    CHECK_INT(atomic_load(&loads), 0);

    mm_gen_request req = { .model = "a", .prompt = "hi" };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK_STR(res.text, "a says hi");
    CHECK_STR(res.model, "a");
    CHECK(!res.fell_back && !res.cached);
    mm_gen_result_clear(&res);
    CHECK(is_loaded(mgr, "a"));

    /* Each model holds 300 + 50 MiB; a 1 GiB budget takes two. */
    fake_now += 1000;
    CHECK_INT(mm_manager_load(mgr, "b", NULL), 0);
    fake_now += 1000;
    req.prompt = "again";      /* a is now more recent than b */
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    mm_gen_result_clear(&res);
    fake_now += 1000;
    CHECK_INT(mm_manager_load(mgr, "c", NULL), 0);
    CHECK(is_loaded(mgr, "a"));
    CHECK(!is_loaded(mgr, "b"));   /* the least recently used idle model went */
    CHECK(is_loaded(mgr, "c"));
    mm_health h;
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(h.memory_used, 2 * 350 * MIB);
    CHECK_INT(h.memory_budget, 1024 * MIB);
    mm_health_clear(&h);

    /* 2048 + 50 MiB never fits 1 GiB: refused, and nothing is evicted for it. */
    mm_error err = { 0 };
    CHECK_INT(mm_manager_load(mgr, "big", &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "model 'big' needs 2.0 GiB (2199912448 bytes)");
    CHECK_CONTAINS(err.message, "only 1.0 GiB (1073741824 bytes) of the 1.0 GiB memory budget");
    CHECK_CONTAINS(err.message, "smaller quantization");
    CHECK_CONTAINS(err.message, "shorter context");
    CHECK(is_loaded(mgr, "a") && is_loaded(mgr, "c"));
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(row_of(&h, "big")->status, MM_HEALTH_DEGRADED);
    CHECK_CONTAINS(row_of(&h, "big")->last_error, "needs 2.0 GiB");
    mm_health_clear(&h);

    /* A model in use is never evicted: hold a and c, then b cannot load. */
    mgr_lease la, lc;
    CHECK_INT(mgr_acquire(mgr, "a", false, &la, NULL), 0);
    CHECK_INT(mgr_acquire(mgr, "c", false, &lc, NULL), 0);
    CHECK_INT(mm_manager_load(mgr, "b", &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "only 324.0 MiB");
    CHECK_INT(mm_manager_unload(mgr, "a", &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, "serving requests");
    mgr_release(mgr, &la, false, NULL);
    mgr_release(mgr, &lc, false, NULL);
    CHECK_INT(mm_manager_unload(mgr, "a", NULL), 0);
    CHECK_INT(mm_manager_unload(mgr, "a", NULL), 0);   /* already unloaded: fine */
    CHECK_INT(mm_manager_unload(mgr, "zzz", &err), MM_ENOTFOUND);
    CHECK_INT(mm_manager_load(mgr, "zzz", &err), MM_ENOTFOUND);

    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static void test_idle_reaper(void)
{
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    if (!mgr)
        return;
    CHECK_INT(mm_manager_load(mgr, "a", NULL), 0);
    fake_now += 59999;
    CHECK_INT(rt_manager_reap(mgr), 0);
    CHECK(is_loaded(mgr, "a"));
    fake_now += 1;
    CHECK_INT(rt_manager_reap(mgr), 1);
    CHECK(!is_loaded(mgr, "a"));
    mm_manager_close(mgr);
    mm_config_free(cfg);

    /* The real reaper thread starts and stops cleanly. */
    const char *extra[] = { "idle_timeout=1", NULL };
    cfg = make_config(extra);
    rt_options opts = { .factory = &fake, .queue_timeout_ms = -1 };
    CHECK_INT(rt_manager_open(cfg, &opts, &mgr, NULL), 0);
    CHECK(mgr->reaper_running);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

/* Per-model keep_alive overrides (Ollama): a shorter limit, forever, 0
 * (unloaded when the request ends), and back to idle_timeout (60 s here). */
static void test_keep_alive(void)
{
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    if (!mgr)
        return;
    CHECK_INT(rt_manager_keep_alive(mgr, "nosuch", true, 0, NULL), MM_ENOTFOUND);
    CHECK_INT(rt_manager_keep_alive(mgr, "a", true, 10000, NULL), 0);
    CHECK_INT(mm_manager_load(mgr, "a", NULL), 0);
    fake_now += 9999;
    CHECK_INT(rt_manager_reap(mgr), 0);
    fake_now += 1;
    CHECK_INT(rt_manager_reap(mgr), 1);
    CHECK(!is_loaded(mgr, "a"));

    CHECK_INT(rt_manager_keep_alive(mgr, "a", true, -1, NULL), 0);
    CHECK_INT(mm_manager_load(mgr, "a", NULL), 0);
    fake_now += 10 * 60000;
    CHECK_INT(rt_manager_reap(mgr), 0);
    CHECK(is_loaded(mgr, "a"));

    CHECK_INT(rt_manager_keep_alive(mgr, "a", true, 0, NULL), 0);
    mm_gen_request req = { .model = "a", .prompt = "x", .no_cache = true };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    mm_gen_result_clear(&res);
    CHECK(!is_loaded(mgr, "a"));   /* no reap needed: the release unloaded it */

    CHECK_INT(rt_manager_keep_alive(mgr, "a", false, 0, NULL), 0);
    CHECK_INT(mm_manager_load(mgr, "a", NULL), 0);
    fake_now += 59999;
    CHECK_INT(rt_manager_reap(mgr), 0);
    fake_now += 1;
    CHECK_INT(rt_manager_reap(mgr), 1);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static void test_failure_backoff_fallback(void)
{
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    if (!mgr)
        return;
    atomic_store(&loads, 0);
    mm_error err = { 0 };
    CHECK_INT(mm_manager_load(mgr, "broken", &err), MM_EFORMAT);
    CHECK_CONTAINS(err.message, "bad magic");
    CHECK_INT(atomic_load(&loads), 1);

    /* Within the back-off a request does not retry the load; it falls back. */
    mm_gen_request req = { .model = "broken", .prompt = "x" };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK(res.fell_back);
    CHECK_STR(res.model, "a");
    CHECK_CONTAINS(res.note, "model 'broken' failed to load; next retry in 5 s");
    CHECK_CONTAINS(res.note, "using the default model 'a'");
    mm_gen_result_clear(&res);
    CHECK_INT(atomic_load(&loads), 2);   /* broken once, a once */

    mm_health h;
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    const mm_model_health *r = row_of(&h, "broken");
    CHECK_INT(r->status, MM_HEALTH_UNAVAILABLE);
    CHECK_CONTAINS(r->last_error, "bad magic");
    CHECK_INT(r->failures, 1);
    CHECK(!r->loaded);
    CHECK_INT(row_of(&h, "a")->status, MM_HEALTH_HEALTHY);
    CHECK_INT(h.status, MM_HEALTH_DEGRADED);
    CHECK_STR(h.default_model, "a");
    CHECK_STR(h.device, "cpu");
    mm_health_clear(&h);

    /* After the back-off the next request retries (and fails again: 10 s next). */
    fake_now += 5000;
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK(res.fell_back);
    CHECK_CONTAINS(res.note, "bad magic");
    mm_gen_result_clear(&res);
    CHECK_INT(atomic_load(&loads), 3);
    fake_now += 9999;
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK_CONTAINS(res.note, "next retry in 1 s");
    mm_gen_result_clear(&res);
    CHECK_INT(atomic_load(&loads), 3);

    /* An unknown name falls back too, and says so. */
    req.model = "nope";
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK(res.fell_back);
    CHECK_STR(res.note, "no model 'nope' in the catalog; using the default model 'a'");
    mm_gen_result_clear(&res);
    /* No model named: the default, no fallback. */
    req.model = NULL;
    CHECK_INT(mm_manager_generate(mgr, &req, &res, NULL), 0);
    CHECK(!res.fell_back);
    CHECK_STR(res.model, "a");
    mm_gen_result_clear(&res);
    /* Neither prompt nor messages. */
    mm_gen_request empty = { .model = "a" };
    CHECK_INT(mm_manager_generate(mgr, &empty, &res, &err), MM_EINVAL);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static void test_cache_through_manager(void)
{
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    if (!mgr)
        return;
    atomic_store(&generates, 0);
    mm_gen_request det = { .model = "b", .prompt = "same", .temperature = 0 };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &det, &res, NULL), 0);
    CHECK(!res.cached);
    mm_gen_result_clear(&res);
    CHECK_INT(mm_manager_generate(mgr, &det, &res, NULL), 0);
    CHECK(res.cached);
    CHECK_STR(res.text, "b says same");
    mm_gen_result_clear(&res);
    CHECK_INT(atomic_load(&generates), 1);

    mm_gen_request sampled = { .model = "b", .prompt = "same", .temperature = 0.7 };
    CHECK_INT(mm_manager_generate(mgr, &sampled, &res, NULL), 0);
    mm_gen_result_clear(&res);
    CHECK_INT(mm_manager_generate(mgr, &sampled, &res, NULL), 0);
    CHECK(!res.cached);
    mm_gen_result_clear(&res);
    CHECK_INT(atomic_load(&generates), 3);

    mm_health h;
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(h.cache_hits, 1);
    CHECK_INT(h.cache_misses, 1);
    CHECK_INT(h.cache_entries, 1);
    CHECK_INT(row_of(&h, "b")->requests, 4);
    CHECK(row_of(&h, "b")->last_used_s > 0);
    mm_health_clear(&h);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

/* ---- concurrency and busy ---- */

static mm_manager *shared_mgr;
static atomic_int thread_errors;

static void *gen_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        mm_gen_request req = { .model = "a", .prompt = "p", .temperature = 1.0 };
        mm_gen_result res = { 0 };
        if (mm_manager_generate(shared_mgr, &req, &res, NULL) != 0)
            atomic_fetch_add(&thread_errors, 1);
        mm_gen_result_clear(&res);
    }
    return NULL;
}

static void test_threads_and_busy(void)
{
    const char *extra[] = { "pool_size=2", "queue_size=16", "queue_timeout=60", NULL };
    mm_config *cfg = make_config(extra);
    shared_mgr = open_mgr(cfg);
    if (!shared_mgr)
        return;
    atomic_store(&gen_busy_max, 0);
    atomic_store(&slow_generate, 2);
    enum { THREADS = 6 };
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, gen_thread, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&slow_generate, 0);
    CHECK_INT(atomic_load(&thread_errors), 0);
    CHECK(atomic_load(&gen_busy_max) <= 2);
    mm_health h;
    CHECK_INT(mm_manager_health(shared_mgr, &h, NULL), 0);
    CHECK(row_of(&h, "a")->instances <= 2);
    CHECK_INT(row_of(&h, "a")->busy, 0);
    CHECK_INT(row_of(&h, "a")->requests, THREADS * 10);
    mm_health_clear(&h);
    mm_manager_close(shared_mgr);
    mm_config_free(cfg);

    /* One instance, nobody may wait: a second request is busy at once. */
    const char *one[] = { "pool_size=1", "queue_size=0", NULL };
    cfg = make_config(one);
    mm_manager *mgr = open_mgr(cfg);
    mgr_lease held;
    CHECK_INT(mgr_acquire(mgr, "a", false, &held, NULL), 0);
    mm_gen_request req = { .model = "a", .prompt = "p", .temperature = 1.0 };
    mm_gen_result res = { 0 };
    mm_error err = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), MM_EBUSY);
    CHECK_CONTAINS(err.message, "model 'a' is busy");
    CHECK_CONTAINS(err.message, "retry");
    CHECK(!res.fell_back);
    mgr_release(mgr, &held, false, NULL);
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(row_of(&h, "a")->status, MM_HEALTH_DEGRADED);
    mm_health_clear(&h);
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), 0);   /* success heals */
    mm_gen_result_clear(&res);
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(row_of(&h, "a")->status, MM_HEALTH_HEALTHY);
    mm_health_clear(&h);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static int collect_piece(const char *piece, size_t len, void *user)
{
    return mm_buf_append(user, piece, len) < 0;
}

static void test_local_backend(void)
{
    const char *one[] = { "pool_size=1", "queue_size=0", NULL };
    mm_config *cfg = make_config(one);
    mm_manager *mgr = open_mgr(cfg);
    if (!mgr)
        return;
    backend *b = NULL;
    mm_error err = { 0 };
    CHECK_INT(rt_backend_local_open(mgr, &b, &err), 0);
    CHECK_STR(b->ops->kind, "builtin");
    fake_now += 60000;   /* past any load back-off of the tests before */

    /* A good model: the answer, streamed piece by piece into the buffer. */
    mm_buf got;
    mm_buf_init(&got, 4096);
    backend_request req = { .model = "b", .prompt = "hi", .temperature = 1.0 };
    backend_result res;
    CHECK_INT(b->ops->generate(b, &req, collect_piece, &got, NULL, &res, &err), 0);
    CHECK_CONTAINS(res.text, "says hi");
    CHECK_STR(got.data ? got.data : "", res.text);
    CHECK(res.pieces_delivered >= 1);
    backend_result_free(&res);

    /* A model that cannot load, and one that does not exist: no answer
     * from the default model 'a' (the chain decides), and codes that move
     * the chain on without a retry. */
    req.model = "broken";
    CHECK_INT(b->ops->generate(b, &req, NULL, NULL, NULL, &res, &err), MM_EFORMAT);
    CHECK_CONTAINS(err.message, "bad magic");
    CHECK(backend_error_fallback(MM_EFORMAT) && !backend_error_retryable(MM_EFORMAT));
    req.model = "nope";
    CHECK_INT(b->ops->generate(b, &req, NULL, NULL, NULL, &res, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no model 'nope'");
    CHECK(backend_error_fallback(MM_ENOTFOUND) && !backend_error_retryable(MM_ENOTFOUND));

    /* Busy stays busy: worth a retry on the same model. */
    mgr_lease held;
    CHECK_INT(mgr_acquire(mgr, "b", false, &held, NULL), 0);
    req.model = "b";
    CHECK_INT(b->ops->generate(b, &req, NULL, NULL, NULL, &res, &err), MM_EBUSY);
    CHECK(backend_error_retryable(MM_EBUSY));
    mgr_release(mgr, &held, false, NULL);

    /* The manager's own fallback is still there for requests without the
     * flag. */
    mm_gen_request plain = { .model = "broken", .prompt = "x" };
    mm_gen_result out = { 0 };
    fake_now += 60000;
    CHECK_INT(mm_manager_generate(mgr, &plain, &out, NULL), 0);
    CHECK(out.fell_back);
    mm_gen_result_clear(&out);
    plain.no_fallback = true;
    fake_now += 60000;
    CHECK(mm_manager_generate(mgr, &plain, &out, &err) != 0);
    mm_gen_result_clear(&out);

    mm_buf_free(&got);
    backend_close(b);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

static void test_preload(void)
{
    const char *extra[] = { "preload=b,nope", NULL };
    mm_config *cfg = make_config(extra);
    mm_manager *mgr = open_mgr(cfg);
    CHECK(mgr != NULL);   /* an unknown preload name is logged, not fatal */
    if (mgr) {
        CHECK(is_loaded(mgr, "b"));
        CHECK(!is_loaded(mgr, "a"));
    }
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

/* ---- no models at all ---- */

static char logged[8192];

static void capture(mm_log_level level, const char *line, void *user)
{
    (void)level;
    (void)user;
    size_t len = strlen(logged);
    snprintf(logged + len, sizeof logged - len, "%s\n", line);
}

static void test_no_models(void)
{
    char *saved = tmp;
    tmp = mmtest_tmpdir();
    mm_config *cfg = make_config(NULL);
    logged[0] = '\0';
    mm_log_set_callback(capture, NULL);
    mm_manager *mgr = open_mgr(cfg);
    mm_log_set_callback(NULL, NULL);
    CHECK(mgr != NULL);
    CHECK_CONTAINS(logged, "No models available at all!");
    CHECK_CONTAINS(logged, "models.txt, one a line");
    CHECK_CONTAINS(logged, "put a .gguf file in");
    CHECK_CONTAINS(logged, "unset SKIP_MODEL_DOWNLOADS");
    mm_health h;
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(h.status, MM_HEALTH_UNAVAILABLE);
    CHECK_INT(h.n_models, 0);
    mm_health_clear(&h);
    mm_gen_request req = { .prompt = "x" };
    mm_gen_result res = { 0 };
    mm_error err = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "no model is available");
    mm_manager_close(mgr);
    mm_config_free(cfg);
    mmtest_rmtree(tmp);
    free(tmp);
    tmp = saved;
}

static void test_speech_row(void)
{
    char vosk[1200], flag[1300];
    snprintf(vosk, sizeof vosk, "%s/models/vosk-model-small-xx-0.1", tmp);
    char file[1300];
    snprintf(file, sizeof file, "%s/am/final.mdl", vosk);
    mmtest_write_file(file, "x");
    snprintf(file, sizeof file, "%s/conf/mfcc.conf", vosk);
    mmtest_write_file(file, "x");
    snprintf(file, sizeof file, "%s/graph/HCLr.fst", vosk);
    mmtest_write_file(file, "x");
    snprintf(flag, sizeof flag, "vosk_model_path=%s", vosk);
    const char *extra[] = { flag, NULL };
    mm_config *cfg = make_config(extra);
    mm_manager *mgr = open_mgr(cfg);
    mm_model_health *rows = NULL;
    size_t n = 0;
    CHECK_INT(mm_manager_list(mgr, &rows, &n, NULL), 0);
    CHECK(n >= 1);
    if (n >= 1) {
        CHECK_STR(rows[n - 1].key, "speech");
        CHECK_STR(rows[n - 1].kind, "speech");
        CHECK_STR(rows[n - 1].path, vosk);
        CHECK_INT(rows[n - 1].status, MM_HEALTH_HEALTHY);
    }
    free(rows);
    mm_manager_close(mgr);
    mm_config_free(cfg);
}

/* A model file that is a blob renamed into a cache before it was known to
 * be on disk, the machine restarted since (its marker names another boot):
 * the manager has it hashed before the factory sees it. The blob's name is
 * the sha256 of "not really a model" (by sha256sum). */
#define MODEL_SHA "29a6a9f19463c8e9c592d2f06fa009fe46e351b618667e95eac63df77c56f404"
#define OTHER_BOOT "modelmgr-unsynced 1 00000000-0000-0000-0000-000000000000\n"

static void test_unsynced_blob(void)
{
    char dir[1200], blob[1400], marker[1400], link[1200];
    snprintf(dir, sizeof dir, "%s/store/models--o--n/.unsynced", tmp);
    CHECK_INT(mm_mkdirs(dir, NULL), 0);
    snprintf(marker, sizeof marker, "%s/" MODEL_SHA, dir);
    snprintf(dir, sizeof dir, "%s/store/models--o--n/blobs", tmp);
    CHECK_INT(mm_mkdirs(dir, NULL), 0);
    snprintf(blob, sizeof blob, "%s/" MODEL_SHA, dir);
    snprintf(link, sizeof link, "%s/models/u.bin", tmp);
    mmtest_write_file(blob, "not really a model");
    mmtest_write_file(marker, OTHER_BOOT);
    CHECK_INT(symlink(blob, link), 0);
    mm_config *cfg = make_config(NULL);
    mm_manager *mgr = open_mgr(cfg);
    CHECK(mgr != NULL);
    if (!mgr)
        return;
    atomic_store(&loads, 0);
    mm_error err = { 0 };
    CHECK_INT(mm_manager_load(mgr, "u", &err), 0);      /* intact: loaded, marker gone */
    CHECK_INT(atomic_load(&loads), 1);
    CHECK(access(marker, F_OK) != 0);
    CHECK_INT(mm_manager_unload(mgr, "u", NULL), 0);

    mmtest_write_file(blob, "not really a modeL");   /* what a power loss may leave */
    mmtest_write_file(marker, OTHER_BOOT);
    fake_now += 1000;
    CHECK_INT(mm_manager_load(mgr, "u", &err), MM_EINTEGRITY);
    CHECK_CONTAINS(err.message, MODEL_SHA " was not completely on disk when the machine stopped");
    CHECK_CONTAINS(err.message, "pull the model again");
    CHECK_INT(atomic_load(&loads), 1);                  /* the factory never saw it */
    CHECK(access(blob, F_OK) != 0);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    unlink(link);
}

int main(void)
{
    tmp = mmtest_tmpdir();
    touch_model("a.bin");
    touch_model("b.bin");
    touch_model("c.bin");
    touch_model("big.bin");
    touch_model("broken.bin");
    test_lazy_and_budget();
    test_idle_reaper();
    test_keep_alive();
    test_failure_backoff_fallback();
    test_cache_through_manager();
    test_threads_and_busy();
    test_local_backend();
    test_preload();
    test_no_models();
    test_speech_row();
    test_unsynced_blob();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
