/* fuzz-hub.c - what the Hub client takes from the Hub's answers: pages of
 * the tree API and the file names in them, response headers, the repo-info
 * and refs JSON, and error bodies. The first byte picks the target (its
 * value mod 6, so the digits '0'..'5' name them): 0, the rest is a tree
 * page; 1, one file name; 2, header lines; 3, a repo-info answer; 4, a
 * revision name, a newline, then a refs answer; 5, an error body.
 * An accepted name must never lead outside the snapshot directory
 * (absolute, "..", "." or empty segments, control bytes), checked here
 * independently of hub_valid_filename; every header field must stay
 * NUL-terminated within its size, a requested wait within 0..86400 s, and
 * a next page (Link header) on the endpoint's origin;
 * a commit taken from JSON is 40 lowercase hex digits and the one the
 * document gave, a refused document leaves the commit as it was, and the
 * two readers of the refs answer agree on what a name is. */
#include "fuzz.h"
#include "hub/hub.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_BYTES 256
#define ENDPOINT "https://huggingface.co"
#define CANARY 0x5a

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

static bool is_commit_text(const char *s)
{
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[40] == '\0';
}

static bool untouched(const char *buf, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if ((unsigned char)buf[i] != CANARY)
            return false;
    return true;
}

/* A failure comes with its code and a message. */
static void check_failure(int rc, const mm_error *err)
{
    FUZZ_CHECK(rc < 0 && err->code == rc && err->message[0]);
}

static void fuzz_headers(const char *text, size_t len)
{
    hub_http_response rs;
    memset(&rs, 0, sizeof rs);
    rs.status = 429;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        hub_http_header_line(&rs, p, n);
        p += n;
    }
#define FIELD_OK(f) FUZZ_CHECK(memchr(rs.f, '\0', sizeof rs.f) != NULL)
    FIELD_OK(location); FIELD_OK(repo_commit); FIELD_OK(etag); FIELD_OK(linked_etag);
    FIELD_OK(linked_size); FIELD_OK(content_length); FIELD_OK(content_range);
    FIELD_OK(error_code); FIELD_OK(error_message); FIELD_OK(retry_after);
    FIELD_OK(ratelimit); FIELD_OK(link);
#undef FIELD_OK
    int64_t wait = hub_http_server_wait_s(&rs);
    FUZZ_CHECK(wait >= -1 && wait <= 86400);

    /* The token goes to the next page: it must be on the endpoint's origin. */
    char *next = NULL;
    mm_error err = { 0 };
    int rc = hub_next_page(rs.link, ENDPOINT, "org/repo", &next, &err);
    if (rc == 0 && next)
        FUZZ_CHECK(strncasecmp(next, ENDPOINT, strlen(ENDPOINT)) == 0 &&
                   strchr("/?#", next[strlen(ENDPOINT)]) != NULL);
    else if (rc != 0)
        FUZZ_CHECK(!next && rc < 0 && err.code == rc && err.message[0]);
    free(next);
}

static void fuzz_tree_page(const char *text, size_t len)
{
    cJSON *page = cJSON_ParseWithLength(text, len);
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
}

static void fuzz_repo_info(const char *text, size_t len)
{
    cJSON *info = cJSON_ParseWithLength(text, len);
    char commit[41];
    memset(commit, CANARY, sizeof commit);
    mm_error err = { 0 };
    int rc = hub_revision_commit(info, "org/repo", commit, &err);
    if (rc == 0) {
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(info, "sha");
        FUZZ_CHECK(is_commit_text(commit));
        FUZZ_CHECK(cJSON_IsString(sha) && strcmp(sha->valuestring, commit) == 0);
    } else {
        check_failure(rc, &err);
        FUZZ_CHECK(rc == MM_EFORMAT);
        FUZZ_CHECK(untouched(commit, sizeof commit));
    }
    cJSON_Delete(info);
}

/* The pinning check and the update check read the same document: a name
 * the one finds, the other must place the same way. */
static void fuzz_refs(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    if (!nl || (size_t)(nl - text) > NAME_MAX_BYTES)
        return;
    char name[NAME_MAX_BYTES + 1];
    memcpy(name, text, (size_t)(nl - text));
    name[nl - text] = '\0';
    cJSON *refs = cJSON_ParseWithLength(nl + 1, len - (size_t)(nl + 1 - text));

    mm_error pin_err = { 0 };
    int pin = hub_refs_tag_check(refs, "org/repo", name, &pin_err);
    if (pin != 0) {
        check_failure(pin, &pin_err);
        FUZZ_CHECK(pin == MM_EPINNING || pin == MM_ENOTFOUND || pin == MM_EFORMAT);
    }

    bool is_tag = false;
    char commit[41];
    memset(commit, CANARY, sizeof commit);
    mm_error look_err = { 0 };
    int look = hub_refs_lookup(refs, "org/repo", name, &is_tag, commit, &look_err);
    if (look == 0) {
        FUZZ_CHECK(is_commit_text(commit));
        /* a tag is found by both; a branch is a branch to pinning unless a
         * tag of the same name wins, or the tags list is malformed */
        if (is_tag)
            FUZZ_CHECK(pin == 0);
        else
            FUZZ_CHECK(pin == 0 || pin == MM_EPINNING || pin == MM_EFORMAT);
    } else {
        check_failure(look, &look_err);
        FUZZ_CHECK(look == MM_ENOTFOUND || look == MM_EFORMAT);
        FUZZ_CHECK(untouched(commit, sizeof commit));
        if (look == MM_ENOTFOUND)
            FUZZ_CHECK(pin == MM_ENOTFOUND);
    }
    if (pin == MM_ENOTFOUND)
        FUZZ_CHECK(look == MM_ENOTFOUND);
    cJSON_Delete(refs);
}

/* The message must fit the room given, whatever the body. */
static void fuzz_error_body(const char *text, size_t len)
{
    hub_http_response rs;
    hub_http_response_init(&rs);
    if (mm_buf_append(&rs.body, text, len) != 0) {
        hub_http_response_free(&rs);
        return;
    }
    char out[72];
    const size_t room = 64;
    memset(out, CANARY, sizeof out);
    hub_http_server_message(&rs, out, room);
    FUZZ_CHECK(memchr(out, '\0', room) != NULL);
    FUZZ_CHECK(untouched(out + room, sizeof out - room));
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (cJSON_IsString(e))
        FUZZ_CHECK(strncmp(out, e->valuestring, strlen(out)) == 0 &&
                   strlen(out) == (strlen(e->valuestring) < room ? strlen(e->valuestring)
                                                                 : room - 1));
    else
        FUZZ_CHECK(out[0] == '\0');
    cJSON_Delete(doc);
    hub_http_response_free(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    char *text = malloc(size);
    FUZZ_CHECK(text);
    size_t len = size - 1;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    switch (data[0] % 6) {
    case 0:
        fuzz_tree_page(text, len);
        break;
    case 1:
        /* a name with an embedded NUL is cut there, as C sees it */
        if (hub_valid_filename(text))
            FUZZ_CHECK(stays_inside(text));
        break;
    case 2:
        fuzz_headers(text, len);
        break;
    case 3:
        fuzz_repo_info(text, len);
        break;
    case 4:
        fuzz_refs(text, len);
        break;
    default:
        fuzz_error_body(text, len);
        break;
    }
    free(text);
    return 0;
}
