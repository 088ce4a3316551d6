/* fuzz-hub.c - what the Hub client takes from the Hub's answers: pages of
 * the tree API, the file names in them, and response headers. The first
 * byte picks the target (its value mod 3): 0, the rest is a tree page
 * (JSON); 1, one file name; 2, header lines. An accepted name must never
 * lead outside the snapshot directory (absolute, "..", "." or empty
 * segments, control bytes), checked here independently of
 * hub_valid_filename; every header field must stay NUL-terminated within
 * its size, and a requested wait within 0..86400 s. */
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
    if (data[0] % 3 == 2) {
        hub_http_response rs;
        memset(&rs, 0, sizeof rs);
        rs.status = 429;
        const char *p = text, *end = text + size - 1;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
            hub_http_header_line(&rs, p, len);
            p += len;
        }
#define FIELD_OK(f) FUZZ_CHECK(memchr(rs.f, '\0', sizeof rs.f) != NULL)
        FIELD_OK(location); FIELD_OK(repo_commit); FIELD_OK(etag); FIELD_OK(linked_etag);
        FIELD_OK(linked_size); FIELD_OK(content_length); FIELD_OK(content_range);
        FIELD_OK(error_code); FIELD_OK(error_message); FIELD_OK(retry_after);
        FIELD_OK(ratelimit); FIELD_OK(link);
#undef FIELD_OK
        int64_t wait = hub_http_server_wait_s(&rs);
        FUZZ_CHECK(wait >= -1 && wait <= 86400);
        free(text);
        return 0;
    }
    if (data[0] % 3 == 1) {
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
