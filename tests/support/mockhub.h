/* mockhub.h - an in-process fake of the Hugging Face Hub for integration
 * tests: resolve URLs, a separate CDN port for LFS blobs, the refs / tree /
 * repo-info APIs, auth and gating, and injectable faults, with a request log
 * so a test can assert exactly what a client did. Never talks to the network
 * beyond 127.0.0.1. */
#ifndef MM_MOCKHUB_H
#define MM_MOCKHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mockhub mockhub;

typedef enum mockhub_access {
    MOCKHUB_PUBLIC = 0,
    MOCKHUB_PRIVATE,   /* 401 RepoNotFound anonymous, 404 without access */
    MOCKHUB_GATED,     /* files: 401 GatedRepo anonymous, 403 not approved */
    MOCKHUB_DISABLED   /* 403 "Access to this resource is disabled." */
} mockhub_access;

typedef struct mockhub_options {
    const char *token;            /* valid, sees every repo (NULL: none) */
    const char *unapproved_token; /* valid, but no access to private/gated repos */
    bool small_via_resolve_cache; /* small files: relative 307 to /api/resolve-cache/... */
    bool weak_etag;               /* small files send ETag: W/"<git-sha1>" */
    int  tree_page_size;          /* tree API entries per page; 0 = 1000 */
    size_t content_block;         /* bytes per body callback; 0 = 4096 (benchmarks
                                     raise it so the mock is not the bottleneck) */
} mockhub_options;

/* Start the hub and its CDN on ephemeral loopback ports. 0 or -1. The caller
 * owns *out (mockhub_stop). */
int  mockhub_start(const mockhub_options *opts, mockhub **out);
void mockhub_stop(mockhub *hub);
/* "http://127.0.0.1:PORT" without a trailing slash. Borrowed. */
const char *mockhub_url(const mockhub *hub);
const char *mockhub_cdn_url(const mockhub *hub);

/* ---- repositories (call before clients run; not concurrently with them) ---- */

/* A repo "org/name" with one commit on branch main. 0 or -1. */
int mockhub_repo_add(mockhub *hub, const char *repo, mockhub_access access);
/* Requests for old_name answer a relative 307 to the same path under repo. */
int mockhub_repo_rename(mockhub *hub, const char *old_name, const char *repo);
/* Add or replace path in the head commit of main: size bytes of
 * mockhub_content(seed), served as an LFS file (via the CDN) or a git file. */
int mockhub_file_add(mockhub *hub, const char *repo, const char *path,
                     size_t size, uint32_t seed, bool lfs);
/* Start a new commit on branch (a copy of its head) and move the branch to it.
 * Files added afterwards go to the new head when branch is "main". */
int mockhub_commit(mockhub *hub, const char *repo, const char *branch);
/* A branch or tag named name at the head of branch from. */
int mockhub_branch_add(mockhub *hub, const char *repo, const char *name, const char *from);
int mockhub_tag_add(mockhub *hub, const char *repo, const char *name, const char *from);
/* The commit a branch or tag points at (41 bytes with the NUL). 0 or -1. */
int mockhub_ref_commit(mockhub *hub, const char *repo, const char *ref, char out[41]);

/* Facts about a file as the hub serves it at ref (branch, tag or commit). */
typedef struct mockhub_file_info {
    size_t size;
    char   sha256[65];
    char   git_sha1[41];
    bool   lfs;
} mockhub_file_info;
int mockhub_file_info_get(mockhub *hub, const char *repo, const char *ref,
                          const char *path, mockhub_file_info *out);

/* The deterministic bytes of a file: the same seed and size give the same
 * content. Tests use it as the independent expectation. */
void mockhub_content(uint32_t seed, uint8_t *out, size_t size);

/* ---- faults ---- */

typedef enum mockhub_where {
    MOCKHUB_ANYWHERE = 0,
    MOCKHUB_AT_HUB,
    MOCKHUB_AT_CDN
} mockhub_where;

/* A fault applies to matching requests, in the order added; the first match
 * with uses left is consumed. Zero fields are "off". */
typedef struct mockhub_fault {
    mockhub_where where;
    const char *method;        /* "HEAD" or "GET"; NULL: any */
    const char *path_contains; /* raw request path must contain it; NULL: any */
    int  status;               /* answer this status instead (408, 429, 500...) */
    int  retry_after_s;        /* with status: Retry-After: N (0: no header) */
    const char *ratelimit;     /* with status: RateLimit header value */
    int64_t drop_after;        /* content: close the connection after N body bytes */
    bool ignore_range;         /* content: answer 200 and the whole body to a Range */
    bool corrupt;              /* content: flip one byte of the body */
    bool wrong_size;           /* resolve: X-Linked-Size / Content-Length claim +1 */
    int64_t delay_ms;          /* sleep before answering */
    int64_t pause_after;       /* content: after N body bytes, sleep pause_ms once */
    int64_t pause_ms;
    int  times;                /* matching requests it applies to; 0 = every one */
} mockhub_fault;

int  mockhub_fault_add(mockhub *hub, const mockhub_fault *fault);
void mockhub_faults_clear(mockhub *hub);

/* ---- request log ---- */

typedef struct mockhub_request {
    char    method[8];
    bool    cdn;            /* served by the CDN port */
    char    path[512];      /* raw path, query string excluded */
    int     status;
    int64_t range_start;    /* Range: bytes=N-, or -1 */
    int64_t range_end;      /* Range: bytes=N-M: M (inclusive), or -1 */
    int64_t bytes_sent;     /* body bytes handed to the socket */
    bool    had_auth;       /* an Authorization header arrived */
    bool    faulted;        /* a fault changed the answer */
    int     client_port;    /* the client's TCP port: requests on one kept-alive
                               connection share it */
} mockhub_request;

size_t mockhub_request_count(mockhub *hub);
/* Copy of request i (0-based, in arrival order). 0 or -1. */
int  mockhub_request_get(mockhub *hub, size_t i, mockhub_request *out);
/* Requests that reached the CDN with an Authorization header (must stay 0). */
int  mockhub_cdn_auth_seen(mockhub *hub);
/* Sum of bytes_sent over GETs whose path contains path_contains. */
int64_t mockhub_bytes_sent(mockhub *hub, const char *path_contains);
/* Number of requests with this method (NULL any) whose path contains s (NULL any). */
size_t mockhub_count(mockhub *hub, const char *method, const char *path_contains);
void mockhub_log_clear(mockhub *hub);

#endif /* MM_MOCKHUB_H */
