/* loadgen.c - the load generator of loadgen.h: client threads on keep-alive
 * connections (httpc sessions), a shared request counter, per-thread
 * log-bucketed latency histograms merged at the end, and the helpers that
 * start `modelmgr serve` on a synthesized model and read RSS. */
#include "support/loadgen.h"

#include "core/core.h"
#include "support/httpc.h"
#include "support/synth.h"
#include "support/test.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bucket i > 0 holds latencies in [GROWTH^(i-1), GROWTH^i) microseconds:
 * percentiles within 2 %, any run length in fixed memory. */
#define GROWTH    1.02
#define N_BUCKETS 1200

typedef struct hist {
    uint64_t count[N_BUCKETS];
    uint64_t n;
    double   sum_us, max_us;
} hist;

typedef struct client {
    pthread_t              thread;
    const loadgen_options *o;
    atomic_uint_fast64_t  *next_seq;
    atomic_bool           *stop;
    int64_t                start_ns, deadline_ns;
    bool                   ticks;
    hist                   by_kind[LOADGEN_KINDS];
    uint64_t               by_status[LOADGEN_STATUSES];
    uint64_t               other_status;
} client;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hist_add(hist *h, double us)
{
    size_t i = us < 1.0 ? 0 : 1 + (size_t)(log(us) / log(GROWTH));
    if (i >= N_BUCKETS)
        i = N_BUCKETS - 1;
    h->count[i]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(hist *into, const hist *from)
{
    for (size_t i = 0; i < N_BUCKETS; i++)
        into->count[i] += from->count[i];
    into->n += from->n;
    into->sum_us += from->sum_us;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
}

/* The upper bound of the bucket holding quantile q, in ms. */
static double hist_quantile_ms(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n), seen = 0;
    if (want == 0)
        want = 1;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= want) {
            double upper = i == 0 ? 1.0 : pow(GROWTH, (double)i);
            return (upper < h->max_us ? upper : h->max_us) / 1000.0;
        }
    }
    return h->max_us / 1000.0;
}

static void hist_stats(const hist *h, loadgen_stats *s)
{
    s->requests = h->n;
    s->p50_ms = hist_quantile_ms(h, 0.50);
    s->p90_ms = hist_quantile_ms(h, 0.90);
    s->p99_ms = hist_quantile_ms(h, 0.99);
    s->max_ms = h->max_us / 1000.0;
    s->mean_ms = h->n ? h->sum_us / (double)h->n / 1000.0 : 0;
}

static void *client_main(void *arg)
{
    client *c = arg;
    const loadgen_options *o = c->o;
    httpc_session *session = httpc_session_new();
    if (!session) {
        atomic_store(c->stop, true);
        return NULL;
    }
    char auth[512];
    const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
    if (o->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        headers[1] = auth;
    }
    loadgen_req *rq = malloc(sizeof *rq);
    int64_t last_tick = c->start_ns;
    while (rq && !atomic_load(c->stop)) {
        uint64_t seq = atomic_fetch_add(c->next_seq, 1);
        if (o->max_requests && seq >= o->max_requests)
            break;
        int64_t t0 = now_ns();
        if (c->deadline_ns && t0 >= c->deadline_ns)
            break;
        memset(rq, 0, sizeof *rq);
        o->make(o->user, seq, rq);
        char url[512];
        snprintf(url, sizeof url, "%s%s", o->base_url, rq->path);
        httpc_result r;
        long status = httpc_session_request(session, rq->method, url,
                                            rq->body[0] ? rq->body : NULL, headers, &r);
        int64_t t1 = now_ns();
        httpc_result_free(&r);
        int kind = rq->kind >= 0 && rq->kind < LOADGEN_KINDS ? rq->kind : 0;
        hist_add(&c->by_kind[kind], (double)(t1 - t0) / 1000.0);
        if (status >= 0 && status < LOADGEN_STATUSES)
            c->by_status[status]++;
        else
            c->other_status++;
        if (c->ticks && o->tick && t1 - last_tick >= 1000000000) {
            last_tick = t1;
            uint64_t done = atomic_load(c->next_seq);
            o->tick(o->user, done, (double)(t1 - c->start_ns) / 1e9);
        }
    }
    free(rq);
    httpc_session_free(session);
    return NULL;
}

int loadgen_run(const loadgen_options *o, loadgen_result *r)
{
    memset(r, 0, sizeof *r);
    if (!o->base_url || !o->make || o->clients < 1 || o->clients > 1024 ||
        (!o->max_requests && o->seconds <= 0)) {
        fprintf(stderr, "loadgen: need a URL, a request maker, 1-1024 clients and a count "
                        "or a duration\n");
        return -1;
    }
    client *cs = calloc(o->clients, sizeof *cs);
    hist *merged = calloc(LOADGEN_KINDS + 1, sizeof *merged);
    if (!cs || !merged) {
        free(cs);
        free(merged);
        fprintf(stderr, "loadgen: out of memory\n");
        return -1;
    }
    atomic_uint_fast64_t next_seq = 0;
    atomic_bool stop = false;
    int64_t start = now_ns();
    unsigned started = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        cs[i] = (client){ .o = o, .next_seq = &next_seq, .stop = &stop, .start_ns = start,
                          .deadline_ns = o->seconds > 0 ? start + (int64_t)(o->seconds * 1e9) : 0,
                          .ticks = i == 0 };
        if (pthread_create(&cs[i].thread, NULL, client_main, &cs[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start client thread %u\n", i);
            atomic_store(&stop, true);
            break;
        }
        started++;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(cs[i].thread, NULL);
    r->elapsed_s = (double)(now_ns() - start) / 1e9;
    for (unsigned i = 0; i < started; i++) {
        for (int k = 0; k < LOADGEN_KINDS; k++) {
            hist_merge(&merged[k], &cs[i].by_kind[k]);
            hist_merge(&merged[LOADGEN_KINDS], &cs[i].by_kind[k]);
        }
        for (int s = 0; s < LOADGEN_STATUSES; s++)
            r->by_status[s] += cs[i].by_status[s];
        r->other_status += cs[i].other_status;
    }
    for (int k = 0; k < LOADGEN_KINDS; k++)
        hist_stats(&merged[k], &r->by_kind[k]);
    hist_stats(&merged[LOADGEN_KINDS], &r->all);
    int rc = started == o->clients ? 0 : -1;
    free(cs);
    free(merged);
    return rc;
}

void loadgen_print_statuses(const loadgen_result *r)
{
    const char *sep = "";
    for (int s = 0; s < LOADGEN_STATUSES; s++) {
        if (!r->by_status[s])
            continue;
        if (s == 0)
            printf("%sno answer: %llu", sep, (unsigned long long)r->by_status[s]);
        else
            printf("%s%d: %llu", sep, s, (unsigned long long)r->by_status[s]);
        sep = ", ";
    }
    if (r->other_status)
        printf("%sother: %llu", sep, (unsigned long long)r->other_status);
    printf("\n");
}

void loadgen_machine(char *out, size_t size)
{
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ')
                    v++;
                mm_strlcpy(model, v, sizeof model);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    }
    if (f)
        fclose(f);
    snprintf(out, size, "%s (%ld cores online)", model, sysconf(_SC_NPROCESSORS_ONLN));
}

uint64_t loadgen_rss(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t kib = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            int64_t v = 0;
            char num[64];
            size_t n = 0;
            for (const char *p = line + 6; *p && n < sizeof num - 1; p++)
                if (*p >= '0' && *p <= '9')
                    num[n++] = *p;
            num[n] = '\0';
            if (n && mm_parse_i64(num, 0, INT64_MAX / 1024, &v) == 0)
                kib = (uint64_t)v;
            break;
        }
    }
    if (f)
        fclose(f);
    return kib * 1024;
}

static bool read_url(const char *out_path, char *url, size_t size)
{
    for (int i = 0; i < 600; i++) {
        char *text = NULL;
        mm_error err;
        if (mm_file_read(out_path, 1 << 16, &text, NULL, &err) == 0) {
            const char *at = strstr(text, "listening on ");
            if (at) {
                at += strlen("listening on ");
                size_t n = strcspn(at, " \n");
                if (n < size) {
                    memcpy(url, at, n);
                    url[n] = '\0';
                    free(text);
                    return true;
                }
            }
            free(text);
        }
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

int loadgen_server_start(loadgen_server *s, uint32_t n_embd, const char *const *extra_args)
{
    memset(s, 0, sizeof *s);
    s->dir = mmtest_tmpdir();
    char *models = mm_path_join(s->dir, "models");
    char *model = mm_path_join(models, "tiny.gguf");
    mm_mkdirs(models, NULL);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    if (n_embd)
        p.n_embd = n_embd;
    int rc = mmtest_synth_model(&p, model);
    free(model);
    if (rc != 0) {
        free(models);
        loadgen_server_stop(s);
        return -1;
    }
    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/serve.out", s->dir);
    snprintf(err_path, sizeof err_path, "%s/serve.err", s->dir);
    /* The modelmgr built beside this program (make bench runs it from the
     * source tree), unless MODELMGR_BIN names one. */
    char self[4096] = "";
    const char *bin = getenv("MODELMGR_BIN");
    if (!bin || !bin[0]) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            mm_strlcpy(slash + 1, "modelmgr", sizeof self - (size_t)(slash + 1 - self));
        else
            mm_strlcpy(self, "./modelmgr", sizeof self);
        bin = self;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        char path[4200];
        setenv("MODELS_DIR", models, 1);
        snprintf(path, sizeof path, "%s/hub", s->dir);
        setenv("HF_HUB_CACHE", path, 1);
        snprintf(path, sizeof path, "%s/models.txt", s->dir);
        setenv("MODELS_FILE", path, 1);
        setenv("HOME", s->dir, 1);
        setenv("XDG_CONFIG_HOME", s->dir, 1);
        /* Loopback only: no start-up downloads or update checks. */
        setenv("SKIP_MODEL_DOWNLOADS", "1", 1);
        setenv("HF_HUB_OFFLINE", "1", 1);
        /* One access-log line per request would fill the disk in a soak. */
        setenv("MODELMGR_LOG_LEVEL", "warn", 1);
        const char *argv[24] = { bin, "serve", "--port", "0" };
        size_t n = 4;
        for (size_t i = 0; extra_args && extra_args[i] && n < 23; i++)
            argv[n++] = extra_args[i];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    free(models);
    if (pid < 0) {
        fprintf(stderr, "loadgen: cannot fork\n");
        loadgen_server_stop(s);
        return -1;
    }
    s->pid = pid;
    if (!read_url(out_path, s->url, sizeof s->url)) {
        fprintf(stderr, "loadgen: %s serve printed no URL within 30 s; its stderr:\n", bin);
        char *log = NULL;
        mm_error err;
        if (mm_file_read(err_path, 1 << 16, &log, NULL, &err) == 0)
            fputs(log, stderr);
        free(log);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        s->pid = 0;
        loadgen_server_stop(s);
        return -1;
    }
    return 0;
}

int loadgen_server_stop(loadgen_server *s)
{
    int result = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status = 0;
        bool done = false;
        for (int i = 0; i < 300 && !done; i++) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                done = true;
                break;
            }
            struct timespec ts = { 0, 50 * 1000000L };
            nanosleep(&ts, NULL);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        } else if (WIFEXITED(status)) {
            result = WEXITSTATUS(status);
        }
        s->pid = 0;
    }
    if (s->dir) {
        mmtest_rmtree(s->dir);
        free(s->dir);
        s->dir = NULL;
    }
    return result;
}
