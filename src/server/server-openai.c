/* server-openai.c - the OpenAI-compatible endpoints: chat completions and
 * legacy completions (whole JSON answers or SSE streams ending in
 * `data: [DONE]`) and the model list. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT "fp_modelmgr"

static const char *finish_name(server_finish f)
{
    return f == SERVER_FINISH_LENGTH ? "length" : "stop";
}

/* One SSE event: "data: <json>\n\n". Takes obj. */
static void sse(mm_buf *out, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        out->failed = true;
        return;
    }
    mm_buf_puts(out, "data: ");
    mm_buf_puts(out, text);
    mm_buf_puts(out, "\n\n");
    free(text);
}

static cJSON *usage_json(const server_gen *g)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)g->res.prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)g->res.completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens",
                            (double)(g->res.prompt_tokens + g->res.completion_tokens));
    return u;
}

static cJSON *base(const server_gen *g, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)g->created);
    cJSON_AddStringToObject(o, "model", g->model.id);
    cJSON_AddStringToObject(o, "system_fingerprint", FINGERPRINT);
    return o;
}

static bool chat_api(const server_gen *g)
{
    return g->rq.api == SERVER_API_CHAT;
}

/* A chunk with one choice; delta_or_text is the chat delta object (taken) or
 * NULL for a text completion's `text`. */
static cJSON *chunk(const server_gen *g, cJSON *delta, const char *text, size_t len,
                    const char *finish)
{
    cJSON *o = base(g, chat_api(g) ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (delta) {
        cJSON_AddItemToObject(c, "delta", delta);
    } else {
        char *copy = mm_strndup(text ? text : "", len);
        cJSON_AddStringToObject(c, "text", copy ? copy : "");
        free(copy);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    if (g->rq.include_usage)
        cJSON_AddNullToObject(o, "usage");
    return o;
}

static void f_begin(server_gen *g, mm_buf *out)
{
    if (!chat_api(g))
        return;   /* legacy completions have no role chunk */
    cJSON *delta = cJSON_CreateObject();
    cJSON_AddStringToObject(delta, "role", "assistant");
    cJSON_AddStringToObject(delta, "content", "");
    sse(out, chunk(g, delta, NULL, 0, NULL));
}

static void f_piece(server_gen *g, const char *text, size_t len, mm_buf *out)
{
    if (chat_api(g)) {
        cJSON *delta = cJSON_CreateObject();
        char *copy = mm_strndup(text, len);
        cJSON_AddStringToObject(delta, "content", copy ? copy : "");
        free(copy);
        sse(out, chunk(g, delta, NULL, 0, NULL));
    } else {
        sse(out, chunk(g, NULL, text, len, NULL));
    }
}

static void f_end(server_gen *g, mm_buf *out)
{
    const char *finish = finish_name(g->res.finish);
    sse(out, chunk(g, chat_api(g) ? cJSON_CreateObject() : NULL, "", 0, finish));
    if (g->rq.include_usage) {
        cJSON *o = base(g, chat_api(g) ? "chat.completion.chunk" : "text_completion");
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(g));
        sse(out, o);
    }
    mm_buf_puts(out, "data: [DONE]\n\n");
}

static void f_error(server_gen *g, const char *message, mm_buf *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", "server_error");
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    sse(out, o);
}

static cJSON *f_whole(server_gen *g)
{
    bool chat = chat_api(g);
    cJSON *o = base(g, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    const char *text = g->text.data ? g->text.data : "";
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
        cJSON_AddNullToObject(m, "refusal");
    } else {
        cJSON_AddStringToObject(c, "text", text);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_name(g->res.finish));
    cJSON_AddItemToObject(o, "usage", usage_json(g));
    return o;
}

static const server_framing openai_framing = {
    .content_type = "text/event-stream",
    .begin = f_begin, .piece = f_piece, .end = f_end, .error = f_error, .whole = f_whole,
};

static int generate(server_call *call, server_api api)
{
    server_request rq;
    server_model model;
    int reply;
    if (server_prepare_generation(call, api, &rq, &model, &reply) < 0)
        return reply;
    MM_LOG_DEBUG("request %s: %zu message(s), prompt %s", call->request_id, rq.n_messages,
                 rq.prompt ? rq.prompt : "-");
    server_gen *g = server_gen_new(call, &rq, &model,
                                   api == SERVER_API_CHAT ? "chatcmpl-" : "cmpl-",
                                   &openai_framing);
    if (!g) {
        server_fault f;
        server_fault_set(&f, 500, "server_error", NULL, NULL, "out of memory");
        return server_reply_fault(call, &f);
    }
    return server_gen_run(call, g);
}

int server_h_chat(server_call *call)
{
    return generate(call, SERVER_API_CHAT);
}

int server_h_completions(server_call *call)
{
    return generate(call, SERVER_API_COMPLETION);
}

static cJSON *model_json(const server_model *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "owned_by", "modelmgr");
    return o;
}

int server_h_models(server_call *call)
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
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, model_json(&models[i]));
    free(models);
    return server_reply_json(call, 200, root);
}

int server_h_model(server_call *call)
{
    const char *id = strchr(call->url + 1, '/');      /* "/v1/models/x" or "/models/x" */
    if (mm_str_has_prefix(call->url, "/v1/"))
        id = strchr(id + 1, '/');
    id = id ? id + 1 : "";
    server_model model;
    mm_error err = { 0 };
    server_fault f;
    int rc = server_svc(call)->find_model(server_svc(call)->ctx, id, &model, &err);
    if (rc != 0) {
        server_fault_from_error(&f, rc, err.message);
        return server_reply_fault(call, &f);
    }
    mm_strlcpy(call->model, model.id, sizeof call->model);
    return server_reply_json(call, 200, model_json(&model));
}
