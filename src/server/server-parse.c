/* server-parse.c - request bodies to validated server_request structs, for
 * the OpenAI (chat, completions) and Ollama (generate, chat) APIs. Pure
 * functions: every refusal is a 400 naming the field, and a field the server
 * cannot honour is refused rather than ignored. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BAD "invalid_request_error"

int server_fault_set(server_fault *f, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...)
{
    if (!f)
        return -1;
    f->status = status;
    f->type = type;
    f->code = code;
    mm_strlcpy(f->param, param ? param : "", sizeof f->param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int bad(server_fault *f, const char *param, const char *fmt, ...) MM_PRINTF(3, 4);
static int bad(server_fault *f, const char *param, const char *fmt, ...)
{
    char msg[MM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return server_fault_set(f, 400, BAD, NULL, param, "%s", msg);
}

static int oom(server_fault *f)
{
    return server_fault_set(f, 500, "server_error", NULL, NULL, "out of memory");
}

/* A member that is absent or JSON null counts as not given. */
static const cJSON *member(const cJSON *obj, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    return (m && !cJSON_IsNull(m)) ? m : NULL;
}

/* 1: set, 0: absent, -1: error. */
static int get_number(const cJSON *obj, const char *name, const char *param, double min,
                      double max, double *out, server_fault *f)
{
    const cJSON *m = member(obj, name);
    if (!m)
        return 0;
    if (!cJSON_IsNumber(m))
        return bad(f, param, "'%s' must be a number", param);
    if (!(m->valuedouble >= min && m->valuedouble <= max))
        return bad(f, param, "'%s' must be between %g and %g (got %g)", param, min, max,
                   m->valuedouble);
    *out = m->valuedouble;
    return 1;
}

static int get_int(const cJSON *obj, const char *name, const char *param, int64_t min,
                   int64_t max, int64_t *out, server_fault *f)
{
    const cJSON *m = member(obj, name);
    if (!m)
        return 0;
    double v = m->valuedouble;
    if (!cJSON_IsNumber(m) || v != floor(v) || !(fabs(v) < 9.0e15))
        return bad(f, param, "'%s' must be an integer", param);
    if (v < (double)min || v > (double)max)
        return bad(f, param, "'%s' must be between %lld and %lld (got %.0f)", param,
                   (long long)min, (long long)max, v);
    *out = (int64_t)v;
    return 1;
}

static int get_bool(const cJSON *obj, const char *name, bool *out, server_fault *f)
{
    const cJSON *m = member(obj, name);
    if (!m)
        return 0;
    if (!cJSON_IsBool(m))
        return bad(f, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(m);
    return 1;
}

/* A string member copied into *out (caller frees); 0 absent, 1 set, -1 error. */
static int get_string(const cJSON *obj, const char *name, const char *param, size_t max_len,
                      char **out, server_fault *f)
{
    const cJSON *m = member(obj, name);
    if (!m)
        return 0;
    if (!cJSON_IsString(m))
        return bad(f, param, "'%s' must be a string", param);
    if (strlen(m->valuestring) > max_len)
        return bad(f, param, "'%s' is longer than %zu bytes", param, max_len);
    *out = mm_strdup(m->valuestring);
    return *out ? 1 : oom(f);
}

/* Refuse a field that is set to anything but its "off" value. */
static int refuse_if_set(const cJSON *obj, const char *name, const char *why, server_fault *f)
{
    const cJSON *m = member(obj, name);
    if (!m || cJSON_IsFalse(m))
        return 0;
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 0)
        return 0;
    if (cJSON_IsObject(m) && !m->child)
        return 0;
    if (cJSON_IsString(m) && m->valuestring[0] == '\0')
        return 0;
    return bad(f, name, "'%s' is not supported: %s", name, why);
}

static int parse_model(const cJSON *root, bool required, server_request *rq, server_fault *f)
{
    char *model = NULL;
    /* the id must fit server_model.id with its terminating NUL */
    int rc = get_string(root, "model", "model", SERVER_MODEL_NAME_MAX - 1, &model, f);
    if (rc < 0)
        return -1;
    if (model && (model[0] == '\0' || strcmp(model, "auto") == 0)) {
        free(model);
        model = NULL;
    }
    if (!model && required)
        return bad(f, "model", "model is required");
    rq->model = model;
    return 0;
}

static int add_stop(server_request *rq, const cJSON *item, const char *param, server_fault *f)
{
    if (!cJSON_IsString(item))
        return bad(f, param, "'%s' must be a string or an array of strings", param);
    size_t len = strlen(item->valuestring);
    if (len == 0)
        return bad(f, param, "'%s' must not contain an empty string", param);
    if (len > SERVER_STOP_LEN_MAX)
        return bad(f, param, "a '%s' string is longer than %d bytes", param,
                   SERVER_STOP_LEN_MAX);
    if (rq->n_stop == SERVER_STOP_MAX)
        return bad(f, param, "'%s' takes at most %d strings", param, SERVER_STOP_MAX);
    rq->stop[rq->n_stop] = mm_strdup(item->valuestring);
    if (!rq->stop[rq->n_stop])
        return oom(f);
    rq->n_stop++;
    return 0;
}

static int parse_stop(const cJSON *stop, const char *param, server_request *rq, server_fault *f)
{
    if (!stop || cJSON_IsNull(stop))
        return 0;
    if (cJSON_IsString(stop))
        return add_stop(rq, stop, param, f);
    if (!cJSON_IsArray(stop))
        return bad(f, param, "'%s' must be a string or an array of strings", param);
    const cJSON *item;
    cJSON_ArrayForEach(item, stop)
        if (add_stop(rq, item, param, f) < 0)
            return -1;
    return 0;
}

/* Content: a string, or an array of text parts joined in order. */
static int parse_content(const cJSON *content, bool null_ok, const char *param, char **out,
                         server_fault *f)
{
    if (!content || cJSON_IsNull(content)) {
        if (!null_ok)
            return bad(f, param, "'%s' is required", param);
        *out = mm_strdup("");
        return *out ? 0 : oom(f);
    }
    if (cJSON_IsString(content)) {
        *out = mm_strdup(content->valuestring);
        return *out ? 0 : oom(f);
    }
    if (!cJSON_IsArray(content))
        return bad(f, param, "'%s' must be a string or an array of content parts", param);
    mm_buf text;
    mm_buf_init(&text, SIZE_MAX / 2);
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type)) {
            mm_buf_free(&text);
            return bad(f, param, "each part of '%s' must be an object with a 'type'", param);
        }
        if (strcmp(type->valuestring, "text") != 0) {
            mm_buf_free(&text);
            return bad(f, param, "content part type '%.40s' is not supported: this server "
                       "accepts text parts only", type->valuestring);
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) {
            mm_buf_free(&text);
            return bad(f, param, "a text part of '%s' needs a string 'text'", param);
        }
        mm_buf_puts(&text, t->valuestring);
    }
    if (text.failed) {
        mm_buf_free(&text);
        return oom(f);
    }
    *out = mm_buf_take(&text);
    return *out ? 0 : oom(f);
}

/* "messages[I]" + suffix into out, the field an error names. Built for
 * every message, so by hand: snprintf cost more than the rest of the
 * message's checks. */
static void msg_param(char *out, size_t size, size_t i, const char *suffix)
{
    char digits[24];
    size_t n = sizeof digits;
    do {
        digits[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i && n);
    char text[64] = "messages[";
    size_t len = strlen(text);
    memcpy(text + len, digits + n, sizeof digits - n);
    len += sizeof digits - n;
    text[len++] = ']';
    text[len] = '\0';
    mm_strlcpy(text + len, suffix, sizeof text - len);
    mm_strlcpy(out, text, size);
}

const char *server_role_name(server_role role)
{
    switch (role) {
    case SERVER_ROLE_SYSTEM:    return "system";
    case SERVER_ROLE_USER:      return "user";
    case SERVER_ROLE_ASSISTANT: return "assistant";
    case SERVER_ROLE_TOOL:      return "tool";
    }
    return "user";
}

static int parse_role(const cJSON *role, size_t i, server_role *out, server_fault *f)
{
    static const struct { const char *name; server_role role; } roles[] = {
        { "system", SERVER_ROLE_SYSTEM }, { "developer", SERVER_ROLE_SYSTEM },
        { "user", SERVER_ROLE_USER }, { "assistant", SERVER_ROLE_ASSISTANT },
        { "tool", SERVER_ROLE_TOOL },
    };
    char param[48];
    msg_param(param, sizeof param, i, ".role");
    if (!cJSON_IsString(role))
        return bad(f, param, "'%s' must be a string", param);
    for (size_t r = 0; r < MM_ARRAY_LEN(roles); r++)
        if (strcasecmp(role->valuestring, roles[r].name) == 0) {
            *out = roles[r].role;
            return 0;
        }
    return bad(f, param, "'%s' must be system, developer, user, assistant or tool (got "
               "'%.40s')", param, role->valuestring);
}

static int parse_message(const cJSON *msg, size_t i, bool ollama, server_message *out,
                         server_fault *f)
{
    char param[48];
    msg_param(param, sizeof param, i, "");
    if (!cJSON_IsObject(msg))
        return bad(f, param, "'%s' must be an object", param);
    if (parse_role(cJSON_GetObjectItemCaseSensitive(msg, "role"), i, &out->role, f) < 0)
        return -1;
    if (refuse_if_set(msg, "tool_calls", "tool calls need a model with tool support, and "
                      "no model served here has it yet", f) < 0 ||
        refuse_if_set(msg, "function_call", "function calls are not supported", f) < 0 ||
        refuse_if_set(msg, "images", "this server accepts text only", f) < 0 ||
        refuse_if_set(msg, "audio", "this server accepts text only", f) < 0) {
        snprintf(f->param, sizeof f->param, "%s", param);
        return -1;
    }
    msg_param(param, sizeof param, i, ".content");
    bool null_ok = out->role == SERVER_ROLE_ASSISTANT || ollama;
    if (parse_content(cJSON_GetObjectItemCaseSensitive(msg, "content"), null_ok, param,
                      &out->content, f) < 0)
        return -1;
    msg_param(param, sizeof param, i, ".name");
    if (get_string(msg, "name", param, 256, &out->name, f) < 0)
        return -1;
    msg_param(param, sizeof param, i, ".tool_call_id");
    if (get_string(msg, "tool_call_id", param, 256, &out->tool_call_id, f) < 0)
        return -1;
    if (out->role == SERVER_ROLE_TOOL && !out->tool_call_id && !ollama)
        return bad(f, param, "'%s' is required for a tool message", param);
    return 0;
}

static int parse_messages(const cJSON *root, bool ollama, server_request *rq, server_fault *f)
{
    const cJSON *msgs = member(root, "messages");
    if (!msgs)
        return ollama ? 0 : bad(f, "messages", "'messages' is required");
    if (!cJSON_IsArray(msgs))
        return bad(f, "messages", "'messages' must be an array");
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    if (n == 0 && !ollama)
        return bad(f, "messages", "'messages' must contain at least one message");
    if (n > SERVER_MESSAGES_MAX)
        return bad(f, "messages", "'messages' holds %zu messages; at most %d are accepted",
                   n, SERVER_MESSAGES_MAX);
    if (n == 0)
        return 0;
    rq->messages = calloc(n, sizeof *rq->messages);
    if (!rq->messages)
        return oom(f);
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        if (parse_message(msg, rq->n_messages, ollama, &rq->messages[rq->n_messages], f) < 0) {
            rq->n_messages++;   /* so clear() frees the partial message */
            return -1;
        }
        rq->n_messages++;
    }
    return 0;
}

/* Fields of both OpenAI endpoints that this server does not implement. */
static int refuse_openai_unsupported(const cJSON *root, server_fault *f)
{
    int64_t n = 1;
    if (get_int(root, "n", "n", 1, 128, &n, f) < 0)
        return -1;
    if (n != 1)
        return bad(f, "n", "'n' must be 1: this server generates one choice per request");
    if (refuse_if_set(root, "logit_bias", "token biasing is not implemented", f) < 0 ||
        refuse_if_set(root, "best_of", "only one candidate is generated", f) < 0 ||
        refuse_if_set(root, "echo", "the prompt is not echoed", f) < 0 ||
        refuse_if_set(root, "suffix", "insertion (fill-in-the-middle) is not implemented", f) < 0 ||
        refuse_if_set(root, "tools", "no model served here supports tool calls yet", f) < 0 ||
        refuse_if_set(root, "functions", "function calls are not supported", f) < 0 ||
        refuse_if_set(root, "function_call", "function calls are not supported", f) < 0 ||
        refuse_if_set(root, "audio", "this server produces text only", f) < 0 ||
        refuse_if_set(root, "prediction", "predicted outputs are not implemented", f) < 0)
        return -1;
    const cJSON *lp = member(root, "logprobs");
    if (lp && !cJSON_IsFalse(lp))
        return bad(f, "logprobs", "'logprobs' is not supported: token log-probabilities "
                   "are not reported");
    if (member(root, "top_logprobs"))
        return bad(f, "top_logprobs", "'top_logprobs' is not supported: token "
                   "log-probabilities are not reported");
    const cJSON *tc = member(root, "tool_choice");
    if (tc && !(cJSON_IsString(tc) && strcmp(tc->valuestring, "none") == 0))
        return bad(f, "tool_choice", "'tool_choice' must be \"none\": no model served here "
                   "supports tool calls yet");
    const cJSON *rf = member(root, "response_format");
    if (rf) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
            return bad(f, "response_format", "'response_format' must be an object with a 'type'");
        if (strcmp(type->valuestring, "text") != 0)
            return bad(f, "response_format", "response_format type '%.40s' is not supported: "
                       "constrained output is not implemented", type->valuestring);
    }
    return 0;
}

static int parse_openai(const cJSON *root, server_request *rq, server_fault *f)
{
    bool chat = rq->api == SERVER_API_CHAT;
    if (parse_model(root, false, rq, f) < 0 || refuse_openai_unsupported(root, f) < 0)
        return -1;
    if (chat) {
        if (parse_messages(root, false, rq, f) < 0)
            return -1;
    } else {
        const cJSON *prompt = member(root, "prompt");
        if (!prompt)
            return bad(f, "prompt", "'prompt' is required");
        if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 1 &&
            cJSON_IsString(prompt->child))
            prompt = prompt->child;
        if (!cJSON_IsString(prompt))
            return bad(f, "prompt", "'prompt' must be a string (token arrays and several "
                       "prompts are not supported)");
        rq->prompt = mm_strdup(prompt->valuestring);
        if (!rq->prompt)
            return oom(f);
    }
    rq->temperature = 1.0;
    rq->top_p = 1.0;
    rq->max_tokens = chat ? -1 : 16;
    if (get_number(root, "temperature", "temperature", 0, 2, &rq->temperature, f) < 0 ||
        get_number(root, "top_p", "top_p", 0, 1, &rq->top_p, f) < 0 ||
        get_number(root, "presence_penalty", "presence_penalty", -2, 2,
                   &rq->presence_penalty, f) < 0 ||
        get_number(root, "frequency_penalty", "frequency_penalty", -2, 2,
                   &rq->frequency_penalty, f) < 0)
        return -1;
    int has = chat ? get_int(root, "max_completion_tokens", "max_completion_tokens", 1,
                             SERVER_TOKENS_MAX, &rq->max_tokens, f) : 0;
    if (has < 0)
        return -1;
    if (!has && get_int(root, "max_tokens", "max_tokens", 1, SERVER_TOKENS_MAX,
                        &rq->max_tokens, f) < 0)
        return -1;
    int seed = get_int(root, "seed", "seed", INT64_MIN / 2, INT64_MAX / 2, &rq->seed, f);
    if (seed < 0)
        return -1;
    rq->has_seed = seed == 1;
    if (parse_stop(cJSON_GetObjectItemCaseSensitive(root, "stop"), "stop", rq, f) < 0 ||
        get_bool(root, "stream", &rq->stream, f) < 0)
        return -1;
    const cJSON *so = member(root, "stream_options");
    if (so) {
        if (!rq->stream)
            return bad(f, "stream_options", "'stream_options' is only allowed when 'stream' "
                       "is true");
        if (!cJSON_IsObject(so))
            return bad(f, "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &rq->include_usage, f) < 0) {
            snprintf(f->param, sizeof f->param, "stream_options.include_usage");
            return -1;
        }
    }
    return 0;
}

/* Ollama `options`: unknown keys are ignored (as Ollama does), known ones
 * must have the right type, and ones that change output but are not
 * implemented are refused. */
static int parse_ollama_options(const cJSON *opts, server_request *rq, server_fault *f)
{
    if (!opts)
        return 0;
    if (!cJSON_IsObject(opts))
        return bad(f, "options", "'options' must be an object");
    if (get_number(opts, "temperature", "options.temperature", 0, 2, &rq->temperature, f) < 0 ||
        get_number(opts, "top_p", "options.top_p", 0, 1, &rq->top_p, f) < 0 ||
        get_number(opts, "presence_penalty", "options.presence_penalty", -2, 2,
                   &rq->presence_penalty, f) < 0 ||
        get_number(opts, "frequency_penalty", "options.frequency_penalty", -2, 2,
                   &rq->frequency_penalty, f) < 0)
        return -1;
    int64_t num_predict = -1;
    if (get_int(opts, "num_predict", "options.num_predict", -2, SERVER_TOKENS_MAX,
                &num_predict, f) < 0)
        return -1;
    rq->max_tokens = num_predict < 0 ? -1 : num_predict;
    int64_t seed = -1;
    if (get_int(opts, "seed", "options.seed", INT64_MIN / 2, INT64_MAX / 2, &seed, f) < 0)
        return -1;
    rq->has_seed = seed >= 0;     /* Ollama: -1 means a random seed */
    rq->seed = seed >= 0 ? seed : 0;
    return parse_stop(cJSON_GetObjectItemCaseSensitive(opts, "stop"), "options.stop", rq, f);
}

/* One Go duration ("1h30m", "300ms", "-1s", "0") in milliseconds; -1 for a
 * negative one. 0 or -1 (not a duration). */
static int go_duration_ms(const char *s, double *ms)
{
    static const struct { const char *unit; double ms; } units[] = {
        { "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "\xce\xbcs", 1e-3 },
        { "ms", 1 }, { "s", 1e3 }, { "m", 60e3 }, { "h", 3600e3 },
    };
    bool negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    if (!*s)
        return -1;
    while (*s) {
        double value = 0, scale = 1;
        bool digits = false, dot = false;
        for (; (*s >= '0' && *s <= '9') || (*s == '.' && !dot); s++) {
            if (*s == '.') {
                dot = true;
                continue;
            }
            digits = true;
            if (dot)
                value += (*s - '0') * (scale /= 10);
            else
                value = value * 10 + (*s - '0');
        }
        if (!digits)
            return -1;
        size_t best = MM_ARRAY_LEN(units), best_len = 0;
        for (size_t i = 0; i < MM_ARRAY_LEN(units); i++) {
            size_t n = strlen(units[i].unit);
            if (n > best_len && strncmp(s, units[i].unit, n) == 0) {
                best = i;
                best_len = n;
            }
        }
        if (best == MM_ARRAY_LEN(units))
            return -1;
        total += value * units[best].ms;
        s += best_len;
    }
    *ms = negative && total > 0 ? -1 : total;
    return 0;
}

int server_parse_keep_alive(const cJSON *value, int64_t *ms, server_fault *f)
{
    /* Past ~292 years Go's durations overflow; treat that as forever. */
    const double forever = 9.2e15;
    double v = 0;
    if (cJSON_IsNumber(value)) {
        v = value->valuedouble < 0 ? -1 : value->valuedouble * 1000.0;
    } else if (cJSON_IsString(value) && strlen(value->valuestring) <= 64 &&
               go_duration_ms(value->valuestring, &v) == 0) {
        /* parsed */
    } else {
        return bad(f, "keep_alive", "'keep_alive' must be a duration such as \"5m\", "
                   "\"1h30m\" or \"300ms\", or a number of seconds (0: unload after the "
                   "request, negative: keep loaded)");
    }
    if (v < 0 || v >= forever)
        *ms = -1;
    else
        *ms = v > 0 && v < 1 ? 1 : (int64_t)v;
    return 0;
}

static int parse_ollama(const cJSON *root, server_request *rq, server_fault *f)
{
    bool chat = rq->api == SERVER_API_OLLAMA_CHAT;
    if (parse_model(root, true, rq, f) < 0)
        return -1;
    if (refuse_if_set(root, "format", "constrained output is not implemented", f) < 0 ||
        refuse_if_set(root, "images", "this server accepts text only", f) < 0 ||
        refuse_if_set(root, "tools", "no model served here supports tool calls yet", f) < 0 ||
        refuse_if_set(root, "think", "no model served here has a thinking mode", f) < 0 ||
        refuse_if_set(root, "raw", "prompts are always templated", f) < 0 ||
        refuse_if_set(root, "template", "the model's own template is used", f) < 0 ||
        refuse_if_set(root, "context", "context token arrays are not supported", f) < 0 ||
        refuse_if_set(root, "suffix", "insertion (fill-in-the-middle) is not implemented", f) < 0 ||
        refuse_if_set(root, "logprobs", "token log-probabilities are not reported", f) < 0)
        return -1;
    if (chat) {
        if (parse_messages(root, true, rq, f) < 0)
            return -1;
    } else {
        int rc = get_string(root, "prompt", "prompt", SIZE_MAX / 2, &rq->prompt, f);
        if (rc < 0)
            return -1;
        if (!rq->prompt && !(rq->prompt = mm_strdup("")))
            return oom(f);
        if (get_string(root, "system", "system", SIZE_MAX / 2, &rq->system, f) < 0)
            return -1;
    }
    rq->temperature = 0.8;   /* Ollama's defaults */
    rq->top_p = 0.9;
    rq->max_tokens = -1;
    rq->stream = true;       /* Ollama streams unless told not to */
    if (get_bool(root, "stream", &rq->stream, f) < 0)
        return -1;
    const cJSON *keep = member(root, "keep_alive");
    if (keep) {
        if (server_parse_keep_alive(keep, &rq->keep_alive_ms, f) < 0)
            return -1;
        rq->has_keep_alive = true;
    }
    return parse_ollama_options(member(root, "options"), rq, f);
}

int server_request_parse(server_api api, const char *body, size_t len, server_request *out,
                         server_fault *f)
{
    memset(out, 0, sizeof *out);
    out->api = api;
    if (!body || len == 0)
        return bad(f, NULL, "missing request body: send a JSON object");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root) {
        size_t at = (end && end >= body && end <= body + len) ? (size_t)(end - body) : 0;
        return bad(f, NULL, "request body is not valid JSON: syntax error at byte %zu of %zu",
                   at, len);
    }
    int rc;
    if (!cJSON_IsObject(root))
        rc = bad(f, NULL, "request body must be a JSON object");
    else if (api == SERVER_API_CHAT || api == SERVER_API_COMPLETION)
        rc = parse_openai(root, out, f);
    else
        rc = parse_ollama(root, out, f);
    cJSON_Delete(root);
    if (rc < 0)
        server_request_clear(out);
    return rc < 0 ? -1 : 0;
}

void server_request_clear(server_request *rq)
{
    if (!rq)
        return;
    for (size_t i = 0; i < rq->n_messages; i++) {
        free(rq->messages[i].content);
        free(rq->messages[i].name);
        free(rq->messages[i].tool_call_id);
    }
    free(rq->messages);
    for (size_t i = 0; i < rq->n_stop; i++)
        free(rq->stop[i]);
    free(rq->model);
    free(rq->strategy);
    free(rq->prompt);
    free(rq->system);
    server_api api = rq->api;
    memset(rq, 0, sizeof *rq);
    rq->api = api;
}
