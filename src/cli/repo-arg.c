/* repo-arg.c - what `verify` and `rm` accept as MODEL: a Hub repo id, or a
 * catalog key (models.txt, the HF cache) that stands for one. */
#include "cli/cli.h"

#include <stdio.h>
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
