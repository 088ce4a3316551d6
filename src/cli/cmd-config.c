/* cmd-config.c - `modelmgr config`: every configuration key with its
 * effective value (secrets redacted) and where that value came from, as an
 * aligned table or as JSON. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_option config_options[] = {
    { "json", NULL, "print a JSON object instead of the table" },
    { NULL, NULL, NULL }
};

static const cli_spec config_spec = {
    .usage = "modelmgr config [--json] [options]",
    .description = "Print every configuration key, its effective value (secrets redacted)\n"
                   "and its origin: default, config.yaml:LINE, an environment variable\n"
                   "or a --flag. Any configuration flag given here is applied first,\n"
                   "so 'modelmgr config --pool-size 2' shows its effect.",
    .options = config_options,
    .min_args = 0,
    .max_args = 0,
};

static const char *shown_value(const mm_config_item *item)
{
    return item->is_set ? item->value : "(unset)";
}

static int print_table(const mm_config *cfg)
{
    size_t n = mm_config_key_count();
    int key_w = (int)strlen("KEY"), value_w = (int)strlen("VALUE");
    for (size_t i = 0; i < n; i++) {
        mm_config_item item;
        if (mm_config_item_get(cfg, i, &item) != 0)
            return CLI_FAIL;
        int kl = (int)strlen(item.key), vl = (int)strlen(shown_value(&item));
        key_w = kl > key_w ? kl : key_w;
        /* A very long value (a list of models) overflows its own row only. */
        if (vl <= 40 && vl > value_w)
            value_w = vl;
    }
    const char *file = mm_config_file(cfg);
    printf("config file: %s\n\n", file ? file : "(none)");
    printf("%-*s  %-*s  %s\n", key_w, "KEY", value_w, "VALUE", "ORIGIN");
    for (size_t i = 0; i < n; i++) {
        mm_config_item item;
        if (mm_config_item_get(cfg, i, &item) != 0)
            return CLI_FAIL;
        printf("%-*s  %-*s  %s\n", key_w, item.key, value_w, shown_value(&item), item.where);
    }
    return CLI_OK;
}

/* Typed JSON: numbers stay exact (raw digits), lists become arrays. */
static cJSON *json_value(const mm_config_item *item)
{
    if (!item->is_set)
        return cJSON_CreateNull();
    if (strcmp(item->type, "bool") == 0)
        return cJSON_CreateBool(strcmp(item->value, "true") == 0);
    if (strcmp(item->type, "int") == 0 || strcmp(item->type, "size") == 0 ||
        strcmp(item->type, "float") == 0)
        return cJSON_CreateRaw(item->value);
    if (strcmp(item->type, "list") == 0) {
        cJSON *array = cJSON_CreateArray();
        const char *p = item->value;
        while (array && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char part[sizeof item->value];
            snprintf(part, sizeof part, "%.*s", (int)len, p);
            cJSON *s = cJSON_CreateString(part);
            if (!s) {
                cJSON_Delete(array);
                return NULL;
            }
            cJSON_AddItemToArray(array, s);
            p += len + (comma ? 1 : 0);
        }
        return array;
    }
    return cJSON_CreateString(item->value);
}

static cJSON *json_item(const mm_config *cfg, size_t i)
{
    mm_config_item item;
    if (mm_config_item_get(cfg, i, &item) != 0)
        return NULL;
    cJSON *obj = cJSON_CreateObject();
    cJSON *value = json_value(&item);
    if (!obj || !value) {
        cJSON_Delete(obj);
        cJSON_Delete(value);
        return NULL;
    }
    cJSON_AddStringToObject(obj, "key", item.key);
    cJSON_AddItemToObject(obj, "value", value);
    cJSON_AddStringToObject(obj, "origin", mm_origin_name(item.origin));
    cJSON_AddStringToObject(obj, "where", item.where);
    cJSON_AddStringToObject(obj, "type", item.type);
    if (item.env)
        cJSON_AddStringToObject(obj, "env", item.env);
    else
        cJSON_AddNullToObject(obj, "env");
    cJSON_AddStringToObject(obj, "flag", item.flag);
    cJSON_AddBoolToObject(obj, "secret", item.secret);
    return obj;
}

static int print_json(const mm_config *cfg)
{
    int status = CLI_FAIL;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *keys = cJSON_CreateArray();
    if (!root || !keys) {
        cJSON_Delete(keys);
        goto fail;
    }
    const char *file = mm_config_file(cfg);
    if (file)
        cJSON_AddStringToObject(root, "config_file", file);
    else
        cJSON_AddNullToObject(root, "config_file");
    cJSON_AddItemToObject(root, "keys", keys);
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        cJSON *obj = json_item(cfg, i);
        if (!obj)
            goto fail;
        cJSON_AddItemToArray(keys, obj);
    }
    text = cJSON_Print(root);
    if (!text)
        goto fail;
    puts(text);
    status = CLI_OK;
fail:
    if (status != CLI_OK)
        cli_error("out of memory building the JSON output");
    cJSON_free(text);
    cJSON_Delete(root);
    return status;
}

int cmd_config(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&config_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    status = cli_has(&args, "json") ? print_json(args.cfg) : print_table(args.cfg);
    cli_args_free(&args);
    return status;
}
