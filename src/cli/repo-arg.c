/* repo-arg.c - what the commands over models.lock (`verify`, `update`, `rm`)
 * accept as MODEL: a Hub repo id, or a catalog key (models.txt, the HF
 * cache) that stands for one; and the lock's path they all need. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_model_repo(const mm_config *cfg, const char *model, char *repo, size_t repo_size)
{
    if (strchr(model, '/')) {
        if ((size_t)snprintf(repo, repo_size, "%s", model) >= repo_size) {
            cli_error("'%.64s...' is too long for a repository id", model);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    mm_catalog *cat = NULL;
    int status = cli_catalog_open(cfg, &cat);
    if (status != CLI_OK)
        return status;
    const mm_model_info *m = mm_catalog_find(cat, model);
    if (!m || m->source != MM_SOURCE_HF || !m->repo) {
        cli_error("'%s' is %s: name a Hugging Face repo (org/name) or the key of a Hub model "
                  "(see 'modelmgr list')", model,
                  m ? "not a Hugging Face model" : "neither a repo (org/name) nor a catalog key");
        mm_catalog_close(cat);
        return CLI_USAGE;
    }
    snprintf(repo, repo_size, "%s", m->repo);
    mm_catalog_close(cat);
    return CLI_OK;
}

int cli_lock_target(const cli_args *args, char *repo, size_t repo_size, const char **selected,
                    char **lock_path)
{
    *selected = NULL;
    *lock_path = NULL;
    if (args->n_args == 1) {
        int status = cli_model_repo(args->cfg, args->args[0], repo, repo_size);
        if (status != CLI_OK)
            return status;
        *selected = repo;
    }
    if (!(*lock_path = mm_lock_path(args->cfg))) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_library_error(int rc, const mm_error *err)
{
    cli_error("%s", err->message);
    return rc == MM_EINVAL ? CLI_USAGE : CLI_FAIL;
}
