/* test-chat-templates.c - every real chat template in ../shared/models/
 * chat-templates, rendered for every conversation in expected.json, must
 * match byte for byte what Python's Jinja2 rendered (as transformers sets it
 * up; see tools/gen-chat-template-expected.py, which wrote expected.json). */
// labels: conformance
#include "text/text.h"
#include "support/test.h"

#include <stdlib.h>
#include <string.h>

/* Print where two texts first differ, with a little context. */
static void show_diff(const char *got, size_t got_len, const char *want, size_t want_len)
{
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i])
        i++;
    size_t from = i > 60 ? i - 60 : 0;
    fprintf(stderr, "    first difference at byte %zu (got %zu bytes, want %zu)\n", i, got_len,
            want_len);
    fprintf(stderr, "    got:  \"%.*s\"\n", (int)((got_len - from) > 120 ? 120 : got_len - from),
            got + from);
    fprintf(stderr, "    want: \"%.*s\"\n",
            (int)((want_len - from) > 120 ? 120 : want_len - from), want + from);
}

/* One (template, case): returns true when it matches. */
static bool check_case(const text_tmpl *tmpl, const char *tname, const char *cname,
                       const cJSON *ctx_in, const cJSON *tinfo, const cJSON *expect,
                       int64_t now_unix)
{
    cJSON *ctx = cJSON_Duplicate(ctx_in, 1);
    cJSON_AddItemToObject(ctx, "bos_token",
                          cJSON_Duplicate(cJSON_GetObjectItem(tinfo, "bos_token"), 1));
    cJSON_AddItemToObject(ctx, "eos_token",
                          cJSON_Duplicate(cJSON_GetObjectItem(tinfo, "eos_token"), 1));
    text_tmpl_opts opts = { .now_unix = now_unix };
    mm_buf out;
    mm_buf_init(&out, 16u << 20);
    mm_error err = { 0 };
    int rc = text_tmpl_render(tmpl, ctx, &opts, &out, &err);
    bool ok;
    const cJSON *want_out = cJSON_GetObjectItem(expect, "output");
    const cJSON *want_raise = cJSON_GetObjectItem(expect, "raise");
    if (cJSON_IsString(want_out)) {
        ok = rc == 0 && out.len == strlen(want_out->valuestring) &&
             memcmp(out.data ? out.data : "", want_out->valuestring, out.len) == 0;
        if (!ok) {
            fprintf(stderr, "  %s / %s: ", tname, cname);
            if (rc)
                fprintf(stderr, "failed: %s\n", err.message);
            else {
                fprintf(stderr, "output differs\n");
                show_diff(out.data ? out.data : "", out.len, want_out->valuestring,
                          strlen(want_out->valuestring));
            }
        }
    } else if (cJSON_IsString(want_raise)) {
        ok = rc == MM_EINVAL && strcmp(err.message, want_raise->valuestring) == 0;
        if (!ok)
            fprintf(stderr, "  %s / %s: expected raise_exception(\"%s\"), got rc %d \"%s\"\n",
                    tname, cname, want_raise->valuestring, rc, rc ? err.message : "");
    } else {
        ok = rc != 0;
        if (!ok)
            fprintf(stderr, "  %s / %s: Python failed (%s) but this rendered %zu bytes\n", tname,
                    cname, cJSON_GetObjectItem(expect, "error")->valuestring, out.len);
    }
    mm_buf_free(&out);
    cJSON_Delete(ctx);
    return ok;
}

int main(void)
{
    char *dir = mmtest_shared_path("models/chat-templates");
    if (!dir)
        mmtest_skip("../shared/models/chat-templates is absent (conformance data not shipped)");
    const char *src_dir = getenv("MM_SOURCE_DIR");
    char *exp_path = mm_path_join(src_dir ? src_dir : ".", "tests/text/chat-templates/expected.json");
    char *text = NULL;
    size_t len = 0;
    mm_error err = { 0 };
    CHECK_INT(mm_file_read(exp_path, 64u << 20, &text, &len, &err), 0);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc != NULL);
    if (!doc)
        return mmtest_finish();
    int64_t now_unix = (int64_t)cJSON_GetObjectItem(doc, "now_unix")->valuedouble;
    const cJSON *cases = cJSON_GetObjectItem(doc, "cases");
    const cJSON *templates = cJSON_GetObjectItem(doc, "templates");
    int total = 0, passed = 0, n_templates = 0;
    for (const cJSON *t = templates->child; t; t = t->next) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s.jinja", t->string);
        char *path = mm_path_join(dir, rel);
        char *src = NULL;
        size_t src_len = 0;
        if (mm_file_read(path, 1u << 20, &src, &src_len, &err) != 0) {
            fprintf(stderr, "%-48s missing (%s)\n", t->string, err.message);
            free(path);
            continue;
        }
        n_templates++;
        int bytes = cJSON_GetObjectItem(t, "bytes")->valueint;
        CHECK_INT(src_len, bytes);
        text_tmpl *tmpl = NULL;
        int rc = text_tmpl_parse(src, src_len, &tmpl, &err);
        CHECK_INT(rc, 0);
        const cJSON *results = cJSON_GetObjectItem(t, "results");
        int t_total = 0, t_passed = 0;
        for (const cJSON *r = results->child; r; r = r->next) {
            t_total++;
            mmtest_checks++;
            if (rc == 0 && check_case(tmpl, t->string, r->string,
                                      cJSON_GetObjectItem(cases, r->string), t, r, now_unix))
                t_passed++;
            else
                mmtest_fail(__FILE__, __LINE__, "%s / %s does not match Jinja2", t->string,
                            r->string);
        }
        if (rc)
            fprintf(stderr, "  %s: parse failed: %s\n", t->string, err.message);
        printf("%-48s %2d/%2d cases byte-exact\n", t->string, t_passed, t_total);
        total += t_total;
        passed += t_passed;
        text_tmpl_free(tmpl);
        free(src);
        free(path);
    }
    printf("chat templates: %d templates, %d/%d cases byte-exact\n", n_templates, passed, total);
    CHECK(n_templates > 0);
    cJSON_Delete(doc);
    free(text);
    free(exp_path);
    free(dir);
    return mmtest_finish();
}
