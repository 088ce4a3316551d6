/* config.c - isolated configurations for tests (mmtest_config in test.h). */
#include "support/test.h"

#include "modelmgr.h"

#include <stdio.h>

#define MMTEST_EXTRA_FLAGS 16

struct mm_config *mmtest_config(const char *dir, const char *const *extra_flags)
{
    char models[1100], file[1100], cache[1100], home[1100], cfg_path[1100];
    snprintf(models, sizeof models, "models_dir=%s/models", dir);
    snprintf(file, sizeof file, "models_file=%s/models.txt", dir);
    snprintf(cache, sizeof cache, "hf_cache=%s/hub", dir);
    snprintf(home, sizeof home, "HOME=%s", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/empty.yaml", dir);
    mmtest_write_file(cfg_path, "# empty\n");
    const char *env[] = { home, NULL };
    const char *flags[6 + MMTEST_EXTRA_FLAGS + 1] = { models, file, cache, "threads=1",
                                                      "pool_size=1", "vosk_model_path=" };
    size_t n = 6;
    for (size_t i = 0; extra_flags && extra_flags[i]; i++) {
        if (i == MMTEST_EXTRA_FLAGS) {
            fprintf(stderr, "mmtest_config: more than %d extra flags\n", MMTEST_EXTRA_FLAGS);
            return NULL;
        }
        flags[n++] = extra_flags[i];
    }
    flags[n] = NULL;
    mm_config_sources src = { .config_path = cfg_path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    if (mm_config_load(&src, &cfg, &err) != 0)
        fprintf(stderr, "config: %s\n", err.message);
    return cfg;
}

void mmtest_cli_args_init(mmtest_cli_args *a, const char *dir)
{
    snprintf(a->cfg, sizeof a->cfg, "--config=%s/empty.yaml", dir);
    snprintf(a->dir, sizeof a->dir, "--models-dir=%s/models", dir);
    snprintf(a->file, sizeof a->file, "--models-file=%s/models.txt", dir);
    snprintf(a->cache, sizeof a->cache, "--hf-cache=%s/hub", dir);
    const char *argv[] = { a->cfg, a->dir, a->file, a->cache, "--threads=1", "--pool-size=1",
                           "--vosk-model-path=", NULL };
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        a->argv[i] = argv[i];
}
