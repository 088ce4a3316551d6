/* server-fixture.h - shared by the server tests: a server on an ephemeral
 * loopback port over the fake service, URLs, and splitting SSE / NDJSON. */
#ifndef MM_TEST_SERVER_FIXTURE_H
#define MM_TEST_SERVER_FIXTURE_H

#include "server/server.h"
#include "support/fakesvc.h"
#include "support/httpc.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline server *fx_start(fakesvc *fake, const server_options *given)
{
    server_options opts = { .host = "127.0.0.1", .port = 0 };
    if (given)
        opts = *given;
    server *srv = NULL;
    mm_error err = { 0 };
    if (server_start(&opts, &fake->svc, &srv, &err) != 0) {
        fprintf(stderr, "server_start: %s\n", err.message);
        abort();
    }
    return srv;
}

/* URL of path on srv in a static buffer (one at a time). */
static inline const char *fx_url(server *srv, const char *path)
{
    static char url[512];
    snprintf(url, sizeof url, "%s%s", server_url(srv), path);
    return url;
}

__attribute__((unused)) static const char *const fx_json_headers[] = { "Content-Type: application/json", NULL };

static inline long fx_post(server *srv, const char *path, const char *body, httpc_result *r)
{
    return httpc_request("POST", fx_url(srv, path), body, fx_json_headers, r);
}

static inline long fx_get(server *srv, const char *path, httpc_result *r)
{
    return httpc_request("GET", fx_url(srv, path), NULL, NULL, r);
}

/* Split an SSE body into the payloads of its "data: " events (caller frees
 * each and the array). Returns the count; -1 when the framing is wrong
 * (an event not starting with "data: " or not ended by a blank line). */
static inline int fx_sse_events(const char *body, char ***out)
{
    *out = NULL;
    int n = 0;
    const char *p = body;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end || strncmp(p, "data: ", 6) != 0)
            return -1;
        *out = realloc(*out, sizeof **out * (size_t)(n + 1));
        (*out)[n++] = strndup(p + 6, (size_t)(end - p - 6));
        p = end + 2;
    }
    return n;
}

/* Split NDJSON into lines (caller frees); -1 on an empty line or a missing
 * final newline. */
static inline int fx_ndjson_lines(const char *body, char ***out)
{
    *out = NULL;
    int n = 0;
    const char *p = body;
    while (*p) {
        const char *end = strchr(p, '\n');
        if (!end || end == p)
            return -1;
        *out = realloc(*out, sizeof **out * (size_t)(n + 1));
        (*out)[n++] = strndup(p, (size_t)(end - p));
        p = end + 1;
    }
    return n;
}

static inline void fx_free_list(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static inline const char *fx_str(const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static inline double fx_num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345.0;
}

/* Check r is an OpenAI-shaped error with this status, type and code (NULL:
 * JSON null) whose message contains needle. */
static inline void fx_check_openai_error(const httpc_result *r, long status, const char *type,
                                  const char *code, const char *needle)
{
    char ct[128] = "";
    CHECK_INT(r->status, status);
    httpc_header(r, "content-type", ct, sizeof ct);
    CHECK_STR(ct, "application/json");
    cJSON *root = cJSON_Parse(r->body);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    CHECK(cJSON_IsObject(e));
    CHECK_CONTAINS(fx_str(e, "message"), needle);
    CHECK_STR(fx_str(e, "type"), type);
    CHECK(cJSON_GetObjectItemCaseSensitive(e, "param") != NULL);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    if (code)
        CHECK_STR(cJSON_GetStringValue(c), code);
    else
        CHECK(cJSON_IsNull(c));
    cJSON_Delete(root);
}

/* Ollama's shape: {"error":"<message>"}. */
static inline void fx_check_ollama_error(const httpc_result *r, long status, const char *needle)
{
    CHECK_INT(r->status, status);
    cJSON *root = cJSON_Parse(r->body);
    CHECK_CONTAINS(fx_str(root, "error"), needle);
    cJSON_Delete(root);
}

#endif /* MM_TEST_SERVER_FIXTURE_H */
