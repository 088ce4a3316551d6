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

/* The answers are written straight into the output buffer, byte for byte
 * what cJSON printed before (server_json_string): a tree per answer and
 * cJSON's printf-and-scanf numbers cost more than the rest of a cached
 * answer. */

static void put_str(mm_buf *out, const char *s)
{
    server_json_string(out, s, strlen(s));
}

static void put_usage(const server_gen *g, mm_buf *out)
{
    mm_buf_puts(out, "{\"prompt_tokens\":");
    server_json_int(out, g->res.prompt_tokens);
    mm_buf_puts(out, ",\"completion_tokens\":");
    server_json_int(out, g->res.completion_tokens);
    mm_buf_puts(out, ",\"total_tokens\":");
    server_json_int(out, g->res.prompt_tokens + g->res.completion_tokens);
    mm_buf_puts(out, "}");
}

/* The members every answer and chunk opens with, after its "{". */
static void put_base(const server_gen *g, const char *object, mm_buf *out)
{
    mm_buf_puts(out, "{\"id\":");
    put_str(out, g->id);
    mm_buf_puts(out, ",\"object\":");
    put_str(out, object);
    mm_buf_puts(out, ",\"created\":");
    server_json_int(out, g->created);
    mm_buf_puts(out, ",\"model\":");
    put_str(out, g->model.id);
    mm_buf_puts(out, ",\"system_fingerprint\":\"" FINGERPRINT "\"");
}

static bool chat_api(const server_gen *g)
{
    return g->rq.api == SERVER_API_CHAT;
}

static const char *chunk_object(const server_gen *g)
{
    return chat_api(g) ? "chat.completion.chunk" : "text_completion";
}

/* One SSE event with one choice: the chat delta given as its JSON members
 * (delta_members, "" for {}) or, when delta_members is NULL, a text
 * completion's `text` of len bytes. */
static void chunk(const server_gen *g, mm_buf *out, const char *delta_members,
                  const char *text, size_t len, const char *finish)
{
    mm_buf_puts(out, "data: ");
    put_base(g, chunk_object(g), out);
    mm_buf_puts(out, ",\"choices\":[{\"index\":0,");
    if (delta_members) {
        mm_buf_puts(out, "\"delta\":{");
        mm_buf_puts(out, delta_members);
        if (text) {
            mm_buf_puts(out, "\"content\":");
            server_json_string(out, text, len);
        }
        mm_buf_puts(out, "}");
    } else {
        mm_buf_puts(out, "\"text\":");
        server_json_string(out, text ? text : "", text ? len : 0);
    }
    mm_buf_puts(out, ",\"logprobs\":null,\"finish_reason\":");
    if (finish)
        put_str(out, finish);
    else
        mm_buf_puts(out, "null");
    mm_buf_puts(out, "}]");
    if (g->rq.include_usage)
        mm_buf_puts(out, ",\"usage\":null");
    mm_buf_puts(out, "}\n\n");
}

static void f_begin(server_gen *g, mm_buf *out)
{
    if (!chat_api(g))
        return;   /* legacy completions have no role chunk */
    chunk(g, out, "\"role\":\"assistant\",", "", 0, NULL);
}

static void f_piece(server_gen *g, const char *text, size_t len, mm_buf *out)
{
    chunk(g, out, chat_api(g) ? "" : NULL, text, len, NULL);
}

static void f_end(server_gen *g, mm_buf *out)
{
    const char *finish = finish_name(g->res.finish);
    if (chat_api(g))
        chunk(g, out, "", NULL, 0, finish);
    else
        chunk(g, out, NULL, "", 0, finish);
    if (g->rq.include_usage) {
        mm_buf_puts(out, "data: ");
        put_base(g, chunk_object(g), out);
        mm_buf_puts(out, ",\"choices\":[],\"usage\":");
        put_usage(g, out);
        mm_buf_puts(out, "}\n\n");
    }
    mm_buf_puts(out, "data: [DONE]\n\n");
}

static void f_error(server_gen *g, const char *message, mm_buf *out)
{
    (void)g;
    mm_buf_puts(out, "data: {\"error\":{\"message\":");
    put_str(out, message);
    mm_buf_puts(out, ",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
}

static void f_whole(server_gen *g, mm_buf *out)
{
    bool chat = chat_api(g);
    const char *text = g->text.data ? g->text.data : "";
    put_base(g, chat ? "chat.completion" : "text_completion", out);
    mm_buf_puts(out, ",\"choices\":[{\"index\":0,");
    if (chat) {
        mm_buf_puts(out, "\"message\":{\"role\":\"assistant\",\"content\":");
        put_str(out, text);
        mm_buf_puts(out, ",\"refusal\":null}");
    } else {
        mm_buf_puts(out, "\"text\":");
        put_str(out, text);
    }
    mm_buf_puts(out, ",\"logprobs\":null,\"finish_reason\":");
    put_str(out, finish_name(g->res.finish));
    mm_buf_puts(out, "}],\"usage\":");
    put_usage(g, out);
    mm_buf_puts(out, "}");
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
