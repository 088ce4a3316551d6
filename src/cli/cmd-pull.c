/* cmd-pull.c - `modelmgr pull REPO[:QUANT] [FILE] --revision REV`: download a
 * model from the Hugging Face Hub through mm_pull, with the endpoint, token,
 * cache and models_dir of the effective configuration. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PULL_FILES_MAX 256

static const cli_option pull_options[] = {
    { "revision", "REV", "a commit hash or tag (required: branches move)" },
    { "automated", NULL, "allow a branch, 'main' or 'latest' (for scheduled pulls)" },
    { "quiet", NULL, "no progress on stderr" },
    { NULL, NULL, NULL }
};

static const cli_spec pull_spec = {
    .usage = "modelmgr pull REPO[:QUANT] [FILE] --revision REV [options]",
    .description = "Download a model from the Hugging Face Hub into the Hugging Face cache,\n"
                   "verified, and record it in <models_dir>/models.lock and audit.jsonl.\n"
                   "REPO is org/name; org/name:Q4_K_M picks that quant's .gguf file(s).\n"
                   "FILE is one file of the repo (default: the quant's files, else all).",
    .options = pull_options,
    .min_args = 1,
    .max_args = 2,
};

static void on_progress(const char *file, uint64_t done, uint64_t total, double rate, void *user)
{
    (void)user;
    fprintf(stderr, "\r%s: %llu / %llu bytes (%.1f MB/s)%s", file, (unsigned long long)done,
            (unsigned long long)total, rate / 1e6, done == total ? "\n" : "");
}

int cmd_pull(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&pull_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;

    mm_pull_request rq = {
        .repo = args.args[0],
        .file = args.n_args > 1 ? args.args[1] : NULL,
        .revision = cli_value(&args, "revision"),
        .automated = cli_has(&args, "automated"),
        .models_dir = args.cfg->models_dir,
    };
    bool quiet = cli_has(&args, "quiet") || !isatty(STDERR_FILENO);
    mm_pull_file *files = calloc(PULL_FILES_MAX, sizeof *files);
    if (!files) {
        cli_error("out of memory");
        cli_args_free(&args);
        return CLI_FAIL;
    }
    size_t n = 0;
    mm_error err = { 0 };
    int rc = mm_pull(args.cfg, &rq, quiet ? NULL : on_progress, NULL, files, PULL_FILES_MAX,
                     &n, &err);
    for (size_t i = 0; i < n; i++)
        printf("%s %s/%s (%llu bytes, sha256 %s) at commit %s\n  %s\n",
               files[i].downloaded ? "downloaded" : "cached", rq.repo, files[i].repo_path,
               (unsigned long long)files[i].size, files[i].sha256, files[i].commit, files[i].path);
    free(files);
    cli_args_free(&args);
    if (rc) {
        cli_error("%s", err.message);
        return rc == MM_EPINNING || rc == MM_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    return CLI_OK;
}
