/* fuzz-hub.c - what the Hub client takes from the Hub's answers: pages of
 * the tree API and the file names in them. The first byte picks the target:
 * even, the rest is a tree page (JSON); odd, the rest is one file name. An
 * accepted name must never lead outside the snapshot directory (absolute,
 * "..", "." or empty segments, control bytes), checked here independently
 * of hub_valid_filename. */
#include "fuzz.h"
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <string.h>

/* A relative path made of plain segments, written from the definition. */
static bool stays_inside(const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20)
            return false;
    const char *seg = path;
    while (true) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && !memcmp(seg, "..", 2)))
            return false;
        if (!slash)
            return true;
        seg = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    char *text = malloc(size);
    FUZZ_CHECK(text);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] & 1) {
        /* a name with an embedded NUL is cut there, as C sees it */
        if (hub_valid_filename(text))
            FUZZ_CHECK(stays_inside(text));
        free(text);
        return 0;
    }
    cJSON *page = cJSON_ParseWithLength(text, size - 1);
    hub_listing l = { 0 };
    size_t cap = 0;
    mm_error err = { 0 };
    int rc = page ? hub_listing_add_page(&l, page, &cap, "org/repo", &err) : 0;
    if (rc != 0)
        FUZZ_CHECK(rc < 0 && err.message[0]);
    FUZZ_CHECK(l.n_files <= cap);
    for (size_t i = 0; i < l.n_files; i++) {
        FUZZ_CHECK(l.files[i].path && stays_inside(l.files[i].path));
        free(l.files[i].path);
    }
    free(l.files);
    cJSON_Delete(page);
    free(text);
    return 0;
}
