/* fuzz-request.c - the HTTP request body parser of the OpenAI and Ollama
 * generation endpoints on arbitrary bytes: it must accept, or refuse with a
 * 400-class fault naming its cause; an accepted request must be within every
 * bound the server promises a service (see server_request in server.h). */
#include "fuzz.h"
#include "server/server.h"

#include <string.h>

static void check_request(const server_request *rq, server_api api)
{
    FUZZ_CHECK(rq->api == api);
    bool chat = api == SERVER_API_CHAT || api == SERVER_API_OLLAMA_CHAT;
    if (chat) {
        /* Ollama's chat without messages only loads the model. */
        FUZZ_CHECK(rq->n_messages >= (api == SERVER_API_OLLAMA_CHAT ? 0u : 1u));
        FUZZ_CHECK(rq->n_messages <= SERVER_MESSAGES_MAX);
        FUZZ_CHECK((rq->n_messages == 0) == (rq->messages == NULL));
        for (size_t i = 0; i < rq->n_messages; i++) {
            FUZZ_CHECK(rq->messages[i].content != NULL);
            FUZZ_CHECK((unsigned)rq->messages[i].role <= SERVER_ROLE_TOOL);
        }
    } else {
        FUZZ_CHECK(rq->prompt != NULL);
    }
    FUZZ_CHECK(!rq->model || strlen(rq->model) < SERVER_MODEL_NAME_MAX);
    FUZZ_CHECK(rq->temperature >= 0 && rq->temperature <= 2);
    FUZZ_CHECK(rq->top_p >= 0 && rq->top_p <= 1);
    FUZZ_CHECK(rq->presence_penalty >= -2 && rq->presence_penalty <= 2);
    FUZZ_CHECK(rq->frequency_penalty >= -2 && rq->frequency_penalty <= 2);
    FUZZ_CHECK(rq->max_tokens == -1 || (rq->max_tokens >= 0 && rq->max_tokens <= SERVER_TOKENS_MAX));
    FUZZ_CHECK(rq->n_stop <= SERVER_STOP_MAX);
    for (size_t i = 0; i < rq->n_stop; i++)
        FUZZ_CHECK(rq->stop[i] && strlen(rq->stop[i]) <= SERVER_STOP_LEN_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the endpoint; the rest is the body. */
    if (size < 1)
        return 0;
    server_api api = (server_api)(data[0] % 4);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    server_request rq;
    server_fault f;
    memset(&f, 0, sizeof f);
    if (server_request_parse(api, body, len, &rq, &f) != 0) {
        FUZZ_CHECK(f.status >= 400 && f.status < 500);
        FUZZ_CHECK(f.message[0] != '\0');
        FUZZ_CHECK(rq.messages == NULL && rq.prompt == NULL && rq.model == NULL);
        return 0;
    }
    check_request(&rq, api);
    server_request_clear(&rq);
    return 0;
}
