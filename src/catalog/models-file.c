/* models-file.c - the models.txt parser: one model a line as a Hugging Face
 * repo (org/name[@revision[:path]]) or a local file (local:path), with an
 * optional "key =" alias, and the key and repo-id rules the catalog shares. */
#include "catalog/catalog.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool repo_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* The Hub's rules for one side of "org/name" (huggingface_hub's
 * validate_repo_id): word characters, '-', '.', no "--" or "..", and a word
 * character at both ends. */
static bool repo_part_valid(const char *part, size_t len, const char *what,
                            char *why, size_t why_size)
{
    if (len == 0) {
        snprintf(why, why_size, "the %s is empty", what);
        return false;
    }
    if (len > CATALOG_REPO_PART_MAX) {
        snprintf(why, why_size, "the %s is longer than %u characters", what,
                 CATALOG_REPO_PART_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!repo_char(part[i])) {
            snprintf(why, why_size, "the %s has a character the Hub does not allow ('%c'); "
                     "use letters, digits, '-', '_' and '.'",
                     what, isprint((unsigned char)part[i]) ? part[i] : '?');
            return false;
        }
        if (i > 0 && (part[i] == '-' || part[i] == '.') && part[i - 1] == part[i]) {
            snprintf(why, why_size, "the %s contains '%c%c'", what, part[i], part[i]);
            return false;
        }
    }
    char first = part[0], last = part[len - 1];
    if (first == '-' || first == '.' || last == '-' || last == '.') {
        snprintf(why, why_size, "the %s starts or ends with '-' or '.'", what);
        return false;
    }
    return true;
}

bool catalog_repo_id_valid(const char *id, char *why, size_t why_size)
{
    const char *slash = strchr(id, '/');
    if (!slash || strchr(slash + 1, '/')) {
        snprintf(why, why_size, "expected a Hugging Face repo id 'org/name'");
        return false;
    }
    return repo_part_valid(id, (size_t)(slash - id), "organisation", why, why_size) &&
           repo_part_valid(slash + 1, strlen(slash + 1), "repo name", why, why_size);
}

bool catalog_key_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > CATALOG_KEY_MAX || key[0] == '.' || key[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!repo_char(key[i]))
            return false;
    return true;
}

bool catalog_split_name(const char *name, uint32_t *part, uint32_t *total, size_t *prefix_len)
{
    /* "-00001-of-00003.gguf" is 20 characters. */
    static const char suffix_shape[] = "-#####-of-#####.gguf";
    size_t len = strlen(name), slen = sizeof suffix_shape - 1;
    if (len <= slen)
        return false;
    const char *s = name + len - slen;
    uint32_t values[2] = { 0, 0 };
    int which = 0;
    for (size_t i = 0; i < slen; i++) {
        if (suffix_shape[i] == '#') {
            if (!isdigit((unsigned char)s[i]))
                return false;
            values[which] = values[which] * 10 + (uint32_t)(s[i] - '0');
        } else {
            if (s[i] != suffix_shape[i])
                return false;
            if (i > 0 && suffix_shape[i - 1] == '#')
                which = 1;
        }
    }
    if (values[0] == 0 || values[1] == 0 || values[0] > values[1])
        return false;
    *part = values[0];
    *total = values[1];
    *prefix_len = len - slen;
    return true;
}

char *catalog_derive_key(const char *name, bool drop_ext)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t len = strlen(base);
    uint32_t part, total;
    size_t prefix_len;
    if (drop_ext) {
        if (catalog_split_name(base, &part, &total, &prefix_len)) {
            len = prefix_len;
        } else {
            const char *dot = strrchr(base, '.');
            if (dot && dot != base)
                len = (size_t)(dot - base);
        }
    }
    if (len > CATALOG_KEY_MAX)
        len = CATALOG_KEY_MAX;
    char *key = mm_strndup(base, len);
    if (!key)
        return NULL;
    for (char *p = key; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!repo_char(*p))
            *p = '-';
    }
    /* A key never starts with '.' or '-' (hidden-file names, flags). */
    while (key[0] == '.' || key[0] == '-')
        memmove(key, key + 1, strlen(key));
    if (!key[0]) {
        free(key);
        return mm_strdup("model");
    }
    return key;
}

/* A revision is a branch, tag or commit; it becomes a file name under refs/,
 * so it must not climb out of it. */
static bool revision_valid(const char *rev)
{
    size_t len = strlen(rev);
    if (len == 0 || len > CATALOG_REVISION_MAX || rev[0] == '/' || rev[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!repo_char(rev[i]) && rev[i] != '/')
            return false;
    return strstr(rev, "..") == NULL && strstr(rev, "//") == NULL;
}

/* Whether a relative path stays below its root ("a/../b" does, "../b" and
 * "a/../../b" do not). */
static bool path_stays_inside(const char *path)
{
    long depth = 0;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

static bool repo_path_valid(const char *path)
{
    if (path[0] == '/' || strlen(path) > CATALOG_PATH_MAX)
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20)
            return false;
    /* No ".." at all: the path is looked up inside a snapshot directory. */
    const char *p = path;
    while ((p = strstr(p, "..")) != NULL) {
        bool starts = p == path || p[-1] == '/';
        bool ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends)
            return false;
        p += 2;
    }
    return true;
}

/* Parse the value part (everything after an alias) into e. Returns NULL on
 * success or a static/why message. */
static const char *parse_value(char *value, const char *models_dir, catalog_entry *e,
                               char *why, size_t why_size, bool *oom)
{
    if (mm_str_has_prefix(value, "local:")) {
        char *path = mm_str_trim(value + 6);
        if (!*path)
            return "empty local path after 'local:'";
        if (strlen(path) > CATALOG_PATH_MAX)
            return "local path is too long";
        if (path[0] != '/' && !path_stays_inside(path)) {
            snprintf(why, why_size, "local path '%.200s' escapes the models directory with '..'; "
                     "use an absolute path for files elsewhere", path);
            return why;
        }
        e->source = MM_SOURCE_LOCAL;
        e->local_path = path[0] == '/' ? mm_strdup(path) : mm_path_join(models_dir, path);
        *oom = e->local_path == NULL;
        return NULL;
    }
    char *at = strchr(value, '@');
    char *colon = strchr(value, ':');
    if (colon && (!at || colon < at))
        return "a file path needs a revision first: use 'org/name@revision:path' "
               "(for example @main)";
    if (at)
        *at = '\0';
    if (!catalog_repo_id_valid(value, why, why_size)) {
        char reason[256];
        mm_strlcpy(reason, why, sizeof reason);
        snprintf(why, why_size, "bad repo id '%.100s': %.200s", value, reason);
        return why;
    }
    e->source = MM_SOURCE_HF;
    if (!(e->repo = mm_strdup(value))) {
        *oom = true;
        return NULL;
    }
    if (!at)
        return NULL;
    char *rev = at + 1;
    colon = strchr(rev, ':');
    if (colon)
        *colon = '\0';
    if (!*rev)
        return "'@' without a revision: write 'org/name@revision' (a branch, tag or commit)";
    if (!revision_valid(rev)) {
        snprintf(why, why_size, "bad revision '%.120s': use letters, digits, '-', '_', '.' "
                 "and '/', without '..'", rev);
        return why;
    }
    if (!(e->revision = mm_strdup(rev))) {
        *oom = true;
        return NULL;
    }
    if (!colon)
        return NULL;
    char *path = colon + 1;
    if (!*path)
        return "':' without a path: write 'org/name@revision:path/in/repo.gguf'";
    if (!repo_path_valid(path)) {
        snprintf(why, why_size, "bad path in repo '%.120s': it must be relative and "
                 "must not contain '..'", path);
        return why;
    }
    e->repo_path = mm_strdup(path);
    *oom = e->repo_path == NULL;
    return NULL;
}

static void entry_clear(catalog_entry *e)
{
    free(e->key);
    free(e->repo);
    free(e->revision);
    free(e->repo_path);
    free(e->local_path);
    memset(e, 0, sizeof *e);
}

void catalog_entries_free(catalog_entries *entries)
{
    if (!entries)
        return;
    for (size_t i = 0; i < entries->count; i++)
        entry_clear(&entries->items[i]);
    free(entries->items);
    entries->items = NULL;
    entries->count = 0;
}

/* Fill e from one line (comment already stripped, trimmed, not empty).
 * Returns 0, MM_EFORMAT with why filled, or MM_ENOMEM. */
static int parse_line(char *line, const char *models_dir, catalog_entry *e,
                      char *why, size_t why_size)
{
    char *value = line;
    char *alias = NULL;
    /* "local:a=b.gguf" is a path with '=' in it, not an alias. */
    char *eq = mm_str_has_prefix(line, "local:") ? NULL : strchr(line, '=');
    if (eq) {
        *eq = '\0';
        alias = mm_str_trim(line);
        value = mm_str_trim(eq + 1);
        if (!*alias) {
            snprintf(why, why_size, "'=' without a key before it: write 'key = org/name'");
            return MM_EFORMAT;
        }
        if (!catalog_key_valid(alias)) {
            snprintf(why, why_size, "bad key '%.120s': use 1-%u letters, digits, '-', '_' "
                     "or '.', not starting with '-' or '.'", alias, CATALOG_KEY_MAX);
            return MM_EFORMAT;
        }
        if (!*value) {
            snprintf(why, why_size, "alias '%s' has no value: write '%s = org/name' or "
                     "'%s = local:file.gguf'", alias, alias, alias);
            return MM_EFORMAT;
        }
    }
    if (!mm_str_has_prefix(value, "local:")) {
        for (const char *p = value; *p; p++) {
            if (*p == ' ' || *p == '\t') {
                snprintf(why, why_size, "unexpected space in '%.120s': one model per line", value);
                return MM_EFORMAT;
            }
        }
    }
    bool oom = false;
    const char *problem = parse_value(value, models_dir, e, why, why_size, &oom);
    if (oom)
        return MM_ENOMEM;
    if (problem) {
        if (problem != why)
            mm_strlcpy(why, problem, why_size);
        return MM_EFORMAT;
    }
    if (alias)
        e->key = mm_strdup(alias);
    else if (e->source == MM_SOURCE_LOCAL)
        e->key = catalog_derive_key(e->local_path, true);
    else if (e->repo_path)
        e->key = catalog_derive_key(e->repo_path, true);
    else
        e->key = catalog_derive_key(strchr(e->repo, '/') + 1, false);
    return e->key ? 0 : MM_ENOMEM;
}

int catalog_parse_models(const char *text, size_t len, const char *label,
                         const char *models_dir, catalog_entries *out, mm_error *err)
{
    out->items = NULL;
    out->count = 0;
    size_t cap = 0;
    char line[CATALOG_LINE_MAX + 1];
    char why[384];
    int line_no = 0;
    int rc = 0;
    size_t pos = 0;
    while (pos < len) {
        line_no++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (line_len > CATALOG_LINE_MAX) {
            rc = mm_error_set(err, MM_EFORMAT, "%s:%d: line is longer than %u bytes",
                              label, line_no, CATALOG_LINE_MAX);
            goto fail;
        }
        memcpy(line, text + pos, line_len);
        line[line_len] = '\0';
        pos += line_len + (nl ? 1 : 0);
        if (strlen(line) != line_len) {
            rc = mm_error_set(err, MM_EFORMAT, "%s:%d: line contains a NUL byte", label, line_no);
            goto fail;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *trimmed = mm_str_trim(line);
        if (!*trimmed)
            continue;
        if (out->count == CATALOG_ENTRIES_MAX) {
            rc = mm_error_set(err, MM_ELIMIT, "%s:%d: more than %u entries", label, line_no,
                              CATALOG_ENTRIES_MAX);
            goto fail;
        }
        if (out->count == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            catalog_entry *grown = realloc(out->items, new_cap * sizeof *grown);
            if (!grown) {
                rc = mm_error_set(err, MM_ENOMEM, "out of memory reading %s", label);
                goto fail;
            }
            out->items = grown;
            cap = new_cap;
        }
        catalog_entry *e = &out->items[out->count];
        memset(e, 0, sizeof *e);
        e->line = line_no;
        int lrc = parse_line(trimmed, models_dir, e, why, sizeof why);
        if (lrc != 0) {
            entry_clear(e);
            rc = lrc == MM_ENOMEM
                 ? mm_error_set(err, MM_ENOMEM, "out of memory reading %s", label)
                 : mm_error_set(err, MM_EFORMAT, "%s:%d: %s", label, line_no, why);
            goto fail;
        }
        out->count++;
        for (size_t i = 0; i + 1 < out->count; i++) {
            if (strcmp(out->items[i].key, e->key) == 0) {
                rc = mm_error_set(err, MM_EFORMAT, "%s:%d: duplicate key '%s' (first defined "
                                  "on line %d); give one of them an alias: 'other-key = ...'",
                                  label, line_no, e->key, out->items[i].line);
                goto fail;
            }
        }
    }
    return 0;
fail:
    catalog_entries_free(out);
    return rc;
}
