/* config-sections.c - the list-of-mapping sections of config.yaml: `models:`
 * (per-model overrides for the router) and `remotes:` (OpenAI-compatible
 * servers). They have no environment or flag form, so they bypass the key
 * table; each field is checked here and errors name file:line. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SECTION_ENTRIES_MAX 256   /* entries in one section */

typedef struct section_ctx {
    yaml_document_t *doc;
    const char      *path;
    const char      *section;    /* "models" or "remotes" */
} section_ctx;

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

static int field_error(const section_ctx *c, const yaml_node_t *node, const char *field,
                       const char *expected, mm_error *err)
{
    return mm_error_set(err, MM_ECONFIG, "%s:%d: %s: %s: %s", c->path, line_of(node),
                        c->section, field, expected);
}

static const char *scalar(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int get_string(const section_ctx *c, const yaml_node_t *v, const char *field,
                      char **out, mm_error *err)
{
    const char *text = scalar(v);
    if (!text || !*text || strlen(text) > CFG_VALUE_MAX)
        return field_error(c, v, field, "expected non-empty text", err);
    free(*out);
    *out = mm_strdup(text);
    return *out ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory reading %s", c->path);
}

static int get_int(const section_ctx *c, const yaml_node_t *v, const char *field,
                   int64_t min, int64_t max, int64_t *out, mm_error *err)
{
    const char *text = scalar(v);
    if (!text || mm_parse_i64(text, min, max, out) != 0) {
        char expected[96];
        snprintf(expected, sizeof expected, "expected an integer from %lld to %lld",
                 (long long)min, (long long)max);
        return field_error(c, v, field, expected, err);
    }
    return 0;
}

static int get_number(const section_ctx *c, const yaml_node_t *v, const char *field,
                      double min, double max, double *out, mm_error *err)
{
    const char *text = scalar(v);
    char *end = NULL;
    errno = 0;
    double d = text && *text ? strtod(text, &end) : 0.0;
    if (!text || !*text || errno || !end || *end || !(d >= min && d <= max)) {
        char expected[96];
        snprintf(expected, sizeof expected, "expected a number from %g to %g", min, max);
        return field_error(c, v, field, expected, err);
    }
    *out = d;
    return 0;
}

/* A yaml list of names, or one name. */
static int get_list(const section_ctx *c, yaml_node_t *v, const char *field,
                    char ***items, size_t *n_items, mm_error *err)
{
    size_t n = v->type == YAML_SEQUENCE_NODE
               ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
    if (v->type == YAML_MAPPING_NODE || n > CFG_LIST_MAX)
        return field_error(c, v, field, "expected a list of at most 64 names", err);
    char **list = calloc(n ? n : 1, sizeof *list);
    if (!list)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", c->path);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = v->type == YAML_SEQUENCE_NODE
            ? yaml_document_get_node(c->doc, v->data.sequence.items.start[i]) : v;
        const char *text = item ? scalar(item) : NULL;
        if (!text || !*text || strlen(text) > CFG_VALUE_MAX || !(list[i] = mm_strdup(text))) {
            for (size_t j = 0; j < i; j++)
                free(list[j]);
            free(list);
            return field_error(c, item ? item : v, field, "expected a list of names", err);
        }
    }
    for (size_t i = 0; i < *n_items; i++)
        free((*items)[i]);
    free(*items);
    *items = list;
    *n_items = n;
    return 0;
}

static bool is_env_name(const char *s)
{
    if (!s || !(isupper((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static void free_names(char **items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        free(items[i]);
    free(items);
}

static void override_free(mm_model_override *m)
{
    free(m->name);
    free(m->chat_template);
    free(m->chat_template_file);
    free(m->chat_template_where);
    free_names(m->capabilities, m->n_capabilities);
    free_names(m->fallbacks, m->n_fallbacks);
    free(m->where);
}

static void remote_free(mm_remote *r)
{
    free(r->name);
    free(r->base_url);
    free(r->api_key_env);
    free_names(r->models, r->n_models);
    free(r->where);
}

void config_sections_free(mm_config *cfg)
{
    for (size_t i = 0; i < cfg->n_model_overrides; i++)
        override_free(&cfg->model_overrides[i]);
    free(cfg->model_overrides);
    cfg->model_overrides = NULL;
    cfg->n_model_overrides = 0;
    for (size_t i = 0; i < cfg->n_remotes; i++)
        remote_free(&cfg->remotes[i]);
    free(cfg->remotes);
    cfg->remotes = NULL;
    cfg->n_remotes = 0;
}

/* chat_template: an inline template (it holds "{{" or "{%") or a path to
 * a file (relative to config.yaml's folder), read now so that a missing
 * file is a configuration error naming its line. */
static int get_chat_template(const section_ctx *c, mm_model_override *m, yaml_node_t *v,
                             mm_error *err)
{
    const char *text = scalar(v);
    if (!text || !*text || strlen(text) > CFG_TEMPLATE_MAX)
        return field_error(c, v, "chat_template", "expected an inline Jinja template or the "
                           "path of a file holding one (at most 1 MiB)", err);
    free(m->chat_template);
    free(m->chat_template_file);
    free(m->chat_template_where);
    m->chat_template = m->chat_template_file = NULL;
    m->chat_template_where = mm_asprintf("%s:%d", c->path, line_of(v));
    if (!m->chat_template_where)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", c->path);
    if (strstr(text, "{{") || strstr(text, "{%")) {
        m->chat_template = mm_strdup(text);
        return m->chat_template ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory reading %s",
                                                   c->path);
    }
    const char *slash = strrchr(c->path, '/');
    if (text[0] == '/' || !slash)
        m->chat_template_file = mm_strdup(text);
    else
        m->chat_template_file = mm_asprintf("%.*s/%s", (int)(slash - c->path), c->path, text);
    if (!m->chat_template_file)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", c->path);
    mm_error ferr = { 0 };
    size_t len = 0;
    if (mm_file_read(m->chat_template_file, CFG_TEMPLATE_MAX, &m->chat_template, &len,
                     &ferr) != 0)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: models: chat_template: cannot read the "
                            "template file: %s (give a readable file, or write the "
                            "template inline)", c->path, line_of(v), ferr.message);
    if (strlen(m->chat_template) != len)
        return field_error(c, v, "chat_template", "the template file holds a NUL byte", err);
    return 0;
}

static int model_field(const section_ctx *c, mm_model_override *m, const char *key,
                       yaml_node_t *v, mm_error *err)
{
    int64_t i64;
    int rc;
    if (strcmp(key, "name") == 0)
        return get_string(c, v, key, &m->name, err);
    if (strcmp(key, "capabilities") == 0)
        return get_list(c, v, key, &m->capabilities, &m->n_capabilities, err);
    if (strcmp(key, "fallbacks") == 0)
        return get_list(c, v, key, &m->fallbacks, &m->n_fallbacks, err);
    if (strcmp(key, "quality_tier") == 0) {
        if ((rc = get_int(c, v, key, 1, 5, &i64, err)) == 0)
            m->quality_tier = (int)i64;
        return rc;
    }
    if (strcmp(key, "context_length") == 0)
        return get_int(c, v, key, 1, 100000000, &m->context_length, err);
    if (strcmp(key, "cost_in") == 0)
        return get_number(c, v, key, 0.0, 1e6, &m->cost_in, err);
    if (strcmp(key, "cost_out") == 0)
        return get_number(c, v, key, 0.0, 1e6, &m->cost_out, err);
    if (strcmp(key, "weight") == 0)
        return get_number(c, v, key, 0.001, 1000.0, &m->weight, err);
    if (strcmp(key, "chat_template") == 0)
        return get_chat_template(c, m, v, err);
    MM_LOG_WARN("%s:%d: models: unknown field '%s' (ignored; expected name, capabilities, "
                "quality_tier, context_length, cost_in, cost_out, weight, fallbacks or "
                "chat_template)",
                c->path, line_of(v), key);
    return 0;
}

static int remote_field(const section_ctx *c, mm_remote *r, const char *key, yaml_node_t *v,
                        mm_error *err)
{
    int rc;
    if (strcmp(key, "name") == 0)
        return get_string(c, v, key, &r->name, err);
    if (strcmp(key, "base_url") == 0) {
        if ((rc = get_string(c, v, key, &r->base_url, err)) != 0)
            return rc;
        if (!mm_str_has_prefix(r->base_url, "http://") && !mm_str_has_prefix(r->base_url, "https://"))
            return field_error(c, v, key, "expected an http:// or https:// URL", err);
        return 0;
    }
    if (strcmp(key, "api_key_env") == 0) {
        /* Only a variable's name belongs here; a key pasted in must not be
         * echoed back in the error. */
        if (!is_env_name(scalar(v)))
            return field_error(c, v, key, "expected the NAME of an environment variable holding "
                               "the key (A-Z, 0-9, _), not the key itself", err);
        return get_string(c, v, key, &r->api_key_env, err);
    }
    if (strcmp(key, "models") == 0)
        return get_list(c, v, key, &r->models, &r->n_models, err);
    if (strcmp(key, "cost_in") == 0)
        return get_number(c, v, key, 0.0, 1e6, &r->cost_in, err);
    if (strcmp(key, "cost_out") == 0)
        return get_number(c, v, key, 0.0, 1e6, &r->cost_out, err);
    if (strcmp(key, "weight") == 0)
        return get_number(c, v, key, 0.001, 1000.0, &r->weight, err);
    if (strcmp(key, "timeout") == 0)
        return get_int(c, v, key, 1, 3600, &r->timeout_s, err);
    if (strcmp(key, "connect_timeout") == 0)
        return get_int(c, v, key, 1, 600, &r->connect_timeout_s, err);
    if (strcmp(key, "first_byte_timeout") == 0)
        return get_int(c, v, key, 1, 3600, &r->first_byte_timeout_s, err);
    if (strcmp(key, "probe_interval") == 0)
        return get_int(c, v, key, 0, 86400, &r->probe_interval_s, err);
    MM_LOG_WARN("%s:%d: remotes: unknown field '%s' (ignored; expected name, base_url, "
                "api_key_env, models, cost_in, cost_out, weight, timeout, connect_timeout, "
                "first_byte_timeout or probe_interval)",
                c->path, line_of(v), key);
    return 0;
}

typedef int (*entry_field_fn)(const section_ctx *c, void *entry, const char *key,
                              yaml_node_t *v, mm_error *err);

static int walk_entries(const section_ctx *c, yaml_node_t *seq, void *entries, size_t entry_size,
                        size_t *n_out, entry_field_fn on_field,
                        int (*finish)(const section_ctx *, void *, const yaml_node_t *, mm_error *),
                        mm_error *err)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: %s: expected a list of mappings "
                            "(each item starting with '- name: ...')", c->path, line_of(seq),
                            c->section);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > SECTION_ENTRIES_MAX)
        return mm_error_set(err, MM_ELIMIT, "%s:%d: %s: %zu entries, at most %d", c->path,
                            line_of(seq), c->section, n, SECTION_ENTRIES_MAX);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
        if (!item || item->type != YAML_MAPPING_NODE)
            return mm_error_set(err, MM_ECONFIG, "%s:%d: %s: each entry must be a mapping "
                                "('- name: ...')", c->path, item ? line_of(item) : 0, c->section);
        void *entry = (char *)entries + i * entry_size;
        *n_out = i + 1;   /* counted before filling, so a failure frees it */
        for (yaml_node_pair_t *pair = item->data.mapping.pairs.start;
             pair < item->data.mapping.pairs.top; pair++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
            yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
            if (!k || !v || !scalar(k))
                return mm_error_set(err, MM_ECONFIG, "%s:%d: %s: a field name must be plain text",
                                    c->path, line_of(item), c->section);
            int rc = on_field(c, entry, scalar(k), v, err);
            if (rc != 0)
                return rc;
        }
        int rc = finish(c, entry, item, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int set_where(const section_ctx *c, const yaml_node_t *item, char **where, mm_error *err)
{
    *where = mm_asprintf("%s:%d", c->path, line_of(item));
    return *where ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory reading %s", c->path);
}

static int model_entry_field(const section_ctx *c, void *entry, const char *key, yaml_node_t *v,
                             mm_error *err)
{
    return model_field(c, entry, key, v, err);
}

static int model_finish(const section_ctx *c, void *entry, const yaml_node_t *item, mm_error *err)
{
    mm_model_override *m = entry;
    if (!m->name)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: models: an entry without 'name:' (the "
                            "catalog key or remote model it configures)", c->path, line_of(item));
    return set_where(c, item, &m->where, err);
}

static int remote_entry_field(const section_ctx *c, void *entry, const char *key, yaml_node_t *v,
                              mm_error *err)
{
    return remote_field(c, entry, key, v, err);
}

static int remote_finish(const section_ctx *c, void *entry, const yaml_node_t *item, mm_error *err)
{
    mm_remote *r = entry;
    const char *missing = !r->name ? "name" : !r->base_url ? "base_url" : !r->n_models ? "models" : NULL;
    if (missing)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: remotes: an entry without '%s:' (a remote "
                            "needs name, base_url and models)", c->path, line_of(item), missing);
    return set_where(c, item, &r->where, err);
}

int config_yaml_models(mm_config *cfg, void *doc, void *node, const char *path, mm_error *err)
{
    section_ctx c = { doc, path, "models" };
    yaml_node_t *seq = node;
    size_t n = seq->type == YAML_SEQUENCE_NODE
               ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
    if (cfg->model_overrides)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: duplicate key 'models'", path, line_of(seq));
    cfg->model_overrides = calloc(n ? n : 1, sizeof *cfg->model_overrides);
    if (!cfg->model_overrides)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", path);
    for (size_t i = 0; i < n; i++)
        cfg->model_overrides[i].cost_in = cfg->model_overrides[i].cost_out = -1.0;
    return walk_entries(&c, seq, cfg->model_overrides, sizeof *cfg->model_overrides,
                        &cfg->n_model_overrides, model_entry_field, model_finish, err);
}

int config_yaml_remotes(mm_config *cfg, void *doc, void *node, const char *path, mm_error *err)
{
    section_ctx c = { doc, path, "remotes" };
    yaml_node_t *seq = node;
    size_t n = seq->type == YAML_SEQUENCE_NODE
               ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
    if (cfg->remotes)
        return mm_error_set(err, MM_ECONFIG, "%s:%d: duplicate key 'remotes'", path, line_of(seq));
    cfg->remotes = calloc(n ? n : 1, sizeof *cfg->remotes);
    if (!cfg->remotes)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", path);
    for (size_t i = 0; i < n; i++) {
        cfg->remotes[i].weight = 1.0;
        cfg->remotes[i].timeout_s = 120;
        cfg->remotes[i].connect_timeout_s = 10;
        cfg->remotes[i].probe_interval_s = -1;
    }
    int rc = walk_entries(&c, seq, cfg->remotes, sizeof *cfg->remotes, &cfg->n_remotes,
                          remote_entry_field, remote_finish, err);
    for (size_t i = 0; rc == 0 && i < cfg->n_remotes; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->remotes[i].name, cfg->remotes[j].name) == 0)
                return mm_error_set(err, MM_ECONFIG, "%s: remotes: duplicate name '%s' (first "
                                    "at %s)", cfg->remotes[i].where, cfg->remotes[i].name,
                                    cfg->remotes[j].where);
    return rc;
}
