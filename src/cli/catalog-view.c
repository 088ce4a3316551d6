/* catalog-view.c - what `list` and `show` share: opening the catalog with the
 * right exit status, human-readable sizes, and a model record as JSON. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int cli_catalog_open(const mm_config *cfg, mm_catalog **out)
{
    mm_error err = { 0 };
    int rc = mm_catalog_open(cfg, out, &err);
    if (rc == 0)
        return CLI_OK;
    cli_error("%s", err.message);
    /* A malformed or oversized models.txt is the user's configuration. */
    return rc == MM_EFORMAT || rc == MM_ELIMIT ? CLI_USAGE : CLI_FAIL;
}

void cli_sanitize(char *text)
{
    for (unsigned char *p = (unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

void cli_format_size(uint64_t bytes, char *out, size_t out_size)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    if (bytes < 1024) {
        snprintf(out, out_size, "%" PRIu64 " B", bytes);
        return;
    }
    double value = (double)bytes / 1024.0;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, out_size, "%.1f %s", value, units[unit]);
}

static void add_string_or_null(cJSON *obj, const char *name, const char *value)
{
    if (value)
        cJSON_AddStringToObject(obj, name, value);
    else
        cJSON_AddNullToObject(obj, name);
}

static cJSON *facts_json(const mm_model_facts *f)
{
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return NULL;
    cJSON_AddStringToObject(obj, "architecture", f->architecture);
    cJSON_AddStringToObject(obj, "name", f->name);
    cJSON_AddNumberToObject(obj, "parameters", (double)f->n_params);
    cJSON_AddNumberToObject(obj, "context_length", f->context_length);
    cJSON_AddNumberToObject(obj, "embedding_length", f->embedding_length);
    cJSON_AddNumberToObject(obj, "block_count", f->block_count);
    cJSON_AddNumberToObject(obj, "head_count", f->head_count);
    cJSON_AddNumberToObject(obj, "head_count_kv", f->head_count_kv);
    cJSON_AddNumberToObject(obj, "vocab_size", f->vocab_size);
    cJSON_AddNumberToObject(obj, "file_type", f->file_type);
    add_string_or_null(obj, "quantization", f->file_type_name[0] ? f->file_type_name : NULL);
    cJSON_AddBoolToObject(obj, "chat_template", f->has_chat_template);
    return obj;
}

cJSON *cli_model_json(const mm_model_info *m)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *paths = cJSON_CreateArray();
    if (!obj || !paths) {
        cJSON_Delete(obj);
        cJSON_Delete(paths);
        return NULL;
    }
    cJSON_AddStringToObject(obj, "key", m->key);
    cJSON_AddStringToObject(obj, "source", mm_source_name(m->source));
    add_string_or_null(obj, "repo", m->repo);
    add_string_or_null(obj, "revision", m->revision);
    add_string_or_null(obj, "commit", m->commit);
    add_string_or_null(obj, "repo_path", m->repo_path);
    cJSON_AddItemToObject(obj, "paths", paths);
    for (size_t i = 0; i < m->n_paths; i++)
        cJSON_AddItemToArray(paths, cJSON_CreateString(m->paths[i]));
    cJSON_AddStringToObject(obj, "format", mm_format_name(m->format));
    cJSON_AddNumberToObject(obj, "size_bytes", (double)m->size_bytes);
    cJSON_AddStringToObject(obj, "state", mm_model_state_name(m->state));
    add_string_or_null(obj, "origin", m->origin);
    add_string_or_null(obj, "error", m->error);
    /* from the GGUF metadata, or a safetensors model's config.json */
    add_string_or_null(obj, "architecture", m->facts.architecture[0] ? m->facts.architecture
                                                                      : NULL);
    if (m->has_facts) {
        cJSON *facts = facts_json(&m->facts);
        if (!facts) {
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON_AddItemToObject(obj, "facts", facts);
    } else {
        cJSON_AddNullToObject(obj, "facts");
    }
    return obj;
}

int cli_print_json(cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        cli_error("out of memory building the JSON output");
        return CLI_FAIL;
    }
    puts(text);
    cJSON_free(text);
    return CLI_OK;
}
