/* server-http.c - the HTTP core on libmicrohttpd (a thread per connection):
 * request bodies with a bound, routing, authentication, error answers in the
 * OpenAI or Ollama shape, the access log, and a graceful stop.
 *
 * DESIGN: each connection has its own thread, so a handler may block while
 * the service generates; streamed answers are fed by a generation thread
 * through server-gen.c. `active` counts requests from their first byte to
 * the end of their answer; server_stop waits on it. A whole answer is
 * generated on its connection's thread, which cannot watch its client
 * meanwhile: one watcher thread per server polls those clients' sockets
 * (every WATCH_MS while generations run, asleep otherwise) and cancels the
 * generation of a client that hung up. */
#define _GNU_SOURCE   /* POLLRDHUP */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct server {
    struct MHD_Daemon *daemon;
    server_service     svc;
    char              *api_key;      /* NULL: no authentication */
    size_t             max_body;
    unsigned           max_inflight;
    int                port;
    char               url[320];
    pthread_mutex_t    mu;           /* guards active, n_gens, gens, watch_* */
    pthread_cond_t     cv;           /* signalled when a request ends */
    unsigned           active;
    unsigned           n_gens;
    server_gen        *gens;
    pthread_t          watcher;
    bool               watcher_started;
    pthread_cond_t     watch_cv;     /* wakes the watcher: work, or stop */
    bool               watch_idle;   /* the watcher sleeps until signalled */
    bool               watch_stop;
    uint64_t           watch_seq;    /* watched generations admitted so far */
    atomic_int         stopping;
    server_metrics    *metrics;
    int64_t            start_ms;
    server_admin_ctx   admin;
    server_jobs       *jobs;         /* NULL without an admin context */
};

/* Per-request state behind MHD's con_cls. */
typedef struct req_state {
    server_call call;
    mm_buf      body;
    bool        too_large;
    bool        answered;
    int64_t     start_ms;
    char        method[16];
    char        path[256];      /* for the access log, truncated */
} req_state;

typedef int (*handler_fn)(server_call *call);

/* libmicrohttpd's memory pool per connection: it holds the request line
 * and headers (SERVER_HEADERS_MAX of them) and the read and write buffers,
 * and MHD zeroes all of it between two requests of a keep-alive connection,
 * so its size is paid on every request. 32 KiB is MHD's own default. */
#define MHD_POOL_BYTES ((size_t)32 * 1024)

#define WATCH_MS      50     /* hang-up polling while whole answers generate */
#define WATCH_IDLE_MS 1000   /* the idle watcher's wait (it is signalled on work) */

/* Known endpoints this build cannot serve: an explicit 501, not a 404. */
static int h_no_embeddings(server_call *call)
{
    server_fault f;
    server_fault_set(&f, 501, "not_supported_error", "not_implemented", NULL,
                     "embeddings are not available in this build: no embedding model can "
                     "be served yet");
    return server_reply_fault(call, &f);
}

typedef struct route {
    const char *method;     /* "GET" (HEAD is served too) or "POST" */
    const char *path;       /* exact, or a prefix when it ends in '/' */
    handler_fn  fn;
    const char *label;      /* metrics label */
    bool        open;       /* answered without the API key */
    bool        ollama;     /* Ollama error shape */
} route;

static const route routes[] = {
    { "POST", "/v1/chat/completions", server_h_chat, "chat", false, false },
    { "POST", "/chat/completions", server_h_chat, "chat", false, false },
    { "POST", "/v1/completions", server_h_completions, "completions", false, false },
    { "POST", "/completions", server_h_completions, "completions", false, false },
    { "GET", "/v1/models", server_h_models, "models", false, false },
    { "GET", "/models", server_h_models, "models", false, false },
    { "GET", "/v1/models/", server_h_model, "model", false, false },
    { "GET", "/models/", server_h_model, "model", false, false },
    { "POST", "/v1/embeddings", h_no_embeddings, "embeddings", false, false },
    { "POST", "/embeddings", h_no_embeddings, "embeddings", false, false },
    { "POST", "/api/embed", h_no_embeddings, "ollama_embed", false, true },
    { "POST", "/api/embeddings", h_no_embeddings, "ollama_embed", false, true },
    { "GET", "/api/health", server_h_health, "health", true, false },
    { "GET", "/api/health/detailed", server_h_health_detailed, "health_detailed", false, false },
    { "GET", "/metrics", server_h_metrics, "metrics", false, false },
    /* Open: the status page holds no data; the Ollama text checks the key. */
    { "GET", "/", server_h_root, "root", true, true },
    { "GET", "/api/version", server_h_ollama_version, "ollama_version", false, true },
    { "GET", "/api/tags", server_h_ollama_tags, "ollama_tags", false, true },
    { "GET", "/api/ps", server_h_ollama_ps, "ollama_ps", false, true },
    { "POST", "/api/show", server_h_ollama_show, "ollama_show", false, true },
    { "POST", "/api/generate", server_h_ollama_generate, "ollama_generate", false, true },
    { "POST", "/api/chat", server_h_ollama_chat, "ollama_chat", false, true },
    { "POST", "/api/pull", server_h_ollama_pull, "ollama_pull", false, true },
    { "GET", "/api/models", server_h_admin_models, "admin_models", false, false },
    { "POST", "/api/models/pull", server_h_admin_pull, "admin_pull", false, false },
    { "POST", "/api/models/", server_h_admin_model_action, "admin_model", false, false },
    { "GET", "/api/jobs", server_h_admin_jobs, "admin_jobs", false, false },
    { "GET", "/api/jobs/", server_h_admin_job, "admin_job", false, false },
    { "POST", "/api/route", server_h_route, "route", false, false },
};

/* The /api/ paths that are not Ollama's and answer errors in OpenAI's shape. */
static const char *const openai_api_prefixes[] = { "/api/health", "/api/models", "/api/jobs",
                                                   "/api/route" };

static bool ollama_shaped(const char *url)
{
    if (!mm_str_has_prefix(url, "/api/"))
        return false;
    for (size_t i = 0; i < MM_ARRAY_LEN(openai_api_prefixes); i++)
        if (mm_str_has_prefix(url, openai_api_prefixes[i]))
            return false;
    return true;
}

/* ---- small helpers ---- */

/* Compare without an early exit so the time taken does not reveal how much
 * of the key matched. */
static bool key_equal(const char *given, size_t given_len, const char *key)
{
    size_t key_len = strlen(key);
    unsigned diff = (unsigned)(given_len ^ key_len);
    for (size_t i = 0; i < key_len; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

const server_service *server_svc(const server_call *call)
{
    return &call->srv->svc;
}

const server_service *server_get_service(server *srv)
{
    return &srv->svc;
}

const server_admin_ctx *server_get_admin(server *srv)
{
    return &srv->admin;
}

server_jobs *server_get_jobs(server *srv)
{
    return srv->jobs;
}

bool server_is_stopping(server *srv)
{
    return atomic_load(&srv->stopping) != 0;
}

server_metrics *server_get_metrics(server *srv)
{
    return srv->metrics;
}

int64_t server_uptime_s(const server *srv)
{
    return (mm_now_ms() - srv->start_ms) / 1000;
}

int server_port(const server *srv)
{
    return srv->port;
}

const char *server_url(const server *srv)
{
    return srv->url;
}

unsigned server_inflight(server *srv)
{
    pthread_mutex_lock(&srv->mu);
    unsigned n = srv->n_gens;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

bool server_gen_admit(server *srv, server_gen *g)
{
    pthread_mutex_lock(&srv->mu);
    bool ok = srv->n_gens < srv->max_inflight;
    if (ok) {
        srv->n_gens++;
        g->prev_active = NULL;
        g->next_active = srv->gens;
        if (srv->gens)
            srv->gens->prev_active = g;
        srv->gens = g;
        if (g->watch_fd >= 0) {
            srv->watch_seq++;
            /* Only an idle watcher needs a wake-up: a busy one ticks. */
            if (srv->watch_idle) {
                srv->watch_idle = false;
                pthread_cond_signal(&srv->watch_cv);
            }
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

void server_gen_release(server *srv, server_gen *g)
{
    pthread_mutex_lock(&srv->mu);
    if (g->prev_active)
        g->prev_active->next_active = g->next_active;
    else if (srv->gens == g)
        srv->gens = g->next_active;
    if (g->next_active)
        g->next_active->prev_active = g->prev_active;
    g->next_active = g->prev_active = NULL;
    srv->n_gens--;
    pthread_mutex_unlock(&srv->mu);
}

/* Cancel the watched generations whose client has hung up; whether any
 * is watched. Called with srv->mu held: a generation leaves the list (and
 * its socket may close) only under that lock. */
static bool watch_poll(server *srv)
{
    bool any = false;
    int64_t now_ns = server_now_ns();
    for (server_gen *g = srv->gens; g; g = g->next_active) {
        if (g->watch_fd < 0 || atomic_load(&g->cancel))
            continue;
        any = true;
        /* A client is first looked at after WATCH_MS of generation, as the
         * connection thread's own polling did: an answer that quick is sent
         * even to a client that has half-closed its side. */
        if (now_ns - g->started_ns < (int64_t)WATCH_MS * 1000000)
            continue;
        struct pollfd p = { .fd = g->watch_fd, .events = POLLRDHUP };
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            atomic_store(&g->cancel, true);
            MM_LOG_INFO("client closed the connection of %s: generation cancelled", g->id);
        }
    }
    return any;
}

/* Ticks every WATCH_MS while whole answers are generated (or were since
 * the last tick), so a busy server never signals it; sleeps otherwise
 * until server_gen_admit wakes it. */
static void *watch_main(void *arg)
{
    server *srv = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&srv->mu);
    while (!srv->watch_stop) {
        bool busy = watch_poll(srv) || srv->watch_seq != seen;
        seen = srv->watch_seq;
        srv->watch_idle = !busy;
        server_timed_wait(&srv->watch_cv, &srv->mu, busy ? WATCH_MS : WATCH_IDLE_MS);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

typedef int (*find_fn)(void *ctx, const char *name, server_model *out, mm_error *err);

/* find (the service's find_model or resolve_model), retried without an
 * Ollama name's ":latest". */
static int find_latest(server_call *call, find_fn find, const char *name, server_model *out,
                       mm_error *err)
{
    void *ctx = server_svc(call)->ctx;
    int rc = find(ctx, name, out, err);
    if (rc == MM_ENOTFOUND && name && mm_str_has_suffix(name, ":latest")) {
        char base[SERVER_MODEL_NAME_MAX];
        size_t n = strlen(name) - strlen(":latest");
        if (n > 0 && n < sizeof base) {
            memcpy(base, name, n);
            base[n] = '\0';
            mm_error retry;
            if (find(ctx, base, out, &retry) == 0) {
                mm_error_clear(err);
                rc = 0;
            }
        }
    }
    if (rc == 0)
        mm_strlcpy(call->model, out->id, sizeof call->model);
    return rc;
}

int server_find_model(server_call *call, const char *name, server_model *out, mm_error *err)
{
    return find_latest(call, server_svc(call)->find_model, name, out, err);
}

int server_prepare_generation(server_call *call, server_api api, server_request *rq,
                              server_model *model, int *reply)
{
    server_fault f;
    if (server_request_parse(api, call->body, call->body_len, rq, &f) < 0) {
        *reply = server_reply_fault(call, &f);
        return -1;
    }
    const char *strategy = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND,
                                                       SERVER_STRATEGY_HEADER);
    if (strategy && !(rq->strategy = mm_strdup(strategy))) {
        server_request_clear(rq);
        server_fault_set(&f, 500, "server_error", NULL, NULL, "out of memory");
        *reply = server_reply_fault(call, &f);
        return -1;
    }
    const server_service *svc = server_svc(call);
    mm_error err = { 0 };
    int rc = find_latest(call, svc->resolve_model ? svc->resolve_model : svc->find_model,
                         rq->model, model, &err);
    if (rc != 0) {
        server_request_clear(rq);
        server_fault_from_error(&f, rc, err.message);
        *reply = server_reply_fault(call, &f);
        return -1;
    }
    return 0;
}

/* ---- request flow ---- */

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static bool route_matches(const route *r, const char *url)
{
    size_t n = strlen(r->path);
    if (n > 1 && r->path[n - 1] == '/')
        return strncmp(url, r->path, n) == 0 && url[n] != '\0';
    return strcmp(url, r->path) == 0;
}

static bool method_fits(const route *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return true;
    return strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/* The route for method + url; *path_hit is some route of that path (for a
 * 405) or NULL (a 404). */
static const route *find_route(const char *url, const char *method, const route **path_hit)
{
    *path_hit = NULL;
    for (size_t i = 0; i < MM_ARRAY_LEN(routes); i++) {
        if (!route_matches(&routes[i], url))
            continue;
        if (!*path_hit)
            *path_hit = &routes[i];
        if (method_fits(&routes[i], method))
            return &routes[i];
    }
    return NULL;
}

bool server_authorized(server_call *call)
{
    const char *key = call->srv->api_key;
    if (!key)
        return true;
    const char *auth = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    while (*given == ' ')
        given++;
    return key_equal(given, strlen(given), key);
}

int server_reply_unauthorized(server_call *call)
{
    server_fault f;
    server_fault_set(&f, 401, "invalid_request_error", "invalid_api_key", NULL,
                     "missing or invalid API key: send the header "
                     "'Authorization: Bearer <key>' with the server's api_key");
    return server_reply_fault(call, &f);
}

static int answer_options(server_call *call)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    const char *want = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND,
                                                   "Access-Control-Request-Headers");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            want && strlen(want) < 1024 ? want : "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return server_queue_response(call, 204, resp);
}

static int dispatch(req_state *st)
{
    server_call *call = &st->call;
    server_fault f;
    if (strcmp(call->method, "OPTIONS") == 0) {
        call->route = "options";
        return answer_options(call);
    }
    const route *path_hit = NULL;
    const route *r = find_route(call->url, call->method, &path_hit);
    call->ollama = ollama_shaped(call->url);
    if (!path_hit) {
        call->route = "unknown";
        server_fault_set(&f, 404, "invalid_request_error", NULL, NULL,
                         "Invalid URL (%s %s)", st->method, st->path);
        return server_reply_fault(call, &f);
    }
    if (!r) {
        call->route = path_hit->label;
        server_fault_set(&f, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "method %s is not allowed on %s (use %s)", st->method, st->path,
                         path_hit->method);
        return server_reply_fault(call, &f);
    }
    call->route = r->label;
    call->ollama = r->ollama;
    if (!r->open && !server_authorized(call))
        return server_reply_unauthorized(call);
    if (st->too_large) {
        server_fault_set(&f, 413, "invalid_request_error", "request_too_large", NULL,
                         "request body is larger than the limit of %zu bytes (config key "
                         "max_body)", call->srv->max_body);
        return server_reply_fault(call, &f);
    }
    call->body = st->body.data ? st->body.data : "";
    call->body_len = st->body.len;
    return r->fn(call);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    server *srv = cls;
    req_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        st->start_ms = mm_now_ms();
        mm_buf_init(&st->body, srv->max_body);
        mm_strlcpy(st->method, method, sizeof st->method);
        mm_strlcpy(st->path, url, sizeof st->path);
        st->call.srv = srv;
        st->call.conn = conn;
        st->call.method = st->method;
        st->call.url = url;
        st->call.route = "unknown";
        server_random_id("req-", st->call.request_id, sizeof st->call.request_id);
        pthread_mutex_lock(&srv->mu);
        srv->active++;
        pthread_mutex_unlock(&srv->mu);

        server_fault f;
        st->call.ollama = ollama_shaped(url);
        size_t header_bytes = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &header_bytes);
        if (header_bytes > SERVER_HEADERS_MAX) {
            st->answered = true;
            server_fault_set(&f, 431, "invalid_request_error", "headers_too_large", NULL,
                             "request headers are larger than the limit of %d bytes",
                             SERVER_HEADERS_MAX);
            return (enum MHD_Result)server_reply_fault(&st->call, &f);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t declared = 0;
        if (cl && mm_parse_i64(cl, 0, INT64_MAX, &declared) == 0 &&
            (uint64_t)declared > srv->max_body) {
            /* Answer before the body is sent (curl's Expect: 100-continue
             * then never sends it); MHD closes the connection after. */
            st->answered = true;
            server_fault_set(&f, 413, "invalid_request_error", "request_too_large", NULL,
                             "request body is larger than the limit of %zu bytes (config "
                             "key max_body)", srv->max_body);
            return (enum MHD_Result)server_reply_fault(&st->call, &f);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!st->answered && !st->too_large) {
            if (st->body.len + *upload_size > srv->max_body) {
                st->too_large = true;
                mm_buf_free(&st->body);
            } else if (mm_buf_append(&st->body, upload, *upload_size) < 0) {
                st->too_large = true;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    st->answered = true;
    st->call.url = url;
    return (enum MHD_Result)dispatch(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    req_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    server_call *call = &st->call;
    double seconds = (double)(mm_now_ms() - st->start_ms) / 1000.0;
    bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    /* No prompt text and no headers here: the log never carries secrets. */
    MM_LOG_INFO("http %s %s %d %.0fms model=%s id=%s%s", st->method, st->path,
                call->status, seconds * 1000.0, call->model[0] ? call->model : "-",
                call->request_id, ok ? "" : " (connection closed before the answer ended)");
    server_metrics_record(srv->metrics, call->route, call->model[0] ? call->model : "",
                          call->status ? call->status : 499, seconds);
    mm_buf_free(&st->body);
    free(st);
    pthread_mutex_lock(&srv->mu);
    srv->active--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    MM_LOG_DEBUG("libmicrohttpd: %s", line);
}

static bool host_is_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0 || mm_str_has_prefix(host, "127.");
}

static void server_free(server *srv)
{
    if (!srv)
        return;
    if (srv->watcher_started) {
        pthread_mutex_lock(&srv->mu);
        srv->watch_stop = true;
        pthread_cond_signal(&srv->watch_cv);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(srv->watcher, NULL);
    }
    server_jobs_free(srv->jobs);
    server_metrics_free(srv->metrics);
    free(srv->api_key);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->watch_cv);
    free(srv);
}

/* Bind opts->unix_path (owner-only) and hand the listening socket to
 * libmicrohttpd; a worker process serves its parent this way. */
static int start_unix(server *srv, const server_options *opts, mm_error *err)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(opts->unix_path) >= sizeof sun.sun_path)
        return mm_error_set(err, MM_EINVAL, "the socket path %s is longer than %zu bytes",
                            opts->unix_path, sizeof sun.sun_path - 1);
    mm_strlcpy(sun.sun_path, opts->unix_path, sizeof sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mm_error_set(err, MM_EIO, "cannot create a Unix socket: %s", strerror(errno));
    struct stat st;
    if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(sun.sun_path);   /* a stale socket of an earlier worker; nothing else */
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || chmod(sun.sun_path, 0600) != 0 ||
        listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return mm_error_set(err, MM_EIO, "cannot listen on the Unix socket %s: %s",
                            sun.sun_path, strerror(e));
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
            MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(opts->max_connections ? opts->max_connections : 64),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(opts->idle_timeout_s ? opts->idle_timeout_s : 120),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, MHD_POOL_BYTES,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        close(fd);
        unlink(sun.sun_path);
        return mm_error_set(err, MM_EIO, "cannot serve on the Unix socket %s", sun.sun_path);
    }
    snprintf(srv->url, sizeof srv->url, "unix:%s", sun.sun_path);
    return 0;
}

int server_start(const server_options *opts, const server_service *svc, server **out,
                 mm_error *err)
{
    *out = NULL;
    const char *host = opts->host && opts->host[0] ? opts->host : "127.0.0.1";
    if (opts->port < 0 || opts->port > 65535)
        return mm_error_set(err, MM_EINVAL, "port %d is out of range (0-65535)", opts->port);
    if (!svc || !svc->list_models || !svc->find_model || !svc->generate)
        return mm_error_set(err, MM_EINVAL, "server_start: incomplete service");
    server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return mm_error_set(err, MM_ENOMEM, "out of memory starting the server");
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_cond_init(&srv->watch_cv, NULL);
    srv->svc = *svc;
    srv->max_body = opts->max_body ? opts->max_body : SERVER_BODY_DEFAULT;
    srv->max_inflight = opts->max_inflight ? opts->max_inflight : 16;
    srv->start_ms = mm_now_ms();
    srv->metrics = server_metrics_new();
    int rc = MM_ENOMEM;
    if (!srv->metrics)
        goto fail;
    srv->admin = opts->admin;
    if (opts->admin.cfg && (rc = server_jobs_new(opts->admin.cfg, opts->admin.mgr, &srv->jobs,
                                                 err)) != 0)
        goto fail;
    rc = MM_ENOMEM;
    if (pthread_create(&srv->watcher, NULL, watch_main, srv) != 0)
        goto fail;
    srv->watcher_started = true;
    if (opts->api_key && opts->api_key[0]) {
        if (!(srv->api_key = mm_strdup(opts->api_key)))
            goto fail;
        mm_log_add_secret(opts->api_key);
    } else if (!host_is_loopback(host)) {
        MM_LOG_WARN("listening on %s without an api_key: anyone who can reach this address "
                    "can use the server (set api_key or MODELMGR_API_KEY)", host);
    }

    if (opts->unix_path) {
        rc = start_unix(srv, opts, err);
        if (rc != 0)
            goto fail;
        *out = srv;
        return 0;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        rc = mm_error_set(err, MM_EINVAL, "cannot use host '%s': %s (set host to an address "
                          "such as 127.0.0.1 or 0.0.0.0)", host, gai_strerror(gai));
        goto fail;
    }
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen < sizeof addr ? ai->ai_addrlen : sizeof addr);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6)
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)opts->port);
    else
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)opts->port);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(opts->max_connections ? opts->max_connections : 64),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(opts->idle_timeout_s ? opts->idle_timeout_s : 120),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, MHD_POOL_BYTES,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        rc = mm_error_set(err, MM_EIO, "cannot listen on %s port %d: the address is in use, "
                          "not local, or needs privileges (choose another port with --port)",
                          host, opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? (int)info->port : opts->port;
    snprintf(srv->url, sizeof srv->url, v6 ? "http://[%s]:%d" : "http://%s:%d", host, srv->port);
    *out = srv;
    return 0;
fail:
    if (rc == MM_ENOMEM)
        mm_error_set(err, MM_ENOMEM, "out of memory starting the server");
    server_free(srv);
    return rc;
}

void server_stop(server *srv, int grace_ms)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, 1);
    MHD_socket listen = MHD_quiesce_daemon(srv->daemon);
    if (listen != MHD_INVALID_SOCKET)
        close(listen);
    int64_t deadline = mm_now_ms() + (grace_ms > 0 ? grace_ms : 0);
    pthread_mutex_lock(&srv->mu);
    while (srv->active > 0 && mm_now_ms() < deadline)
        server_timed_wait(&srv->cv, &srv->mu, 50);
    if (srv->active > 0) {
        MM_LOG_WARN("stopping: %u request(s) still running after %d ms; cancelling them",
                    srv->active, grace_ms);
        for (server_gen *g = srv->gens; g; g = g->next_active)
            atomic_store(&g->cancel, true);
    }
    pthread_mutex_unlock(&srv->mu);
    /* Joins every connection thread; cancelled generations end promptly. */
    MHD_stop_daemon(srv->daemon);
    server_free(srv);
}
