/* cmd-verify.c - `modelmgr verify [MODEL]`: re-hash the files models.lock
 * records (every model, or one by repo or catalog key) in the HF cache and
 * say per file ok / mismatch / missing; exit 1 on any problem. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

static const cli_option verify_options[] = {
    { NULL, NULL, NULL }
};

static const cli_spec verify_spec = {
    .usage = "modelmgr verify [MODEL] [options]",
    .description = "Re-hash the files that models.lock (beside models.txt) records, in the\n"
                   "Hugging Face cache, against the lock's size and sha256. MODEL is a repo\n"
                   "(org/name) or a catalog key; without it every locked model is checked.\n"
                   "Each file is recorded in <models_dir>/audit.jsonl (action verify).\n"
                   "Exit status 1 when a file is missing or does not match.",
    .options = verify_options,
    .min_args = 0,
    .max_args = 1,
};

static void print_file(const mm_verify_file *v)
{
    switch (v->state) {
    case MM_VERIFY_OK:
        printf("ok        %s/%s at %s\n", v->repo, v->repo_path, v->commit);
        break;
    case MM_VERIFY_MISMATCH:
        printf("mismatch  %s/%s at %s: models.lock says %llu bytes, sha256 %s; the cache holds "
               "%llu bytes, sha256 %s\n", v->repo, v->repo_path, v->commit,
               (unsigned long long)v->expected_size, v->expected_sha256,
               (unsigned long long)v->actual_size, v->actual_sha256);
        break;
    case MM_VERIFY_MISSING:
        printf("missing   %s/%s at %s: %s\n", v->repo, v->repo_path, v->commit, v->path);
        break;
    }
}

int cmd_verify(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&verify_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    char repo[256];
    const char *selected;
    char *lock_path = NULL;
    mm_verify_file *files = NULL;
    size_t n = 0;
    status = cli_lock_target(&args, repo, sizeof repo, &selected, &lock_path);
    if (status != CLI_OK)
        goto out;
    mm_error err = { 0 };
    int rc = mm_verify(args.cfg, lock_path, args.cfg->models_dir, selected, &files, &n, &err);
    if (rc) {
        status = cli_library_error(rc, &err);
        goto out;
    }
    size_t counts[3] = { 0 };
    for (size_t i = 0; i < n; i++) {
        cli_sanitize(files[i].repo_path);
        print_file(&files[i]);
        counts[files[i].state]++;
    }
    printf("%zu file%s checked against %s: %zu ok, %zu mismatched, %zu missing\n", n,
           n == 1 ? "" : "s", lock_path, counts[MM_VERIFY_OK], counts[MM_VERIFY_MISMATCH],
           counts[MM_VERIFY_MISSING]);
    status = counts[MM_VERIFY_OK] == n ? CLI_OK : CLI_FAIL;
out:
    free(files);
    free(lock_path);
    cli_args_free(&args);
    return status;
}
