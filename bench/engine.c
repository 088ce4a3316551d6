/* engine.c - `make bench` part for the built-in engine: synthesizes models of
 * a realistic shape (n_embd 1024, 16 layers, 16/8 heads, FFN 2816, vocab
 * 32000) in F16, Q8_0, Q4_0 and Q4_K, plus a 24M-param F32 one (n_embd 288,
 * 6 layers, FFN 768, vocab 32000), runs `modelmgr bench` on each and
 * prints the memory-bandwidth bound on generation: weight bytes read per
 * token / measured read bandwidth. Figures only; nothing is asserted.
 * Environment: BENCH_THREADS (default 2), BENCH_TYPES ("F16,Q4_0,F32"),
 * BENCH_REPS (default 3), BENCH_DIR (keep the models there instead of a
 * temporary directory), MODELMGR_BIN (default: modelmgr beside this). */
#include "core/core.h"
#include "engine/engine.h"
#include "support/synth.h"
#include "support/test.h"

#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Made by mmtest_synth_bench_model (shared with bench/throughput.c); F32 is
 * the 24M shape of issue 3's last row, the rest the 254M one. */
static const char *const types[] = { "F16", "Q8_0", "Q4_0", "Q4_K", "F32" };

/* ---- read bandwidth: every thread sums its slice of a large buffer ---- */

#define BW_BYTES (512u << 20)

typedef struct bw_arg {
    const uint64_t *data;
    size_t          n;
    uint64_t        sum;
} bw_arg;

static void *bw_reader(void *p)
{
    bw_arg *a = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= a->n; i += 4) {
        s0 += a->data[i];
        s1 += a->data[i + 1];
        s2 += a->data[i + 2];
        s3 += a->data[i + 3];
    }
    a->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of 3 passes, bytes per second. */
static double measure_bandwidth(int threads)
{
    size_t n = BW_BYTES / sizeof(uint64_t);
    uint64_t *buf = malloc(BW_BYTES);
    if (!buf)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = i;
    double best = 0;
    pthread_t tid[64];
    bw_arg args[64];
    if (threads > 64)
        threads = 64;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            args[t].data = buf + n / threads * t;
            args[t].n = n / threads;
            pthread_create(&tid[t], NULL, bw_reader, &args[t]);
        }
        uint64_t sink = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            sink += args[t].sum;
        }
        double dt = now_s() - t0;
        if (sink != 1 && BW_BYTES / dt > best)   /* sink keeps the loads alive */
            best = BW_BYTES / dt;
    }
    free(buf);
    return best;
}

static char *modelmgr_path(void)
{
    const char *env = getenv("MODELMGR_BIN");
    if (env && *env)
        return mm_strdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return mm_strdup("modelmgr");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return mm_asprintf("%s/modelmgr", self);
}

static int run_bench(const char *bin, const char *model, const char *threads, const char *reps)
{
    char *argv[] = { (char *)bin, "bench", (char *)model, "-p", "128", "-n", "64",
                     "-t", (char *)threads, "-r", (char *)reps, NULL };
    pid_t pid;
    fflush(stdout);
    if (posix_spawn(&pid, bin, NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "bench-engine: cannot run %s\n", bin);
        return -1;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(void)
{
    const char *threads = getenv("BENCH_THREADS") ? getenv("BENCH_THREADS") : "2";
    const char *reps = getenv("BENCH_REPS") ? getenv("BENCH_REPS") : "3";
    const char *only = getenv("BENCH_TYPES");
    int64_t n_threads = 2;
    if (mm_parse_i64(threads, 1, 64, &n_threads) != 0) {
        fprintf(stderr, "bench-engine: BENCH_THREADS must be 1..64\n");
        return 2;
    }
    char *bin = modelmgr_path();
    const char *keep = getenv("BENCH_DIR");
    char *dir = keep && *keep ? mm_strdup(keep) : mmtest_tmpdir();
    double bw = measure_bandwidth((int)n_threads);
    printf("engine benchmark: n_embd 1024, 16 layers, 16/8 heads, FFN 2816, vocab 32000, "
           "%s threads, kernels %s\n", threads, engine_quant_isa());
    printf("measured read bandwidth (%d threads): %.2f GB/s\n\n", (int)n_threads, bw / 1e9);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *name = types[i];
        bool small = strcmp(name, "F32") == 0;
        if (only && !strstr(only, name))
            continue;
        char *path = mm_asprintf("%s/bench-%s.gguf", dir, name);
        printf("== %s (%s): synthesizing...\n", name,
               small ? "n_embd 288, 6 layers, 6/6 heads, FFN 768" : "254M shape");
        fflush(stdout);
        if (access(path, R_OK) != 0 && mmtest_synth_bench_model(name, path) != 0) {
            free(path);
            continue;
        }
        engine_model *m = NULL;
        mm_error err = { 0 };
        if (engine_model_load(path, &m, &err) == 0) {
            /* per generated token every matrix is read once, except the
             * embedding table, of which one row is read */
            uint64_t per_token = m->weight_bytes;
            if (!m->tied_output)
                per_token -= m->tok_embd->nbytes;
            printf("weights read per token: %.1f MiB -> bandwidth bound on tg: %.1f t/s\n",
                   per_token / 1048576.0, bw / (double)per_token);
            engine_model_free(m);
        }
        run_bench(bin, path, threads, reps);
        printf("\n");
        if (!keep)
            unlink(path);
        free(path);
    }
    if (!keep)
        mmtest_rmtree(dir);
    free(dir);
    free(bin);
    return 0;
}
