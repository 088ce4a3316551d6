/* server.h - internals of the HTTP server: the service interface the server
 * runs on (models, health, generation), the pure request parsers for the
 * OpenAI and Ollama APIs, and the HTTP core built on libmicrohttpd (the only
 * subsystem that uses it). */
#ifndef MM_SERVER_H
#define MM_SERVER_H

#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Bounds on what a request may carry. */
#define SERVER_BODY_DEFAULT   (1024 * 1024) /* request body, bytes (config max_body) */
#define SERVER_HEADERS_MAX    (16 * 1024)   /* all request header names + values */
#define SERVER_MESSAGES_MAX   1024          /* chat messages in one request */
#define SERVER_STOP_MAX       4             /* stop strings (OpenAI's limit) */
#define SERVER_STOP_LEN_MAX   256           /* bytes of one stop string */
#define SERVER_MODEL_NAME_MAX 128           /* a model id */
#define SERVER_MODELS_MAX     1024          /* models one listing reports */
#define SERVER_TOKENS_MAX     (1 << 20)     /* max_tokens / num_predict upper bound */
#define SERVER_TRIED_MAX      1024          /* the X-Modelmgr-Tried header's value */
#define SERVER_STRATEGY_HEADER "X-Modelmgr-Strategy"
#define SERVER_TRIED_HEADER    "X-Modelmgr-Tried"

/* ---- errors as the HTTP layer reports them ---- */

/* An error answer: status, OpenAI `type`/`code`/`param` and the message. The
 * Ollama routes send only the message ({"error":"..."}). */
typedef struct server_fault {
    int         status;        /* 400, 401, 404, 405, 413, 429, 500, 501, 502, 503, 504 */
    const char *type;          /* "invalid_request_error", ...; static */
    const char *code;          /* "model_not_found", ... or NULL; static */
    char        param[64];     /* the offending field, "" for none */
    char        message[MM_ERROR_MSG_MAX];
} server_fault;

/* Fill f; returns -1 so parsers can `return server_fault_set(...)`. */
int server_fault_set(server_fault *f, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...) MM_PRINTF(6, 7);

/* ---- requests ---- */

typedef enum server_api {
    SERVER_API_CHAT = 0,       /* POST /v1/chat/completions */
    SERVER_API_COMPLETION,     /* POST /v1/completions */
    SERVER_API_OLLAMA_GENERATE,/* POST /api/generate */
    SERVER_API_OLLAMA_CHAT     /* POST /api/chat */
} server_api;

typedef enum server_role {
    SERVER_ROLE_SYSTEM = 0,    /* system and developer */
    SERVER_ROLE_USER,
    SERVER_ROLE_ASSISTANT,
    SERVER_ROLE_TOOL
} server_role;

/* "system", "user", "assistant" or "tool": the name a backend takes
 * (server-parse.c, beside the names it reads). */
const char *server_role_name(server_role role);

typedef struct server_message {
    server_role role;
    char       *content;       /* text parts joined in order; never NULL */
    char       *name;          /* optional participant name, or NULL */
    char       *tool_call_id;  /* role tool: the call answered, or NULL */
} server_message;

/* A generation request after validation: every field is in range and every
 * field the server cannot honour was refused, so a service can trust it. */
typedef struct server_request {
    server_api      api;
    char           *model;        /* as requested; NULL: the default ("auto", absent) */
    server_message *messages;     /* chat APIs: at least one (Ollama chat: none
                                     means "load the model") */
    size_t          n_messages;
    char           *prompt;       /* completion APIs; never NULL there */
    char           *system;       /* Ollama generate `system`, or NULL */
    double          temperature;  /* 0..2 */
    double          top_p;        /* 0..1 */
    double          presence_penalty;  /* -2..2 */
    double          frequency_penalty; /* -2..2 */
    int64_t         max_tokens;   /* -1: until stop or context end */
    char           *stop[SERVER_STOP_MAX];
    size_t          n_stop;
    bool            has_seed;
    int64_t         seed;
    bool            stream;
    bool            include_usage;/* OpenAI stream_options.include_usage */
    bool            has_keep_alive;/* Ollama keep_alive given */
    int64_t         keep_alive_ms; /* >0 idle that long, 0 unload after, <0 forever */
    char           *strategy;     /* the X-Modelmgr-Strategy header, or NULL */
} server_request;

/* Ollama's keep_alive: a number of seconds or a Go duration string ("5m",
 * "1h30m", "300ms"); negative means forever (*ms < 0). 0 or -1 (f filled,
 * param "keep_alive"). Pure. */
int server_parse_keep_alive(const struct cJSON *value, int64_t *ms, server_fault *f);

/* Parse and validate a request body of len bytes for api. On success fills
 * *out (caller frees with server_request_clear) and returns 0. On failure
 * returns -1 with f filled (400 naming the field, e.g. param "messages") and
 * *out empty. Pure: no I/O, no global state. Thread-safe. */
int server_request_parse(server_api api, const char *body, size_t len,
                         server_request *out, server_fault *f);
void server_request_clear(server_request *rq);

/* ---- the service the server runs on ---- */

/* One model as the server reports it. */
typedef struct server_model {
    char     id[SERVER_MODEL_NAME_MAX]; /* exactly what `model` accepts */
    int64_t  created;        /* Unix seconds (file modification), 0 unknown */
    uint64_t size;           /* bytes on disk, 0 unknown */
    char     format[16];     /* "gguf", ... */
    char     family[32];     /* architecture, "" unknown */
    char     quant[16];      /* "Q4_K_M", "" unknown */
    uint64_t n_params;       /* 0 unknown */
    uint32_t context_length; /* 0 unknown */
    bool     loaded;         /* resident in memory now (Ollama /api/ps) */
} server_model;

typedef enum server_finish {
    SERVER_FINISH_STOP = 0,  /* end of sequence or a stop string */
    SERVER_FINISH_LENGTH     /* max_tokens or the context end */
} server_finish;

typedef struct server_gen_result {
    int64_t       prompt_tokens;
    int64_t       completion_tokens;
    server_finish finish;
    int64_t       load_ns, prompt_ns, eval_ns;  /* 0 when unknown */
    /* Set by a routing service before its first piece: the model that
     * answers ("" : the one asked for) and what was tried before it, for
     * the X-Modelmgr-Tried header ("" : nothing else was tried). */
    char          model[SERVER_MODEL_NAME_MAX];
    char          tried[SERVER_TRIED_MAX];
} server_gen_result;

/* Receives each piece of generated text (complete UTF-8, stop strings
 * already removed). Returns 0 to go on, non-zero to stop generating (the
 * client is gone). */
typedef int (*server_piece_fn)(void *user, const char *piece, size_t len);

/* What the server needs from the rest of the program. Every function may be
 * called from many connection threads at once and must be thread-safe. */
typedef struct server_service {
    void *ctx;
    /* Fill up to max models into out; *n_out how many. 0 or MM_E*. */
    int (*list_models)(void *ctx, server_model *out, size_t max, size_t *n_out);
    /* The model `name` names (NULL: the default). MM_ENOTFOUND with an
     * actionable message when there is none. */
    int (*find_model)(void *ctx, const char *name, server_model *out, mm_error *err);
    /* As find_model, leaving out `created` (0), which costs a stat of the
     * model's file: what a generation needs. May be NULL (then find_model). */
    int (*resolve_model)(void *ctx, const char *name, server_model *out, mm_error *err);
    /* Add what the service knows to the detailed health `services` object:
     * any of "models", "hub", "cache", "router", "memory" (members it leaves
     * out are reported as not available). May be NULL. */
    void (*health)(void *ctx, struct cJSON *services);
    /* Generate for rq with model (the id find_model returned), calling
     * on_piece for each piece; stops soon after *cancel becomes non-zero
     * (then MM_ECANCELED). Fills *res. Errors: MM_EBUSY (no capacity: 503),
     * MM_EUNSUPPORTED (not possible in this build: 501), MM_EINVAL /
     * MM_ELIMIT (the request cannot be served: 400), others 500. */
    int (*generate)(void *ctx, const char *model, const server_request *rq,
                    server_piece_fn on_piece, void *user, const atomic_bool *cancel,
                    server_gen_result *res, mm_error *err);
    /* POST /api/route: explain as JSON (*json_out, caller frees) how rq
     * would be routed under strategy (NULL: the configured one). May be NULL
     * (then 501). MM_EINVAL for a bad strategy; MM_ENOTFOUND/MM_EBUSY when
     * no model qualifies (*json_out is still filled). */
    int (*route)(void *ctx, const server_request *rq, const char *strategy, char **json_out,
                 mm_error *err);
    /* The manager changed other than through generate (a model loaded or
     * unloaded through the admin API): forget what was kept about its
     * state. May be NULL. */
    void (*changed)(void *ctx);
} server_service;

/* ---- the HTTP server ---- */

/* The admin API's context (server-admin.c): without cfg the admin
 * endpoints answer 501. All borrowed until server_stop. */
typedef struct server_admin_ctx {
    const mm_config  *cfg;   /* pulls: endpoint, token, cache, models_dir */
    const mm_catalog *cat;   /* the catalog when there is no manager */
    mm_manager       *mgr;   /* load/unload, the live catalog; may be NULL */
} server_admin_ctx;

typedef struct server_options {
    const char *host;            /* address to bind; NULL: 127.0.0.1 */
    int         port;            /* 0: any free port */
    const char *api_key;         /* NULL or "": no authentication; copied */
    size_t      max_body;        /* 0: SERVER_BODY_DEFAULT */
    unsigned    max_connections; /* 0: 64 */
    unsigned    max_inflight;    /* generations at once; beyond: 429. 0: 16 */
    unsigned    idle_timeout_s;  /* keep-alive idle close; 0: 120 */
    server_admin_ctx admin;      /* zero: no admin API (501) */
    const char *unix_path;       /* listen on this Unix socket (mode 0600) instead of
                                    host:port: a model's worker process; NULL: TCP */
} server_options;

typedef struct server server;

/* Start serving svc (borrowed until server_stop) on opts. Returns 0 with
 * *out set, or MM_EIO (cannot bind: the message names host:port and why),
 * MM_EINVAL, MM_ENOMEM. Logs a warning when binding a non-loopback host
 * without an api_key. */
int server_start(const server_options *opts, const server_service *svc, server **out,
                 mm_error *err);
/* The port actually bound (useful with port 0). */
int server_port(const server *srv);
/* "http://HOST:PORT", or "unix:PATH" (borrowed until server_stop). */
const char *server_url(const server *srv);
/* Generation requests in progress now (for tests and health). */
unsigned server_inflight(server *srv);
/* Stop accepting connections, let requests in progress finish for up to
 * grace_ms, then cancel the generations still running, close everything
 * and free srv. NULL is a no-op. Not to be called from a handler. */
void server_stop(server *srv, int grace_ms);

/* A catalog model as the server reports it (loaded left false); without
 * stat_file, `created` is left 0 and the file system is not touched. */
void server_model_fill(const mm_model_info *info, bool stat_file, server_model *out);
/* Set `loaded` on each of models[0..n) from mgr's list (NULL: no-op). */
void server_models_mark_loaded(mm_manager *mgr, server_model *models, size_t n);
/* The catalog model info (NULL: none by that name) as a model a request
 * may use: MM_ENOTFOUND with the message clients see when it does not
 * exist or is not on disk, else out filled (as server_model_fill). */
int  server_model_from_info(const mm_model_info *info, const char *name, bool stat_file,
                            server_model *out, mm_error *err);

/* A service over the catalog (borrowed): lists its available models,
 * reports the health of mgr (borrowed; NULL: the catalog's states only) and
 * generates with mm_manager_generate (without mgr: MM_EUNSUPPORTED, with
 * SERVER_NO_ENGINE_MSG). Caller frees with server_catalog_service_free. */
int server_catalog_service_new(const mm_catalog *cat, mm_manager *mgr,
                               server_service *out, mm_error *err);
void server_catalog_service_free(server_service *svc);

/* A service that routes (server-route.c): models from mgr's current
 * catalog (cat when mgr is NULL) plus cfg's remotes; each generation goes
 * through an mm_router (rebuilt when mgr's catalog changes; requests in
 * flight keep theirs) whose local models run on the built-in engine.
 * cfg, cat and mgr are borrowed until server_route_service_free. */
int server_route_service_new(const mm_config *cfg, const mm_catalog *cat, mm_manager *mgr,
                             server_service *out, mm_error *err);
void server_route_service_free(server_service *svc);
/* Tests: probe every remote of the current router now. */
void server_route_service_probe(server_service *svc);

/* The message generation endpoints send when no model manager is wired. */
#define SERVER_NO_ENGINE_MSG "generation is not available in this build yet: " \
    "the built-in engine is not wired to the server"

/* ---- inside the server: shared by the handler files ---- */

struct MHD_Connection;

/* One HTTP request being answered (lives from its first byte to the end of
 * its answer). */
typedef struct server_call {
    server                *srv;
    struct MHD_Connection *conn;
    const char            *method;
    const char            *url;       /* path, percent-decoded by MHD, no query */
    const char            *body;      /* NUL-terminated, body_len bytes */
    size_t                 body_len;
    char                   request_id[40];
    char                   model[SERVER_MODEL_NAME_MAX]; /* for the log and metrics */
    const char            *route;     /* route label for metrics ("chat", ...) */
    bool                   ollama;    /* errors in Ollama's shape */
    char                   tried[SERVER_TRIED_MAX]; /* X-Modelmgr-Tried, "" : none */
    int                    status;    /* the status sent */
} server_call;

/* Answer with a JSON body (taken: freed here) or a fault. Return an MHD
 * result (MHD_YES / MHD_NO) as int. */
int server_reply_json(server_call *call, int status, struct cJSON *body);
/* Answer with body's bytes (taken: body is left empty) as content_type; a
 * failed body (out of memory, over its cap) answers a 500. */
int server_reply_buf(server_call *call, int status, const char *content_type, mm_buf *body);
/* Answer with text, which must outlive the server (a string literal). */
int server_reply_static(server_call *call, int status, const char *content_type,
                        const char *text);
int server_reply_fault(server_call *call, const server_fault *f);
int server_reply_text(server_call *call, int status, const char *content_type,
                      const char *text);
/* Queue resp (taken: destroyed here) with the headers every answer carries. */
struct MHD_Response;
int server_queue_response(server_call *call, int status, struct MHD_Response *resp);
/* Whether call carries the server's API key (true when none is set), and
 * the 401 answer when it does not. */
bool server_authorized(server_call *call);
int server_reply_unauthorized(server_call *call);
/* A fault from an mm_error code as the HTTP layer maps it (ENOTFOUND 404
 * model_not_found, EBUSY 503, EUNSUPPORTED 501, EINVAL/ELIMIT 400, else 500). */
void server_fault_from_error(server_fault *f, int code, const char *message);
/* The service of call's server / of srv. */
const server_service *server_svc(const server_call *call);
const server_service *server_get_service(server *srv);
/* Ollama names may carry ":latest"; find_model with that fallback. */
int server_find_model(server_call *call, const char *name, server_model *out, mm_error *err);
/* The first step of every generation endpoint: parse call's body as api
 * asks and find the model it names. Returns 0 with *rq (clear it with
 * server_request_clear) and *model filled; otherwise the fault has already
 * been answered, *reply holds that answer's result and nothing needs
 * clearing. */
int server_prepare_generation(server_call *call, server_api api, server_request *rq,
                              server_model *model, int *reply);

/* Append s (len bytes; stops at a NUL) as a JSON string, escaped exactly as
 * cJSON prints it: '"', '\\' and control bytes escaped (\b \f \n \r \t, the
 * rest as \u00xx), every other byte, UTF-8 included, as it is. */
void server_json_string(mm_buf *out, const char *s, size_t len);
/* Append v as a JSON number exactly as cJSON prints (double)v. */
void server_json_int(mm_buf *out, int64_t v);

/* CLOCK_MONOTONIC in nanoseconds (Ollama reports durations in ns). */
int64_t server_now_ns(void);
/* pthread_cond_timedwait on cv (mu held) for at most ms milliseconds. */
void server_timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);
/* A random id "<prefix><24 hex>" into out. */
void server_random_id(const char *prefix, char *out, size_t size);

/* ---- generation: one request's run of the service ---- */

typedef struct server_gen server_gen;

/* How one API frames a generation. Each appends to out (held under the
 * generation's lock). */
typedef struct server_framing {
    const char *content_type;                       /* of the streamed answer */
    void (*begin)(server_gen *g, mm_buf *out);      /* before the first piece */
    void (*piece)(server_gen *g, const char *text, size_t len, mm_buf *out);
    void (*end)(server_gen *g, mm_buf *out);        /* after success; g->res set */
    void (*error)(server_gen *g, const char *message, mm_buf *out); /* in-band */
    void (*whole)(server_gen *g, mm_buf *out);      /* non-streamed answer (JSON) */
} server_framing;

struct server_gen {
    server               *srv;
    server_request        rq;        /* owned */
    server_model          model;
    char                  id[48];    /* "chatcmpl-..." */
    int64_t               created;   /* Unix seconds */
    int64_t               started_ns;
    bool                  load_only; /* Ollama: empty prompt/messages */
    const server_framing *framing;
    atomic_bool           cancel;
    mm_buf                text;      /* non-streamed: the whole answer */
    server_gen_result     res;
    int                   rc;        /* the service's result */
    mm_error              err;
    struct server_gen_rt *rt;        /* threading state (server-gen.c) */
    int                   watch_fd;  /* a whole answer's client socket, which the
                                        server's hang-up watcher polls; -1: none */
    server_gen           *next_active, *prev_active; /* the server's running list */
};

/* Admit g as a running generation (false: max_inflight reached) and release
 * it when it ends; a server that stops past its grace period cancels every
 * admitted generation, and while g->watch_fd is a socket the server's
 * hang-up watcher cancels g when its client closes it. Thread-safe. */
bool server_gen_admit(server *srv, server_gen *g);
void server_gen_release(server *srv, server_gen *g);
/* Headers every answer carries: x-request-id, CORS for local origins,
 * Connection: close once the server is stopping. */
void server_add_headers(server_call *call, struct MHD_Response *resp);

/* Run g (taken: freed by this call) for call: a 429 when too many run
 * already, an HTTP error when generation fails before any output, else the
 * streamed or whole answer through g->framing. */
int server_gen_run(server_call *call, server_gen *g);
/* A new generation for rq (taken) on model; NULL on OOM (rq cleared). */
server_gen *server_gen_new(server_call *call, server_request *rq, const server_model *model,
                           const char *id_prefix, const server_framing *framing);

/* ---- handlers (server-openai.c, server-ollama.c, server-health.c) ---- */

int server_h_chat(server_call *call);
int server_h_completions(server_call *call);
int server_h_models(server_call *call);
int server_h_model(server_call *call);
int server_h_root(server_call *call);          /* server-page.c */
int server_h_ollama_root(server_call *call);
int server_h_ollama_version(server_call *call);
int server_h_ollama_tags(server_call *call);
int server_h_ollama_ps(server_call *call);
int server_h_ollama_show(server_call *call);
int server_h_ollama_generate(server_call *call);
int server_h_ollama_chat(server_call *call);
int server_h_health(server_call *call);
int server_h_health_detailed(server_call *call);
int server_h_metrics(server_call *call);
int server_h_route(server_call *call);

/* ---- admin API and pull jobs (server-admin.c, server-jobs.c) ---- */

int server_h_admin_models(server_call *call);
int server_h_admin_model_action(server_call *call);   /* /api/models/{name}/load|unload */
int server_h_admin_pull(server_call *call);
int server_h_admin_jobs(server_call *call);
int server_h_admin_job(server_call *call);
int server_h_ollama_pull(server_call *call);
/* The admin context and job table of a running server (jobs NULL without
 * an admin context). */
const server_admin_ctx *server_get_admin(server *srv);
struct server_jobs *server_get_jobs(server *srv);
bool server_is_stopping(server *srv);

#define SERVER_JOBS_MAX        32    /* jobs kept: queued, running and finished */
#define SERVER_JOB_WORKERS     2     /* pulls at once */
#define SERVER_JOB_KEEP_S      3600  /* a finished job stays listed this long */
#define SERVER_JOB_FILES_MAX   32    /* files a job reports */
#define SERVER_PATTERNS_MAX    16    /* include / exclude patterns each */
#define SERVER_PATTERN_LEN_MAX 256

typedef enum server_job_state {
    SERVER_JOB_QUEUED = 0,
    SERVER_JOB_RUNNING,
    SERVER_JOB_DONE,
    SERVER_JOB_FAILED
} server_job_state;

const char *server_job_state_name(server_job_state state);

/* What a pull job fetches (validated by the caller). */
typedef struct server_pull_spec {
    char repo[256];           /* "org/name" or "org/name:QUANT" */
    char revision[128];       /* a commit or tag */
    char filename[1024];      /* one file, or "" */
    char include[SERVER_PATTERNS_MAX][SERVER_PATTERN_LEN_MAX];
    size_t n_include;
    char exclude[SERVER_PATTERNS_MAX][SERVER_PATTERN_LEN_MAX];
    size_t n_exclude;
} server_pull_spec;

typedef struct server_job_file {
    char     name[256];       /* the file's path in the repo (truncated) */
    uint64_t done, total;     /* bytes */
    char     sha256[65];      /* once verified, else "" */
} server_job_file;

/* A copy of one job's state. */
typedef struct server_job_info {
    char             id[40];
    server_job_state state;
    char             repo[256], revision[128];
    uint64_t         bytes_done, bytes_total;  /* over the files seen so far */
    double           rate;                     /* bytes/s now, 0 when not downloading */
    char             current_file[256];
    server_job_file  files[SERVER_JOB_FILES_MAX];
    size_t           n_files;
    int64_t          created_s, started_s, finished_s; /* Unix seconds; 0: not yet */
    char             error[MM_ERROR_MSG_MAX];  /* failed: why */
    uint64_t         version;                  /* bumped on every change */
} server_job_info;

typedef struct server_jobs server_jobs;

/* A job table with SERVER_JOB_WORKERS worker threads pulling with mm_pull
 * (audited, recorded in models.lock) and refreshing mgr's catalog (may be
 * NULL) after each success. cfg and mgr are borrowed until
 * server_jobs_free. */
int  server_jobs_new(const mm_config *cfg, mm_manager *mgr, server_jobs **out, mm_error *err);
/* Fails the queued jobs and waits for the running pulls to end. NULL: no-op. */
void server_jobs_free(server_jobs *jobs);
/* Queue a pull; its id into id. MM_EBUSY when SERVER_JOBS_MAX jobs are
 * queued or running. Thread-safe. */
int  server_jobs_submit(server_jobs *jobs, const server_pull_spec *spec, char id[40],
                        mm_error *err);
/* Copy job id into *out once its version differs from seen or timeout_ms
 * passed (0: at once). MM_ENOTFOUND for an unknown (or expired) id. */
int  server_jobs_get(server_jobs *jobs, const char *id, uint64_t seen, int64_t timeout_ms,
                     server_job_info *out);
/* Up to max jobs, oldest first, into out; returns how many. */
size_t server_jobs_list(server_jobs *jobs, server_job_info *out, size_t max);
/* The checks `modelmgr pull` makes before downloading sp (valid repo, a
 * quant tag or a file, patterns only for a whole repo, a pinned revision
 * with the CLI's exact message): 0, or -1 with a 400 in f. May ask the hub
 * whether a revision is a tag. */
int server_admin_check_pull(const mm_config *cfg, server_pull_spec *sp, server_fault *f);
/* The JSON of a job for /api/jobs. */
struct cJSON *server_job_json(const server_job_info *jb);

/* ---- metrics (server-metrics.c) ---- */

typedef struct server_metrics server_metrics;
server_metrics *server_metrics_new(void);
void server_metrics_free(server_metrics *m);
/* Count one finished request. Thread-safe. */
void server_metrics_record(server_metrics *m, const char *route, const char *model, int status,
                           double seconds);
/* Count the tokens of one finished generation. Thread-safe. */
void server_metrics_tokens(server_metrics *m, const char *model, int64_t tokens_in,
                           int64_t tokens_out);
/* Prometheus text exposition into out. Thread-safe. */
void server_metrics_render(server_metrics *m, unsigned inflight, int64_t uptime_s, mm_buf *out);
server_metrics *server_get_metrics(server *srv);
int64_t server_uptime_s(const server *srv);

#endif /* MM_SERVER_H */
