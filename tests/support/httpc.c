/* httpc.c - the libcurl test client of httpc.h. */
#include "support/httpc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct grow {
    char  *data;
    size_t len;
} grow;

static size_t on_data(char *ptr, size_t size, size_t n, void *user)
{
    grow *g = user;
    size_t add = size * n;
    char *p = realloc(g->data, g->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + g->len, ptr, add);
    g->data = p;
    g->len += add;
    g->data[g->len] = '\0';
    return add;
}

struct httpc_session {
    CURL *curl;
};

httpc_session *httpc_session_new(void)
{
    httpc_session *s = calloc(1, sizeof *s);
    if (s && !(s->curl = curl_easy_init())) {
        free(s);
        return NULL;
    }
    return s;
}

void httpc_session_free(httpc_session *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    free(s);
}

static long perform(CURL *c, const char *method, const char *url, const char *body,
                    const char *const *headers, httpc_result *out);

long httpc_request(const char *method, const char *url, const char *body,
                   const char *const *headers, httpc_result *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    long status = perform(c, method, url, body, headers, out);
    curl_easy_cleanup(c);
    return status;
}

long httpc_session_request(httpc_session *s, const char *method, const char *url,
                           const char *body, const char *const *headers, httpc_result *out)
{
    memset(out, 0, sizeof *out);
    /* Options stick to a handle between requests; its connection stays. */
    curl_easy_reset(s->curl);
    return perform(s->curl, method, url, body, headers, out);
}

static long perform(CURL *c, const char *method, const char *url, const char *body,
                    const char *const *headers, httpc_result *out)
{
    grow b = { 0 }, h = { 0 };
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    for (size_t i = 0; h.data && i < h.len; i++) {
        /* lower-case header names (up to each ':') for easy matching */
        if (i == 0 || h.data[i - 1] == '\n')
            for (size_t j = i; j < h.len && h.data[j] != ':' && h.data[j] != '\n'; j++)
                h.data[j] = (char)tolower((unsigned char)h.data[j]);
    }
    out->headers = h.data ? h.data : calloc(1, 1);
    out->body = b.data ? b.data : calloc(1, 1);
    out->body_len = b.len;
    return out->status;
}

void httpc_result_free(httpc_result *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int httpc_header(const httpc_result *r, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p; ) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            size_t len = strcspn(p, "\r\n");
            if (len >= size)
                len = size - 1;
            memcpy(out, p, len);
            out[len] = '\0';
            return 0;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return -1;
}
