/* cmd-pull.c - `modelmgr pull REPO[:QUANT] [FILE] --revision REV` and
 * `modelmgr pull --locked [REPO]`: download a model from the Hugging Face Hub
 * through mm_pull, with the endpoint, token, cache and models_dir of the
 * effective configuration, and models.lock beside models.txt. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PULL_FILES_MAX 256

static const cli_option pull_options[] = {
    { "revision", "REV", "a commit hash or tag (required: branches move)" },
    { "automated", NULL, "allow a branch, 'main' or 'latest' (for scheduled pulls)" },
    { "locked", NULL, "pull exactly what models.lock records (every model, or REPO's)" },
    { "copy", NULL, "a local path: copy it into models_dir instead of linking it" },
    { "quiet", NULL, "no progress on stderr" },
    { NULL, NULL, NULL }
};

static const cli_spec pull_spec = {
    .usage = "modelmgr pull REPO[:QUANT] [FILE] --revision REV [options]\n"
             "       modelmgr pull --locked [REPO] [options]\n"
             "       modelmgr pull PATH [--copy] [options]",
    .description = "Download a model from the Hugging Face Hub into the Hugging Face cache,\n"
                   "verified, and record it in models.lock (beside models.txt) and\n"
                   "<models_dir>/audit.jsonl. REPO is org/name; org/name:Q4_K_M picks that\n"
                   "quant's .gguf file(s). FILE is one file of the repo (default: the\n"
                   "quant's files, else all). --locked fetches every file models.lock\n"
                   "records at its recorded commit and checks size and sha256 against it.\n"
                   "Each pulled .gguf (a whole repo: its snapshot folder) gets a link in\n"
                   "models_dir. PATH (no '/', or starting with /, ./, ../ or ~/) is a local\n"
                   "file or folder: linked (--copy: copied) into models_dir.",
    .options = pull_options,
    .min_args = 0,
    .max_args = 2,
};

int cmd_pull(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&pull_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;

    bool locked = cli_has(&args, "locked");
    if (!locked && args.n_args == 0) {
        cli_error("pull: name a repository (org/name), or pass --locked (see 'modelmgr pull "
                  "--help')");
        cli_args_free(&args);
        return CLI_USAGE;
    }
    char *lock_path = mm_lock_path(args.cfg);
    mm_pull_request rq = {
        .repo = args.n_args > 0 ? args.args[0] : NULL,
        .file = args.n_args > 1 ? args.args[1] : NULL,
        .revision = cli_value(&args, "revision"),
        .automated = cli_has(&args, "automated"),
        .models_dir = args.cfg->models_dir,
        .lock_path = lock_path,
        .locked = locked,
        .copy = cli_has(&args, "copy"),
    };
    cli_progress *progress = cli_has(&args, "quiet") ? NULL : calloc(1, sizeof *progress);
    if (progress)
        cli_progress_init(progress, stderr);
    mm_pull_file *files = calloc(PULL_FILES_MAX, sizeof *files);
    if (!files || !lock_path) {
        cli_error("out of memory");
        if (progress)
            cli_progress_end(progress);
        free(files);
        free(progress);
        free(lock_path);
        cli_args_free(&args);
        return CLI_FAIL;
    }
    size_t n = 0;
    mm_error err = { 0 };
    int rc = mm_pull(args.cfg, &rq, progress ? cli_progress_update : NULL, progress, files,
                     PULL_FILES_MAX, &n, &err);
    if (progress)
        cli_progress_end(progress);
    for (size_t i = 0; i < n; i++) {
        if (files[i].local) {
            printf("%s %s as %s\n", files[i].downloaded ? "copied" : "linked",
                   files[i].repo_path, files[i].path);
            continue;
        }
        printf("%s %s/%s (%llu bytes, sha256 %s) at commit %s\n  %s\n",
               files[i].downloaded ? "downloaded" : "cached", files[i].repo, files[i].repo_path,
               (unsigned long long)files[i].size, files[i].sha256, files[i].commit, files[i].path);
        if (files[i].link[0] && (i == 0 || strcmp(files[i].link, files[i - 1].link) != 0))
            printf("  models_dir entry: %s\n", files[i].link);
    }
    if (rc == 0 && locked)
        printf("%zu file%s match %s\n", n, n == 1 ? "" : "s", lock_path);
    free(files);
    free(progress);
    free(lock_path);
    cli_args_free(&args);
    if (rc) {
        cli_error("%s", err.message);
        return rc == MM_EPINNING || rc == MM_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    return CLI_OK;
}
