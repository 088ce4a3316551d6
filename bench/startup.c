/* startup.c - benchmark: how soon `modelmgr serve` answers /api/health with a
 * catalog of 100 models (target: under 50 ms), and the time to the first
 * token of the first request on a model that is not loaded yet (the lazy
 * load) against a second request once it is. Prints figures; never fails a
 * build. Usage: bench-startup [MODEL.gguf] (default: $BENCH_DIR/bench-Q4_0.gguf
 * when it exists; bench-engine makes it). */
#include "support/loadgen.h"
#include "support/httpc.h"
#include "support/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_MODELS 100
#define ROUNDS 7

static char tmp_dir[] = "/tmp/mm-bench-start-XXXXXX";
static char bin[PATH_MAX];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A running server: its pid and the URL it printed. */
typedef struct server {
    pid_t pid;
    int   out;          /* read end of its stdout */
    char  url[128];
} server;

static bool serve_start(const char *models_dir, server *s)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fds[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(fds[0]);
        char v[PATH_MAX + 32];
        setenv("MODELS_DIR", models_dir, 1);
        snprintf(v, sizeof v, "%s/models.txt", tmp_dir);
        setenv("MODELS_FILE", v, 1);
        snprintf(v, sizeof v, "%s/hub", tmp_dir);
        setenv("HF_HUB_CACHE", v, 1);
        snprintf(v, sizeof v, "%s/config.yaml", tmp_dir);
        setenv("MODELMGR_CONFIG", v, 1);
        setenv("HOME", tmp_dir, 1);
        setenv("SKIP_MODEL_DOWNLOADS", "1", 1);
        execl(bin, bin, "serve", "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->out = fds[0];
    if (s->pid < 0)
        return false;
    /* "listening on http://127.0.0.1:PORT ..." */
    char buf[4096];
    size_t len = 0;
    while (len + 1 < sizeof buf) {
        ssize_t n = read(s->out, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
        const char *p = strstr(buf, "listening on ");
        if (p && strchr(p, '\n')) {
            p += strlen("listening on ");
            snprintf(s->url, sizeof s->url, "%.*s", (int)strcspn(p, " \n"), p);
            return true;
        }
    }
    return false;
}

static void serve_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    if (s->out >= 0)
        close(s->out);
    s->pid = -1;
    s->out = -1;
}

static long get(const char *url, const char *path)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", url, path);
    httpc_result r;
    long status = httpc_request("GET", full, NULL, NULL, &r);
    httpc_result_free(&r);
    return status;
}

/* Time from exec to the first 200 from /api/health, in ms; < 0 on failure. */
static double time_to_health(const char *models_dir)
{
    server s = { .pid = -1, .out = -1 };
    double t0 = now_ms();
    double t = -1;
    if (serve_start(models_dir, &s)) {
        for (int i = 0; i < 2000; i++) {
            if (get(s.url, "/api/health") == 200) {
                t = now_ms() - t0;
                break;
            }
            usleep(500);
        }
    }
    serve_stop(&s);
    return t;
}

static double completion_ms(const char *url, const char *model, const char *prompt)
{
    char body[512], full[256];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":1,"
             "\"temperature\":0}", model, prompt);
    snprintf(full, sizeof full, "%s/v1/completions", url);
    const char *headers[] = { "Content-Type: application/json", NULL };
    httpc_result r;
    double t0 = now_ms();
    long status = httpc_request("POST", full, body, headers, &r);
    double t = now_ms() - t0;
    httpc_result_free(&r);
    return status == 200 ? t : -1;
}

int main(int argc, char **argv)
{
    const char *env_bin = getenv("MODELMGR_BIN");
    if (env_bin) {
        snprintf(bin, sizeof bin, "%s", env_bin);
    } else {
        ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 16);
        if (n <= 0)
            return 1;
        bin[n] = '\0';
        char *slash = strrchr(bin, '/');
        snprintf(slash + 1, sizeof bin - (size_t)(slash + 1 - bin), "modelmgr");
    }
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "bench-startup: %s not found (set MODELMGR_BIN)\n", bin);
        return 1;
    }
    if (!mkdtemp(tmp_dir))
        return 1;
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/config.yaml", tmp_dir);
    FILE *cfg = fopen(path, "w");
    if (cfg) {
        fputs("# empty: defaults\n", cfg);
        fclose(cfg);
    }
    char cpu[320];
    loadgen_machine(cpu, sizeof cpu);
    printf("machine: %s\n", cpu);

    /* 1. Ready to answer with 100 models in the catalog. */
    snprintf(dir, sizeof dir, "%s/models", tmp_dir);
    mkdir(dir, 0755);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    for (int i = 0; i < N_MODELS; i++) {
        p.seed = (uint64_t)i + 1;
        snprintf(path, sizeof path, "%s/model-%03d.gguf", dir, i);
        if (mmtest_synth_model(&p, path) != 0)
            return 1;
    }
    double t[ROUNDS];
    int ok = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double v = time_to_health(dir);
        if (v >= 0)
            t[ok++] = v;
    }
    if (ok) {
        qsort(t, (size_t)ok, sizeof *t, cmp);
        printf("serve ready (/api/health 200) with %d models: median %.1f ms, min %.1f ms "
               "(%d runs; target < 50 ms: %s)\n", N_MODELS, t[ok / 2], t[0], ok,
               t[ok / 2] < 50 ? "met" : "missed");
    } else {
        printf("serve ready: the server did not start\n");
    }

    /* 2. First token of a model that is not loaded yet, and once it is. */
    char model_path[PATH_MAX];
    const char *bench_dir = getenv("BENCH_DIR");
    if (argc > 1)
        snprintf(model_path, sizeof model_path, "%s", argv[1]);
    else
        snprintf(model_path, sizeof model_path, "%s/bench-Q4_0.gguf",
                 bench_dir ? bench_dir : "/tmp/mm-bench");
    if (access(model_path, R_OK) == 0) {
        snprintf(dir, sizeof dir, "%s/one", tmp_dir);
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/bench.gguf", dir);
        if (symlink(model_path, path) != 0)
            return 1;
        double cold[ROUNDS], warm[ROUNDS];
        int n = 0;
        for (int r = 0; r < 3; r++) {
            server s = { .pid = -1, .out = -1 };
            if (serve_start(dir, &s)) {
                double c = completion_ms(s.url, "bench", "Hello");
                double w = completion_ms(s.url, "bench", "Hello there");
                if (c >= 0 && w >= 0) {
                    cold[n] = c;
                    warm[n] = w;
                    n++;
                }
            }
            serve_stop(&s);
        }
        if (n) {
            qsort(cold, (size_t)n, sizeof *cold, cmp);
            qsort(warm, (size_t)n, sizeof *warm, cmp);
            printf("first token, %s: first request (lazy load + prompt) median %.1f ms, "
                   "second request %.1f ms; the load costs %.1f ms (page cache warm)\n",
                   model_path, cold[n / 2], warm[n / 2], cold[n / 2] - warm[n / 2]);
        } else {
            printf("first token: the request failed\n");
        }
    } else {
        printf("first token: skipped (%s not found; run bench-engine with BENCH_DIR set, "
               "or pass a .gguf)\n", model_path);
    }

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-startup: could not remove %s\n", tmp_dir);
    return 0;
}
