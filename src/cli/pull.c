/* pull.c - `modelmgr pull REPO[:QUANT] [FILE] --revision REV`: download a
 * model from the Hugging Face Hub through mm_pull. Its argument parsing is
 * self-contained until the shared option parser lands. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PULL_FILES_MAX 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: modelmgr pull REPO[:QUANT] [FILE] --revision REV [options]\n\n"
            "Download a model from the Hugging Face Hub into the Hugging Face cache,\n"
            "verified, and record it in MODELS_DIR/models.lock and audit.jsonl.\n\n"
            "  REPO            org/name; org/name:Q4_K_M picks that quant's .gguf file(s)\n"
            "  FILE            one file of the repo (default: the quant's files, else all)\n"
            "  --revision REV  a commit hash or tag (required: branches move)\n"
            "  --automated     allow a branch, 'main' or 'latest' (for scheduled pulls)\n"
            "  --models-dir D  where models.lock and audit.jsonl go\n"
            "                  (default: $MODELS_DIR, else ./models)\n"
            "  --quiet         no progress on stderr\n\n"
            "environment: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE\n");
}

static void on_progress(const char *file, uint64_t done, uint64_t total, double rate, void *user)
{
    (void)user;
    fprintf(stderr, "\r%s: %llu / %llu bytes (%.1f MB/s)%s", file, (unsigned long long)done,
            (unsigned long long)total, rate / 1e6, done == total ? "\n" : "");
}

int cli_pull(int argc, char **argv)
{
    mm_pull_request rq = { 0 };
    bool quiet = !isatty(STDERR_FILENO);
    const char *positional[2] = { NULL, NULL };
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--revision") == 0 || strcmp(a, "--models-dir") == 0) {
            if (i + 1 == argc) {
                cli_error("%s needs a value (see 'modelmgr pull --help')", a);
                return CLI_USAGE;
            }
            if (strcmp(a, "--revision") == 0)
                rq.revision = argv[++i];
            else
                rq.models_dir = argv[++i];
        } else if (strncmp(a, "--revision=", 11) == 0) {
            rq.revision = a + 11;
        } else if (strncmp(a, "--models-dir=", 13) == 0) {
            rq.models_dir = a + 13;
        } else if (strcmp(a, "--automated") == 0) {
            rq.automated = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("unknown option '%s' (see 'modelmgr pull --help')", a);
            return CLI_USAGE;
        } else if (n_pos < 2) {
            positional[n_pos++] = a;
        } else {
            cli_error("too many arguments: '%s' (see 'modelmgr pull --help')", a);
            return CLI_USAGE;
        }
    }
    if (n_pos == 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    rq.repo = positional[0];
    rq.file = positional[1];
    if (!rq.models_dir) {
        const char *env = getenv("MODELS_DIR");
        rq.models_dir = env && *env ? env : "./models";
    }
    mm_pull_file *files = calloc(PULL_FILES_MAX, sizeof *files);
    if (!files) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    size_t n = 0;
    mm_error err = { 0 };
    int rc = mm_pull(NULL, &rq, quiet ? NULL : on_progress, NULL, files, PULL_FILES_MAX, &n, &err);
    for (size_t i = 0; i < n; i++)
        printf("%s %s/%s (%llu bytes, sha256 %s) at commit %s\n  %s\n",
               files[i].downloaded ? "downloaded" : "cached", rq.repo, files[i].repo_path,
               (unsigned long long)files[i].size, files[i].sha256, files[i].commit, files[i].path);
    free(files);
    if (rc) {
        cli_error("%s", err.message);
        return rc == MM_EPINNING || rc == MM_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    return CLI_OK;
}
