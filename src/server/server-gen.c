/* server-gen.c - runs one generation for a request: a whole answer on the
 * connection's own thread, sent when it ends; a streamed answer on a thread
 * of its own that feeds libmicrohttpd's content reader through a bounded
 * buffer.
 *
 * DESIGN: while a whole answer is generated, the server's hang-up watcher
 * (server-http.c) polls the client's socket, and a client that hangs up
 * cancels the generation; no thread is started, so a cached answer costs no
 * more than its lookup. A stream waits for its first output the same way,
 * polling the client itself. The stream's generation thread appends framed
 * events (SSE or NDJSON) under rt->mu and waits when more than
 * STREAM_BACKLOG bytes are unsent; the reader (the connection thread) blocks
 * until bytes or the end arrive. A failed write makes MHD drop the response,
 * whose free callback raises the cancel flag the service polls and joins the
 * thread. Headers are sent only after the first output, so a generation that
 * fails at once still gets a proper HTTP error status. */
#define _GNU_SOURCE   /* POLLRDHUP */
#include "server/server.h"

#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_BACKLOG   (256 * 1024)        /* unsent bytes before the generator waits */
#define STREAM_OUT_MAX   (4 * 1024 * 1024)   /* hard cap of the event buffer */
#define WHOLE_TEXT_MAX   (16 * 1024 * 1024)  /* a non-streamed answer's text */

struct server_gen_rt {
    pthread_t       thread;
    bool            thread_started;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    mm_buf          out;       /* framed bytes not yet read by MHD start at out_pos */
    size_t          out_pos;
    bool            begun;     /* begin() written: headers may go out */
    bool            done;      /* the service returned */
    bool            admitted;
};

void server_timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

int64_t server_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

server_gen *server_gen_new(server_call *call, server_request *rq, const server_model *model,
                           const char *id_prefix, const server_framing *framing)
{
    server_gen *g = calloc(1, sizeof *g);
    struct server_gen_rt *rt = calloc(1, sizeof *rt);
    if (!g || !rt) {
        free(g);
        free(rt);
        server_request_clear(rq);
        return NULL;
    }
    g->srv = call->srv;
    g->rq = *rq;
    memset(rq, 0, sizeof *rq);
    g->model = *model;
    server_random_id(id_prefix, g->id, sizeof g->id);
    g->created = mm_wall_ms() / 1000;
    g->started_ns = server_now_ns();
    g->framing = framing;
    g->watch_fd = -1;
    atomic_init(&g->cancel, 0);
    mm_buf_init(&g->text, WHOLE_TEXT_MAX);
    g->rt = rt;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    mm_buf_init(&rt->out, STREAM_OUT_MAX);
    return g;
}

static void gen_free(server_gen *g)
{
    if (!g)
        return;
    if (g->rt->admitted)
        server_gen_release(g->srv, g);
    if (g->rc == 0)
        server_metrics_tokens(server_get_metrics(g->srv), g->model.id, g->res.prompt_tokens,
                              g->res.completion_tokens);
    pthread_mutex_destroy(&g->rt->mu);
    pthread_cond_destroy(&g->rt->cv);
    mm_buf_free(&g->rt->out);
    free(g->rt);
    mm_buf_free(&g->text);
    server_request_clear(&g->rq);
    free(g);
}

static int on_whole_piece(void *user, const char *piece, size_t len)
{
    server_gen *g = user;
    return mm_buf_append(&g->text, piece, len) < 0 ? 1 : 0;
}

static int on_stream_piece(void *user, const char *piece, size_t len)
{
    server_gen *g = user;
    struct server_gen_rt *rt = g->rt;
    pthread_mutex_lock(&rt->mu);
    while (rt->out.len - rt->out_pos > STREAM_BACKLOG && !atomic_load(&g->cancel))
        server_timed_wait(&rt->cv, &rt->mu, 100);
    if (!rt->begun) {
        if (g->res.model[0])    /* a routing service names who answers */
            mm_strlcpy(g->model.id, g->res.model, sizeof g->model.id);
        g->framing->begin(g, &rt->out);
        rt->begun = true;
    }
    g->framing->piece(g, piece, len, &rt->out);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    return atomic_load(&g->cancel) || rt->out.failed ? 1 : 0;
}

/* The service's generation for g, pieces going to on_piece. */
static int gen_call(server_gen *g, server_piece_fn on_piece)
{
    const server_service *svc = server_get_service(g->srv);
    int rc = svc->generate(svc->ctx, g->model.id, &g->rq, on_piece, g, &g->cancel, &g->res,
                           &g->err);
    if (rc == 0 && g->text.failed)
        rc = mm_error_set(&g->err, MM_ELIMIT, "the answer exceeded %d bytes", WHOLE_TEXT_MAX);
    return rc;
}

/* A stream's generation. */
static void *gen_thread(void *arg)
{
    server_gen *g = arg;
    struct server_gen_rt *rt = g->rt;
    int rc = gen_call(g, on_stream_piece);
    pthread_mutex_lock(&rt->mu);
    g->rc = rc;
    if (rc == 0) {
        if (!rt->begun) {
            if (g->res.model[0])
                mm_strlcpy(g->model.id, g->res.model, sizeof g->model.id);
            g->framing->begin(g, &rt->out);
            rt->begun = true;
        }
        g->framing->end(g, &rt->out);
    } else if (rt->begun && rc != MM_ECANCELED) {
        g->framing->error(g, g->err.message[0] ? g->err.message : mm_strerror(rc), &rt->out);
    }
    rt->done = true;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* Whether the client has closed its side: it hung up while waiting. */
static bool client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    server_gen *g = cls;
    struct server_gen_rt *rt = g->rt;
    pthread_mutex_lock(&rt->mu);
    while (rt->out.len == rt->out_pos && !rt->done)
        server_timed_wait(&rt->cv, &rt->mu, 100);
    if (rt->out.len == rt->out_pos) {
        pthread_mutex_unlock(&rt->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = rt->out.len - rt->out_pos;
    if (n > max)
        n = max;
    memcpy(buf, rt->out.data + rt->out_pos, n);
    rt->out_pos += n;
    if (rt->out_pos == rt->out.len) {
        rt->out.len = 0;
        rt->out_pos = 0;
        rt->out.data[0] = '\0';
    }
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    return (ssize_t)n;
}

/* MHD is done with the response: finished, or the client went away. */
static void stream_free(void *cls)
{
    server_gen *g = cls;
    struct server_gen_rt *rt = g->rt;
    pthread_mutex_lock(&rt->mu);
    if (!rt->done) {
        atomic_store(&g->cancel, true);
        MM_LOG_INFO("client closed the stream %s: generation cancelled", g->id);
    }
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    if (rt->thread_started)
        pthread_join(rt->thread, NULL);
    gen_free(g);
}

static int fail_with(server_call *call, server_gen *g, int rc)
{
    server_fault f;
    if (rc == MM_ECANCELED)
        server_fault_set(&f, 503, "service_unavailable_error", NULL, NULL,
                         "the request was cancelled: the server is stopping");
    else
        server_fault_from_error(&f, rc, g->err.message[0] ? g->err.message : mm_strerror(rc));
    mm_strlcpy(call->tried, g->res.tried, sizeof call->tried);
    gen_free(g);
    return server_reply_fault(call, &f);
}

/* A whole answer, generated on the connection's thread. */
static int run_whole(server_call *call, server_gen *g)
{
    g->rc = gen_call(g, on_whole_piece);
    if (g->rc != 0)
        return fail_with(call, g, g->rc);
    if (g->res.model[0])
        mm_strlcpy(g->model.id, g->res.model, sizeof g->model.id);
    mm_strlcpy(call->tried, g->res.tried, sizeof call->tried);
    mm_buf body;
    /* JSON escapes a byte into at most 6 */
    mm_buf_init(&body, 6 * g->text.len + sizeof g->res + 4096);
    g->framing->whole(g, &body);
    gen_free(g);
    return server_reply_buf(call, 200, "application/json", &body);
}

int server_gen_run(server_call *call, server_gen *g)
{
    server_fault f;
    if (!g->rq.stream) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(call->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        g->watch_fd = ci ? ci->connect_fd : -1;
    }
    if (!server_gen_admit(call->srv, g)) {
        gen_free(g);
        server_fault_set(&f, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                         "too many generation requests at once: retry after a second");
        return server_reply_fault(call, &f);
    }
    g->rt->admitted = true;
    if (!g->rq.stream)
        return run_whole(call, g);
    struct server_gen_rt *rt = g->rt;
    if (pthread_create(&rt->thread, NULL, gen_thread, g) != 0) {
        mm_error_set(&g->err, MM_EINTERNAL, "cannot start a generation thread");
        return fail_with(call, g, MM_EINTERNAL);
    }
    rt->thread_started = true;
    /* Wait for a stream's first output, watching the client: one that hangs
     * up meanwhile cancels its generation. */
    pthread_mutex_lock(&rt->mu);
    while (!rt->done && !rt->begun) {
        server_timed_wait(&rt->cv, &rt->mu, 50);
        if (!atomic_load(&g->cancel) && client_gone(call->conn)) {
            atomic_store(&g->cancel, true);
            MM_LOG_INFO("client closed the connection of %s: generation cancelled", g->id);
        }
    }
    bool have_output = rt->begun;
    pthread_mutex_unlock(&rt->mu);
    if (!have_output) {
        pthread_join(rt->thread, NULL);
        rt->thread_started = false;
        return fail_with(call, g, g->rc ? g->rc : MM_EINTERNAL);
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, g, stream_free);
    if (!resp) {
        stream_free(g);     /* cancels and joins */
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, g->framing->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    mm_strlcpy(call->tried, g->res.tried, sizeof call->tried);   /* set before the first piece */
    server_add_headers(call, resp);
    call->status = 200;
    enum MHD_Result r = MHD_queue_response(call->conn, 200, resp);
    MHD_destroy_response(resp);
    return r;
}
