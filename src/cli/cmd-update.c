/* cmd-update.c - `modelmgr update [MODEL] [--apply] [--json]`: for each model
 * models.lock records, say whether the branch it follows has moved on the
 * Hub, and with --apply pull the new commit and rewrite the lock. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

static const cli_option update_options[] = {
    { "apply", NULL, "pull the models whose branch moved and rewrite models.lock" },
    { "json", NULL, "print a JSON array instead of one line per model" },
    { NULL, NULL, NULL }
};

static const cli_spec update_spec = {
    .usage = "modelmgr update [MODEL] [--apply] [--json] [options]",
    .description = "Check every model models.lock (beside models.txt) records, or MODEL (a\n"
                   "repo or catalog key), for a newer commit on the branch it follows.\n"
                   "Models pinned to a commit or tag are never updated. --apply pulls the\n"
                   "moved ones (audited as action update) and rewrites their lock entries.\n"
                   "Exit status 1 when a check or an update failed.",
    .options = update_options,
    .min_args = 0,
    .max_args = 1,
};

static void print_row(const mm_update_row *r)
{
    switch (r->state) {
    case MM_UPDATE_CURRENT:
        printf("%s (%s): up to date at %s\n", r->repo, r->revision, r->current);
        break;
    case MM_UPDATE_AVAILABLE:
        printf("%s (%s): update available %s -> %s (apply with 'modelmgr update --apply')\n",
               r->repo, r->revision, r->current, r->available);
        break;
    case MM_UPDATE_APPLIED:
        printf("%s (%s): updated %s -> %s (%zu file%s)\n", r->repo, r->revision, r->current,
               r->available, r->n_files, r->n_files == 1 ? "" : "s");
        break;
    case MM_UPDATE_PINNED:
        printf("%s (%s): pinned at %s, never updated\n", r->repo, r->revision, r->current);
        break;
    case MM_UPDATE_ERROR:
        printf("%s (%s): cannot check: %s\n", r->repo, r->revision, r->message);
        break;
    }
}

static int print_json(const mm_update_row *rows, size_t n)
{
    cJSON *root = cJSON_CreateArray();
    for (size_t i = 0; root && i < n; i++) {
        const mm_update_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(root, o)) {
            cJSON_Delete(o);
            cJSON_Delete(root);
            return cli_print_json(NULL);
        }
        cJSON_AddStringToObject(o, "repo", r->repo);
        cJSON_AddStringToObject(o, "revision", r->revision);
        cJSON_AddStringToObject(o, "state", mm_update_state_name(r->state));
        cJSON_AddStringToObject(o, "current", r->current);
        if (r->available[0])
            cJSON_AddStringToObject(o, "available", r->available);
        else
            cJSON_AddNullToObject(o, "available");
        cJSON_AddNumberToObject(o, "files", (double)r->n_files);
        if (r->message[0])
            cJSON_AddStringToObject(o, "error", r->message);
        else
            cJSON_AddNullToObject(o, "error");
    }
    return cli_print_json(root);
}

int cmd_update(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&update_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    char repo[256];
    const char *selected;
    char *lock_path = NULL;
    mm_update_row *rows = NULL;
    size_t n = 0;
    status = cli_lock_target(&args, repo, sizeof repo, &selected, &lock_path);
    if (status != CLI_OK)
        goto out;
    mm_error err = { 0 };
    int rc = mm_update_check(args.cfg, lock_path, args.cfg->models_dir, selected,
                             cli_has(&args, "apply"), &rows, &n, &err);
    if (rc == MM_ENOTFOUND && !selected) {
        printf("no models.lock at %s: nothing to check (pull a model first)\n", lock_path);
        status = CLI_OK;
        goto out;
    }
    if (rc) {
        status = cli_library_error(rc, &err);
        goto out;
    }
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += rows[i].state == MM_UPDATE_ERROR;
    status = CLI_OK;
    if (cli_has(&args, "json"))
        status = print_json(rows, n);
    else
        for (size_t i = 0; i < n; i++)
            print_row(&rows[i]);
    if (status == CLI_OK && failed)
        status = CLI_FAIL;
out:
    free(rows);
    free(lock_path);
    cli_args_free(&args);
    return status;
}
