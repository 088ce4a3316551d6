/* hub-http.c - one HTTP exchange with the Hub over libcurl (headers captured,
 * the token sent only to the endpoint's own origin, stall detection), the
 * retry policy (back-off with jitter, Retry-After / RateLimit) and the
 * mapping of the Hub's error answers to actionable messages. */
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct xfer {
    const hub_http_request *rq;
    hub_http_response *rs;
    CURL   *curl;
    int     sink_rc;
    bool    stalled;
    bool    quiet_told;        /* rq->quiet called since the last byte */
    int64_t last_change_ms;    /* when the last header or body byte arrived */
} xfer;

struct hub_http_conn {
    CURLM *multi;   /* owns the pool of open connections */
    CURL  *easy;    /* reset before each request */
};

int hub_http_conn_new(hub_http_conn **out)
{
    *out = NULL;
    hub_http_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return MM_ENOMEM;
    conn->multi = curl_multi_init();
    conn->easy = curl_easy_init();
    if (!conn->multi || !conn->easy) {
        hub_http_conn_free(conn);
        return MM_ENOMEM;
    }
    *out = conn;
    return 0;
}

void hub_http_conn_free(hub_http_conn *conn)
{
    if (!conn)
        return;
    if (conn->easy)
        curl_easy_cleanup(conn->easy);
    if (conn->multi)
        curl_multi_cleanup(conn->multi);   /* closes the pooled connections */
    free(conn);
}

void hub_http_response_init(hub_http_response *rs)
{
    memset(rs, 0, sizeof *rs);
    mm_buf_init(&rs->body, 16u << 20);   /* per-request caps come from body_max */
}

void hub_http_response_free(hub_http_response *rs)
{
    mm_buf_free(&rs->body);
}

static void set_field(char *dst, size_t size, const char *value, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, value, len);
    dst[len] = '\0';
}

void hub_http_header_line(hub_http_response *rs, const char *buf, size_t len)
{
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the previous one. */
        mm_buf body = rs->body;
        memset(rs, 0, sizeof *rs);
        rs->body = body;
        return;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    static const struct { const char *name; size_t off, size; } fields[] = {
#define F(n, f) { n, offsetof(hub_http_response, f), sizeof(((hub_http_response *)0)->f) }
        F("Location", location), F("X-Repo-Commit", repo_commit), F("ETag", etag),
        F("X-Linked-Etag", linked_etag), F("X-Linked-Size", linked_size),
        F("Content-Length", content_length), F("Content-Range", content_range),
        F("X-Error-Code", error_code), F("X-Error-Message", error_message),
        F("Retry-After", retry_after), F("RateLimit", ratelimit), F("Link", link),
#undef F
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(fields); i++)
        if (strlen(fields[i].name) == name_len && strncasecmp(buf, fields[i].name, name_len) == 0)
            set_field((char *)rs + fields[i].off, fields[i].size, v, (size_t)(end - v));
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *user)
{
    xfer *x = user;
    size_t len = size * nitems;
    x->last_change_ms = mm_now_ms();
    hub_http_header_line(x->rs, buf, len);
    return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    xfer *x = user;
    size_t len = size * nmemb;
    long status = 0;
    x->last_change_ms = mm_now_ms();
    x->quiet_told = false;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    x->rs->status = status;
    if (x->rq->sink && status >= 200 && status < 300) {
        x->sink_rc = x->rq->sink(data, len, x->rs, x->rq->sink_user);
        return x->sink_rc ? 0 : len;
    }
    /* Error and API bodies are small; past the cap they are cut, not fatal,
     * unless the caller asked for the body itself (no sink). */
    size_t room = x->rq->body_max > x->rs->body.len ? x->rq->body_max - x->rs->body.len : 0;
    if (len > room && !x->rq->sink) {
        x->sink_rc = MM_ELIMIT;
        return 0;
    }
    mm_buf_append(&x->rs->body, data, len < room ? len : room);
    return len;
}

/* Drive the transfer through a multi handle (kept, whose pool holds the
 * connection open for the next request, else a new one) so a stall (no
 * byte for stall_ms) is noticed within 100 ms, which libcurl's
 * once-a-second progress callback cannot promise. */
static CURLcode run_transfer(xfer *x, CURLM *kept)
{
    CURLM *m = kept ? kept : curl_multi_init();
    if (!m || curl_multi_add_handle(m, x->curl) != CURLM_OK) {
        if (!kept)
            curl_multi_cleanup(m);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode cc = CURLE_OK;
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            cc = CURLE_RECV_ERROR;
            break;
        }
        if (!running)
            break;
        int64_t idle = mm_now_ms() - x->last_change_ms;
        if (x->rq->stall_ms > 0 && idle > x->rq->stall_ms) {
            x->stalled = true;
            cc = CURLE_OPERATION_TIMEDOUT;
            break;
        }
        if (x->rq->quiet && !x->quiet_told && idle >= HUB_HTTP_QUIET_MS) {
            x->quiet_told = true;
            if ((x->sink_rc = x->rq->quiet(x->rq->sink_user)) != 0) {
                cc = CURLE_WRITE_ERROR;   /* reported as the sink's error */
                break;
            }
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int queued = 0;
    while (!x->stalled && cc != CURLE_WRITE_ERROR &&
           (msg = curl_multi_info_read(m, &queued)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            cc = msg->data.result;
    curl_multi_remove_handle(m, x->curl);
    if (!kept)
        curl_multi_cleanup(m);
    return cc;
}

bool hub_same_origin(const char *a, const char *b)
{
    const char *ha = strstr(a, "://"), *hb = strstr(b, "://");
    if (!ha || !hb || ha - a != hb - b || strncasecmp(a, b, (size_t)(ha - a)) != 0)
        return false;
    ha += 3;
    hb += 3;
    size_t la = strcspn(ha, "/?#"), lb = strcspn(hb, "/?#");
    return la == lb && strncasecmp(ha, hb, la) == 0;
}

int hub_http_perform(hub *h, const hub_http_request *rq, hub_http_response *rs)
{
    xfer x = { .rq = rq, .rs = rs, .last_change_ms = mm_now_ms() };
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char line[256];
    int rc = 0;
    if (rq->conn)
        curl_easy_reset(rq->conn->easy);   /* options go; open connections stay */
    x.curl = rq->conn ? rq->conn->easy : curl_easy_init();
    if (!x.curl) {
        mm_strlcpy(rs->transport_error, "curl_easy_init failed", sizeof rs->transport_error);
        return rs->transport_code = MM_ENOMEM;
    }
    CURL *c = x.curl;
    headers = curl_slist_append(headers, "Accept-Encoding: identity");
    if (h->token && hub_same_origin(rq->url, h->endpoint)) {
        char *auth = mm_asprintf("Authorization: Bearer %s", h->token);
        if (auth)
            headers = curl_slist_append(headers, auth);
        free(auth);
    }
    if (rq->range_from >= 0 && rq->range_len > 0) {
        snprintf(line, sizeof line, "Range: bytes=%lld-%lld", (long long)rq->range_from,
                 (long long)(rq->range_from + rq->range_len - 1));
        headers = curl_slist_append(headers, line);
    } else if (rq->range_from >= 0) {
        snprintf(line, sizeof line, "Range: bytes=%lld-", (long long)rq->range_from);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opts.connect_timeout_ms);
    if (rq->timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
    if (strcmp(rq->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    if (rq->sink)   /* big bodies: fewer, larger writes */
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);

    CURLcode cc = run_transfer(&x, rq->conn ? rq->conn->multi : NULL);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    rs->status = status;
    if (cc == CURLE_OK)
        goto out;
    if (cc == CURLE_WRITE_ERROR && x.sink_rc) {
        rc = x.sink_rc;
        goto out;
    }
    snprintf(rs->transport_error, sizeof rs->transport_error, "%s%s%s",
             curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf);
    if (x.stalled) {
        snprintf(rs->transport_error, sizeof rs->transport_error,
                 "no data for %lld ms", (long long)rq->stall_ms);
        rc = MM_ETIMEDOUT;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = MM_ETIMEDOUT;
    } else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
        rc = MM_EINVAL;
    } else {
        rc = MM_ENET;
    }
    rs->transport_code = rc;
out:
    if (rq->conn)
        curl_easy_reset(c);   /* it must not keep pointers into this frame */
    else
        curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return rc;
}

bool hub_http_retryable_status(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504;
}

static uint64_t jitter_state;

static uint64_t next_random(void)
{
    /* Jitter only spreads clients apart; it needs no cryptographic quality. */
    uint64_t x = __atomic_load_n(&jitter_state, __ATOMIC_RELAXED);
    if (x == 0)
        x = (uint64_t)mm_wall_ms() * 6364136223846793005ull ^ (uint64_t)getpid();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    __atomic_store_n(&jitter_state, x, __ATOMIC_RELAXED);
    return x;
}

int64_t hub_http_server_wait_s(const hub_http_response *rs)
{
    int64_t s;
    const char *t = strstr(rs->ratelimit, "t=");
    if (t) {
        char num[24];
        size_t n = strspn(t + 2, "0123456789");
        if (n > 0 && n < sizeof num) {
            memcpy(num, t + 2, n);
            num[n] = '\0';
            if (mm_parse_i64(num, 0, 86400, &s) == 0)
                return s;
        }
    }
    if (rs->retry_after[0] && mm_parse_i64(rs->retry_after, 0, 86400, &s) == 0)
        return s;
    return -1;
}

int64_t hub_http_backoff_ms(const hub *h, int attempt, const hub_http_response *rs)
{
    int64_t server_s = rs && rs->status ? hub_http_server_wait_s(rs) : -1;
    if (server_s >= 0) {
        /* As huggingface_hub does: one second more than asked. */
        int64_t ms = (server_s + 1) * 1000;
        return ms < h->opts.retry_after_max_ms ? ms : h->opts.retry_after_max_ms;
    }
    int64_t ms = h->opts.backoff_initial_ms;
    for (int i = 0; i < attempt && ms < h->opts.backoff_max_ms; i++)
        ms *= 2;
    if (ms > h->opts.backoff_max_ms)
        ms = h->opts.backoff_max_ms;
    if (ms >= 4)
        ms += (int64_t)(next_random() % (uint64_t)(ms / 4));
    return ms;
}

void hub_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

char *hub_url_encode(const char *text, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    mm_buf b;
    mm_buf_init(&b, 16 * 1024);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                     *p == '~' || (keep_slash && *p == '/');
        if (plain) {
            mm_buf_append(&b, p, 1);
        } else {
            char esc[3] = { '%', digits[*p >> 4], digits[*p & 15] };
            mm_buf_append(&b, esc, 3);
        }
    }
    if (b.failed) {
        mm_buf_free(&b);
        return NULL;
    }
    return mm_buf_take(&b);
}

int hub_http_retry(hub *h, const hub_http_request *rq, hub_http_response *rs)
{
    for (int attempt = 0;; attempt++) {
        hub_http_response_free(rs);
        hub_http_response_init(rs);
        int rc = hub_http_perform(h, rq, rs);
        bool transient = rc == MM_ENET || rc == MM_ETIMEDOUT ||
                         (rc == 0 && hub_http_retryable_status(rs->status));
        if (!transient || attempt >= h->opts.max_retries)
            return rc;
        int64_t wait = hub_http_backoff_ms(h, attempt, rs);
        if (rc)
            MM_LOG_WARN("hub: %s %s: %s; retry %d/%d in %lld ms", rq->method, rq->url,
                        rs->transport_error, attempt + 1, h->opts.max_retries, (long long)wait);
        else
            MM_LOG_WARN("hub: %s %s: HTTP %ld; retry %d/%d in %lld ms", rq->method, rq->url,
                        rs->status, attempt + 1, h->opts.max_retries, (long long)wait);
        hub_sleep_ms(wait);
    }
}

void hub_http_server_message(const hub_http_response *rs, char *out, size_t size)
{
    mm_strlcpy(out, rs->error_message, size);
    if (out[0] || !rs->body.len)
        return;
    cJSON *doc = cJSON_ParseWithLength(rs->body.data, rs->body.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (cJSON_IsString(e))
        mm_strlcpy(out, e->valuestring, size);
    cJSON_Delete(doc);
}

int hub_http_error(const hub *h, const hub_http_response *rs, const char *repo,
                   const char *revision, const char *filename, mm_error *err)
{
    char msg[256];
    hub_http_server_message(rs, msg, sizeof msg);
    if (!revision)
        revision = "(resolved)";
    if (!filename)
        filename = "";
    const char *code = rs->error_code;
    const char *ep = h->endpoint;
    long st = rs->status;
    if (st == 0)
        return mm_error_set(err, rs->transport_code ? rs->transport_code : MM_ENET,
                            "cannot reach the Hub at %s: %s", ep, rs->transport_error);
    if (strcmp(code, "GatedRepo") == 0) {
        if (st == 401 || !h->token)
            return mm_error_set(err, MM_EAUTH, "%s is a gated repository: request access "
                                "at the repo page %s/%s and set HF_TOKEN to a token of an "
                                "approved account", repo, ep, repo);
        return mm_error_set(err, MM_EAUTH, "access to the gated repository %s has not been "
                            "granted to this token: request access at the repo page %s/%s "
                            "and set HF_TOKEN to a token of an approved account", repo, ep, repo);
    }
    if (st == 401 && h->token && (!code[0] || strstr(msg, "Invalid credentials"))) {
        char red[64];
        mm_redact(h->token, red, sizeof red);
        return mm_error_set(err, MM_EAUTH, "the Hub rejected the token %s (invalid credentials "
                            "in Authorization header): check HF_TOKEN or the token file", red);
    }
    if (strcmp(code, "RepoNotFound") == 0 || (st == 401 && !code[0]))
        return mm_error_set(err, MM_ENOTFOUND, "repository %s not found on %s%s", repo, ep,
                            h->token ? " (or this token has no access to it): check the name"
                                     : ", or it is private: check the name, or set HF_TOKEN");
    if (strcmp(code, "RevisionNotFound") == 0)
        return mm_error_set(err, MM_ENOTFOUND, "revision '%s' not found in %s: pass a commit "
                            "hash, tag or branch that exists", revision, repo);
    if (strcmp(code, "EntryNotFound") == 0)
        return mm_error_set(err, MM_ENOTFOUND, "file '%s' not found in %s at revision '%s'%s%s%s",
                            filename, repo, revision, rs->repo_commit[0] ? " (commit " : "",
                            rs->repo_commit, rs->repo_commit[0] ? ")" : "");
    if (st == 403)
        return mm_error_set(err, MM_EAUTH, "the Hub refused access to %s (HTTP 403)%s%s", repo,
                            msg[0] ? ": " : "", msg);
    if (st == 429)
        return mm_error_set(err, MM_EBUSY, "the Hub is rate-limiting requests (HTTP 429) and %d "
                            "retries did not get through: wait a few minutes, or set HF_TOKEN "
                            "for a higher limit", h->opts.max_retries);
    if (hub_http_retryable_status(st))
        return mm_error_set(err, MM_ENET, "the Hub answered HTTP %ld %d times in a row: try "
                            "again later", st, h->opts.max_retries + 1);
    if (st == 404)
        return mm_error_set(err, MM_ENOTFOUND, "%s/%s at '%s' not found on the Hub (HTTP 404)",
                            repo, filename, revision);
    return mm_error_set(err, MM_ENET, "unexpected HTTP %ld from the Hub for %s%s%s", st, repo,
                        msg[0] ? ": " : "", msg);
}
