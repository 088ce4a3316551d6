/* cmd-rm.c - `modelmgr rm MODEL [--revision REV]`: take a pulled model (or
 * one revision of it) out of the Hugging Face cache through mm_remove, with
 * its models.lock entry, audited as action delete. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

static const cli_option rm_options[] = {
    { "revision", "REV", "remove only this revision (a commit, or a tag/branch in refs/)" },
    { NULL, NULL, NULL }
};

static const cli_spec rm_spec = {
    .usage = "modelmgr rm MODEL [--revision REV] [options]",
    .description = "Remove a model from the Hugging Face cache: its snapshot links (all, or\n"
                   "REV's), the blobs no remaining snapshot uses, the refs that pointed at a\n"
                   "removed snapshot and its models.lock entry. MODEL is a repo (org/name)\n"
                   "or a catalog key. Symlinks are removed, never followed.",
    .options = rm_options,
    .min_args = 1,
    .max_args = 1,
};

int cmd_rm(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&rm_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    char repo[256];
    const char *selected;   /* repo: rm takes exactly one MODEL */
    char *lock_path = NULL;
    if ((status = cli_lock_target(&args, repo, sizeof repo, &selected, &lock_path)) != CLI_OK)
        goto out;
    const char *revision = cli_value(&args, "revision");
    mm_remove_report rep;
    mm_error err = { 0 };
    int rc = mm_remove(args.cfg, repo, revision, lock_path, args.cfg->models_dir, &rep, &err);
    if (rc) {
        status = cli_library_error(rc, &err);
        goto out;
    }
    char freed[32];
    cli_format_size(rep.blob_bytes, freed, sizeof freed);
    char entries[64] = "";
    if (rep.n_entries)
        snprintf(entries, sizeof entries, ", %zu models_dir entr%s", rep.n_entries,
                 rep.n_entries == 1 ? "y" : "ies");
    printf("removed %s%s%s: %zu snapshot%s (%zu link%s), %zu blob%s (%s), %zu ref%s%s%s\n", repo,
           revision ? " at " : "", revision ? revision : "", rep.n_snapshots,
           rep.n_snapshots == 1 ? "" : "s", rep.n_links, rep.n_links == 1 ? "" : "s", rep.n_blobs,
           rep.n_blobs == 1 ? "" : "s",
           freed, rep.n_refs, rep.n_refs == 1 ? "" : "s", entries,
           rep.lock_entry ? ", and its models.lock entry" : "");
    status = CLI_OK;
out:
    free(lock_path);
    cli_args_free(&args);
    return status;
}
