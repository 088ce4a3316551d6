/* test-hub-audit.c - `modelmgr audit` over a hand-written audit.jsonl: the
 * aligned table, --since / --repo / --failed / --json filters, and malformed
 * lines reported with their line numbers and skipped, never fatal. */
// labels: integration
#include "core/core.h"
#include "support/test.h"

#include <stdlib.h>

#define COMMIT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const char *const lines[] = {
    /* 1 */ "{\"time\":\"2026-01-01T10:00:00Z\",\"action\":\"pull\",\"repo\":\"org/a\","
            "\"revision\":\"v1\",\"commit\":\"" COMMIT_A "\",\"file\":\"m.gguf\",\"bytes\":100,"
            "\"result\":\"downloaded\",\"error\":null}",
    /* 2 */ "{\"time\":\"2026-01-02T09:00:00Z\",\"action\":\"pull\",\"repo\":\"org/b\","
            "\"revision\":\"v2\",\"commit\":null,\"file\":\"x.bin\",\"bytes\":0,"
            "\"result\":\"error\",\"error\":\"the Hub answered HTTP 503 4 times in a row\"}",
    /* 3 */ "{garbage",
    /* 4 */ "{\"time\":\"2026-01-03T00:00:00Z\",\"action\":\"verify\",\"repo\":\"org/a\","
            "\"revision\":\"v1\",\"commit\":\"" COMMIT_A "\",\"file\":\"m.gguf\",\"bytes\":100,"
            "\"result\":\"mismatch\",\"error\":\"sha256 differs\"}",
    /* 5 */ "[1,2]",
    /* 6 */ "",
    /* 7 */ "{\"time\":\"2026-01-04T00:00:00Z\",\"action\":\"delete\",\"repo\":\"org/a\","
            "\"revision\":null,\"commit\":null,\"file\":null,\"bytes\":2048,"
            "\"result\":\"deleted\",\"error\":null}",
};

static char *tmp;

static int audit(const char *const *args, char **out, char **err)
{
    char models[4200];
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", tmp);
    const char *env[] = { models, NULL };
    return mmtest_run_cli(args, env, out, err);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p; p++)
        n += *p == '\n';
    return n;
}

/* Each line of out starting with the column's text in the header: the cell
 * under it begins at the same offset and follows two spaces (or is first). */
static void check_column(const char *out, const char *header)
{
    const char *nl = strchr(out, '\n');
    const char *at = strstr(out, header);
    CHECK(nl && at && at < nl);
    if (!nl || !at)
        return;
    size_t col = (size_t)(at - out);
    for (const char *line = nl + 1; *line; line = strchr(line, '\n') + 1) {
        size_t len = (size_t)(strchr(line, '\n') - line);
        CHECK(len > col && line[col] != ' ' && line[col - 1] == ' ' && line[col - 2] == ' ');
    }
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char path[4300];
    snprintf(path, sizeof path, "%s/models/audit.jsonl", tmp);
    char *out = NULL, *err = NULL;

    const char *all[] = { "audit", NULL };
    CHECK_INT(audit(all, &out, &err), 0);   /* no log yet */
    CHECK_CONTAINS(err, "no audit records in ");
    free(out);
    free(err);

    mm_buf text;
    mm_buf_init(&text, 1 << 16);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        mm_buf_printf(&text, "%s\n", lines[i]);
    mmtest_write_file(path, text.data);
    mm_buf_free(&text);

    CHECK_INT(audit(all, &out, &err), 0);
    CHECK_INT(count_lines(out), 5);   /* header + 4 records */
    CHECK(out && strncmp(out, "TIME ", 5) == 0);
    CHECK_CONTAINS(out, "v1@aaaaaaaaaaaa ");
    CHECK_CONTAINS(out, "the Hub answered HTTP 503 4 times in a row\n");
    const char *headers[] = { "ACTION", "REPO", "REVISION@COMMIT", "FILE", "RESULT", "ERROR" };
    for (size_t i = 0; out && i < sizeof headers / sizeof headers[0]; i++)
        check_column(out, headers[i]);
    CHECK_CONTAINS(err, "modelmgr: warning: audit.jsonl line 3 skipped: not valid JSON\n");
    CHECK_CONTAINS(err, "modelmgr: warning: audit.jsonl line 5 skipped: not an audit record");
    CHECK_INT(count_lines(err), 2);
    free(out);
    free(err);

    const char *since[] = { "audit", "--since", "2026-01-02", NULL };
    CHECK_INT(audit(since, &out, &err), 0);
    CHECK_INT(count_lines(out), 4);
    CHECK(out && !strstr(out, "2026-01-01T"));
    free(out);
    free(err);
    const char *since_time[] = { "audit", "--since=2026-01-03T00:00:00Z", NULL };
    CHECK_INT(audit(since_time, &out, &err), 0);
    CHECK_INT(count_lines(out), 3);
    CHECK_CONTAINS(out, "verify");
    CHECK_CONTAINS(out, "delete");
    free(out);
    free(err);

    const char *repo[] = { "audit", "--repo", "org/b", NULL };
    CHECK_INT(audit(repo, &out, &err), 0);
    CHECK_INT(count_lines(out), 2);
    CHECK_CONTAINS(out, "org/b");
    free(out);
    free(err);

    const char *failed[] = { "audit", "--failed", NULL };
    CHECK_INT(audit(failed, &out, &err), 0);
    CHECK_INT(count_lines(out), 3);
    CHECK_CONTAINS(out, "mismatch");
    CHECK_CONTAINS(out, "error");
    CHECK(out && !strstr(out, "downloaded") && !strstr(out, "deleted"));
    free(out);
    free(err);

    const char *failed_a[] = { "audit", "--failed", "--repo", "org/a", NULL };
    CHECK_INT(audit(failed_a, &out, &err), 0);
    CHECK_INT(count_lines(out), 2);
    CHECK_CONTAINS(out, "mismatch");
    free(out);
    free(err);

    const char *json[] = { "audit", "--json", "--repo", "org/a", NULL };
    CHECK_INT(audit(json, &out, &err), 0);
    char want[2048];
    snprintf(want, sizeof want, "%s\n%s\n%s\n", lines[0], lines[3], lines[6]);
    CHECK_STR(out, want);
    free(out);
    free(err);

    const char *bad_since[] = { "audit", "--since", "yesterday", NULL };
    CHECK_INT(audit(bad_since, &out, &err), 2);
    CHECK_CONTAINS(err, "modelmgr: --since 'yesterday': expected a date YYYY-MM-DD or a UTC "
                        "time YYYY-MM-DDTHH:MM:SSZ\n");
    free(out);
    free(err);

    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
