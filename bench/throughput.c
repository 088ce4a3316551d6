/* throughput.c - `make bench` part for serving throughput through the model
 * manager on the benchmark shapes of bench/engine.c (n_embd 1024, 16 layers,
 * 16/8 heads, FFN 2816, vocab 32000): time to first token for a long system
 * prompt + a short user message, first vs repeated (prompt-prefix reuse), and
 * aggregate generation tokens/s of 1, 2 and 4 concurrent streams (batched
 * decoding), with llama.cpp server's figures beside them. Figures only.
 * Environment: BENCH_THREADS (default 2), BENCH_TYPES ("Q4_0,Q8_0"),
 * BENCH_TOKENS (tokens per stream, default 128), BENCH_PROMPT_TOKENS (the
 * whole rendered prompt, default 580), BENCH_DIR (keep the models there;
 * bench-engine's files are reused). */
#include "support/loadgen.h"
#include "core/core.h"
#include "engine/engine.h"
#include "support/synth.h"
#include "support/test.h"
#include "text/text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REF_TTFT_FIRST_MS   3074.0   /* llama.cpp server, 579-token prompt, issue 11 */
#define REF_TTFT_REPEAT_MS  24.0
#define REF_TG_1            72.0     /* llama.cpp server, Q4_0 254M, 1 slot */
#define REF_TG_4            115.0    /* 4 slots, aggregate */
#define MAX_STREAMS         4
#define STREAM_REPEATS      2      /* best of, per stream count */
#define MAX_PIECES          2048   /* timestamps kept per stream */

/* Made by mmtest_synth_bench_model, so bench-engine's BENCH_DIR files serve. */
static const char *const types[] = { "Q4_0", "Q8_0" };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void print_machine(const char *threads)
{
    char model[320];
    loadgen_machine(model, sizeof model);
    char load[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(load, sizeof load, f))
            load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    printf("throughput benchmark: %s, load average %s; %s engine threads, kernels %s\n",
           model, load, threads, engine_quant_isa());
}

/* ---- time to first token ---- */

static const char *words[] = { "you", "are", "a", "careful", "assistant", "who", "answers",
                               "questions", "about", "the", "weather", "and", "maps", "with",
                               "short", "clear", "sentences", "never", "guess", "facts" };

/* A system prompt of about `want` tokens of this vocabulary. */
static char *system_prompt(const char *path, uint32_t want)
{
    engine_model *m = NULL;
    text_vocab *v = NULL;
    mm_buf b;
    mm_buf_init(&b, 1 << 20);
    if (engine_model_load(path, &m, NULL) != 0 || text_vocab_load(m->file, &v, NULL) != 0)
        goto done;
    int32_t *ids = malloc(8192 * sizeof *ids);
    for (size_t w = 0; ids; w++) {
        size_t n = 0;
        if (b.len && text_tokenize(v, b.data, b.len, false, false, ids, 8192, &n, NULL) == 0 &&
            n >= want)
            break;
        mm_buf_printf(&b, "%s%s", b.len ? " " : "", words[(w * 7 + w / 20) % 20]);
    }
    free(ids);
done:
    text_vocab_free(v);
    engine_model_free(m);
    return mm_buf_take(&b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* What llama.cpp's repeated request evaluates: one token at the end of the
 * prompt (position n_pos - 1, attending to every cell before it), on the
 * engine alone with the manager's threads, median of 5. The cells' values
 * do not change the work, so they are zeros. */
static double bench_one_token(const char *path, uint32_t n_pos, int n_threads)
{
    double median = 0;
    engine_model *m = NULL;
    engine_ctx *c = NULL;
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_threads = n_threads;
    p.n_ctx = n_pos + 16;
    uint8_t *cells = NULL;
    if (n_pos < 2 || engine_model_load(path, &m, NULL) != 0 ||
        engine_ctx_new(m, &p, &c, NULL) != 0 ||
        !(cells = calloc(1, engine_seq_state_size(c, n_pos - 1))))
        goto done;
    double t[5];
    int32_t tok = 42;
    for (int i = 0; i < 5; i++) {
        engine_seq_state_set(c, 0, n_pos - 1, cells, NULL);
        double t0 = now_ms();
        engine_eval_seq(c, 0, &tok, 1, NULL);
        t[i] = now_ms() - t0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    printf("  one token evaluated at position %u (the engine alone, what llama.cpp's repeated "
           "request evaluates): %.1f ms\n", n_pos - 1, t[2]);
    median = t[2];
done:
    free(cells);
    engine_ctx_free(c);
    engine_model_free(m);
    return median;
}

static void bench_ttft(mm_manager *mgr, const char *key, const char *system, const char *path,
                       int n_threads)
{
    static const char *users[] = { "what is the weather in paris", "show me a map of rome",
                                   "is it cold in oslo", "where is the sea", "any rain today" };
    double repeated[8];
    int n_rep = 0;
    double first = 0;
    int64_t first_tokens = 0, cached = 0;
    for (int i = 0; i < 5; i++) {
        mm_gen_message msgs[2] = { { "system", system }, { "user", users[i] } };
        mm_gen_request req = { .model = key, .messages = msgs, .n_messages = 2,
                               .max_tokens = 1, .no_cache = true };
        mm_gen_result res = { 0 };
        mm_error err = { 0 };
        if (mm_manager_generate(mgr, &req, &res, &err) != 0) {
            printf("  request failed: %s\n", err.message);
            return;
        }
        if (i == 0) {
            first = res.ms_to_first_token;
            first_tokens = res.prompt_tokens;
        } else {
            repeated[n_rep++] = res.ms_to_first_token;
            cached = res.cached_tokens;
        }
        mm_gen_result_clear(&res);
    }
    qsort(repeated, (size_t)n_rep, sizeof repeated[0], cmp_double);
    double rep = repeated[n_rep / 2];
    printf("  time to first token, %lld-token chat prompt: first %.0f ms, same system prompt + "
           "new user message %.1f ms (median of %d; %lld tokens reused) -> %.0fx\n",
           (long long)first_tokens, first, rep, n_rep, (long long)cached,
           rep > 0 ? first / rep : 0.0);
    fflush(stdout);
    /* the identical request again (response cache bypassed): 1 token evaluated */
    mm_gen_message msgs[2] = { { "system", system }, { "user", users[4] } };
    mm_gen_request same = { .model = key, .messages = msgs, .n_messages = 2, .max_tokens = 1,
                            .no_cache = true };
    mm_gen_result res = { 0 };
    double again = 0;
    if (mm_manager_generate(mgr, &same, &res, NULL) == 0) {
        again = res.ms_to_first_token;
        printf("  identical prompt again: %.2f ms (%lld of %lld tokens reused%s) -> %.0fx\n",
               again, (long long)res.cached_tokens, (long long)res.prompt_tokens,
               res.cached_tokens == res.prompt_tokens ? ": the slot's kept logits, nothing "
               "evaluated" : "", again > 0 ? first / again : 0.0);
    }
    int64_t n_pos = res.prompt_tokens;
    mm_gen_result_clear(&res);
    double one = bench_one_token(path, (uint32_t)n_pos, n_threads);
    /* llama.cpp's "repeated" re-evaluates one token: our identical-prompt line */
    printf("  llama.cpp server: first %.0f ms, repeated %.0f ms (%.0fx); ratio ours/ref: "
           "first %.2f, repeated %.2f, one token evaluated %.2f (lower is better)\n",
           REF_TTFT_FIRST_MS, REF_TTFT_REPEAT_MS, REF_TTFT_FIRST_MS / REF_TTFT_REPEAT_MS,
           first / REF_TTFT_FIRST_MS, again / REF_TTFT_REPEAT_MS, one / REF_TTFT_REPEAT_MS);
}

/* ---- the engine alone: CPU time of one decode step of S sequences ----
 * One thread, so process CPU time is the work itself (no spinning pool
 * threads, no waiting for a busy machine's cores): the steadiest yardstick
 * of what one pass over the weights for S rows costs against S passes.
 * Each sequence holds n_cached cells, as many as a stream of bench_streams
 * has on average while it is counted (its prompt and half of its tokens),
 * since attention over them is per-sequence work that one
 * pass over the weights does not share. */

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void bench_engine_steps(const char *path, uint32_t n_cached)
{
    engine_model *m = NULL;
    engine_ctx *c = NULL;
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_ctx = n_cached + 16;
    p.n_seq = MAX_STREAMS;
    int32_t *prompt = malloc(n_cached * sizeof *prompt);
    if (!prompt || engine_model_load(path, &m, NULL) != 0 ||
        engine_ctx_new(m, &p, &c, NULL) != 0) {
        free(prompt);
        engine_model_free(m);
        return;
    }
    for (uint32_t i = 0; i < n_cached; i++)
        prompt[i] = (int32_t)((100 + 37 * i) % m->hp.n_vocab);
    for (uint32_t s = 0; s < MAX_STREAMS; s++)
        engine_eval_seq(c, s, prompt, n_cached, NULL);
    static const uint32_t counts[] = { 1, 2, 4 };
    double one = 0;
    printf("  engine decode step at %u cells, 1 thread, CPU time:", n_cached);
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        uint32_t seqs[MAX_STREAMS] = { 0, 1, 2, 3 };
        int32_t toks[MAX_STREAMS] = { 11, 22, 33, 44 };
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            for (uint32_t s = 0; s < MAX_STREAMS; s++)
                engine_seq_truncate(c, s, n_cached);
            double t0 = cpu_ms();
            for (int i = 0; i < 8; i++)
                engine_decode(c, seqs, toks, counts[k], NULL);
            double per = (cpu_ms() - t0) / 8;
            if (best == 0 || per < best)
                best = per;
        }
        if (counts[k] == 1)
            one = best;
        printf(" %u seq %.1f ms (%.0f t/s, %.2fx)%s", counts[k], best, counts[k] * 1000.0 / best,
               one > 0 ? counts[k] * one / best : 0.0, k + 1 < sizeof counts / sizeof counts[0]
               ? ";" : "\n");
    }
    fflush(stdout);
    free(prompt);
    engine_ctx_free(c);
    engine_model_free(m);
}

/* ---- concurrent streams ---- */

typedef struct stream_arg {
    mm_manager     *mgr;
    const char     *key;
    int             idx, max_tokens;
    pthread_barrier_t *go;
    int64_t         tokens, prompt_tokens;
    double          at[MAX_PIECES];   /* when each piece arrived */
    int             n_pieces;
    int             rc;
} stream_arg;

static int on_piece(const char *text, size_t len, void *user)
{
    (void)text;
    (void)len;
    stream_arg *a = user;
    if (a->n_pieces < MAX_PIECES)
        a->at[a->n_pieces++] = now_ms();
    return 0;
}

static void *stream_main(void *p)
{
    stream_arg *a = p;
    char prompt[96];
    snprintf(prompt, sizeof prompt, "stream %d: tell me a story about the number %d",
             a->idx, a->idx * 7 + 3);
    mm_gen_request req = { .model = a->key, .prompt = prompt, .max_tokens = a->max_tokens,
                           .no_cache = true, .on_piece = on_piece, .piece_user = a };
    mm_gen_result res = { 0 };
    pthread_barrier_wait(a->go);
    a->rc = mm_manager_generate(a->mgr, &req, &res, NULL);
    a->tokens = res.completion_tokens;
    a->prompt_tokens = res.prompt_tokens;
    mm_gen_result_clear(&res);
    return NULL;
}

/* Aggregate generation tokens/s of n streams started together, counted
 * while all n are generating: from the latest first piece to the earliest
 * last piece (the prompts are evaluated one after the other first, and
 * this figure is about decoding). Pieces are counted, scaled to tokens. */
static double run_streams(mm_manager *mgr, const char *key, int n, int max_tokens,
                          int64_t *prompt_tokens)
{
    pthread_t tid[MAX_STREAMS];
    stream_arg *args = calloc((size_t)n, sizeof *args);
    pthread_barrier_t go;
    if (!args)
        return 0;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        args[i].mgr = mgr;
        args[i].key = key;
        args[i].idx = i;
        args[i].max_tokens = max_tokens;
        args[i].go = &go;
        pthread_create(&tid[i], NULL, stream_main, &args[i]);
    }
    double from = 0, to = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        stream_arg *a = &args[i];
        if (a->rc != 0 || a->n_pieces < 2) {
            ok = false;
            continue;
        }
        if (a->prompt_tokens > *prompt_tokens)
            *prompt_tokens = a->prompt_tokens;
        if (a->at[0] > from)
            from = a->at[0];
        if (to == 0 || a->at[a->n_pieces - 1] < to)
            to = a->at[a->n_pieces - 1];
    }
    pthread_barrier_destroy(&go);
    double tokens = 0;
    for (int i = 0; ok && i < n; i++) {
        int in = 0;
        for (int k = 0; k < args[i].n_pieces; k++)
            in += args[i].at[k] > from && args[i].at[k] <= to;
        tokens += (double)in * (double)args[i].tokens / (double)args[i].n_pieces;
    }
    free(args);
    return ok && to > from ? tokens * 1000.0 / (to - from) : 0;
}

/* Returns the longest stream prompt, in tokens. */
static int64_t bench_streams(mm_manager *mgr, const char *key, int max_tokens)
{
    int64_t prompt_tokens = 0;
    static const int counts[] = { 1, 2, 4 };
    double single = 0;
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        double best = 0;
        for (int r = 0; r < STREAM_REPEATS; r++) {
            double tps = run_streams(mgr, key, counts[c], max_tokens, &prompt_tokens);
            if (tps > best)
                best = tps;
        }
        if (counts[c] == 1)
            single = best;
        printf("  %d stream%s: %.1f t/s aggregate generation (%.2fx one stream)", counts[c],
               counts[c] == 1 ? " " : "s", best, single > 0 ? best / single : 0.0);
        if (counts[c] == 1)
            printf("; llama.cpp server %.0f t/s, ratio %.2f", REF_TG_1, best / REF_TG_1);
        if (counts[c] == 4)
            printf("; llama.cpp server %.0f t/s (%.1fx), ratio %.2f", REF_TG_4,
                   REF_TG_4 / REF_TG_1, best / REF_TG_4);
        printf("\n");
        fflush(stdout);
    }
    return prompt_tokens;
}

int main(void)
{
    const char *threads = getenv("BENCH_THREADS") ? getenv("BENCH_THREADS") : "2";
    const char *only = getenv("BENCH_TYPES") ? getenv("BENCH_TYPES") : "Q4_0,Q8_0";
    int64_t n_threads = 2, max_tokens = 128, prompt_tokens = 580;
    if (mm_parse_i64(threads, 1, 64, &n_threads) != 0 ||
        (getenv("BENCH_TOKENS") &&
         mm_parse_i64(getenv("BENCH_TOKENS"), 8, MAX_PIECES, &max_tokens) != 0) ||
        (getenv("BENCH_PROMPT_TOKENS") &&
         mm_parse_i64(getenv("BENCH_PROMPT_TOKENS"), 100, 3000, &prompt_tokens) != 0)) {
        fprintf(stderr, "bench-throughput: BENCH_THREADS 1..64, BENCH_TOKENS 8..%d, "
                        "BENCH_PROMPT_TOKENS 100..3000\n", MAX_PIECES);
        return 2;
    }
    print_machine(threads);
    const char *keep = getenv("BENCH_DIR");
    char *dir = keep && *keep ? mm_strdup(keep) : mmtest_tmpdir();
    char *home = mmtest_tmpdir();
    char *models = mm_path_join(home, "models");
    mm_mkdirs(models, NULL);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *name = types[i];
        if (!strstr(only, name))
            continue;
        char *path = mm_asprintf("%s/bench-%s.gguf", dir, name);
        char *link = mm_asprintf("%s/bench-%s.gguf", models, name);
        char *key = mm_asprintf("bench-%s", name);
        for (char *c = key; *c; c++)   /* catalog keys are lower case */
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        printf("\n== %s (output %s)\n", name, name[1] == '4' ? "Q6_K" : "Q8_0");
        fflush(stdout);
        if (access(path, R_OK) != 0 && mmtest_synth_bench_model(name, path) != 0)
            goto next;
        if (symlink(path, link) != 0)
            goto next;
        char *flag_threads = mm_asprintf("threads=%s", threads);
        char *flag_default = mm_asprintf("default_model=%s", key);
        const char *extra[] = { "pool_size=4", flag_threads, flag_default, NULL };
        mm_config *cfg = mmtest_config(home, extra);
        mm_manager *mgr = NULL;
        mm_error err = { 0 };
        if (cfg && mm_manager_open(cfg, &mgr, &err) == 0 && mm_manager_load(mgr, key, &err) == 0) {
            /* the chat template and user message add ~63 tokens here */
            char *system = system_prompt(path, (uint32_t)prompt_tokens - 63);
            bench_ttft(mgr, key, system ? system : "", path, (int)n_threads);
            free(system);
            int64_t stream_prompt = bench_streams(mgr, key, (int)max_tokens);
            bench_engine_steps(path, (uint32_t)(stream_prompt + max_tokens / 2));
        } else {
            printf("  cannot open %s: %s\n", key, err.message);
        }
        mm_manager_close(mgr);
        mm_config_free(cfg);
        free(flag_threads);
        free(flag_default);
        unlink(link);
next:
        if (!keep)
            unlink(path);
        free(path);
        free(link);
        free(key);
    }
    mmtest_rmtree(home);
    if (!keep)
        mmtest_rmtree(dir);
    free(models);
    free(home);
    free(dir);
    return 0;
}
