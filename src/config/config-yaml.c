/* config-yaml.c - the config.yaml layer, and the only user of libyaml. The
 * document's root mapping is walked; nested mappings become dotted keys
 * ("router: {strategy: x}" -> "router.strategy") so that sections only need
 * rows in the key table. Unknown keys are warnings, never errors. */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Aliases let a small file expand into a huge tree; bound the walk. */
#define YAML_NODES_MAX 10000
#define YAML_DEPTH_MAX 8

typedef struct yaml_walk {
    mm_config       *cfg;
    yaml_document_t *doc;
    const char      *path;
    size_t           nodes_seen;
} yaml_walk;

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* A plain ~, null or empty scalar: the key is present but sets nothing. */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static int apply_sequence(yaml_walk *w, const cfg_key *k, yaml_node_t *seq, const char *where,
                          mm_error *err)
{
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (k->type != CFG_LIST)
        return config_shape_error(k, "list", where, err);
    if (n > CFG_LIST_MAX)
        return mm_error_set(err, MM_ECONFIG, "%s: a list of %zu items (%s): expected at most %d",
                            k->key, n, where, CFG_LIST_MAX);
    const char *items[CFG_LIST_MAX];
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
        if (!item || item->type != YAML_SCALAR_NODE) {
            char item_where[CFG_WHERE_MAX];
            snprintf(item_where, sizeof item_where, "%s:%d", w->path, item ? line_of(item) : 0);
            return mm_error_set(err, MM_ECONFIG, "%s: a nested %s (%s): expected a list of names",
                                k->key, item && item->type == YAML_MAPPING_NODE ? "mapping" : "list",
                                item_where);
        }
        items[i] = (const char *)item->data.scalar.value;
    }
    return config_apply_list(w->cfg, k, items, n, MM_ORIGIN_FILE, where, err);
}

static int walk_mapping(yaml_walk *w, yaml_node_t *map, const char *prefix, int depth,
                        mm_error *err);

/* Edit distance, capped: only "is it a small typo" matters. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > CFG_KEY_MAX || lb > CFG_KEY_MAX)
        return SIZE_MAX;
    size_t row[CFG_KEY_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The key an unknown name probably meant: its environment variable spelled
 * in yaml (MODELS_DIR), or a typo of at most two characters. */
static const char *suggest_key(const char *name)
{
    for (size_t i = 0; i < config_n_keys; i++)
        if (config_keys[i].env && strcasecmp(config_keys[i].env, name) == 0)
            return config_keys[i].key;
    for (size_t i = 0; i < config_n_keys; i++) {
        /* Two edits turn "host" into "port": short keys allow one. */
        size_t allowed = strlen(config_keys[i].key) < 6 ? 1 : 2;
        if (edit_distance(name, config_keys[i].key) <= allowed)
            return config_keys[i].key;
    }
    return NULL;
}

static int walk_pair(yaml_walk *w, yaml_node_t *key_node, yaml_node_t *value,
                     const char *prefix, int depth, mm_error *err)
{
    char where[CFG_WHERE_MAX];
    snprintf(where, sizeof where, "%s:%d", w->path, line_of(key_node));
    if (key_node->type != YAML_SCALAR_NODE)
        return mm_error_set(err, MM_ECONFIG, "%s: a key must be a plain name, not a %s",
                            where, key_node->type == YAML_MAPPING_NODE ? "mapping" : "list");
    char name[CFG_KEY_MAX + 1];
    int len = snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                       (const char *)key_node->data.scalar.value);
    if (len < 0 || (size_t)len >= sizeof name)
        return mm_error_set(err, MM_ECONFIG, "%s: key longer than %d characters", where, CFG_KEY_MAX);

    if (!prefix && (strcmp(name, "models") == 0 || strcmp(name, "remotes") == 0))
        return is_null(value) ? 0 : name[0] == 'm' ? config_yaml_models(w->cfg, w->doc, value, w->path, err)
                              : config_yaml_remotes(w->cfg, w->doc, value, w->path, err);
    const cfg_key *k = config_key_find(name);
    if (!k) {
        if (value->type == YAML_MAPPING_NODE && config_key_is_section(name))
            return walk_mapping(w, value, name, depth + 1, err);
        const char *maybe = suggest_key(name);
        if (maybe)
            MM_LOG_WARN("%s: unknown configuration key '%s' (ignored; did you mean '%s'?)",
                        where, name, maybe);
        else
            MM_LOG_WARN("%s: unknown configuration key '%s' (ignored; see 'modelmgr config')",
                        where, name);
        return 0;
    }
    size_t index = (size_t)(k - config_keys);
    const cfg_slot *slot = &w->cfg->meta->slots[index];
    if (slot->origin == MM_ORIGIN_FILE)
        return mm_error_set(err, MM_ECONFIG, "%s: duplicate key '%s' (first set at %s)",
                            where, name, slot->where);
    if (is_null(value))
        return 0;
    if (value->type == YAML_SEQUENCE_NODE)
        return apply_sequence(w, k, value, where, err);
    if (value->type == YAML_MAPPING_NODE)
        return config_shape_error(k, "mapping", where, err);
    return config_apply_text(w->cfg, k, (const char *)value->data.scalar.value,
                             MM_ORIGIN_FILE, where, err);
}

static int walk_mapping(yaml_walk *w, yaml_node_t *map, const char *prefix, int depth,
                        mm_error *err)
{
    if (depth > YAML_DEPTH_MAX)
        return mm_error_set(err, MM_ELIMIT, "%s:%d: nested deeper than %d levels",
                            w->path, line_of(map), YAML_DEPTH_MAX);
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        if (++w->nodes_seen > YAML_NODES_MAX)
            return mm_error_set(err, MM_ELIMIT, "%s: more than %d entries (aliases expanded)",
                                w->path, YAML_NODES_MAX);
        yaml_node_t *key = yaml_document_get_node(w->doc, pair->key);
        yaml_node_t *value = yaml_document_get_node(w->doc, pair->value);
        if (!key || !value)
            return mm_error_set(err, MM_EINTERNAL, "%s: libyaml returned a broken node", w->path);
        int rc = walk_pair(w, key, value, prefix, depth, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *parser, const char *path, mm_error *err)
{
    /* The problem mark is where the parser noticed; it is the useful line. */
    const yaml_mark_t *mark = &parser->problem_mark;
    return mm_error_set(err, MM_EFORMAT, "%s:%zu: malformed YAML: %s%s%s", path,
                        (size_t)mark->line + 1,
                        parser->problem ? parser->problem : "syntax error",
                        parser->context ? " " : "", parser->context ? parser->context : "");
}

int config_yaml_load(mm_config *cfg, const char *path, mm_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = mm_file_read(path, CFG_FILE_MAX, &text, &len, err);
    if (rc != 0)
        return rc;

    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    if (!yaml_parser_initialize(&parser)) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, path, err);
        goto out;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root))
        goto out;   /* an empty file (or only comments) sets nothing */
    if (root->type != YAML_MAPPING_NODE) {
        rc = mm_error_set(err, MM_EFORMAT, "%s:%d: expected a mapping of 'key: value' lines",
                          path, line_of(root));
        goto out;
    }
    yaml_walk walk = { cfg, &doc, path, 0 };
    rc = walk_mapping(&walk, root, NULL, 0, err);
    if (rc != 0)
        goto out;

    /* A second document is almost certainly a mistake (a stray "---"). */
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(&parser, path, err);
        goto out;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root)
        rc = mm_error_set(err, MM_EFORMAT, "%s:%d: only one YAML document is allowed",
                          path, line_of(extra_root));
    yaml_document_delete(&extra);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    free(text);
    return rc;
}
