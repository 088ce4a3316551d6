/* server-pull.c - Ollama's POST /api/pull on the pull jobs: the model name
 * is a Hugging Face repo ("org/name" or "org/name:QUANT", optionally
 * "@REV"), the revision must be pinned as for `modelmgr pull`, and progress
 * streams as Ollama's NDJSON status lines. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PULL_WAIT_MS 500   /* one wait for a change between stream lines */

static int reply_error(server_call *call, int status, const char *param, const char *message)
{
    server_fault f;
    server_fault_set(&f, status, status >= 500 ? "server_error" : "invalid_request_error",
                     NULL, param, "%s", message);
    return server_reply_fault(call, &f);
}

/* "org/name[:TAG][@REV]" and the body's "revision" into sp. Ollama's
 * ":latest" tag means no quant. 0 or -1 with f filled. */
static int parse_name(const char *name, const char *body_rev, server_pull_spec *sp,
                      server_fault *f)
{
    char buf[sizeof sp->repo + sizeof sp->revision];
    if (mm_strlcpy(buf, name, sizeof buf) >= sizeof buf)
        return server_fault_set(f, 400, "invalid_request_error", NULL, "model",
                                "'model' is too long");
    char *at = strchr(buf, '@');
    if (at) {
        *at++ = '\0';
        if (!*at)
            return server_fault_set(f, 400, "invalid_request_error", NULL, "model",
                                    "'%s': nothing after '@' (use org/name@<commit or tag>)",
                                    name);
        if (body_rev && strcmp(body_rev, at) != 0)
            return server_fault_set(f, 400, "invalid_request_error", NULL, "revision",
                                    "'model' pins '%s' but 'revision' says '%s': give one",
                                    at, body_rev);
    }
    size_t len = strlen(buf);
    if (len > 7 && strcasecmp(buf + len - 7, ":latest") == 0)
        buf[len - 7] = '\0';
    const char *rev = at ? at : body_rev ? body_rev : "";
    if (mm_strlcpy(sp->repo, buf, sizeof sp->repo) >= sizeof sp->repo ||
        mm_strlcpy(sp->revision, rev, sizeof sp->revision) >= sizeof sp->revision)
        return server_fault_set(f, 400, "invalid_request_error", NULL, "model",
                                "'model' or 'revision' is too long");
    return 0;
}

/* ---- the NDJSON stream ---- */

typedef struct pull_stream {
    server          *srv;
    server_jobs     *jobs;
    char             id[40];
    bool             started, finished;
    server_job_info  info;
    uint64_t         sent[SERVER_JOB_FILES_MAX];  /* completed bytes last sent per file */
    bool             any_sent[SERVER_JOB_FILES_MAX];
    mm_buf           out;
    size_t           pos;
} pull_stream;

static void line(mm_buf *out, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        out->failed = true;
        return;
    }
    mm_buf_puts(out, text);
    mm_buf_puts(out, "\n");
    free(text);
}

static void status_line(mm_buf *out, const char *status)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    line(out, o);
}

/* A layer line: "pulling <12 hex>" with the digest once the file is
 * verified; while it downloads the digest is not known yet, so the status
 * names the file and `digest` is left out. */
static void file_line(mm_buf *out, const server_job_file *file, bool final)
{
    cJSON *o = cJSON_CreateObject();
    char status[300];
    if (final && file->sha256[0]) {
        snprintf(status, sizeof status, "pulling %.12s", file->sha256);
        cJSON_AddStringToObject(o, "status", status);
        char digest[80];
        snprintf(digest, sizeof digest, "sha256:%s", file->sha256);
        cJSON_AddStringToObject(o, "digest", digest);
    } else {
        snprintf(status, sizeof status, "pulling %s", file->name);
        cJSON_AddStringToObject(o, "status", status);
    }
    cJSON_AddNumberToObject(o, "total", (double)file->total);
    if (file->done)   /* Ollama leaves `completed` out while it is 0 */
        cJSON_AddNumberToObject(o, "completed", (double)file->done);
    line(out, o);
}

static void error_line(mm_buf *out, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    line(out, o);
}

/* Append the next lines to ps->out; may wait up to PULL_WAIT_MS for news. */
static void produce(pull_stream *ps)
{
    if (!ps->started) {
        ps->started = true;
        status_line(&ps->out, "pulling manifest");
        return;
    }
    server_job_info *in = &ps->info;
    if (server_jobs_get(ps->jobs, ps->id, in->version, PULL_WAIT_MS, in) != 0) {
        error_line(&ps->out, "the pull job is gone (the server is stopping)");
        ps->finished = true;
        return;
    }
    if (in->state == SERVER_JOB_FAILED) {
        error_line(&ps->out, in->error);
        ps->finished = true;
        return;
    }
    if (in->state == SERVER_JOB_DONE) {
        for (size_t i = 0; i < in->n_files; i++)
            file_line(&ps->out, &in->files[i], true);
        status_line(&ps->out, "verifying sha256 digest");
        status_line(&ps->out, "writing manifest");
        status_line(&ps->out, "success");
        ps->finished = true;
        return;
    }
    for (size_t i = 0; i < in->n_files; i++) {
        if (ps->any_sent[i] && ps->sent[i] == in->files[i].done)
            continue;
        file_line(&ps->out, &in->files[i], false);
        ps->any_sent[i] = true;
        ps->sent[i] = in->files[i].done;
    }
    if (server_is_stopping(ps->srv)) {
        error_line(&ps->out, "the server is stopping; the pull goes on until it ends, then "
                   "pull again to check");
        ps->finished = true;
    }
}

static ssize_t pull_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    pull_stream *ps = cls;
    while (ps->pos == ps->out.len) {
        if (ps->finished || ps->out.failed)
            return MHD_CONTENT_READER_END_OF_STREAM;
        ps->out.len = 0;
        if (ps->out.data)
            ps->out.data[0] = '\0';
        ps->pos = 0;
        produce(ps);
    }
    size_t n = ps->out.len - ps->pos;
    if (n > max)
        n = max;
    memcpy(buf, ps->out.data + ps->pos, n);
    ps->pos += n;
    return (ssize_t)n;
}

static void pull_free(void *cls)
{
    pull_stream *ps = cls;
    mm_buf_free(&ps->out);
    free(ps);
}

static int stream_job(server_call *call, server_jobs *jobs, const char *id)
{
    pull_stream *ps = calloc(1, sizeof *ps);
    if (!ps)
        return reply_error(call, 500, NULL, "out of memory");
    ps->srv = call->srv;
    ps->jobs = jobs;
    mm_strlcpy(ps->id, id, sizeof ps->id);
    mm_buf_init(&ps->out, 1024 * 1024);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                                                  pull_read, ps, pull_free);
    if (!resp) {
        pull_free(ps);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    server_add_headers(call, resp);
    call->status = 200;
    enum MHD_Result r = MHD_queue_response(call->conn, 200, resp);
    MHD_destroy_response(resp);
    return r;
}

/* stream:false: wait for the job, then one object. */
static int wait_job(server_call *call, server_jobs *jobs, const char *id)
{
    server_job_info *in = calloc(1, sizeof *in);
    if (!in)
        return reply_error(call, 500, NULL, "out of memory");
    int reply;
    for (;;) {
        if (server_jobs_get(jobs, id, in->version, PULL_WAIT_MS, in) != 0) {
            reply = reply_error(call, 503, NULL, "the pull job is gone (the server is stopping)");
            break;
        }
        if (in->state == SERVER_JOB_DONE) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "status", "success");
            reply = server_reply_json(call, 200, o);
            break;
        }
        if (in->state == SERVER_JOB_FAILED) {
            reply = reply_error(call, 500, NULL, in->error);
            break;
        }
        if (server_is_stopping(call->srv)) {
            reply = reply_error(call, 503, NULL, "the server is stopping; the pull goes on "
                                "until it ends, then pull again to check");
            break;
        }
    }
    free(in);
    return reply;
}

int server_h_ollama_pull(server_call *call)
{
    const server_admin_ctx *a = server_get_admin(call->srv);
    server_jobs *jobs = server_get_jobs(call->srv);
    if (!a->cfg || !jobs)
        return reply_error(call, 501, NULL, "pulling is not available: this server runs "
                           "without a configuration (start it with 'modelmgr serve')");
    cJSON *root = call->body_len ? cJSON_ParseWithLength(call->body, call->body_len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return reply_error(call, 400, NULL, "request body must be a JSON object such as "
                           "{\"model\": \"org/name:Q4_K_M\", \"revision\": \"<commit or tag>\"}");
    }
    server_fault f;
    server_pull_spec *sp = calloc(1, sizeof *sp);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model || cJSON_IsNull(model))
        model = cJSON_GetObjectItemCaseSensitive(root, "name");   /* older clients */
    const cJSON *rev = cJSON_GetObjectItemCaseSensitive(root, "revision");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    int rc = -1;
    if (!sp)
        server_fault_set(&f, 500, "server_error", NULL, NULL, "out of memory");
    else if (!cJSON_IsString(model) || !model->valuestring[0])
        server_fault_set(&f, 400, "invalid_request_error", NULL, "model",
                         "'model' is required: a Hugging Face repo such as org/name or "
                         "org/name:Q4_K_M");
    else if (rev && !cJSON_IsNull(rev) && (!cJSON_IsString(rev) || !rev->valuestring[0]))
        server_fault_set(&f, 400, "invalid_request_error", NULL, "revision",
                         "'revision' must be a non-empty string (a commit hash or tag)");
    else if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream))
        server_fault_set(&f, 400, "invalid_request_error", NULL, "stream",
                         "'stream' must be true or false");
    else if (parse_name(model->valuestring, cJSON_IsString(rev) ? rev->valuestring : NULL, sp,
                        &f) == 0 &&
             server_admin_check_pull(a->cfg, sp, &f) == 0)
        rc = 0;
    bool streamed = !stream || !cJSON_IsFalse(stream);   /* Ollama streams by default */
    cJSON_Delete(root);
    if (rc != 0) {
        free(sp);
        return server_reply_fault(call, &f);
    }
    char id[40];
    mm_error err = { 0 };
    rc = server_jobs_submit(jobs, sp, id, &err);
    free(sp);
    if (rc != 0)
        return reply_error(call, 503, NULL, err.message);
    return streamed ? stream_job(call, jobs, id) : wait_job(call, jobs, id);
}
