/* httpc.h - a small libcurl client for the server tests: one request, the
 * status, the answer's headers and body. */
#ifndef MM_TEST_HTTPC_H
#define MM_TEST_HTTPC_H

#include <stddef.h>

typedef struct httpc_result {
    long   status;     /* 0 when the request failed at the transport level */
    char  *headers;    /* raw header block, lower-cased names; caller frees */
    char  *body;       /* NUL-terminated; caller frees */
    size_t body_len;
} httpc_result;

/* method "GET"/"POST"/...; body may be NULL; headers a NULL-terminated list
 * of "Name: value" (may be NULL). Returns the status (also in out). */
long httpc_request(const char *method, const char *url, const char *body,
                   const char *const *headers, httpc_result *out);
void httpc_result_free(httpc_result *r);
/* A keep-alive session: requests reuse one connection while the server
 * keeps it open. One thread at a time per session. */
typedef struct httpc_session httpc_session;
httpc_session *httpc_session_new(void);       /* NULL on OOM; httpc_session_free */
void httpc_session_free(httpc_session *s);    /* NULL is a no-op */
/* As httpc_request, over s's connection. */
long httpc_session_request(httpc_session *s, const char *method, const char *url,
                           const char *body, const char *const *headers, httpc_result *out);

/* Value of header name (case-insensitive) in r, copied into out; 0 or -1. */
int httpc_header(const httpc_result *r, const char *name, char *out, size_t size);

#endif /* MM_TEST_HTTPC_H */
