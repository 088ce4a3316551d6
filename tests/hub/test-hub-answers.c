/* test-hub-answers.c - the Hub's answers taken apart without a server:
 * the repo-info commit, the refs list as pinning and the update check read
 * it, the message of an error body, and a listing's next page. The documents are written by hand
 * after the Hub's answers (huggingface_hub's RepoInfo and GitRefs). */
#include "hub/hub.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#define COMMIT_A "0123456789abcdef0123456789abcdef01234567"
#define COMMIT_B "89abcdef0123456789abcdef0123456789abcdef"

static const char refs_text[] =
    "{\"branches\":[{\"name\":\"main\",\"ref\":\"refs/heads/main\",\"targetCommit\":\"" COMMIT_A "\"},"
    "{\"name\":\"both\",\"targetCommit\":\"" COMMIT_A "\"},{\"name\":\"dev\"}],"
    "\"converts\":[],"
    "\"tags\":[{\"name\":\"v1.0\",\"ref\":\"refs/tags/v1.0\",\"targetCommit\":\"" COMMIT_B "\"},"
    "{\"name\":\"both\",\"targetCommit\":\"" COMMIT_B "\"},{\"name\":7}]}";

static void test_revision_commit(void)
{
    char commit[41] = "unchanged";
    mm_error err = { 0 };
    cJSON *info = cJSON_Parse("{\"id\":\"org/repo\",\"sha\":\"" COMMIT_A "\",\"private\":false}");
    CHECK_INT(hub_revision_commit(info, "org/repo", commit, &err), 0);
    CHECK_STR(commit, COMMIT_A);
    cJSON_Delete(info);

    static const char *const bad[] = {
        "{\"sha\":\"0123456789ABCDEF0123456789abcdef01234567\"}",   /* upper case */
        "{\"sha\":\"0123456789abcdef\"}", "{\"sha\":12}", "{\"id\":\"org/repo\"}", "[]",
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(bad); i++) {
        mm_strlcpy(commit, "unchanged", sizeof commit);
        info = cJSON_Parse(bad[i]);
        CHECK(info != NULL);
        CHECK_INT(hub_revision_commit(info, "org/repo", commit, &err), MM_EFORMAT);
        CHECK_STR(err.message, "the Hub's repo info for org/repo has no commit sha");
        CHECK_STR(commit, "unchanged");
        cJSON_Delete(info);
    }
    /* a body that was not JSON */
    CHECK_INT(hub_revision_commit(NULL, "org/repo", commit, &err), MM_EFORMAT);
    CHECK_STR(commit, "unchanged");
}

static void test_refs_tag_check(void)
{
    cJSON *refs = cJSON_Parse(refs_text);
    CHECK(refs != NULL);
    mm_error err = { 0 };
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "v1.0", &err), 0);
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "both", &err), 0);   /* the tag wins */
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "main", &err), MM_EPINNING);
    CHECK_STR(err.message, "Revision must be explicitly pinned: pass a commit hash or tag "
                           "(got 'main')");
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "dev", &err), MM_EPINNING);
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "v2.0", &err), MM_ENOTFOUND);
    CHECK_STR(err.message, "revision 'v2.0' not found in org/repo: it is neither a tag nor a "
                           "branch; pass a commit hash or tag that exists");
    cJSON_Delete(refs);

    refs = cJSON_Parse("{\"branches\":[],\"tags\":{}}");
    CHECK_INT(hub_refs_tag_check(refs, "org/repo", "v1.0", &err), MM_EFORMAT);
    CHECK_STR(err.message, "the Hub's refs list for org/repo is malformed");
    cJSON_Delete(refs);
    CHECK_INT(hub_refs_tag_check(NULL, "org/repo", "v1.0", &err), MM_EFORMAT);
}

static void test_refs_lookup(void)
{
    cJSON *refs = cJSON_Parse(refs_text);
    CHECK(refs != NULL);
    mm_error err = { 0 };
    bool is_tag = true;
    char commit[41] = "";
    CHECK_INT(hub_refs_lookup(refs, "org/repo", "main", &is_tag, commit, &err), 0);
    CHECK(!is_tag);
    CHECK_STR(commit, COMMIT_A);
    CHECK_INT(hub_refs_lookup(refs, "org/repo", "v1.0", &is_tag, commit, &err), 0);
    CHECK(is_tag);
    CHECK_STR(commit, COMMIT_B);
    /* the update check follows branches: a branch wins over a tag */
    CHECK_INT(hub_refs_lookup(refs, "org/repo", "both", &is_tag, commit, &err), 0);
    CHECK(!is_tag);
    CHECK_STR(commit, COMMIT_A);

    mm_strlcpy(commit, "unchanged", sizeof commit);
    CHECK_INT(hub_refs_lookup(refs, "org/repo", "dev", &is_tag, commit, &err), MM_EFORMAT);
    CHECK_STR(err.message, "the Hub's refs list for org/repo gives 'dev' no commit");
    CHECK_INT(hub_refs_lookup(refs, "org/repo", "v2.0", &is_tag, commit, &err), MM_ENOTFOUND);
    CHECK_STR(err.message, "'v2.0' is no longer a branch or tag of org/repo: pull the model "
                           "again with a revision that exists");
    CHECK_STR(commit, "unchanged");
    cJSON_Delete(refs);

    CHECK_INT(hub_refs_lookup(NULL, "org/repo", "main", &is_tag, commit, &err), MM_EFORMAT);
    CHECK_STR(err.message, "the Hub's refs list for org/repo is malformed");
    CHECK_STR(commit, "unchanged");
}

static void set_body(hub_http_response *rs, const char *body)
{
    hub_http_response_free(rs);
    hub_http_response_init(rs);
    CHECK_INT(mm_buf_puts(&rs->body, body), 0);
}

static void test_server_message(void)
{
    hub_http_response rs;
    hub_http_response_init(&rs);
    char out[16];
    set_body(&rs, "{\"error\":\"Repository not found\"}");
    hub_http_server_message(&rs, out, sizeof out);
    CHECK_STR(out, "Repository not ");   /* 15 bytes and the NUL */
    char wide[64];
    hub_http_server_message(&rs, wide, sizeof wide);
    CHECK_STR(wide, "Repository not found");

    /* the header wins over the body */
    mm_strlcpy(rs.error_message, "Access denied", sizeof rs.error_message);
    hub_http_server_message(&rs, wide, sizeof wide);
    CHECK_STR(wide, "Access denied");

    static const char *const none[] = { "{\"error\":[\"x\"]}", "{\"message\":\"x\"}",
                                         "not json", "" };
    for (size_t i = 0; i < MM_ARRAY_LEN(none); i++) {
        set_body(&rs, none[i]);
        hub_http_server_message(&rs, wide, sizeof wide);
        CHECK_STR(wide, "");
    }
    hub_http_response_free(&rs);
}

static void test_next_page(void)
{
    static const char ep[] = "https://huggingface.co";
    char *next = (char *)"unset";
    mm_error err = { 0 };
    CHECK_INT(hub_next_page("<https://huggingface.co/api/models/org/m/tree/main?cursor=x>; "
                            "rel=\"next\"", ep, "org/m", &next, &err), 0);
    CHECK_STR(next, "https://huggingface.co/api/models/org/m/tree/main?cursor=x");
    free(next);
    CHECK_INT(hub_next_page("<https://HuggingFace.CO?cursor=y>; rel=\"next\"", ep, "org/m", &next,
                            &err), 0);
    CHECK_STR(next, "https://HuggingFace.CO?cursor=y");
    free(next);

    static const char *const elsewhere[] = {
        "<https://huggingface.co@evil.example/x>; rel=\"next\"",
        "<https://huggingface.co.evil.example/x>; rel=\"next\"",
        "<http://huggingface.co/x>; rel=\"next\"",
        "<https://huggingface.co:8443/x>; rel=\"next\"",
        "</api/models/org/m/tree/main?cursor=x>; rel=\"next\"",
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(elsewhere); i++) {
        next = (char *)"unset";
        CHECK_INT(hub_next_page(elsewhere[i], ep, "org/m", &next, &err), MM_EFORMAT);
        CHECK_STR(err.message, "the Hub's next page for org/m is on another host");
        CHECK(next == NULL);
    }
    static const char *const no_next[] = {
        "", "<https://huggingface.co/x>; rel=\"prev\"", "https://huggingface.co/x; rel=\"next\"",
        "<https://huggingface.co/x; rel=\"next\"",
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(no_next); i++) {
        next = (char *)"unset";
        CHECK_INT(hub_next_page(no_next[i], ep, "org/m", &next, &err), 0);
        CHECK(next == NULL);
    }
}

int main(void)
{
    test_revision_commit();
    test_refs_tag_check();
    test_refs_lookup();
    test_server_message();
    test_next_page();
    return mmtest_finish();
}
