/* docs-util.h - helpers the documentation tests share: reading a document,
 * walking its fenced blocks line by line, and the `...` wildcard match that
 * expected output lines use. Header-only; each test program includes it once. */
#ifndef MM_DOCS_UTIL_H
#define MM_DOCS_UTIL_H

#include "core/core.h"
#include "support/test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCS_MAX_BYTES (1u << 20)

/* The documents the tests check: README.md, then every .md file in docs/ in name
 * order, relative to the source tree; NULL-terminated, free with
 * docs_list_free. A document a later branch adds is checked as well. */
static inline int docs_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline char **docs_list(const char *src)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/docs", src);
    size_t cap = 64, n = 0;
    char **v = calloc(cap + 1, sizeof *v);
    if (!v)
        abort();
    v[n++] = mm_strdup("README.md");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".md") != 0)
            continue;
        char rel[512];
        snprintf(rel, sizeof rel, "docs/%s", e->d_name);
        v[n++] = mm_strdup(rel);
    }
    if (d)
        closedir(d);
    qsort(v + 1, n - 1, sizeof *v, docs_cmp);
    return v;
}

static inline void docs_list_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* The source tree, or a skip when the test runs outside CTest. */
static inline const char *docs_source_dir(void)
{
    const char *src = getenv("MM_SOURCE_DIR");
    if (!src || !*src)
        mmtest_skip("MM_SOURCE_DIR is unset (run through ctest)");
    return src;
}

/* The text of rel under the source tree, or NULL when the file is absent
 * (documents land on different branches). Caller frees. */
static inline char *docs_read(const char *src, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src, rel);
    char *text = NULL;
    if (mm_file_read(path, DOCS_MAX_BYTES, &text, NULL, NULL) != 0)
        return NULL;
    return text;
}

/* Split text into lines in place: each '\n' becomes NUL. Returns the number
 * of lines; *lines (caller frees) points into text. */
static inline size_t docs_lines(char *text, char ***lines)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    char **v = calloc(n, sizeof *v);
    if (!v)
        abort();
    size_t i = 0;
    v[i++] = text;
    for (char *p = text; *p; p++)
        if (*p == '\n') {
            *p = '\0';
            if (p[1] && i < n)
                v[i++] = p + 1;
        }
    *lines = v;
    return i;
}

/* Copy s into out with every run of blanks made one space and both ends
 * trimmed: column widths are layout, not content. */
static inline void docs_squeeze(const char *s, char *out, size_t out_size)
{
    size_t o = 0;
    bool space = false;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    for (; *s && o + 2 < out_size; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\r') {
            space = true;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* True when text matches pattern in full, where each "..." in pattern
 * stands for any text (also none). */
static inline bool docs_glob(const char *pattern, const char *text)
{
    const char *star = strstr(pattern, "...");
    if (!star)
        return strcmp(pattern, text) == 0;
    size_t head = (size_t)(star - pattern);
    if (strncmp(pattern, text, head) != 0)
        return false;
    const char *rest = star + 3;
    for (const char *t = text + head;; t++) {
        if (docs_glob(rest, t))
            return true;
        if (!*t)
            return false;
    }
}

#endif /* MM_DOCS_UTIL_H */
