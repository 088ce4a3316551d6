/* server-ollama.c - Ollama's native API on the same port: probes, model
 * listings (/api/tags, /api/ps, /api/show) and generation (/api/generate,
 * /api/chat) streamed as NDJSON by default. Errors are {"error":"..."}. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void now_rfc3339(char *out, size_t size)
{
    mm_time_rfc3339(mm_wall_ms() / 1000, out, size);
}

/* Ollama names carry a tag; ids without one are reported as ":latest". */
static void ollama_name(const char *id, char *out, size_t size)
{
    snprintf(out, size, strchr(id, ':') ? "%s" : "%s:latest", id);
}

/* obj (taken) printed into out, then end ("\n" for an NDJSON line). */
static void put_json(mm_buf *out, cJSON *obj, const char *end)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        out->failed = true;
        return;
    }
    mm_buf_puts(out, text);
    mm_buf_puts(out, end);
    free(text);
}

static void line(mm_buf *out, cJSON *obj)
{
    put_json(out, obj, "\n");
}

static bool is_chat(const server_gen *g)
{
    return g->rq.api == SERVER_API_OLLAMA_CHAT;
}

static cJSON *head(const server_gen *g, const char *text, size_t len, bool done)
{
    cJSON *o = cJSON_CreateObject();
    char when[40];
    now_rfc3339(when, sizeof when);
    cJSON_AddStringToObject(o, "model", g->model.id);
    cJSON_AddStringToObject(o, "created_at", when);
    char *copy = mm_strndup(text, len);
    if (is_chat(g)) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", copy ? copy : "");
    } else {
        cJSON_AddStringToObject(o, "response", copy ? copy : "");
    }
    free(copy);
    cJSON_AddBoolToObject(o, "done", done);
    return o;
}

/* Counts and durations are left out when zero (unknown), as Ollama does. */
static void add_nonzero(cJSON *o, const char *name, int64_t v)
{
    if (v > 0)
        cJSON_AddNumberToObject(o, name, (double)v);
}

static cJSON *final(const server_gen *g, const char *text, size_t len)
{
    cJSON *o = head(g, text, len, true);
    bool unload = g->rq.has_keep_alive && g->rq.keep_alive_ms == 0;
    const char *reason = g->load_only ? (unload ? "unload" : "load")
                       : g->res.finish == SERVER_FINISH_LENGTH ? "length" : "stop";
    cJSON_AddStringToObject(o, "done_reason", reason);
    add_nonzero(o, "total_duration", server_now_ns() - g->started_ns);
    add_nonzero(o, "load_duration", g->res.load_ns);
    add_nonzero(o, "prompt_eval_count", g->res.prompt_tokens);
    add_nonzero(o, "prompt_eval_duration", g->res.prompt_ns);
    add_nonzero(o, "eval_count", g->res.completion_tokens);
    add_nonzero(o, "eval_duration", g->res.eval_ns);
    return o;
}

static void f_begin(server_gen *g, mm_buf *out)
{
    (void)g;
    (void)out;
}

static void f_piece(server_gen *g, const char *text, size_t len, mm_buf *out)
{
    line(out, head(g, text, len, false));
}

static void f_end(server_gen *g, mm_buf *out)
{
    line(out, final(g, "", 0));
}

static void f_error(server_gen *g, const char *message, mm_buf *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    line(out, o);
}

static void f_whole(server_gen *g, mm_buf *out)
{
    put_json(out, final(g, g->text.data ? g->text.data : "", g->text.len), "");
}

static const server_framing ollama_framing = {
    .content_type = "application/x-ndjson",
    .begin = f_begin, .piece = f_piece, .end = f_end, .error = f_error, .whole = f_whole,
};

static int generate(server_call *call, server_api api)
{
    server_request rq;
    server_model model;
    int reply;
    if (server_prepare_generation(call, api, &rq, &model, &reply) < 0)
        return reply;
    /* An empty prompt asks only to load the model: nothing is generated. */
    bool load_only = api == SERVER_API_OLLAMA_CHAT ? rq.n_messages == 0 : rq.prompt[0] == '\0';
    if (load_only)
        rq.max_tokens = 0;
    server_gen *g = server_gen_new(call, &rq, &model, "ollama-", &ollama_framing);
    if (!g) {
        server_fault f;
        server_fault_set(&f, 500, "server_error", NULL, NULL, "out of memory");
        return server_reply_fault(call, &f);
    }
    g->load_only = load_only;
    return server_gen_run(call, g);
}

int server_h_ollama_generate(server_call *call)
{
    return generate(call, SERVER_API_OLLAMA_GENERATE);
}

int server_h_ollama_chat(server_call *call)
{
    return generate(call, SERVER_API_OLLAMA_CHAT);
}

int server_h_ollama_root(server_call *call)
{
    return server_reply_text(call, 200, "text/plain; charset=utf-8", "Ollama is running");
}

int server_h_ollama_version(server_call *call)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", mm_version());
    return server_reply_json(call, 200, o);
}

/* "3.2B", "135M" as Ollama writes parameter sizes; "" when unknown. */
static void param_size(uint64_t n, char *out, size_t size)
{
    if (n == 0)
        snprintf(out, size, "%s", "");
    else if (n >= 1000000000ULL)
        snprintf(out, size, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ULL)
        snprintf(out, size, "%.0fM", (double)n / 1e6);
    else
        snprintf(out, size, "%.0fK", (double)n / 1e3);
}

static cJSON *details_json(const server_model *m)
{
    cJSON *d = cJSON_CreateObject();
    char ps[32];
    param_size(m->n_params, ps, sizeof ps);
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", m->format);
    cJSON_AddStringToObject(d, "family", m->family);
    cJSON *fams = cJSON_AddArrayToObject(d, "families");
    if (m->family[0])
        cJSON_AddItemToArray(fams, cJSON_CreateString(m->family));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", m->quant);
    return d;
}

static cJSON *tag_json(const server_model *m, bool running)
{
    cJSON *o = cJSON_CreateObject();
    char name[SERVER_MODEL_NAME_MAX + 8], when[40];
    ollama_name(m->id, name, sizeof name);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "model", name);
    if (m->created > 0) {
        mm_time_rfc3339(m->created, when, sizeof when);
        cJSON_AddStringToObject(o, "modified_at", when);
    }
    cJSON_AddNumberToObject(o, "size", (double)m->size);
    /* The catalog does not hash model files, so there is no digest to give. */
    cJSON_AddStringToObject(o, "digest", "");
    cJSON_AddItemToObject(o, "details", details_json(m));
    if (running && m->context_length)
        cJSON_AddNumberToObject(o, "context_length", m->context_length);
    return o;
}

static int list(server_call *call, bool running_only)
{
    const server_service *svc = server_svc(call);
    server_model *models = calloc(SERVER_MODELS_MAX, sizeof *models);
    size_t n = 0;
    server_fault f;
    if (!models || svc->list_models(svc->ctx, models, SERVER_MODELS_MAX, &n) != 0) {
        free(models);
        server_fault_set(&f, 500, "server_error", NULL, NULL, "cannot list the models");
        return server_reply_fault(call, &f);
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "models");
    for (size_t i = 0; i < n; i++)
        if (!running_only || models[i].loaded)
            cJSON_AddItemToArray(arr, tag_json(&models[i], running_only));
    free(models);
    return server_reply_json(call, 200, root);
}

int server_h_ollama_tags(server_call *call)
{
    return list(call, false);
}

int server_h_ollama_ps(server_call *call)
{
    return list(call, true);
}

int server_h_ollama_show(server_call *call)
{
    server_fault f;
    cJSON *root = call->body_len ? cJSON_ParseWithLength(call->body, call->body_len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        server_fault_set(&f, 400, "invalid_request_error", NULL, NULL, call->body_len
                         ? "request body is not a valid JSON object" : "missing request body");
        return server_reply_fault(call, &f);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        name = cJSON_GetObjectItemCaseSensitive(root, "name");   /* older clients */
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
        cJSON_Delete(root);
        server_fault_set(&f, 400, "invalid_request_error", NULL, "model", "model is required");
        return server_reply_fault(call, &f);
    }
    server_model m;
    mm_error err = { 0 };
    int rc = server_find_model(call, name->valuestring, &m, &err);
    if (rc != 0) {
        server_fault_set(&f, rc == MM_ENOTFOUND ? 404 : 500, "invalid_request_error", NULL,
                         "model", "model '%.128s' not found", name->valuestring);
        cJSON_Delete(root);
        return server_reply_fault(call, &f);
    }
    cJSON_Delete(root);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "details", details_json(&m));
    cJSON *info = cJSON_AddObjectToObject(o, "model_info");
    if (m.family[0]) {
        cJSON_AddStringToObject(info, "general.architecture", m.family);
        if (m.context_length) {
            char key[64];
            snprintf(key, sizeof key, "%s.context_length", m.family);
            cJSON_AddNumberToObject(info, key, m.context_length);
        }
    }
    if (m.n_params)
        cJSON_AddNumberToObject(info, "general.parameter_count", (double)m.n_params);
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    if (m.created > 0) {
        char when[40];
        mm_time_rfc3339(m.created, when, sizeof when);
        cJSON_AddStringToObject(o, "modified_at", when);
    }
    return server_reply_json(call, 200, o);
}
