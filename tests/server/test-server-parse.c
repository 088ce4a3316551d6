/* test-server-parse.c - the request parsers on their own: every accepted
 * shape fills the struct as written by hand here, every refused field gives
 * a 400 naming it. */
#include "server/server.h"
#include "support/test.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

static int parse(server_api api, const char *body, server_request *rq, server_fault *f)
{
    memset(f, 0, sizeof *f);
    return server_request_parse(api, body, strlen(body), rq, f);
}

/* body must be refused with 400, naming param and mentioning needle. */
static void refused(server_api api, const char *body, const char *param, const char *needle)
{
    server_request rq;
    server_fault f;
    int rc = parse(api, body, &rq, &f);
    CHECK_INT(rc, -1);
    CHECK_INT(f.status, 400);
    CHECK_STR(f.type, "invalid_request_error");
    if (param)
        CHECK_STR(f.param, param);
    CHECK_CONTAINS(f.message, needle);
    if (rc == 0)
        server_request_clear(&rq);
}

static void test_chat_full(void)
{
    const char *body =
        "{\"model\":\"m1\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"Developer\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"user\",\"content\":\"hi\",\"name\":\"ann\"},"
        "{\"role\":\"assistant\",\"content\":null},"
        "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"call_1\"}],"
        "\"temperature\":0.5,\"top_p\":0.25,\"max_tokens\":7,\"max_completion_tokens\":9,"
        "\"stop\":[\"x\",\"yy\"],\"seed\":123,\"presence_penalty\":-1.5,"
        "\"frequency_penalty\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"user\":\"ignored\",\"n\":1,\"logprobs\":false,\"tool_choice\":\"none\","
        "\"response_format\":{\"type\":\"text\"}}";
    server_request rq;
    server_fault f;
    CHECK_INT(parse(SERVER_API_CHAT, body, &rq, &f), 0);
    CHECK_STR(rq.model, "m1");
    CHECK_INT(rq.n_messages, 5);
    if (rq.n_messages == 5) {
        CHECK_INT(rq.messages[0].role, SERVER_ROLE_SYSTEM);
        CHECK_STR(rq.messages[0].content, "be brief");
        CHECK_INT(rq.messages[1].role, SERVER_ROLE_SYSTEM);
        CHECK_STR(rq.messages[1].content, "ab");
        CHECK_INT(rq.messages[2].role, SERVER_ROLE_USER);
        CHECK_STR(rq.messages[2].name, "ann");
        CHECK_INT(rq.messages[3].role, SERVER_ROLE_ASSISTANT);
        CHECK_STR(rq.messages[3].content, "");
        CHECK_INT(rq.messages[4].role, SERVER_ROLE_TOOL);
        CHECK_STR(rq.messages[4].tool_call_id, "call_1");
    }
    CHECK_NEAR(rq.temperature, 0.5, 1e-12);
    CHECK_NEAR(rq.top_p, 0.25, 1e-12);
    CHECK_INT(rq.max_tokens, 9);       /* max_completion_tokens wins */
    CHECK_INT(rq.n_stop, 2);
    CHECK_STR(rq.stop[1], "yy");
    CHECK(rq.has_seed);
    CHECK_INT(rq.seed, 123);
    CHECK_NEAR(rq.presence_penalty, -1.5, 1e-12);
    CHECK_NEAR(rq.frequency_penalty, 2.0, 1e-12);
    CHECK(rq.stream);
    CHECK(rq.include_usage);
    server_request_clear(&rq);
}

static void test_defaults(void)
{
    server_request rq;
    server_fault f;
    CHECK_INT(parse(SERVER_API_CHAT, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                    "\"content\":\"x\"}],\"temperature\":null}", &rq, &f), 0);
    CHECK(rq.model == NULL);          /* "auto": the default model */
    CHECK_NEAR(rq.temperature, 1.0, 0);
    CHECK_NEAR(rq.top_p, 1.0, 0);
    CHECK_INT(rq.max_tokens, -1);
    CHECK(!rq.stream);
    CHECK(!rq.has_seed);
    CHECK_INT(rq.n_stop, 0);
    server_request_clear(&rq);

    CHECK_INT(parse(SERVER_API_COMPLETION, "{\"prompt\":[\"once\"],\"stop\":\"\\n\"}", &rq, &f), 0);
    CHECK(rq.model == NULL);
    CHECK_STR(rq.prompt, "once");
    CHECK_INT(rq.max_tokens, 16);     /* the legacy API's default */
    CHECK_INT(rq.n_stop, 1);
    CHECK_STR(rq.stop[0], "\n");
    server_request_clear(&rq);

    CHECK_INT(parse(SERVER_API_OLLAMA_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"system\":\"s\","
                    "\"options\":{\"temperature\":0.1,\"num_predict\":3,\"seed\":-1,"
                    "\"stop\":[\"a\"],\"mirostat\":2},\"keep_alive\":\"5m\"}", &rq, &f), 0);
    CHECK_STR(rq.model, "m");
    CHECK_STR(rq.system, "s");
    CHECK(rq.stream);                 /* Ollama streams by default */
    CHECK_NEAR(rq.temperature, 0.1, 1e-12);
    CHECK_NEAR(rq.top_p, 0.9, 1e-12);
    CHECK_INT(rq.max_tokens, 3);
    CHECK(!rq.has_seed);              /* -1: random */
    CHECK_INT(rq.n_stop, 1);
    server_request_clear(&rq);

    CHECK_INT(parse(SERVER_API_OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[],\"stream\":false,"
                    "\"options\":{\"seed\":7,\"num_predict\":-1}}", &rq, &f), 0);
    CHECK_INT(rq.n_messages, 0);      /* load only */
    CHECK(!rq.stream);
    CHECK(rq.has_seed);
    CHECK_INT(rq.seed, 7);
    CHECK_INT(rq.max_tokens, -1);
    server_request_clear(&rq);
}

static void test_refusals(void)
{
    const server_api C = SERVER_API_CHAT;
    refused(C, "", NULL, "missing request body");
    refused(C, "{\"messages\": [", NULL, "not valid JSON");
    refused(C, "[1,2]", NULL, "JSON object");
    refused(C, "{\"model\":\"m\"}", "messages", "required");
    refused(C, "{\"messages\":[]}", "messages", "at least one");
    refused(C, "{\"messages\":{}}", "messages", "array");
    refused(C, "{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model",
            "string");
    {   /* a model id must fit the 128-byte id with its NUL (found by fuzz-request) */
        char body[512], name[SERVER_MODEL_NAME_MAX + 1];
        memset(name, 'm', SERVER_MODEL_NAME_MAX);
        name[SERVER_MODEL_NAME_MAX] = '\0';
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}]}", name);
        refused(C, body, "model", "longer than 127 bytes");
        name[SERVER_MODEL_NAME_MAX - 1] = '\0';
        snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}]}", name);
        server_request rq;
        server_fault f;
        CHECK_INT(parse(C, body, &rq, &f), 0);
        CHECK_INT((int)strlen(rq.model), SERVER_MODEL_NAME_MAX - 1);
        server_request_clear(&rq);
    }
    refused(C, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role",
            "wizard");
    refused(C, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "required");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"x\"}}]}]}", "messages[0].content", "image_url");
    refused(C, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
            "messages[0].tool_call_id", "required");
    const char *msg = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char body[512];
    static const struct { const char *extra, *param, *needle; } cases[] = {
        { "\"n\":2", "n", "must be 1" },
        { "\"temperature\":3", "temperature", "between 0 and 2" },
        { "\"temperature\":\"hot\"", "temperature", "number" },
        { "\"top_p\":1.5", "top_p", "between 0 and 1" },
        { "\"max_tokens\":0", "max_tokens", "between 1" },
        { "\"max_tokens\":2.5", "max_tokens", "integer" },
        { "\"seed\":1.5", "seed", "integer" },
        { "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop", "at most 4" },
        { "\"stop\":[1]", "stop", "string" },
        { "\"stop\":\"\"", "stop", "empty" },
        { "\"logprobs\":true", "logprobs", "not supported" },
        { "\"top_logprobs\":2", "top_logprobs", "not supported" },
        { "\"logit_bias\":{\"50256\":-100}", "logit_bias", "not supported" },
        { "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "tools",
          "not supported" },
        { "\"tool_choice\":\"auto\"", "tool_choice", "none" },
        { "\"response_format\":{\"type\":\"json_object\"}", "response_format", "json_object" },
        { "\"stream_options\":{\"include_usage\":true}", "stream_options", "only allowed" },
        { "\"stream\":\"yes\"", "stream", "true or false" },
        { "\"presence_penalty\":-2.5", "presence_penalty", "between -2 and 2" },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof body, "{%s,%s}", msg, cases[i].extra);
        refused(C, body, cases[i].param, cases[i].needle);
    }
    refused(SERVER_API_COMPLETION, "{}", "prompt", "required");
    refused(SERVER_API_COMPLETION, "{\"prompt\":[1,2,3]}", "prompt", "token arrays");
    refused(SERVER_API_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", "echo", "not supported");
    refused(SERVER_API_COMPLETION, "{\"prompt\":\"x\",\"suffix\":\"y\"}", "suffix", "not supported");
    refused(SERVER_API_COMPLETION, "{\"prompt\":\"x\",\"best_of\":3}", "best_of", "not supported");
    refused(SERVER_API_OLLAMA_GENERATE, "{\"prompt\":\"x\"}", "model", "model is required");
    refused(SERVER_API_OLLAMA_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":\"3\"}}",
            "options.num_predict", "integer");
    refused(SERVER_API_OLLAMA_GENERATE, "{\"model\":\"m\",\"format\":\"json\"}", "format",
            "not supported");
    refused(SERVER_API_OLLAMA_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"x\",\"images\":[\"aGk=\"]}]}", "messages[0]", "images");
    refused(SERVER_API_OLLAMA_CHAT, "{\"model\":\"m\",\"think\":true}", "think", "not supported");
}

/* Ollama's keep_alive: seconds or a Go duration; the expected
 * milliseconds worked out by hand. */
static void test_keep_alive(void)
{
    static const struct { const char *json; int64_t ms; } good[] = {
        { "\"5m\"", 300000 }, { "\"1h30m\"", 5400000 }, { "\"300ms\"", 300 },
        { "\"1.5h\"", 5400000 }, { "\"0\"", 0 }, { "\"0s\"", 0 }, { "\"2m3s\"", 123000 },
        { "10", 10000 }, { "0", 0 }, { "2.5", 2500 }, { "-1", -1 }, { "\"-5m\"", -1 },
        { "\"+10s\"", 10000 },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(good); i++) {
        cJSON *v = cJSON_Parse(good[i].json);
        int64_t ms = 12345;
        server_fault f;
        CHECK_INT(server_parse_keep_alive(v, &ms, &f), 0);
        CHECK_INT(ms, good[i].ms);
        cJSON_Delete(v);
    }
    static const char *const bad_values[] = {
        "\"5\"", "\"5 minutes\"", "\"m\"", "\"\"", "\"5d\"", "\"1h-5m\"", "true", "null",
        "[1]", "\"5m!\"",
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(bad_values); i++) {
        cJSON *v = cJSON_Parse(bad_values[i]);
        int64_t ms = 0;
        server_fault f;
        CHECK_INT(server_parse_keep_alive(v, &ms, &f), -1);
        CHECK_INT(f.status, 400);
        CHECK_STR(f.param, "keep_alive");
        cJSON_Delete(v);
    }
    /* Through the request parser: set only when given. */
    server_request rq;
    server_fault f;
    const char *with = "{\"model\":\"m\",\"messages\":[],\"keep_alive\":\"1m\"}";
    CHECK_INT(server_request_parse(SERVER_API_OLLAMA_CHAT, with, strlen(with), &rq, &f), 0);
    CHECK(rq.has_keep_alive);
    CHECK_INT(rq.keep_alive_ms, 60000);
    server_request_clear(&rq);
    const char *without = "{\"model\":\"m\",\"messages\":[]}";
    CHECK_INT(server_request_parse(SERVER_API_OLLAMA_CHAT, without, strlen(without), &rq, &f), 0);
    CHECK(!rq.has_keep_alive);
    server_request_clear(&rq);
}

int main(void)
{
    test_keep_alive();
    test_chat_full();
    test_defaults();
    test_refusals();
    return mmtest_finish();
}
