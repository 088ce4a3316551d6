/* config.c - builds the one immutable mm_config from built-in defaults <
 * config.yaml < environment < command-line flags, remembering where every
 * value came from, and describes it key by key for `modelmgr config`. */
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

extern char **environ;

const char *config_getenv(const cfg_env *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env->vars && env->vars[i]; i++) {
        const char *v = env->vars[i];
        if (strncmp(v, name, len) == 0 && v[len] == '=')
            return v[len + 1] ? v + len + 1 : NULL;
    }
    return NULL;
}

static void *field_ptr(mm_config *cfg, const cfg_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *field_cptr(const mm_config *cfg, const cfg_key *k)
{
    return (const char *)cfg + k->offset;
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        free(items[i]);
    free(items);
}

static void clear_field(mm_config *cfg, const cfg_key *k)
{
    void *p = field_ptr(cfg, k);
    if (k->type == CFG_STRING || k->type == CFG_PATH) {
        free(*(char **)p);
        *(char **)p = NULL;
    } else if (k->type == CFG_LIST) {
        size_t *count = (size_t *)((char *)cfg + k->count_offset);
        free_list(*(char ***)p, *count);
        *(char ***)p = NULL;
        *count = 0;
    }
}

static size_t key_index(const cfg_key *k)
{
    return (size_t)(k - config_keys);
}

static void record_origin(mm_config *cfg, const cfg_key *k, mm_origin origin, const char *where)
{
    cfg_slot *slot = &cfg->meta->slots[key_index(k)];
    slot->origin = origin;
    mm_strlcpy(slot->where, where ? where : "default", sizeof slot->where);
}

/* What the key accepts, for error messages. */
static void describe_expected(const cfg_key *k, char *out, size_t out_size)
{
    switch (k->type) {
    case CFG_INT:
        snprintf(out, out_size, "expected an integer from %" PRId64 " to %" PRId64, k->min, k->max);
        break;
    case CFG_BOOL:
        snprintf(out, out_size, "expected a boolean: 1/0, true/false, yes/no or on/off");
        break;
    case CFG_SIZE:
        snprintf(out, out_size, "expected a byte size of at least %" PRId64
                 " bytes, e.g. 1073741824, 512M or 8G (K/M/G/T = 1024^n)", k->min);
        break;
    case CFG_ENUM:
        snprintf(out, out_size, "expected one of %s", k->choices);
        break;
    case CFG_FLOAT:
        snprintf(out, out_size, "expected a number from %g to %g", k->fmin, k->fmax);
        break;
    case CFG_LIST:
        snprintf(out, out_size, "expected at most %d comma-separated items of at most %d characters",
                 CFG_LIST_MAX, CFG_VALUE_MAX);
        break;
    case CFG_STRING:
    case CFG_PATH:
        snprintf(out, out_size, "expected %stext of at most %d characters",
                 k->def ? "non-empty " : "", CFG_VALUE_MAX);
        break;
    }
}

/* The house error: names the key as its source spells it, the value (never
 * a secret), the origin and what is allowed. */
static int value_error(const cfg_key *k, const char *text, mm_origin origin,
                       const char *where, mm_error *err)
{
    char expected[256];
    describe_expected(k, expected, sizeof expected);
    /* Bound what is echoed (a value may be a pasted file) and keep the
     * message on one line. */
    char shown[84];
    mm_strlcpy(shown, k->secret ? "<redacted>" : text, 81);
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    int shown_len = (int)strlen(shown);
    const char *more = !k->secret && strlen(text) > 80 ? "..." : "";
    switch (origin) {
    case MM_ORIGIN_ENV:
        return mm_error_set(err, MM_ECONFIG, "%s=%.*s%s (environment): %s",
                            k->env, shown_len, shown, more, expected);
    case MM_ORIGIN_FLAG:
        return mm_error_set(err, MM_ECONFIG, "%s=%.*s%s (command line): %s",
                            k->flag, shown_len, shown, more, expected);
    case MM_ORIGIN_FILE:
        return mm_error_set(err, MM_ECONFIG, "%s: %.*s%s (%s): %s",
                            k->key, shown_len, shown, more, where, expected);
    case MM_ORIGIN_DEFAULT:
    default:
        return mm_error_set(err, MM_EINTERNAL, "%s: bad built-in default (%s): %s",
                            k->key, where ? where : "default", expected);
    }
}

int config_shape_error(const cfg_key *k, const char *got, const char *where, mm_error *err)
{
    char expected[256];
    describe_expected(k, expected, sizeof expected);
    return mm_error_set(err, MM_ECONFIG, "%s: a %s (%s): %s", k->key, got, where, expected);
}

/* "~/x" -> "$HOME/x" for path keys; everything else is copied. */
static char *expand_path(const cfg_env *env, const char *text)
{
    const char *home = config_getenv(env, "HOME");
    if (home && (strcmp(text, "~") == 0 || mm_str_has_prefix(text, "~/")))
        return mm_asprintf("%s%s", home, text + 1);
    return mm_strdup(text);
}

static int store_list(mm_config *cfg, const cfg_key *k, char **items, size_t n)
{
    clear_field(cfg, k);
    *(char ***)field_ptr(cfg, k) = items;
    *(size_t *)((char *)cfg + k->count_offset) = n;
    return 0;
}

/* Split a comma list, trimming items and dropping empty ones. */
static int split_list(const char *text, char ***out, size_t *n_out)
{
    char **items = calloc(CFG_LIST_MAX, sizeof *items);
    if (!items)
        return MM_ENOMEM;
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *item = mm_strndup(p, len);
        if (!item) {
            free_list(items, n);
            return MM_ENOMEM;
        }
        mm_str_trim(item);
        if (!*item) {
            free(item);
        } else if (n == CFG_LIST_MAX || strlen(item) > CFG_VALUE_MAX) {
            free(item);
            free_list(items, n);
            return MM_EINVAL;
        } else {
            items[n++] = item;
        }
        p += len + (comma ? 1 : 0);
    }
    *out = items;
    *n_out = n;
    return 0;
}

static int enum_index(const char *choices, const char *text, int *out)
{
    int index = 0;
    size_t tlen = strlen(text);
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == tlen && strncasecmp(p, text, len) == 0) {
            *out = index;
            return 0;
        }
        p += len + (bar ? 1 : 0);
    }
    return MM_EINVAL;
}

int config_apply_text(mm_config *cfg, const cfg_key *k, const char *text,
                      mm_origin origin, const char *where, mm_error *err)
{
    void *p = field_ptr(cfg, k);
    if (strlen(text) > CFG_VALUE_MAX)
        return value_error(k, text, origin, where, err);
    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH: {
        /* Keys with a default need a value; optional ones are cleared by "". */
        if (!*text && k->def)
            return value_error(k, text, origin, where, err);
        char *copy = NULL;
        if (*text) {
            const cfg_env *env = cfg->meta->loading_env;
            copy = k->type == CFG_PATH && env ? expand_path(env, text) : mm_strdup(text);
            if (!copy)
                return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", k->key);
        }
        clear_field(cfg, k);
        *(char **)p = copy;
        if (k->secret && copy && mm_log_add_secret(copy) != 0)
            return mm_error_set(err, MM_ELIMIT, "cannot register the %s secret with the logger", k->key);
        break;
    }
    case CFG_BOOL: {
        bool v;
        if (mm_parse_bool(text, &v) != 0)
            return value_error(k, text, origin, where, err);
        *(bool *)p = v;
        break;
    }
    case CFG_INT: {
        int64_t v;
        if (mm_parse_i64(text, k->min, k->max, &v) != 0)
            return value_error(k, text, origin, where, err);
        if (k->size == sizeof(int))
            *(int *)p = (int)v;
        else
            *(int64_t *)p = v;
        break;
    }
    case CFG_SIZE: {
        uint64_t v;
        if (mm_parse_size(text, &v) != 0 || v < (uint64_t)k->min)
            return value_error(k, text, origin, where, err);
        *(uint64_t *)p = v;
        break;
    }
    case CFG_ENUM: {
        int v;
        if (enum_index(k->choices, text, &v) != 0)
            return value_error(k, text, origin, where, err);
        *(int *)p = v;
        break;
    }
    case CFG_FLOAT: {
        char *end = NULL;
        errno = 0;
        double v = *text ? strtod(text, &end) : 0.0;
        if (!*text || errno != 0 || !end || *end || !(v >= k->fmin && v <= k->fmax))
            return value_error(k, text, origin, where, err);
        *(double *)p = v;
        break;
    }
    case CFG_LIST: {
        char **items;
        size_t n;
        int rc = split_list(text, &items, &n);
        if (rc == MM_ENOMEM)
            return mm_error_set(err, rc, "out of memory reading %s", k->key);
        if (rc != 0)
            return value_error(k, text, origin, where, err);
        store_list(cfg, k, items, n);
        break;
    }
    }
    record_origin(cfg, k, origin, where);
    return 0;
}

int config_apply_list(mm_config *cfg, const cfg_key *k, const char *const *items,
                      size_t n_items, mm_origin origin, const char *where, mm_error *err)
{
    if (k->type != CFG_LIST)
        return config_shape_error(k, "list", where, err);
    if (n_items > CFG_LIST_MAX)
        return mm_error_set(err, MM_ECONFIG, "%s: a list of %zu items (%s): expected at most %d",
                            k->key, n_items, where, CFG_LIST_MAX);
    char **copy = calloc(n_items ? n_items : 1, sizeof *copy);
    if (!copy)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", k->key);
    size_t n = 0;
    for (size_t i = 0; i < n_items; i++) {
        if (strlen(items[i]) > CFG_VALUE_MAX) {
            free_list(copy, n);
            return value_error(k, items[i], origin, where, err);
        }
        if (!*items[i])
            continue;
        if (!(copy[n] = mm_strdup(items[i]))) {
            free_list(copy, n);
            return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", k->key);
        }
        n++;
    }
    store_list(cfg, k, copy, n);
    record_origin(cfg, k, origin, where);
    return 0;
}

static int apply_defaults(mm_config *cfg, mm_error *err)
{
    for (size_t i = 0; i < config_n_keys; i++) {
        const cfg_key *k = &config_keys[i];
        record_origin(cfg, k, MM_ORIGIN_DEFAULT, "default");
        if (k->def) {
            int rc = config_apply_text(cfg, k, k->def, MM_ORIGIN_DEFAULT, "default", err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Computed defaults run last, and only for keys no layer set, so that e.g.
 * an unreadable token file does not matter once HF_TOKEN is given. */
static int apply_computed(mm_config *cfg, const cfg_env *env, mm_error *err)
{
    for (size_t i = 0; i < config_n_keys; i++) {
        const cfg_key *k = &config_keys[i];
        if (!k->compute || cfg->meta->slots[i].origin != MM_ORIGIN_DEFAULT)
            continue;
        char *text = NULL;
        mm_origin origin = MM_ORIGIN_DEFAULT;
        char where[CFG_WHERE_MAX] = "default";
        int rc = k->compute(env, &text, &origin, where, sizeof where, err);
        if (rc == 0 && text)
            rc = config_apply_text(cfg, k, text, origin, where, err);
        free(text);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int apply_env_layer(mm_config *cfg, const cfg_env *env, mm_error *err)
{
    for (size_t i = 0; i < config_n_keys; i++) {
        const cfg_key *k = &config_keys[i];
        const char *v = k->env ? config_getenv(env, k->env) : NULL;
        if (v) {
            int rc = config_apply_text(cfg, k, v, MM_ORIGIN_ENV, k->env, err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int apply_flag_layer(mm_config *cfg, const char *const *flags, mm_error *err)
{
    for (size_t i = 0; flags && flags[i]; i++) {
        const char *eq = strchr(flags[i], '=');
        char name[CFG_KEY_MAX + 1];
        size_t len = eq ? (size_t)(eq - flags[i]) : strlen(flags[i]);
        if (!eq || len > CFG_KEY_MAX)
            return mm_error_set(err, MM_EINVAL, "flag '%.40s' is not of the form key=value", flags[i]);
        memcpy(name, flags[i], len);
        name[len] = '\0';
        const cfg_key *k = config_key_find(name);
        if (!k)
            return mm_error_set(err, MM_EINVAL, "unknown configuration key '%s'", name);
        int rc = config_apply_text(cfg, k, eq + 1, MM_ORIGIN_FLAG, k->flag, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* --config, else MODELMGR_CONFIG (both must exist), else ./config.yaml,
 * else $XDG_CONFIG_HOME (or ~/.config)/modelmgr/config.yaml (optional).
 * *path is NULL when no file applies. */
static int find_config_file(const mm_config_sources *src, const cfg_env *env,
                            char **path, mm_error *err)
{
    *path = NULL;
    const char *named = src ? src->config_path : NULL;
    const char *how = "given with --config";
    if (!named) {
        named = config_getenv(env, "MODELMGR_CONFIG");
        how = "named by MODELMGR_CONFIG";
    }
    if (named) {
        if (!is_regular_file(named))
            return mm_error_set(err, MM_ENOTFOUND,
                                "config file %s (%s) does not exist or is not a regular file",
                                named, how);
        *path = mm_strdup(named);
        return *path ? 0 : MM_ENOMEM;
    }
    if (is_regular_file("config.yaml")) {
        *path = mm_strdup("config.yaml");
        return *path ? 0 : MM_ENOMEM;
    }
    const char *xdg = config_getenv(env, "XDG_CONFIG_HOME");
    const char *home = config_getenv(env, "HOME");
    char *candidate = NULL;
    if (xdg)
        candidate = mm_asprintf("%s/modelmgr/config.yaml", xdg);
    else if (home)
        candidate = mm_asprintf("%s/.config/modelmgr/config.yaml", home);
    else
        return 0;
    if (!candidate)
        return MM_ENOMEM;
    if (is_regular_file(candidate))
        *path = candidate;
    else
        free(candidate);
    return 0;
}

int mm_config_load(const mm_config_sources *src, mm_config **out, mm_error *err)
{
    *out = NULL;
    cfg_env env = { (src && src->env) ? src->env : (const char *const *)environ };
    int rc = MM_ENOMEM;
    mm_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        goto fail;
    cfg->meta = calloc(1, sizeof *cfg->meta + config_n_keys * sizeof(cfg_slot));
    if (!cfg->meta)
        goto fail;
    cfg->meta->loading_env = &env;

    if ((rc = apply_defaults(cfg, err)) != 0)
        goto fail;
    if ((rc = find_config_file(src, &env, &cfg->meta->config_path, err)) != 0)
        goto fail;
    if (cfg->meta->config_path && (rc = config_yaml_load(cfg, cfg->meta->config_path, err)) != 0)
        goto fail;
    if ((rc = apply_env_layer(cfg, &env, err)) != 0)
        goto fail;
    if ((rc = apply_flag_layer(cfg, src ? src->flags : NULL, err)) != 0)
        goto fail;
    if ((rc = apply_computed(cfg, &env, err)) != 0)
        goto fail;
    cfg->meta->loading_env = NULL;
    *out = cfg;
    return 0;
fail:
    if (rc == MM_ENOMEM && (!err || err->code != MM_ENOMEM))
        mm_error_set(err, MM_ENOMEM, "out of memory loading the configuration");
    mm_config_free(cfg);
    return rc;
}

void mm_config_free(mm_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < config_n_keys; i++)
        clear_field(cfg, &config_keys[i]);
    config_sections_free(cfg);
    if (cfg->meta)
        free(cfg->meta->config_path);
    free(cfg->meta);
    free(cfg);
}

size_t mm_config_key_count(void)
{
    return config_n_keys;
}

static const char *type_name(cfg_type type)
{
    switch (type) {
    case CFG_STRING: return "string";
    case CFG_PATH:   return "path";
    case CFG_BOOL:   return "bool";
    case CFG_INT:    return "int";
    case CFG_SIZE:   return "size";
    case CFG_ENUM:   return "enum";
    case CFG_FLOAT:  return "float";
    case CFG_LIST:   return "list";
    }
    return "string";
}

static void format_value(const mm_config *cfg, const cfg_key *k, mm_config_item *item)
{
    const void *p = field_cptr(cfg, k);
    char *out = item->value;
    size_t size = sizeof item->value;
    item->is_set = true;
    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH: {
        const char *s = *(char *const *)p;
        item->is_set = s != NULL;
        if (!s)
            out[0] = '\0';
        else if (k->secret)
            mm_redact(s, out, size);
        else
            mm_strlcpy(out, s, size);
        break;
    }
    case CFG_BOOL:
        mm_strlcpy(out, *(const bool *)p ? "true" : "false", size);
        break;
    case CFG_INT:
        snprintf(out, size, "%" PRId64, k->size == sizeof(int) ? (int64_t)*(const int *)p
                                                               : *(const int64_t *)p);
        break;
    case CFG_SIZE:
        snprintf(out, size, "%" PRIu64, *(const uint64_t *)p);
        break;
    case CFG_FLOAT:
        snprintf(out, size, "%g", *(const double *)p);
        break;
    case CFG_ENUM: {
        int index = *(const int *)p;
        const char *c = k->choices;
        for (int i = 0; i < index && c; i++) {
            c = strchr(c, '|');
            c = c ? c + 1 : NULL;
        }
        const char *bar = c ? strchr(c, '|') : NULL;
        snprintf(out, size, "%.*s", c ? (int)(bar ? (size_t)(bar - c) : strlen(c)) : 1, c ? c : "?");
        break;
    }
    case CFG_LIST: {
        char *const *items = *(char **const *)p;
        size_t n = *(const size_t *)((const char *)cfg + k->count_offset);
        mm_buf b;
        mm_buf_init(&b, size - 1);
        for (size_t i = 0; i < n; i++)
            mm_buf_printf(&b, "%s%s", i ? "," : "", items[i]);
        mm_strlcpy(out, b.data ? b.data : "", size);
        mm_buf_free(&b);
        break;
    }
    }
}

int mm_config_item_get(const mm_config *cfg, size_t i, mm_config_item *item)
{
    if (i >= config_n_keys || !item)
        return MM_EINVAL;
    const cfg_key *k = &config_keys[i];
    memset(item, 0, sizeof *item);
    item->key = k->key;
    item->env = k->env;
    item->flag = k->flag;
    item->help = k->help;
    item->type = type_name(k->type);
    item->secret = k->secret;
    if (!cfg) {
        mm_strlcpy(item->where, "default", sizeof item->where);
        return 0;
    }
    item->origin = cfg->meta->slots[i].origin;
    mm_strlcpy(item->where, cfg->meta->slots[i].where, sizeof item->where);
    format_value(cfg, k, item);
    return 0;
}

mm_origin mm_config_origin(const mm_config *cfg, const char *key)
{
    const cfg_key *k = config_key_find(key);
    if (!cfg || !k)
        return MM_ORIGIN_DEFAULT;
    return cfg->meta->slots[key_index(k)].origin;
}

const char *mm_config_file(const mm_config *cfg)
{
    return cfg ? cfg->meta->config_path : NULL;
}

const mm_model_override *mm_config_model_override(const mm_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_model_overrides; i++)
        if (strcmp(cfg->model_overrides[i].name, name) == 0)
            return &cfg->model_overrides[i];
    return NULL;
}

const char *mm_origin_name(mm_origin origin)
{
    switch (origin) {
    case MM_ORIGIN_DEFAULT: return "default";
    case MM_ORIGIN_FILE:    return "file";
    case MM_ORIGIN_ENV:     return "env";
    case MM_ORIGIN_FLAG:    return "flag";
    }
    return "default";
}
