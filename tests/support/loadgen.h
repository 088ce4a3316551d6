/* loadgen.h - a small HTTP load generator for bench/server and bench/load:
 * N client threads, each on its own keep-alive connection, sending requests
 * a callback makes until a count or a deadline is reached; latencies go
 * into a log-bucketed histogram (bounded memory for any run length), and
 * answers are counted by status. Also: starting `modelmgr serve` as a child
 * process on a synthesized model, and reading a process's RSS. */
#ifndef MM_TEST_LOADGEN_H
#define MM_TEST_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOADGEN_BODY_MAX 2048

/* One request to send. */
typedef struct loadgen_req {
    const char *method;              /* "GET" or "POST" */
    const char *path;                /* "/api/health", ... */
    char        body[LOADGEN_BODY_MAX]; /* "" for none */
    int         kind;                /* the caller's class of request, 0..3 */
} loadgen_req;

/* Fill out for request number seq (0, 1, ... across all clients). Called
 * from the client threads at once: must be thread-safe. */
typedef void (*loadgen_make_fn)(void *user, uint64_t seq, loadgen_req *out);

typedef struct loadgen_options {
    const char     *base_url;        /* "http://127.0.0.1:PORT" */
    const char     *api_key;         /* NULL: no Authorization header */
    unsigned        clients;         /* threads, each with one connection; 1..1024 */
    uint64_t        max_requests;    /* 0: bounded by time only */
    double          seconds;         /* 0: bounded by count only */
    loadgen_make_fn make;
    void           *user;
    /* Called about every second from the first client thread with the
     * requests done so far; may be NULL. */
    void          (*tick)(void *user, uint64_t done, double elapsed_s);
} loadgen_options;

#define LOADGEN_KINDS 4
#define LOADGEN_STATUSES 600             /* HTTP statuses counted, 0: transport error */

typedef struct loadgen_stats {
    uint64_t requests;
    double   p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
} loadgen_stats;

typedef struct loadgen_result {
    double        elapsed_s;
    loadgen_stats all;
    loadgen_stats by_kind[LOADGEN_KINDS];
    uint64_t      by_status[LOADGEN_STATUSES]; /* [0]: no HTTP answer at all */
    uint64_t      other_status;                /* statuses >= LOADGEN_STATUSES */
} loadgen_result;

/* Run the load; fills *r. Returns 0, or -1 when the options are out of
 * range or threads cannot start (message on stderr). */
int loadgen_run(const loadgen_options *o, loadgen_result *r);

/* Print "status N: COUNT" lines for every status seen, on one line. */
void loadgen_print_statuses(const loadgen_result *r);

/* The CPU model and online cores, "Intel(R) ... (2 cores)". */
void loadgen_machine(char *out, size_t size);

/* Resident set size of pid in bytes (from /proc/PID/status), 0 unknown. */
uint64_t loadgen_rss(pid_t pid);

/* A running `modelmgr serve`. */
typedef struct loadgen_server {
    pid_t pid;
    char  url[256];
    char *dir;                       /* its models, config and log; removed by stop */
} loadgen_server;

/* Synthesize a small model "tiny" (n_embd given; 0: 64) into a fresh
 * directory and start `modelmgr serve --port 0` on it ($MODELMGR_BIN, else
 * the modelmgr beside the running program) with extra_args appended
 * (NULL-terminated, may be NULL), offline, logging warnings only.
 * Waits for its URL. 0, or -1 (message on stderr; nothing left to stop). */
int loadgen_server_start(loadgen_server *s, uint32_t n_embd, const char *const *extra_args);
/* SIGTERM, wait (up to 15 s, then SIGKILL), remove its directory. Returns
 * its exit status, -1 when it had to be killed. */
int loadgen_server_stop(loadgen_server *s);

#endif /* MM_TEST_LOADGEN_H */
