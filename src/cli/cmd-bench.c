/* cmd-bench.c - `modelmgr bench MODEL`: prompt-processing and generation
 * speed of the built-in engine, printed in llama-bench's table layout so the
 * figures can be set side by side. Uses the engine's internal header (there
 * is no public engine API yet). */
#include "cli/cli.h"

#include "core/core.h"
#include "engine/engine.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_REPS 100

static const cli_option bench_options[] = {
    { "n-prompt", "N", "prompt tokens per pp test (-p; default 128; 0 skips)" },
    { "n-gen", "N", "generated tokens per tg test (-n; default 64; 0 skips)" },
    { "repetitions", "N", "timed runs per test after one warm-up (-r; default 5)" },
    { "scalar", NULL, "use the portable kernels instead of the CPU's SIMD ones" },
    { NULL, NULL, NULL }
};

static const cli_spec bench_spec = {
    .usage = "modelmgr bench [-p N] [-n N] [-t THREADS] [-r REPS] [options] MODEL",
    .description = "Measure the built-in engine: pp<N> evaluates an N-token prompt in one\n"
                   "batch, tg<N> generates N tokens one at a time, both from an empty cache.\n"
                   "Prints tokens/s as mean +- standard deviation over the repetitions, the\n"
                   "load time and the peak resident memory. MODEL is a catalog key or a .gguf\n"
                   "path; -t is --threads.",
    .options = bench_options,
    .min_args = 1,
    .max_args = 1,
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Tokens/s of one run: pp = one batch of n, tg = n single-token calls. */
static int run_once(engine_ctx *ctx, const int32_t *tokens, uint32_t n, bool batch, double *tps,
                    mm_error *err)
{
    engine_ctx_truncate(ctx, 0);
    double t0 = now_s();
    if (batch) {
        if (engine_eval(ctx, tokens, n, err) != 0)
            return -1;
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (engine_eval(ctx, tokens + i, 1, err) != 0)
                return -1;
    }
    double dt = now_s() - t0;
    *tps = dt > 0 ? n / dt : 0;
    return 0;
}

static int bench_test(engine_ctx *ctx, const int32_t *tokens, uint32_t n, bool batch, int reps,
                      double *mean, double *sd, mm_error *err)
{
    double v[BENCH_MAX_REPS], tps;
    if (run_once(ctx, tokens, n, batch, &tps, err) != 0)   /* warm-up: page in the weights */
        return -1;
    double sum = 0, sq = 0;
    for (int r = 0; r < reps; r++) {
        if (run_once(ctx, tokens, n, batch, &v[r], err) != 0)
            return -1;
        sum += v[r];
    }
    *mean = sum / reps;
    for (int r = 0; r < reps; r++)
        sq += (v[r] - *mean) * (v[r] - *mean);
    *sd = reps > 1 ? sqrt(sq / (reps - 1)) : 0;
    return 0;
}

/* Peak resident memory in KiB: VmHWM belongs to this program's address
 * space, whereas ru_maxrss carries over the high-water mark of a parent
 * that spawned us (a bench driver that synthesized a model in memory). */
static double peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    if (kib < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kib = (double)ru.ru_maxrss;
    }
    return kib;
}

static void format_params(uint64_t n, char *out, size_t size)
{
    if (n >= 1000000000ull)
        snprintf(out, size, "%.2f B", (double)n / 1e9);
    else
        snprintf(out, size, "%.2f M", (double)n / 1e6);
}

static void print_row(const char *model, const char *size, const char *params, int threads,
                      const char *test, double mean, double sd)
{
    char tps[48];
    snprintf(tps, sizeof tps, "%.2f ± %.2f", mean, sd);
    /* "±" is two bytes: widen the field by one so the columns stay aligned */
    printf("| %-30s | %10s | %10s | %-10s | %7d | %15s | %21s |\n", model, size, params, "CPU",
           threads, test, tps);
}

/* llama-bench understands -p/-n/-t/-r; map them to this command's long
 * options (and -t to the threads configuration flag). */
static char **map_short_options(int argc, char **argv)
{
    char **out = calloc((size_t)argc + 1, sizeof *out);
    if (!out)
        return NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        out[i] = argv[i];
        if (strcmp(a, "-p") == 0)
            out[i] = "--n-prompt";
        else if (strcmp(a, "-n") == 0)
            out[i] = "--n-gen";
        else if (strcmp(a, "-t") == 0)
            out[i] = "--threads";
        else if (strcmp(a, "-r") == 0)
            out[i] = "--repetitions";
    }
    return out;
}

static int parse_count(const cli_args *args, const char *name, int64_t min, int64_t max,
                       int64_t *out)
{
    const char *text = cli_value(args, name);
    if (text && mm_parse_i64(text, min, max, out) != 0) {
        cli_error("--%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", name, text, min,
                  max);
        return -1;
    }
    return 0;
}

static int bench_model(const char *path, const cli_args *args, int64_t n_prompt, int64_t n_gen,
                       int64_t reps)
{
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    int32_t *tokens = NULL;
    mm_error err = { 0 };
    int status = CLI_FAIL;
    double t0 = now_s();
    if (engine_model_load(path, &model, &err) != 0) {
        cli_error("%s", err.message);
        return CLI_FAIL;
    }
    double load_ms = (now_s() - t0) * 1e3;
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    int64_t most = n_prompt > n_gen ? n_prompt : n_gen;
    cp.n_ctx = (uint32_t)most;
    cp.n_batch = (uint32_t)(n_prompt > 0 ? n_prompt : 1);
    cp.n_threads = args->cfg->threads;
    tokens = malloc((size_t)most * sizeof *tokens);
    if (!tokens || engine_ctx_new(model, &cp, &ctx, &err) != 0) {
        cli_error("%s", tokens ? err.message : "out of memory");
        goto done;
    }
    /* Token ids do not change the work done; a fixed pseudo-random spread
     * avoids a degenerate cache of one repeated row. */
    for (int64_t i = 0; i < most; i++)
        tokens[i] = (int32_t)((i * 7919 + 1) % model->hp.n_vocab);

    mm_model_facts facts;
    gguf_model_facts(model->file, &facts);
    char name[64], size[32], params[32];
    snprintf(name, sizeof name, "%s %s", model->hp.arch,
             facts.file_type_name[0] ? facts.file_type_name
                                     : ggml_type_name(model->layers[0].w_up->type));
    snprintf(size, sizeof size, "%.2f MiB", (double)model->weight_bytes / (1024.0 * 1024.0));
    format_params(model->n_params, params, sizeof params);
    printf("| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s |\n", "model", "size", "params",
           "backend", "threads", "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: "
           "| --------------: | -------------------: |\n");
    fflush(stdout);
    char test[32];
    double mean, sd;
    if (n_prompt > 0) {
        if (bench_test(ctx, tokens, (uint32_t)n_prompt, true, (int)reps, &mean, &sd, &err) != 0)
            goto eval_failed;
        snprintf(test, sizeof test, "pp%" PRId64, n_prompt);
        print_row(name, size, params, cp.n_threads, test, mean, sd);
        fflush(stdout);
    }
    if (n_gen > 0) {
        if (bench_test(ctx, tokens, (uint32_t)n_gen, false, (int)reps, &mean, &sd, &err) != 0)
            goto eval_failed;
        snprintf(test, sizeof test, "tg%" PRId64, n_gen);
        print_row(name, size, params, cp.n_threads, test, mean, sd);
    }
    engine_mem_estimate est;
    engine_mem_estimate_get(model, &cp, &est);
    printf("\nload time: %.1f ms\npeak RSS: %.1f MiB\n", load_ms, peak_rss_kib() / 1024.0);
    printf("memory estimate: %.1f MiB (weights %.1f, KV cache %.1f, scratch %.1f)\n",
           est.total / 1048576.0, est.weights / 1048576.0, est.kv_cache / 1048576.0,
           est.scratch / 1048576.0);
    printf("kernels: %s\n", engine_quant_isa());
    status = CLI_OK;
    goto done;
eval_failed:
    cli_error("%s", err.message);
done:
    engine_ctx_free(ctx);
    engine_model_free(model);
    free(tokens);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    char **mapped = map_short_options(argc, argv);
    if (!mapped) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cli_args args;
    int status = cli_parse(&bench_spec, argc, mapped, &args);
    if (status != CLI_RUN) {
        free(mapped);
        return status;
    }
    int64_t n_prompt = 128, n_gen = 64, reps = 5;
    char *path = NULL;
    status = CLI_USAGE;
    if (parse_count(&args, "n-prompt", 0, 8192, &n_prompt) ||
        parse_count(&args, "n-gen", 0, 8192, &n_gen) ||
        parse_count(&args, "repetitions", 1, BENCH_MAX_REPS, &reps))
        goto done;
    if (n_prompt == 0 && n_gen == 0) {
        cli_error("nothing to measure: -p and -n are both 0");
        goto done;
    }
    status = cli_model_path(args.cfg, args.args[0], &path);
    if (status != CLI_OK)
        goto done;
    engine_quant_force_scalar(cli_has(&args, "scalar"));
    status = bench_model(path, &args, n_prompt, n_gen, reps);
done:
    free(path);
    cli_args_free(&args);
    free(mapped);
    return status;
}
