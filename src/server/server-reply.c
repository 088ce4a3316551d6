/* server-reply.c - how the server answers: JSON, text and error bodies with
 * the headers every answer carries, the mapping of library errors to HTTP
 * faults, request and completion ids, and a small JSON writer for the
 * answers built on the hot path without a cJSON tree. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Ids need to be unique, not secret: each thread seeds a splitmix64
 * sequence from getrandom once (a bijection of its counter, so a thread
 * never repeats itself; threads differ by their 64-bit seeds), instead of a
 * getrandom call and 24 snprintf calls per id. */
static _Thread_local uint64_t id_state;
static _Thread_local bool     id_seeded;

static uint64_t id_next(void)
{
    if (!id_seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
            seed = (uint64_t)server_now_ns() ^ ((uint64_t)(uintptr_t)&id_state << 16);
        id_state = seed;
        id_seeded = true;
    }
    uint64_t z = (id_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void server_random_id(const char *prefix, char *out, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    if (size == 0)
        return;
    uint64_t words[2] = { id_next(), id_next() };
    char hex[25];
    for (size_t i = 0; i < 24; i++) {
        uint64_t w = words[i / 16];
        hex[i] = digits[(w >> (4 * (15 - i % 16))) & 0xf];
    }
    hex[24] = '\0';
    size_t n = strlen(prefix);
    if (n > size - 1)
        n = size - 1;
    memcpy(out, prefix, n);
    mm_strlcpy(out + n, hex, size - n);
}

/* ---- a JSON writer for the answers on the hot path ---- */

void server_json_string(mm_buf *out, const char *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    len = strnlen(s, len);   /* cJSON's strings end at a NUL */
    mm_buf_append(out, "\"", 1);
    size_t run = 0;   /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        mm_buf_append(out, s + run, i - run);
        char esc[6] = { '\\', 'u', '0', '0', digits[c >> 4], digits[c & 0xf] };
        size_t n = 2;
        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:   n = 6; break;
        }
        mm_buf_append(out, esc, n);
        run = i + 1;
    }
    mm_buf_append(out, s + run, len - run);
    mm_buf_append(out, "\"", 1);
}

void server_json_int(mm_buf *out, int64_t v)
{
    char text[32];
    if (v > -1000000000000000LL && v < 1000000000000000LL) {
        /* Every such integer has at most 15 digits: cJSON's "%1.15g" prints
         * it exactly as "%lld" does. */
        char *p = text + sizeof text;
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        *--p = '\0';
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        mm_buf_puts(out, p);
        return;
    }
    /* Beyond: cJSON's rule, 15 significant digits when they read back the
     * same double, else 17. */
    double d = (double)v;
    snprintf(text, sizeof text, "%1.15g", d);
    double back = strtod(text, NULL);
    double mag = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
    if (!(fabs(back - d) <= mag * DBL_EPSILON))
        snprintf(text, sizeof text, "%1.17g", d);
    mm_buf_puts(out, text);
}

int server_reply_static(server_call *call, int status, const char *content_type,
                        const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return server_queue_response(call, status, resp);
}

int server_reply_buf(server_call *call, int status, const char *content_type, mm_buf *body)
{
    if (body->failed) {
        mm_buf_free(body);
        return server_reply_json(call, status, NULL);   /* the static out-of-memory answer */
    }
    size_t len = body->len;
    char *text = mm_buf_take(body);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return server_queue_response(call, status, resp);
}

static bool origin_is_local(const char *origin)
{
    static const char *const locals[] = {
        "http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1",
        "http://[::1]", "https://[::1]",
    };
    for (size_t i = 0; origin && i < MM_ARRAY_LEN(locals); i++) {
        size_t n = strlen(locals[i]);
        if (strncmp(origin, locals[i], n) == 0 && (origin[n] == '\0' || origin[n] == ':'))
            return true;
    }
    return false;
}

/* ---- answers ---- */

void server_add_headers(server_call *call, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "x-request-id", call->request_id);
    const char *origin = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "Origin");
    if (origin_is_local(origin)) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "x-request-id, retry-after, retry-after-ms, "
                                "x-modelmgr-tried");
    }
    if (server_is_stopping(call->srv))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (call->tried[0])
        MHD_add_response_header(resp, SERVER_TRIED_HEADER, call->tried);
}

int server_queue_response(server_call *call, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    server_add_headers(call, resp);
    if (status == 429 || status == 503) {
        MHD_add_response_header(resp, "Retry-After", "1");
        MHD_add_response_header(resp, "retry-after-ms", "1000");
    }
    if (status == 501)    /* the SDKs retry 5xx unless told this cannot change */
        MHD_add_response_header(resp, "x-should-retry", "false");
    call->status = status;
    enum MHD_Result r = MHD_queue_response(call->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

int server_reply_text(server_call *call, int status, const char *content_type, const char *text)
{
    size_t len = strlen(text);
    char *copy = mm_strndup(text, len);
    if (!copy)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return server_queue_response(call, status, resp);
}

int server_reply_json(server_call *call, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        /* A static body: nothing left to allocate. */
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\","
                                  "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return server_queue_response(call, 500, resp);
    }
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return server_queue_response(call, status, resp);
}

int server_reply_fault(server_call *call, const server_fault *f)
{
    cJSON *root = cJSON_CreateObject();
    if (call->ollama) {
        cJSON_AddStringToObject(root, "error", f->message);
    } else {
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "message", f->message);
        cJSON_AddStringToObject(e, "type", f->type ? f->type : "server_error");
        if (f->param[0])
            cJSON_AddStringToObject(e, "param", f->param);
        else
            cJSON_AddNullToObject(e, "param");
        if (f->code)
            cJSON_AddStringToObject(e, "code", f->code);
        else
            cJSON_AddNullToObject(e, "code");
    }
    return server_reply_json(call, f->status, root);
}

void server_fault_from_error(server_fault *f, int code, const char *message)
{
    switch (code) {
    case MM_ENOTFOUND:
        server_fault_set(f, 404, "invalid_request_error", "model_not_found", "model", "%s", message);
        break;
    case MM_EBUSY:
        server_fault_set(f, 503, "service_unavailable_error", "server_is_overloaded", NULL,
                         "%s", message);
        break;
    case MM_ENET:
        server_fault_set(f, 502, "server_error", "upstream_error", NULL, "%s", message);
        break;
    case MM_ETIMEDOUT:
        server_fault_set(f, 504, "server_error", "upstream_timeout", NULL, "%s", message);
        break;
    case MM_EUNSUPPORTED:
        server_fault_set(f, 501, "not_supported_error", "not_implemented", NULL, "%s", message);
        break;
    case MM_EINVAL:
        server_fault_set(f, 400, "invalid_request_error", NULL, NULL, "%s", message);
        break;
    case MM_ELIMIT:
        server_fault_set(f, 400, "invalid_request_error", "context_length_exceeded", "messages",
                         "%s", message);
        break;
    default:
        server_fault_set(f, 500, "server_error", NULL, NULL, "%s", message);
        break;
    }
}

