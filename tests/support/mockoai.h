/* mockoai.h - a mock OpenAI-compatible server for tests (libmicrohttpd, one
 * thread per connection, 127.0.0.1 on a free port). Each request takes the
 * next scripted reply (answer, stream, fail with a status, delay, drop the
 * connection); with none scripted it answers "ok". Every request is recorded
 * (path, Authorization header, body). */
#ifndef MM_TEST_MOCKOAI_H
#define MM_TEST_MOCKOAI_H

#include <stdbool.h>
#include <stddef.h>

typedef enum mockoai_mode {
    MOCKOAI_ANSWER = 0,   /* 200 with a chat.completion / text_completion body */
    MOCKOAI_STREAM,       /* 200 SSE: one chunk per '|'-separated piece of text */
    MOCKOAI_STATUS,       /* `status` with `text` as the body (an OpenAI error JSON) */
    MOCKOAI_DROP          /* close the connection without an answer */
} mockoai_mode;

typedef struct mockoai_reply {
    mockoai_mode mode;
    int          status;         /* MOCKOAI_STATUS */
    const char  *text;           /* answer text; STREAM: "He|llo| world"; STATUS: the body */
    int          delay_ms;       /* before the response starts */
    size_t       chunk_bytes;    /* STREAM: bytes per write (0: whole events) */
    int          chunk_delay_ms; /* STREAM: pause between writes */
    bool         no_done;        /* STREAM: leave out "data: [DONE]" and finish_reason */
    size_t       drop_after;     /* STREAM: > 0: drop the connection after this many bytes */
} mockoai_reply;

typedef struct mockoai_request {
    char *path;            /* "/v1/chat/completions" */
    char *authorization;   /* the header's value, or NULL */
    char *body;
    int   client_port;     /* the client's TCP port: equal ports = a reused connection */
} mockoai_request;

typedef struct mockoai mockoai;

/* Start the server; aborts the test program when it cannot. */
mockoai *mockoai_start(void);
void mockoai_stop(mockoai *m);   /* NULL is a no-op */
/* "http://127.0.0.1:PORT/v1". Borrowed. */
const char *mockoai_url(const mockoai *m);
/* Queue a reply (copied) for the next request. At most 32 queued. */
void mockoai_push(mockoai *m, const mockoai_reply *reply);
size_t mockoai_request_count(mockoai *m);
/* A copy of request i (free with mockoai_request_free), or fields NULL. */
mockoai_request mockoai_request_get(mockoai *m, size_t i);
void mockoai_request_free(mockoai_request *r);

#endif /* MM_TEST_MOCKOAI_H */
