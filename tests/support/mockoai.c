/* mockoai.c - the mock OpenAI-compatible server of mockoai.h. Replies are
 * rendered to bytes up front; a streamed one is handed out by a content
 * reader in chunks (so SSE lines split across reads) with pauses, and a drop
 * ends the reader with an error, which makes libmicrohttpd close the socket. */
#include "support/mockoai.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOCK_QUEUE_MAX    32
#define MOCK_REQUESTS_MAX 256
#define MOCK_BODY_MAX     (1024 * 1024)

struct mockoai {
    struct MHD_Daemon *daemon;
    char               url[64];
    pthread_mutex_t    lock;
    mockoai_reply      queue[MOCK_QUEUE_MAX];
    char              *queue_text[MOCK_QUEUE_MAX];
    size_t             q_head, q_len;
    mockoai_request    requests[MOCK_REQUESTS_MAX];
    size_t             n_requests;
};

typedef struct conn_state {
    char  *body;
    size_t len;
    bool   too_big;
} conn_state;

typedef struct stream_state {
    char  *bytes;
    size_t len;
    size_t chunk;
    int    chunk_delay_ms;
    size_t drop_after;
} stream_state;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Append s to a growing string; aborts on OOM (test code). */
static void append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        abort();
    memcpy(grown + *len, s, n + 1);
    *buf = grown;
    *len += n;
}

/* JSON string escape for the few characters test texts use. */
static void append_json_string(char **buf, size_t *len, const char *s)
{
    append(buf, len, "\"");
    for (; *s; s++) {
        char one[8];
        if (*s == '"' || *s == '\\')
            snprintf(one, sizeof one, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            snprintf(one, sizeof one, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            snprintf(one, sizeof one, "%c", *s);
        append(buf, len, one);
    }
    append(buf, len, "\"");
}

static char *render_answer(const char *text, bool chat)
{
    char *out = NULL;
    size_t len = 0;
    append(&out, &len, chat ? "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                              "\"message\":{\"role\":\"assistant\",\"content\":"
                            : "{\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":");
    append_json_string(&out, &len, text);
    append(&out, &len, chat ? "},\"finish_reason\":\"stop\"}]," : ",\"finish_reason\":\"stop\"}],");
    append(&out, &len, "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}");
    return out;
}

static char *render_stream(const char *text, bool chat, bool no_done)
{
    char *out = NULL;
    size_t len = 0;
    append(&out, &len, ": mock keep-alive\n\n");
    const char *p = text;
    while (*p || p == text) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        char piece[512];
        snprintf(piece, sizeof piece, "%.*s", (int)(n < 500 ? n : 500), p);
        append(&out, &len, chat ? "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                                : "data: {\"choices\":[{\"index\":0,\"text\":");
        append_json_string(&out, &len, piece);
        append(&out, &len, chat ? "},\"finish_reason\":null}]}\r\n\r\n"
                                : ",\"finish_reason\":null}]}\r\n\r\n");
        if (!bar)
            break;
        p = bar + 1;
    }
    if (!no_done) {
        append(&out, &len, chat ? "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                                  "\"finish_reason\":\"stop\"}]}\n\n"
                                : "data: {\"choices\":[{\"index\":0,\"text\":\"\","
                                  "\"finish_reason\":\"stop\"}]}\n\n");
        append(&out, &len, "data: [DONE]\n\n");
    }
    return out;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_state *s = cls;
    if (s->drop_after && pos >= s->drop_after)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (pos >= s->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (pos > 0 && s->chunk_delay_ms)
        sleep_ms(s->chunk_delay_ms);
    size_t n = s->len - (size_t)pos;
    if (s->chunk && n > s->chunk)
        n = s->chunk;
    if (s->drop_after && pos + n > s->drop_after)
        n = s->drop_after - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, s->bytes + pos, n);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_state *s = cls;
    free(s->bytes);
    free(s);
}

static ssize_t drop_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void record(mockoai *m, struct MHD_Connection *c, const char *url, const conn_state *st)
{
    pthread_mutex_lock(&m->lock);
    if (m->n_requests < MOCK_REQUESTS_MAX) {
        mockoai_request *r = &m->requests[m->n_requests++];
        r->path = dup_or_null(url);
        r->authorization = dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                   "Authorization"));
        r->body = dup_or_null(st->body ? st->body : "");
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info && info->client_addr && info->client_addr->sa_family == AF_INET)
            r->client_port = ntohs(((const struct sockaddr_in *)(const void *)info->client_addr)->sin_port);
    }
    pthread_mutex_unlock(&m->lock);
}

static bool next_reply(mockoai *m, mockoai_reply *out, char **text)
{
    bool have = false;
    pthread_mutex_lock(&m->lock);
    if (m->q_len > 0) {
        *out = m->queue[m->q_head];
        *text = m->queue_text[m->q_head];
        m->q_head = (m->q_head + 1) % MOCK_QUEUE_MAX;
        m->q_len--;
        have = true;
    }
    pthread_mutex_unlock(&m->lock);
    return have;
}

static enum MHD_Result queue_bytes(struct MHD_Connection *c, int status, const char *type,
                                   const char *bytes)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(bytes), (void *)bytes,
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond(mockoai *m, struct MHD_Connection *c, const char *url)
{
    mockoai_reply reply = { .mode = MOCKOAI_ANSWER };
    char *text = NULL;
    if (!next_reply(m, &reply, &text))
        text = strdup("ok");
    bool chat = strstr(url, "chat/completions") != NULL;
    if (reply.delay_ms)
        sleep_ms(reply.delay_ms);
    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *r;
    switch (reply.mode) {
    case MOCKOAI_ANSWER: {
        char *body = render_answer(text ? text : "", chat);
        ret = queue_bytes(c, 200, "application/json", body);
        free(body);
        break;
    }
    case MOCKOAI_STATUS:
        ret = queue_bytes(c, reply.status, "application/json", text ? text : "");
        break;
    case MOCKOAI_STREAM: {
        stream_state *s = calloc(1, sizeof *s);
        if (!s)
            abort();
        s->bytes = render_stream(text ? text : "", chat, reply.no_done);
        s->len = strlen(s->bytes);
        s->chunk = reply.chunk_bytes;
        s->chunk_delay_ms = reply.chunk_delay_ms;
        s->drop_after = reply.drop_after;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, s,
                                              stream_free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        break;
    }
    case MOCKOAI_DROP:
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, drop_reader, NULL, NULL);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        break;
    }
    free(text);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    mockoai *m = cls;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->len + *upload_size > MOCK_BODY_MAX) {
            st->too_big = true;
        } else {
            char *grown = realloc(st->body, st->len + *upload_size + 1);
            if (!grown)
                return MHD_NO;
            memcpy(grown + st->len, upload_data, *upload_size);
            st->len += *upload_size;
            grown[st->len] = '\0';
            st->body = grown;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    record(m, c, url, st);
    if (st->too_big)
        return queue_bytes(c, 413, "application/json", "{\"error\":{\"message\":\"too big\"}}");
    return respond(m, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

mockoai *mockoai_start(void)
{
    mockoai *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    pthread_mutex_init(&m->lock, NULL);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    m->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                 MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                 MHD_OPTION_END);
    if (!m->daemon) {
        fprintf(stderr, "mockoai: cannot start the mock server\n");
        abort();
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u/v1", info ? info->port : 0);
    return m;
}

void mockoai_stop(mockoai *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->daemon);
    for (size_t i = 0; i < m->n_requests; i++)
        mockoai_request_free(&m->requests[i]);
    while (m->q_len > 0) {
        free(m->queue_text[m->q_head]);
        m->q_head = (m->q_head + 1) % MOCK_QUEUE_MAX;
        m->q_len--;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *mockoai_url(const mockoai *m)
{
    return m->url;
}

void mockoai_push(mockoai *m, const mockoai_reply *reply)
{
    pthread_mutex_lock(&m->lock);
    if (m->q_len < MOCK_QUEUE_MAX) {
        size_t slot = (m->q_head + m->q_len) % MOCK_QUEUE_MAX;
        m->queue[slot] = *reply;
        m->queue_text[slot] = dup_or_null(reply->text);
        m->q_len++;
    }
    pthread_mutex_unlock(&m->lock);
}

size_t mockoai_request_count(mockoai *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_requests;
    pthread_mutex_unlock(&m->lock);
    return n;
}

mockoai_request mockoai_request_get(mockoai *m, size_t i)
{
    mockoai_request copy = { NULL, NULL, NULL, 0 };
    pthread_mutex_lock(&m->lock);
    if (i < m->n_requests) {
        copy.path = dup_or_null(m->requests[i].path);
        copy.authorization = dup_or_null(m->requests[i].authorization);
        copy.body = dup_or_null(m->requests[i].body);
        copy.client_port = m->requests[i].client_port;
    }
    pthread_mutex_unlock(&m->lock);
    return copy;
}

void mockoai_request_free(mockoai_request *r)
{
    free(r->path);
    free(r->authorization);
    free(r->body);
    r->path = r->authorization = r->body = NULL;
}
