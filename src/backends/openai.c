/* openai.c - the remote backend: an OpenAI-compatible server (vLLM,
 * llama-server, Ollama, TGI, another modelmgr) reached over HTTP with
 * libcurl. /v1/chat/completions or /v1/completions, streamed (SSE) or not;
 * connect, first-byte and total timeouts; remote errors mapped to MM_E* codes
 * with the status and the server's message. Idle CURL handles are pooled so
 * that consecutive requests reuse their connections. */
#include "backends/backends.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPENAI_POOL_MAX   16                 /* idle handles kept */
#define OPENAI_ERROR_BODY_MAX (64 * 1024)    /* body kept from an error answer */
#define OPENAI_MESSAGE_SHOWN 200             /* server message bytes in an error */

typedef struct openai_backend {
    backend         base;
    char           *name;
    char           *base_url;     /* without a trailing '/' */
    char           *auth_header;  /* "Authorization: Bearer ..." or NULL */
    char           *unix_socket;  /* or NULL */
    int64_t         connect_timeout_ms, first_byte_timeout_ms, total_timeout_ms;
    pthread_mutex_t lock;         /* guards the pool */
    CURL           *pool[OPENAI_POOL_MAX];
    int             n_pool;
} openai_backend;

/* State of one transfer, shared by the curl callbacks. */
typedef struct transfer {
    openai_backend        *ob;
    CURL                  *curl;
    const backend_request *req;
    backend_token_fn       on_token;
    void                  *user;
    const atomic_bool     *cancel;
    bool                   chat;
    long                   status;       /* known once the first body byte came */
    bool                   got_byte;
    int64_t                start_ms;
    int64_t                first_ms;
    mm_buf                 body;         /* non-streamed answer, or an error body */
    mm_buf                 text;         /* the answer's text */
    backend_sse            sse;
    bool                   saw_done, saw_finish;
    int                    abort_code;   /* why a callback stopped the transfer */
    char                   abort_msg[256];
    backend_result        *res;
} transfer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *take_handle(openai_backend *ob)
{
    CURL *c = NULL;
    pthread_mutex_lock(&ob->lock);
    if (ob->n_pool > 0)
        c = ob->pool[--ob->n_pool];
    pthread_mutex_unlock(&ob->lock);
    if (c)
        curl_easy_reset(c);   /* keeps the connection cache */
    else
        c = curl_easy_init();
    return c;
}

static void give_handle(openai_backend *ob, CURL *c)
{
    pthread_mutex_lock(&ob->lock);
    if (ob->n_pool < OPENAI_POOL_MAX) {
        ob->pool[ob->n_pool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&ob->lock);
    if (c)
        curl_easy_cleanup(c);
}

static void stop(transfer *t, int code, const char *fmt, const char *arg)
{
    if (t->abort_code)
        return;
    t->abort_code = code;
    snprintf(t->abort_msg, sizeof t->abort_msg, fmt, arg ? arg : "");
}

/* One piece of text from a chunk or an answer: kept and forwarded. */
static int deliver(transfer *t, const char *piece, size_t len)
{
    if (len == 0)
        return 0;
    if (mm_buf_append(&t->text, piece, len) != 0) {
        stop(t, MM_ELIMIT, "the answer is longer than the %s limit", "4 MiB");
        return 1;
    }
    if (!t->on_token)
        return 0;
    /* One read can hold many events of a server that ran ahead: those
     * after the caller raised its cancel flag are not the caller's. */
    if (t->cancel && atomic_load(t->cancel)) {
        stop(t, MM_ECANCELED, "the request was cancelled%s", NULL);
        return 1;
    }
    t->res->pieces_delivered++;   /* the caller has it, whatever it answers */
    if (t->on_token(piece, len, t->user) != 0) {
        stop(t, MM_ECANCELED, "the caller stopped the generation%s", NULL);
        return 1;
    }
    return 0;
}

static void read_usage(transfer *t, const cJSON *root)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    /* a remote's numbers are input: out of range ones are ignored */
    uint64_t n;
    if (cJSON_IsNumber(pt) && mm_double_to_count(pt->valuedouble, INT32_MAX, &n))
        t->res->prompt_tokens = (int64_t)n;
    if (cJSON_IsNumber(ct) && mm_double_to_count(ct->valuedouble, INT32_MAX, &n))
        t->res->completion_tokens = (int64_t)n;
}

static const cJSON *first_choice(const cJSON *root)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    return cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
}

static void read_finish(transfer *t, const cJSON *choice)
{
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(fr)) {
        mm_strlcpy(t->res->finish_reason, fr->valuestring, sizeof t->res->finish_reason);
        t->saw_finish = true;
    }
}

static int on_event(const char *data, size_t len, void *user)
{
    transfer *t = user;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        t->saw_done = true;
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root) {
        stop(t, MM_EIO, "a stream event is not JSON%s", NULL);
        return 1;
    }
    int rc = 0;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (error) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        stop(t, MM_EIO, "error in the stream: %s",
             cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        rc = 1;
    } else {
        const cJSON *choice = first_choice(root);
        const cJSON *piece = t->chat
            ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "delta"),
                                               "content")
            : cJSON_GetObjectItemCaseSensitive(choice, "text");
        if (cJSON_IsString(piece))
            rc = deliver(t, piece->valuestring, strlen(piece->valuestring));
        read_finish(t, choice);
        read_usage(t, root);
    }
    cJSON_Delete(root);
    return rc;
}

static size_t on_write(char *bytes, size_t size, size_t count, void *user)
{
    transfer *t = user;
    size_t len = size * count;
    if (!t->got_byte) {
        t->got_byte = true;
        t->first_ms = mm_now_ms();
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    }
    if (t->req->stream && t->status == 200) {
        int rc = backend_sse_feed(&t->sse, bytes, len);
        if (rc == MM_ELIMIT)
            stop(t, MM_ELIMIT, "a stream line is longer than %s", "256 KiB");
        return rc ? 0 : len;
    }
    if (mm_buf_append(&t->body, bytes, len) != 0) {
        /* An error body is only quoted; keep what fits and go on. */
        if (t->status != 200)
            return len;
        stop(t, MM_ELIMIT, "the answer is longer than %s", "4 MiB");
        return 0;
    }
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer *t = user;
    if (t->cancel && atomic_load(t->cancel)) {
        stop(t, MM_ECANCELED, "the request was cancelled%s", NULL);
        return 1;
    }
    if (!t->got_byte && t->ob->first_byte_timeout_ms > 0 &&
        mm_now_ms() - t->start_ms > t->ob->first_byte_timeout_ms) {
        stop(t, MM_ETIMEDOUT, "no answer within the first-byte timeout%s", NULL);
        return 1;
    }
    return 0;
}

static char *build_body(const backend_request *req, bool chat)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", req->model ? req->model : "");
    if (chat) {
        cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
        for (size_t i = 0; i < req->n_messages; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", req->messages[i].role ? req->messages[i].role : "user");
            cJSON_AddStringToObject(m, "content", req->messages[i].content ? req->messages[i].content : "");
            cJSON_AddItemToArray(msgs, m);
        }
    } else {
        cJSON_AddStringToObject(root, "prompt", req->prompt ? req->prompt : "");
    }
    if (req->max_tokens > 0)
        cJSON_AddNumberToObject(root, "max_tokens", (double)req->max_tokens);
    if (req->temperature >= 0)
        cJSON_AddNumberToObject(root, "temperature", req->temperature);
    if (req->top_p > 0 && req->top_p < 1)
        cJSON_AddNumberToObject(root, "top_p", req->top_p);
    if (req->n_stop) {
        cJSON *stop = cJSON_AddArrayToObject(root, "stop");
        for (size_t i = 0; i < req->n_stop; i++)
            cJSON_AddItemToArray(stop, cJSON_CreateString(req->stop[i] ? req->stop[i] : ""));
    }
    if (req->presence_penalty != 0)
        cJSON_AddNumberToObject(root, "presence_penalty", req->presence_penalty);
    if (req->frequency_penalty != 0)
        cJSON_AddNumberToObject(root, "frequency_penalty", req->frequency_penalty);
    if (req->has_seed)
        cJSON_AddNumberToObject(root, "seed", (double)req->seed);
    cJSON_AddBoolToObject(root, "stream", req->stream);
    if (req->stream && req->stream_usage)
        cJSON_AddBoolToObject(cJSON_AddObjectToObject(root, "stream_options"), "include_usage",
                              true);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* The server's own words: error.message of an OpenAI error body, else the
 * body's start; control characters replaced, bounded. */
static void server_message(const mm_buf *body, char *out, size_t size)
{
    out[0] = '\0';
    cJSON *root = body->len ? cJSON_ParseWithLength(body->data, body->len) : NULL;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *msg = cJSON_IsString(error) ? error
                       : cJSON_GetObjectItemCaseSensitive(error, "message");
    const char *text = cJSON_IsString(msg) ? msg->valuestring : body->data ? body->data : "";
    size_t n = strlen(text);
    if (n > OPENAI_MESSAGE_SHOWN)
        n = OPENAI_MESSAGE_SHOWN;
    if (n >= size)
        n = size - 1;
    memcpy(out, text, n);
    out[n] = '\0';
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    mm_str_trim(out);
    cJSON_Delete(root);
}

static int http_error(transfer *t, mm_error *err)
{
    char msg[OPENAI_MESSAGE_SHOWN + 1];
    server_message(&t->body, msg, sizeof msg);
    const char *sep = msg[0] ? ": " : "";
    const char *name = t->ob->name;
    long s = t->status;
    int rc;
    if (s == 401 || s == 403)
        rc = mm_error_set(err, MM_EAUTH, "remote '%s' refused the request (HTTP %ld): check the "
                          "API key in its api_key_env%s%s", name, s, sep, msg);
    else if (s == 404)
        rc = mm_error_set(err, MM_ENOTFOUND, "remote '%s' does not serve model '%s' or the URL "
                          "is wrong (HTTP 404)%s%s", name, t->req->model, sep, msg);
    else if (s == 429)
        rc = mm_error_set(err, MM_EBUSY, "remote '%s' is rate-limiting (HTTP 429)%s%s",
                          name, sep, msg);
    else if (s >= 500)
        rc = mm_error_set(err, MM_EIO, "remote '%s' failed (HTTP %ld)%s%s", name, s, sep, msg);
    else
        rc = mm_error_set(err, MM_EINVAL, "remote '%s' rejected the request (HTTP %ld)%s%s",
                          name, s, sep, msg);
    if (err)
        mm_redact_secrets(err->message);
    return rc;
}

static int curl_error(transfer *t, CURLcode cc, mm_error *err)
{
    const char *name = t->ob->name;
    if (t->abort_code)
        return mm_error_set(err, t->abort_code, "remote '%s': %s", name, t->abort_msg);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return mm_error_set(err, MM_ENET, "cannot connect to remote '%s' at %s: %s", name,
                            t->ob->base_url, curl_easy_strerror(cc));
    case CURLE_OPERATION_TIMEDOUT:
        return mm_error_set(err, MM_ETIMEDOUT, "remote '%s' did not answer in time (%s)", name,
                            t->got_byte ? "total timeout" : "connect or first-byte timeout");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
        return mm_error_set(err, MM_ENET, "remote '%s' dropped the connection: %s", name,
                            curl_easy_strerror(cc));
    default:
        return mm_error_set(err, MM_ENET, "remote '%s': %s", name, curl_easy_strerror(cc));
    }
}

static int parse_answer(transfer *t, mm_error *err)
{
    cJSON *root = cJSON_ParseWithLength(t->body.data ? t->body.data : "", t->body.len);
    const cJSON *choice = first_choice(root);
    const cJSON *piece = t->chat
        ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "message"),
                                           "content")
        : cJSON_GetObjectItemCaseSensitive(choice, "text");
    int rc = 0;
    if (!cJSON_IsString(piece)) {
        rc = mm_error_set(err, MM_EIO, "remote '%s' sent an answer without %s", t->ob->name,
                          t->chat ? "choices[0].message.content" : "choices[0].text");
    } else {
        read_finish(t, choice);
        read_usage(t, root);
        if (deliver(t, piece->valuestring, strlen(piece->valuestring)) != 0)
            rc = mm_error_set(err, t->abort_code, "remote '%s': %s", t->ob->name, t->abort_msg);
    }
    cJSON_Delete(root);
    return rc;
}

static int setup_transfer(transfer *t, struct curl_slist **headers, char *body, char *url)
{
    openai_backend *ob = t->ob;
    *headers = curl_slist_append(*headers, "Content-Type: application/json");
    if (*headers && t->req->stream)
        *headers = curl_slist_append(*headers, "Accept: text/event-stream");
    if (*headers && ob->auth_header)
        *headers = curl_slist_append(*headers, ob->auth_header);
    if (!*headers)
        return MM_ENOMEM;
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ob->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ob->total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ob->unix_socket);
    return 0;
}

static int openai_generate(backend *b, const backend_request *req, backend_token_fn on_token,
                           void *user, const atomic_bool *cancel, backend_result *res,
                           mm_error *err)
{
    openai_backend *ob = (openai_backend *)b;
    memset(res, 0, sizeof *res);
    transfer t = { .ob = ob, .req = req, .on_token = on_token, .user = user, .cancel = cancel,
                   .chat = req->n_messages > 0, .res = res };
    mm_buf_init(&t.body, BACKEND_TEXT_MAX);
    mm_buf_init(&t.text, BACKEND_TEXT_MAX);
    backend_sse_init(&t.sse, BACKEND_SSE_LINE_MAX, on_event, &t);
    struct curl_slist *headers = NULL;
    char *body = build_body(req, t.chat);
    char *url = mm_asprintf("%s/%s", ob->base_url, t.chat ? "chat/completions" : "completions");
    int rc = MM_ENOMEM;
    t.curl = take_handle(ob);
    if (!body || !url || !t.curl || setup_transfer(&t, &headers, body, url) != 0) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory sending a request to remote '%s'", ob->name);
        goto out;
    }
    t.start_ms = mm_now_ms();
    CURLcode cc = curl_easy_perform(t.curl);
    int64_t end_ms = mm_now_ms();
    if (!t.got_byte)
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
    res->http_status = (int)t.status;
    MM_LOG_DEBUG("remote '%s': POST %s (model %s, %s) -> HTTP %ld, curl: %s", ob->name, url,
                 req->model ? req->model : "", req->stream ? "stream" : "whole",
                 t.status, curl_easy_strerror(cc));
    if (cc != CURLE_OK && !(t.status && t.status != 200 && !t.abort_code && t.got_byte)) {
        rc = curl_error(&t, cc, err);
        goto out;
    }
    if (t.status != 200) {
        rc = http_error(&t, err);
        goto out;
    }
    if (req->stream) {
        if ((rc = backend_sse_finish(&t.sse)) != 0) {
            rc = curl_error(&t, CURLE_OK, err);
            goto out;
        }
        if (!t.saw_done && !t.saw_finish) {
            rc = mm_error_set(err, MM_ENET, "remote '%s': the stream ended before [DONE]",
                              ob->name);
            goto out;
        }
    } else if ((rc = parse_answer(&t, err)) != 0) {
        goto out;
    }
    res->ttft_ms = (double)((req->stream ? t.first_ms : end_ms) - t.start_ms);
    res->total_ms = (double)(end_ms - t.start_ms);
    res->text_len = t.text.len;
    res->text = t.text.data ? mm_buf_take(&t.text) : mm_strdup("");
    rc = res->text ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
out:
    if (t.curl)
        give_handle(ob, t.curl);
    curl_slist_free_all(headers);
    free(body);
    free(url);
    mm_buf_free(&t.body);
    mm_buf_free(&t.text);
    backend_sse_free(&t.sse);
    if (rc != 0) {
        int status = res->http_status;
        size_t delivered = res->pieces_delivered;
        backend_result_free(res);
        res->http_status = status;
        res->pieces_delivered = delivered;
    }
    return rc;
}

/* ---- health probes ---- */

static size_t probe_discard(char *bytes, size_t size, size_t count, void *user)
{
    (void)bytes;
    (void)user;
    return size * count;   /* only the status matters; the timeout bounds the body */
}

static int probe_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const atomic_bool *cancel = user;
    return cancel && atomic_load(cancel) ? 1 : 0;
}

/* One GET of url; *status is 0 when no answer came. */
static int probe_get(openai_backend *ob, const char *url, int64_t timeout_ms,
                     const atomic_bool *cancel, long *status, mm_error *err)
{
    *status = 0;
    CURL *c = take_handle(ob);
    struct curl_slist *headers = NULL;
    if (ob->auth_header)
        headers = curl_slist_append(NULL, ob->auth_header);
    if (!c || (ob->auth_header && !headers)) {
        curl_slist_free_all(headers);
        if (c)
            curl_easy_cleanup(c);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    long connect_ms = (long)(ob->connect_timeout_ms < timeout_ms ? ob->connect_timeout_ms
                                                                 : timeout_ms);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_discard);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, probe_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);   /* the pooled handle outlives headers */
    curl_slist_free_all(headers);
    int rc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        give_handle(ob, c);
        return 0;
    }
    curl_easy_cleanup(c);   /* a failed connection is not worth keeping */
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        rc = mm_error_set(err, MM_ECANCELED, "the probe was cancelled");
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = mm_error_set(err, MM_ETIMEDOUT, "no answer to GET %s within %lld ms", url,
                          (long long)timeout_ms);
    else
        rc = mm_error_set(err, MM_ENET, "GET %s: %s", url, curl_easy_strerror(cc));
    if (err)
        mm_redact_secrets(err->message);
    return rc;
}

/* The /health URL beside base_url: "http://h:1/v1" -> "http://h:1/health". */
static char *health_url(const openai_backend *ob)
{
    size_t len = strlen(ob->base_url);
    if (len >= 3 && strcmp(ob->base_url + len - 3, "/v1") == 0)
        len -= 3;
    return mm_asprintf("%.*s/health", (int)len, ob->base_url);
}

int backend_openai_probe(backend *b, int64_t timeout_ms, const atomic_bool *cancel,
                         backend_probe_result *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    if (!b || strcmp(b->ops->kind, "openai") != 0)
        return mm_error_set(err, MM_EINVAL, "only remote backends can be probed");
    openai_backend *ob = (openai_backend *)b;
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    int64_t start = mm_now_ms();
    char *url = mm_asprintf("%s/models", ob->base_url);
    if (!url)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    mm_strlcpy(out->path, "models", sizeof out->path);
    long status = 0;
    int rc = probe_get(ob, url, timeout_ms, cancel, &status, err);
    if (rc == 0 && status == 404) {
        free(url);
        if (!(url = health_url(ob))) {
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
            goto done;
        }
        mm_strlcpy(out->path, "health", sizeof out->path);
        rc = probe_get(ob, url, timeout_ms, cancel, &status, err);
    }
    out->http_status = (int)status;
    if (rc == 0 && (status == 401 || status == 403))
        rc = mm_error_set(err, MM_EAUTH, "GET %s answered HTTP %ld: check the API key in its "
                          "api_key_env", url, status);
    else if (rc == 0 && (status < 200 || status > 299))
        rc = mm_error_set(err, MM_EIO, "GET %s answered HTTP %ld", url, status);
    if (rc != 0 && err)
        mm_redact_secrets(err->message);
done:
    out->latency_ms = (double)(mm_now_ms() - start);
    free(url);
    return rc;
}

static void openai_close(backend *b)
{
    openai_backend *ob = (openai_backend *)b;
    for (int i = 0; i < ob->n_pool; i++)
        curl_easy_cleanup(ob->pool[i]);
    pthread_mutex_destroy(&ob->lock);
    free(ob->name);
    free(ob->base_url);
    free(ob->auth_header);
    free(ob->unix_socket);
    free(ob);
}

static const backend_ops openai_ops = { "openai", openai_generate, openai_close, NULL };

int backend_openai_open(const backend_openai_config *cfg, backend **out, mm_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (!cfg->name || !cfg->base_url)
        return mm_error_set(err, MM_EINVAL, "a remote needs a name and a base_url");
    if (!mm_str_has_prefix(cfg->base_url, "http://") && !mm_str_has_prefix(cfg->base_url, "https://"))
        return mm_error_set(err, MM_EINVAL, "remote '%s': base_url must start with http:// or "
                            "https://", cfg->name);
    openai_backend *ob = calloc(1, sizeof *ob);
    if (!ob)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    pthread_mutex_init(&ob->lock, NULL);
    ob->base.ops = &openai_ops;
    ob->name = mm_strdup(cfg->name);
    ob->base_url = mm_strdup(cfg->base_url);
    ob->unix_socket = cfg->unix_socket ? mm_strdup(cfg->unix_socket) : NULL;
    ob->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
    ob->first_byte_timeout_ms = cfg->first_byte_timeout_ms > 0 ? cfg->first_byte_timeout_ms : 0;
    ob->total_timeout_ms = cfg->total_timeout_ms > 0 ? cfg->total_timeout_ms : 0;
    if (cfg->api_key && *cfg->api_key) {
        if (mm_log_add_secret(cfg->api_key) != 0) {
            openai_close(&ob->base);
            return mm_error_set(err, MM_ELIMIT, "remote '%s': cannot register its API key with "
                                "the logger", cfg->name);
        }
        ob->auth_header = mm_asprintf("Authorization: Bearer %s", cfg->api_key);
    }
    if (!ob->name || !ob->base_url || (cfg->unix_socket && !ob->unix_socket) || (cfg->api_key && *cfg->api_key && !ob->auth_header)) {
        openai_close(&ob->base);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    size_t len = strlen(ob->base_url);
    while (len > 0 && ob->base_url[len - 1] == '/')
        ob->base_url[--len] = '\0';
    ob->base.name = ob->name;
    *out = &ob->base;
    return 0;
}
