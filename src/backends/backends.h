/* backends.h - internal interface of the backends: one vtable that the
 * built-in engine and remote OpenAI-compatible servers (backends/openai*.c,
 * the only users of libcurl besides hub/) implement, so the router can send a
 * request to either without knowing which. */
#ifndef MM_BACKENDS_INTERNAL_H
#define MM_BACKENDS_INTERNAL_H

#include "core/core.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One chat message. Borrowed strings. */
typedef struct backend_message {
    const char *role;      /* "system", "user", "assistant" */
    const char *content;
} backend_message;

/* A generation request. Borrowed for the duration of generate(). */
typedef struct backend_request {
    const char            *model;       /* the model id the backend knows */
    const backend_message *messages;    /* chat: n_messages > 0 */
    size_t                 n_messages;
    const char            *prompt;      /* completion: used when n_messages == 0 */
    int64_t                max_tokens;  /* 0: the backend's default */
    double                 temperature; /* < 0: the backend's default */
    double                 top_p;       /* sent when in (0, 1) */
    double                 presence_penalty;  /* sent when nonzero */
    double                 frequency_penalty; /* sent when nonzero */
    bool                   has_seed;    /* send seed */
    int64_t                seed;        /* as the client gave it (may be negative) */
    bool                   stream;      /* deliver pieces through on_token as they come */
    const char *const     *stop;        /* n_stop stop strings (sent when n_stop > 0) */
    size_t                 n_stop;
    bool                   stream_usage;/* ask for the token counts of a stream
                                           (stream_options.include_usage) */
} backend_request;

/* Receives each generated piece in order (not NUL-terminated). Return
 * nonzero to stop the generation (treated like a cancel). */
typedef int (*backend_token_fn)(const char *piece, size_t len, void *user);

#define BACKEND_TEXT_MAX (4 * 1024 * 1024)   /* an answer's text */

/* What a generation produced. text is owned (backend_result_free). */
typedef struct backend_result {
    char    *text;               /* the whole answer, streamed or not */
    size_t   text_len;
    int64_t  prompt_tokens;      /* as reported; 0 when unknown */
    int64_t  completion_tokens;
    char     finish_reason[32];  /* "stop", "length", ... or "" */
    int      http_status;        /* last HTTP status of a remote; 0 for local */
    double   ttft_ms;            /* time to the first piece (or the whole answer) */
    double   total_ms;
    size_t   pieces_delivered;   /* how many on_token calls were made */
} backend_result;

void backend_result_free(backend_result *res);

typedef struct backend backend;

typedef struct backend_ops {
    const char *kind;   /* "openai", "builtin", "test" */
    /* Generate an answer for req. cancel (may be NULL) is polled; when it
     * becomes true the call returns MM_ECANCELED. On success fills res.
     * Errors: MM_ENET (connection), MM_ETIMEDOUT, MM_EBUSY (429, overloaded),
     * MM_EIO (5xx, malformed answer), MM_EAUTH (401/403), MM_EINVAL (other
     * 4xx: the request itself is bad), MM_ECANCELED; err names the status
     * and the server's message. res->http_status is set when known.
     * Thread-safe: may be called from several threads at once. */
    int  (*generate)(backend *b, const backend_request *req, backend_token_fn on_token,
                     void *user, const atomic_bool *cancel, backend_result *res,
                     mm_error *err);
    /* Free the backend; NULL-safe is the caller's job (backend_close). */
    void (*close)(backend *b);
    /* Is another try on this same backend worth it after code? NULL:
     * backend_error_retryable. A backend whose failures do not pass on their
     * own within a back-off (a crashed local worker, an engine error) says
     * no, so the router moves down the chain at once. */
    bool (*retryable)(int code);
} backend_ops;

/* The common head of every backend object. */
struct backend {
    const backend_ops *ops;
    const char        *name;   /* deployment name, borrowed from the backend */
};

/* NULL is a no-op. */
void backend_close(backend *b);

/* May another try (the same deployment after a back-off, or the next one)
 * succeed where this error failed? False for a bad request and a cancel. */
bool backend_error_retryable(int code);
/* b's own rule (backend_ops.retryable) or backend_error_retryable. */
bool backend_retryable(const backend *b, int code);
/* May the next model in a fallback chain succeed where this one failed? */
bool backend_error_fallback(int code);

/* ---- the remote OpenAI-compatible backend (backends/openai*.c) ---- */

typedef struct backend_openai_config {
    const char *name;              /* the remote's name in config.yaml */
    const char *base_url;          /* "http://host:port/v1" */
    const char *api_key;           /* the key itself (from api_key_env), or NULL */
    int64_t     connect_timeout_ms;
    int64_t     first_byte_timeout_ms;
    int64_t     total_timeout_ms;
    const char *unix_socket;       /* connect to this Unix socket instead of base_url's
                                      host (a model's worker process); NULL: TCP */
} backend_openai_config;

/* Open a remote backend. Strings are copied; the key is registered with
 * mm_log_add_secret. Caller owns *out (backend_close). */
int backend_openai_open(const backend_openai_config *cfg, backend **out, mm_error *err);

/* Outcome of one health probe of a remote. */
typedef struct backend_probe_result {
    int    http_status;      /* of the last GET; 0 when none came back */
    double latency_ms;       /* of the whole probe, both GETs when it fell back */
    char   path[16];         /* "models" or "health": the GET that decided */
} backend_probe_result;

/* Probe remote b (a backend_openai_open backend): GET {base_url}/models, and
 * on a 404 GET /health (beside /v1: the base_url without its last "/v1").
 * Each GET is bounded by timeout_ms (and the connect timeout) and returns
 * early once cancel (may be NULL) becomes true. The API key goes as a Bearer
 * header; errors never quote it. 0 on a 2xx; else MM_ENET, MM_ETIMEDOUT,
 * MM_EAUTH, MM_EIO (other statuses) or MM_ECANCELED, err saying what failed
 * without the remote's name (the caller adds it). MM_EINVAL for a backend of
 * another kind. Thread-safe. */
int backend_openai_probe(backend *b, int64_t timeout_ms, const atomic_bool *cancel,
                         backend_probe_result *out, mm_error *err);

/* Incremental SSE parser (backends/openai-sse.c): feed it bytes as they
 * arrive, split anywhere; at each blank line it calls on_data with the
 * event's data (its "data:" lines joined by '\n', without the field name).
 * Comments (":") and other fields are skipped; "\r\n" is accepted. A line
 * or event longer than max_bytes is MM_ELIMIT. */
typedef int (*backend_sse_fn)(const char *data, size_t len, void *user);

#define BACKEND_SSE_LINE_MAX (256 * 1024)

typedef struct backend_sse {
    mm_buf         line;     /* the partial line so far */
    mm_buf         data;     /* the event's data so far */
    backend_sse_fn on_data;
    void          *user;
} backend_sse;

void backend_sse_init(backend_sse *p, size_t max_bytes, backend_sse_fn on_data, void *user);
/* 0, MM_ELIMIT, MM_ENOMEM, or the nonzero value on_data returned. */
int  backend_sse_feed(backend_sse *p, const char *bytes, size_t len);
/* The stream ended: dispatch an event that lacked its blank line. */
int  backend_sse_finish(backend_sse *p);
void backend_sse_free(backend_sse *p);

#endif /* MM_BACKENDS_INTERNAL_H */
