/* server-health.c - GET /api/health (is the process up), GET
 * /api/health/detailed (what each part of the program reports about itself)
 * and GET /metrics (Prometheus text). */
#include "server/server.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* The parts detailed health always names; the service fills what it can. */
static const char *const parts[] = { "models", "engine", "hub", "cache", "router", "memory" };

int server_h_health(server_call *call)
{
    return server_reply_static(call, 200, "application/json", "{\"status\":\"ok\"}");
}

static bool status_is_bad(const cJSON *part)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(part, "status");
    if (!cJSON_IsString(st))
        return false;
    return strcmp(st->valuestring, "error") == 0 || strcmp(st->valuestring, "unavailable") == 0 ||
           strcmp(st->valuestring, "degraded") == 0;
}

int server_h_health_detailed(server_call *call)
{
    const server_service *svc = server_svc(call);
    cJSON *root = cJSON_CreateObject();
    cJSON *services = cJSON_CreateObject();
    if (svc->health)
        svc->health(svc->ctx, services);
    bool degraded = false;
    for (size_t i = 0; i < MM_ARRAY_LEN(parts); i++) {
        cJSON *part = cJSON_GetObjectItemCaseSensitive(services, parts[i]);
        if (!part) {
            part = cJSON_AddObjectToObject(services, parts[i]);
            cJSON_AddStringToObject(part, "status", "not_reported");
            cJSON_AddStringToObject(part, "detail", "this build does not report it yet");
        }
        degraded |= status_is_bad(part);
    }
    cJSON_AddStringToObject(root, "status", degraded ? "degraded" : "ok");
    cJSON_AddStringToObject(root, "version", mm_version());
    cJSON_AddNumberToObject(root, "uptime_s", (double)server_uptime_s(call->srv));
    cJSON *srv = cJSON_AddObjectToObject(root, "server");
    cJSON_AddNumberToObject(srv, "generations_in_flight", server_inflight(call->srv));
    cJSON_AddItemToObject(root, "services", services);
    return server_reply_json(call, 200, root);
}

int server_h_metrics(server_call *call)
{
    mm_buf out;
    mm_buf_init(&out, 4 * 1024 * 1024);
    server_metrics_render(server_get_metrics(call->srv), server_inflight(call->srv),
                          server_uptime_s(call->srv), &out);
    if (out.failed) {
        mm_buf_free(&out);
        server_fault f;
        server_fault_set(&f, 500, "server_error", NULL, NULL, "cannot render the metrics");
        return server_reply_fault(call, &f);
    }
    int r = server_reply_text(call, 200, "text/plain; version=0.0.4; charset=utf-8",
                              out.data ? out.data : "");
    mm_buf_free(&out);
    return r;
}
