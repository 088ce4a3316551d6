/* model-path.c - resolve the MODEL argument of run and bench to one GGUF
 * file: a path given directly, or a catalog key. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int cli_model_path(const mm_config *cfg, const char *model, char **path)
{
    struct stat st;
    *path = NULL;
    size_t len = strlen(model);
    if (len > 5 && strcmp(model + len - 5, ".gguf") == 0 && stat(model, &st) == 0 &&
        S_ISREG(st.st_mode)) {
        *path = dup_str(model);
        return *path ? CLI_OK : CLI_FAIL;
    }
    mm_catalog *cat = NULL;
    int status = cli_catalog_open(cfg, &cat);
    if (status != CLI_OK)
        return status;
    const mm_model_info *m = mm_catalog_find(cat, model);
    if (!m) {
        cli_error("no model '%s' in the catalog and no such .gguf file (see 'modelmgr list')",
                  model);
        status = CLI_FAIL;
    } else if (m->state != MM_MODEL_AVAILABLE || m->n_paths == 0) {
        cli_error("model '%s' is not available on disk (%s)", model,
                  mm_model_state_name(m->state));
        status = CLI_FAIL;
    } else if (m->format != MM_FORMAT_GGUF) {
        cli_error("model '%s' is a %s model; the built-in engine runs GGUF files", model,
                  mm_format_name(m->format));
        status = CLI_FAIL;
    } else if (m->n_paths > 1) {
        cli_error("model '%s' is split into %zu files, which the built-in engine does not "
                  "load yet", model, m->n_paths);
        status = CLI_FAIL;
    } else {
        *path = dup_str(m->paths[0]);
        status = *path ? CLI_OK : CLI_FAIL;
    }
    mm_catalog_close(cat);
    return status;
}
