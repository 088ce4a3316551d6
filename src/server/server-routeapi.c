/* server-routeapi.c - POST /api/route: how the router would route a
 * chat or completion request (the same body, plus an optional "strategy"),
 * as the JSON of `modelmgr route --json`, without generating anything. */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define STRATEGY_MAX 32

int server_h_route(server_call *call)
{
    server_fault f;
    const server_service *svc = server_svc(call);
    if (!svc->route) {
        server_fault_set(&f, 501, "not_supported_error", "not_implemented", NULL,
                         "this server does not route requests");
        return server_reply_fault(call, &f);
    }
    cJSON *root = cJSON_ParseWithLength(call->body, call->body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        server_fault_set(&f, 400, "invalid_request_error", NULL, NULL,
                         "the body must be a JSON object like a chat/completions request");
        return server_reply_fault(call, &f);
    }
    char strategy[STRATEGY_MAX] = "";
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "strategy");
    bool bad_strategy = st && !cJSON_IsNull(st) &&
                        (!cJSON_IsString(st) || strlen(st->valuestring) >= sizeof strategy);
    if (!bad_strategy && cJSON_IsString(st))
        mm_strlcpy(strategy, st->valuestring, sizeof strategy);
    server_api api = cJSON_HasObjectItem(root, "messages") ? SERVER_API_CHAT
                                                           : SERVER_API_COMPLETION;
    cJSON_Delete(root);
    if (bad_strategy) {
        server_fault_set(&f, 400, "invalid_request_error", NULL, "strategy",
                         "'strategy' must be one of auto|cost|latency|least-busy|round-robin|"
                         "fixed");
        return server_reply_fault(call, &f);
    }
    server_request rq;
    if (server_request_parse(api, call->body, call->body_len, &rq, &f) < 0)
        return server_reply_fault(call, &f);
    char *json = NULL;
    mm_error err = { 0 };
    int rc = svc->route(svc->ctx, &rq, strategy[0] ? strategy : NULL, &json, &err);
    server_request_clear(&rq);
    if (rc != 0 && rc != MM_ENOTFOUND && rc != MM_EBUSY) {
        free(json);
        server_fault_from_error(&f, rc, err.message);
        if (rc == MM_EINVAL)
            mm_strlcpy(f.param, "strategy", sizeof f.param);
        return server_reply_fault(call, &f);
    }
    /* No model qualifies: still the explanation, with 200, "choice": null
     * and "error" saying which requirement no model meets. */
    cJSON *body = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!body) {
        server_fault_set(&f, 500, "server_error", NULL, NULL, "cannot explain the route");
        return server_reply_fault(call, &f);
    }
    return server_reply_json(call, 200, body);
}
