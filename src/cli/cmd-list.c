/* cmd-list.c - `modelmgr list`: every model in the catalog as an aligned
 * table (or JSON), which model is the default and why, and what to do when
 * there are no models at all. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_option list_options[] = {
    { "json", NULL, "print a JSON object instead of the table" },
    { NULL, NULL, NULL }
};

static const cli_spec list_spec = {
    .usage = "modelmgr list [--json] [options]",
    .description = "List the models in the catalog: the entries of models.txt, the model\n"
                   "files under models_dir and the Hugging Face cache, with their state\n"
                   "(available, not downloaded, invalid), and the default model.",
    .options = list_options,
    .min_args = 0,
    .max_args = 0,
};

enum { COL_KEY, COL_SOURCE, COL_FORMAT, COL_QUANT, COL_SIZE, COL_STATE, COL_WHERE, N_COLS };

static const char *const headers[N_COLS] = {
    "KEY", "SOURCE", "FORMAT", "QUANT", "SIZE", "STATE", "PATH OR REPO"
};

/* Where a model is: its first file (with the count of further split parts),
 * else the repo it would come from, else the reason it is missing. */
static void where_of(const mm_model_info *m, char *out, size_t size)
{
    if (m->n_paths > 1)
        snprintf(out, size, "%s (%zu parts)", m->paths[0], m->n_paths);
    else if (m->n_paths == 1)
        snprintf(out, size, "%s", m->paths[0]);
    else if (m->repo)
        snprintf(out, size, "%s%s%s%s%s", m->repo, m->revision ? "@" : "",
                 m->revision ? m->revision : "", m->repo_path ? ":" : "",
                 m->repo_path ? m->repo_path : "");
    else
        snprintf(out, size, "%s", m->error ? m->error : "-");
}

/* The padded columns; PATH OR REPO comes last, unpadded, printed directly. */
#define CELL_MAX 128

static void row_of(const mm_model_info *m, char cells[COL_WHERE][CELL_MAX])
{
    snprintf(cells[COL_KEY], sizeof cells[0], "%s", m->key);
    snprintf(cells[COL_SOURCE], sizeof cells[0], "%s", mm_source_name(m->source));
    snprintf(cells[COL_FORMAT], sizeof cells[0], "%s",
             m->state == MM_MODEL_NOT_DOWNLOADED ? "-" : mm_format_name(m->format));
    snprintf(cells[COL_QUANT], sizeof cells[0], "%s",
             m->has_facts && m->facts.file_type_name[0] ? m->facts.file_type_name : "-");
    if (m->n_paths)
        cli_format_size(m->size_bytes, cells[COL_SIZE], sizeof cells[0]);
    else
        snprintf(cells[COL_SIZE], sizeof cells[0], "-");
    snprintf(cells[COL_STATE], sizeof cells[0], "%s", mm_model_state_name(m->state));
}

/* "default model: X (...)": the configured one, or the fallback and why. */
static void print_default(const mm_catalog *cat, const mm_config *cfg)
{
    bool fallback = false;
    const mm_model_info *def = mm_catalog_default(cat, &fallback);
    const char *configured = cfg->default_model && *cfg->default_model ? cfg->default_model : NULL;
    const mm_model_info *named = configured ? mm_catalog_find(cat, configured) : NULL;
    char why[512];
    if (!configured)
        snprintf(why, sizeof why, "no default configured");
    else if (!named)
        snprintf(why, sizeof why, "configured default '%s' not found", configured);
    else
        snprintf(why, sizeof why, "configured default '%s' is %s", configured,
                 mm_model_state_name(named->state));
    if (def && !fallback)
        printf("default model: %s (configured)\n", def->key);
    else if (def)
        printf("default model: %s (%s; using the first available model)\n", def->key, why);
    else
        printf("default model: none (%s, and no model is available)\n", why);
}

static int print_table(const mm_catalog *cat, const mm_config *cfg)
{
    size_t n = mm_catalog_count(cat);
    if (n == 0) {
        printf("no models found. To add one:\n"
               "  - list it in %s, one per line: org/name, org/name@revision:file.gguf\n"
               "    or local:file.gguf (then 'modelmgr pull' downloads what is missing)\n"
               "  - or put a .gguf file in %s (or set models_dir / MODELS_DIR)\n",
               cfg->models_file ? cfg->models_file : "models.txt",
               cfg->models_dir ? cfg->models_dir : "./models");
        return CLI_OK;
    }
    char (*cells)[COL_WHERE][CELL_MAX] = calloc(n, sizeof *cells);
    if (!cells) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    int width[N_COLS];
    for (int c = 0; c < N_COLS; c++)
        width[c] = (int)strlen(headers[c]);
    size_t n_invalid = 0;
    for (size_t i = 0; i < n; i++) {
        const mm_model_info *m = mm_catalog_at(cat, i);
        row_of(m, cells[i]);
        n_invalid += m->state == MM_MODEL_INVALID;
        for (int c = 0; c < COL_WHERE; c++) {
            int len = (int)strlen(cells[i][c]);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (int c = 0; c < COL_WHERE; c++)
        printf("%-*s  ", width[c], headers[c]);
    printf("%s\n", headers[COL_WHERE]);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < COL_WHERE; c++)
            printf("%-*s  ", width[c], cells[i][c]);
        char where[2048];
        where_of(mm_catalog_at(cat, i), where, sizeof where);
        cli_sanitize(where);
        printf("%s\n", where);
    }
    free(cells);
    if (n_invalid) {
        printf("\ninvalid models:\n");
        for (size_t i = 0; i < n; i++) {
            const mm_model_info *m = mm_catalog_at(cat, i);
            if (m->state != MM_MODEL_INVALID)
                continue;
            char why[1024];
            snprintf(why, sizeof why, "%s", m->error ? m->error : "unreadable");
            cli_sanitize(why);
            printf("  %s: %s\n", m->key, why);
        }
    }
    printf("\n");
    print_default(cat, cfg);
    return CLI_OK;
}

static int print_json(const mm_catalog *cat, const mm_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *models = cJSON_CreateArray();
    cJSON *def = cJSON_CreateObject();
    if (!root || !models || !def) {
        cJSON_Delete(models);
        cJSON_Delete(def);
        cJSON_Delete(root);
        return cli_print_json(NULL);
    }
    cJSON_AddItemToObject(root, "models", models);
    for (size_t i = 0; i < mm_catalog_count(cat); i++) {
        cJSON *m = cli_model_json(mm_catalog_at(cat, i));
        if (!m) {
            cJSON_Delete(def);
            cJSON_Delete(root);
            return cli_print_json(NULL);
        }
        cJSON_AddItemToArray(models, m);
    }
    bool fallback = false;
    const mm_model_info *chosen = mm_catalog_default(cat, &fallback);
    if (chosen)
        cJSON_AddStringToObject(def, "key", chosen->key);
    else
        cJSON_AddNullToObject(def, "key");
    if (cfg->default_model && *cfg->default_model)
        cJSON_AddStringToObject(def, "configured", cfg->default_model);
    else
        cJSON_AddNullToObject(def, "configured");
    cJSON_AddBoolToObject(def, "fallback", fallback);
    cJSON_AddItemToObject(root, "default", def);
    return cli_print_json(root);
}

int cmd_list(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&list_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    mm_catalog *cat = NULL;
    status = cli_catalog_open(args.cfg, &cat);
    if (status == CLI_OK)
        status = cli_has(&args, "json") ? print_json(cat, args.cfg) : print_table(cat, args.cfg);
    mm_catalog_close(cat);
    cli_args_free(&args);
    return status;
}
