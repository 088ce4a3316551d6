/* cmd-audit.c - `modelmgr audit [--since DATE] [--repo R] [--failed] [--json]`:
 * the audit log as an aligned table or as its JSON lines; malformed lines are
 * reported on stderr with their number and skipped. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table keeps the newest rows; older ones are counted and mentioned. */
#define AUDIT_ROWS_MAX 100000
#define AUDIT_COLS 8

static const cli_option audit_options[] = {
    { "since", "DATE", "records at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)" },
    { "repo", "REPO", "records of this repository only" },
    { "failed", NULL, "only failures (results other than downloaded, cached, ok, deleted)" },
    { "json", NULL, "print the records as JSON lines, as stored" },
    { NULL, NULL, NULL }
};

static const cli_spec audit_spec = {
    .usage = "modelmgr audit [--since DATE] [--repo REPO] [--failed] [--json] [options]",
    .description = "Print <models_dir>/audit.jsonl: every pull, verify and delete with its\n"
                   "time, repo, revision@commit, file, bytes, result and error.",
    .options = audit_options,
    .min_args = 0,
    .max_args = 0,
};

static const char *const headers[AUDIT_COLS] = {
    "TIME", "ACTION", "REPO", "REVISION@COMMIT", "FILE", "BYTES", "RESULT", "ERROR"
};

typedef struct audit_table {
    char  *rows[AUDIT_ROWS_MAX][AUDIT_COLS];   /* a ring; cells caller-freed */
    size_t n_seen;
    bool   json;
    bool   oom;
    size_t n_bad;
} audit_table;

static char *cell(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len + 1);
        cli_sanitize(copy);
    }
    return copy;
}

static void on_entry(const mm_audit_entry *e, void *user)
{
    audit_table *t = user;
    if (t->json) {
        printf("%s\n", e->json);
        t->n_seen++;
        return;
    }
    char rev[128], bytes[32];
    /* 12 hex digits of the commit tell commits apart; the full one is in --json. */
    snprintf(rev, sizeof rev, "%s%s%.12s", e->revision[0] ? e->revision : "-",
             e->commit[0] ? "@" : "", e->commit);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)e->bytes);
    const char *values[AUDIT_COLS] = {
        e->time, e->action, e->repo[0] ? e->repo : "-", rev, e->file[0] ? e->file : "-",
        bytes, e->result[0] ? e->result : "-", e->error[0] ? e->error : "-",
    };
    char **row = t->rows[t->n_seen % AUDIT_ROWS_MAX];
    for (size_t c = 0; c < AUDIT_COLS; c++) {
        free(row[c]);
        row[c] = cell(values[c]);
        t->oom |= row[c] == NULL;
    }
    t->n_seen++;
}

static void on_bad(size_t line, const char *why, void *user)
{
    audit_table *t = user;
    t->n_bad++;
    cli_error("warning: audit.jsonl line %zu skipped: %s", line, why);
}

static void print_table(const audit_table *t)
{
    size_t kept = t->n_seen < AUDIT_ROWS_MAX ? t->n_seen : AUDIT_ROWS_MAX;
    size_t first = t->n_seen - kept;
    size_t width[AUDIT_COLS];
    for (size_t c = 0; c < AUDIT_COLS; c++)
        width[c] = strlen(headers[c]);
    for (size_t i = first; i < t->n_seen; i++)
        for (size_t c = 0; c < AUDIT_COLS; c++) {
            size_t len = strlen(t->rows[i % AUDIT_ROWS_MAX][c]);
            width[c] = len > width[c] ? len : width[c];
        }
    if (first)
        printf("(%zu older records not shown: narrow with --since or --repo)\n", first);
    for (size_t c = 0; c < AUDIT_COLS; c++)
        printf("%-*s%s", c + 1 < AUDIT_COLS ? (int)width[c] : 0, headers[c],
               c + 1 < AUDIT_COLS ? "  " : "\n");
    for (size_t i = first; i < t->n_seen; i++) {
        char *const *row = t->rows[i % AUDIT_ROWS_MAX];
        for (size_t c = 0; c < AUDIT_COLS; c++) {
            if (c + 1 == AUDIT_COLS)
                printf("%s\n", row[c]);
            else if (c == 5)   /* bytes: right-aligned */
                printf("%*s  ", (int)width[c], row[c]);
            else
                printf("%-*s  ", (int)width[c], row[c]);
        }
    }
}

int cmd_audit(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&audit_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    audit_table *t = calloc(1, sizeof *t);
    if (!t) {
        cli_error("out of memory");
        cli_args_free(&args);
        return CLI_FAIL;
    }
    t->json = cli_has(&args, "json");
    mm_audit_filter filter = {
        .since = cli_value(&args, "since"),
        .repo = cli_value(&args, "repo"),
        .failed = cli_has(&args, "failed"),
    };
    mm_error err = { 0 };
    int rc = mm_audit_read(args.cfg->models_dir, &filter, on_entry, on_bad, t, &err);
    if (rc) {
        status = cli_library_error(rc, &err);
    } else if (t->oom) {
        cli_error("out of memory");
        status = CLI_FAIL;
    } else {
        if (!t->json && t->n_seen)
            print_table(t);
        else if (!t->json)
            fprintf(stderr, "modelmgr: no audit records%s in %s/audit.jsonl\n",
                    filter.since || filter.repo || filter.failed ? " match" : "",
                    args.cfg->models_dir);
        status = CLI_OK;
    }
    for (size_t i = 0; i < AUDIT_ROWS_MAX && i < t->n_seen; i++)
        for (size_t c = 0; c < AUDIT_COLS; c++)
            free(t->rows[i][c]);
    free(t);
    cli_args_free(&args);
    return status;
}
