/* cmd-health.c - `modelmgr health`: opens the model manager and prints its
 * health: the overall status, device, memory budget, response cache and one
 * row per model, as a table or JSON. --load first loads every model that is
 * on disk, so the table says whether each one really loads. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cli_option health_options[] = {
    { "json", NULL, "print a JSON object instead of the table" },
    { "load", NULL, "load every model on disk first (checks that each one loads)" },
    { NULL, NULL, NULL }
};

static const cli_spec health_spec = {
    .usage = "modelmgr health [--json] [--load] [options]",
    .description = "Show the model manager's health: overall status (healthy, degraded,\n"
                   "unavailable), the device, memory budget and response cache, and per\n"
                   "model its status, whether it is loaded, instances, requests, failures,\n"
                   "last use and last error. Exits 1 when no model can serve.",
    .options = health_options,
    .min_args = 0,
    .max_args = 0,
};

static void last_used_text(int64_t unix_s, char *out, size_t size)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (unix_s <= 0 || !gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "never");
}

static cJSON *row_json(const mm_model_health *r)
{
    cJSON *o = cJSON_CreateObject();
    char when[64];
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddStringToObject(o, "kind", r->kind);
    cJSON_AddStringToObject(o, "status", mm_health_status_name(r->status));
    cJSON_AddBoolToObject(o, "loaded", r->loaded);
    cJSON_AddNumberToObject(o, "instances", r->instances);
    cJSON_AddNumberToObject(o, "busy", r->busy);
    cJSON_AddNumberToObject(o, "queued", r->queued);
    if (r->last_used_s > 0) {
        last_used_text(r->last_used_s, when, sizeof when);
        cJSON_AddStringToObject(o, "last_used", when);
    } else {
        cJSON_AddNullToObject(o, "last_used");
    }
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(o, "requests", (double)r->requests);
    cJSON_AddNumberToObject(o, "failures", (double)r->failures);
    if (r->path[0])
        cJSON_AddStringToObject(o, "path", r->path);
    else
        cJSON_AddNullToObject(o, "path");
    if (r->last_error[0])
        cJSON_AddStringToObject(o, "last_error", r->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    return o;
}

static int print_json(const mm_health *h)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return cli_print_json(NULL);
    cJSON_AddStringToObject(root, "status", mm_health_status_name(h->status));
    if (h->default_model[0])
        cJSON_AddStringToObject(root, "default_model", h->default_model);
    else
        cJSON_AddNullToObject(root, "default_model");
    cJSON_AddStringToObject(root, "device", h->device);
    if (h->device_note[0])
        cJSON_AddStringToObject(root, "device_note", h->device_note);
    cJSON_AddNumberToObject(root, "memory_budget", (double)h->memory_budget);
    cJSON_AddNumberToObject(root, "memory_used", (double)h->memory_used);
    cJSON *cache = cJSON_AddObjectToObject(root, "cache");
    cJSON_AddNumberToObject(cache, "entries", (double)h->cache_entries);
    cJSON_AddNumberToObject(cache, "capacity", (double)h->cache_capacity);
    cJSON_AddNumberToObject(cache, "hits", (double)h->cache_hits);
    cJSON_AddNumberToObject(cache, "misses", (double)h->cache_misses);
    cJSON_AddNumberToObject(cache, "evictions", (double)h->cache_evictions);
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (size_t i = 0; i < h->n_models; i++)
        cJSON_AddItemToArray(models, row_json(&h->models[i]));
    return cli_print_json(root);
}

static void print_table(const mm_health *h)
{
    char used[32], budget[32], when[64], text[600];
    cli_format_size(h->memory_used, used, sizeof used);
    cli_format_size(h->memory_budget, budget, sizeof budget);
    printf("status:         %s\n", mm_health_status_name(h->status));
    snprintf(text, sizeof text, "%s", h->default_model[0] ? h->default_model : "none");
    cli_sanitize(text);
    printf("default model:  %s\n", text);
    printf("device:         %s%s%s\n", h->device, h->device_note[0] ? " - " : "", h->device_note);
    printf("memory:         %s used of %s budget\n", used, budget);
    printf("cache:          %zu of %zu entries, %" PRIu64 " hits, %" PRIu64 " misses, %"
           PRIu64 " evictions\n\n", h->cache_entries, h->cache_capacity, h->cache_hits,
           h->cache_misses, h->cache_evictions);
    if (h->n_models == 0) {
        printf("no models (see 'modelmgr list')\n");
        return;
    }
    printf("%-28s %-6s %-11s %-6s %-9s %-8s %-8s %-20s %s\n", "MODEL", "KIND", "STATUS",
           "LOADED", "INSTANCES", "REQUESTS", "FAILURES", "LAST USED", "LAST ERROR");
    for (size_t i = 0; i < h->n_models; i++) {
        const mm_model_health *r = &h->models[i];
        char key[sizeof r->key], err[sizeof r->last_error];
        snprintf(key, sizeof key, "%s", r->key);
        snprintf(err, sizeof err, "%s", r->last_error[0] ? r->last_error : "-");
        cli_sanitize(key);
        cli_sanitize(err);
        last_used_text(r->last_used_s, when, sizeof when);
        printf("%-28s %-6s %-11s %-6s %-9d %-8" PRIu64 " %-8" PRIu64 " %-20s %s\n", key,
               r->kind, mm_health_status_name(r->status), r->loaded ? "yes" : "no",
               r->instances, r->requests, r->failures, when, err);
    }
}

/* Load every model whose file is there; failures show up in the table. */
static void load_all(mm_manager *mgr)
{
    mm_model_health *rows = NULL;
    size_t n = 0;
    if (mm_manager_list(mgr, &rows, &n, NULL) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].kind, "llm") != 0 || !rows[i].path[0])
            continue;
        mm_error err = { 0 };
        mm_manager_load(mgr, rows[i].key, &err);
    }
    free(rows);
}

int cmd_health(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&health_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    status = CLI_OK;
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    if (mm_manager_open(args.cfg, &mgr, &err) != 0) {
        cli_error("%s", err.message);
        cli_args_free(&args);
        return err.code == MM_EFORMAT ? CLI_USAGE : CLI_FAIL;
    }
    if (cli_has(&args, "load"))
        load_all(mgr);
    mm_health h;
    if (mm_manager_health(mgr, &h, &err) != 0) {
        cli_error("%s", err.message);
        status = CLI_FAIL;
    } else {
        if (cli_has(&args, "json"))
            status = print_json(&h);
        else
            print_table(&h);
        if (status == CLI_OK && h.status == MM_HEALTH_UNAVAILABLE)
            status = CLI_FAIL;
        mm_health_clear(&h);
    }
    mm_manager_close(mgr);
    cli_args_free(&args);
    return status;
}
