/* vosk.c - finds the Vosk speech model: the configured path, a vosk-model-*
 * directory in models_dir, or the default ./models/vosk location, and checks
 * that the directory really holds a model before anyone loads it. */
#include "runtime/runtime.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VOSK_SCAN_MAX 4096   /* entries of models_dir looked at */

static bool is_dir(const char *dir, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *dir, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool rt_vosk_valid(const char *dir, char *why, size_t why_size)
{
    if (!is_dir(dir, ".")) {
        snprintf(why, why_size, "no such directory");
        return false;
    }
    /* The current layout (am/ conf/ graph/), as vosk's own loader checks it. */
    if (is_file(dir, "am/final.mdl")) {
        if (!is_dir(dir, "conf") || !is_dir(dir, "graph")) {
            snprintf(why, why_size, "has am/final.mdl but no %s/ directory",
                     is_dir(dir, "conf") ? "graph" : "conf");
            return false;
        }
        return true;
    }
    /* The older flat small-model layout. */
    if (is_file(dir, "final.mdl") && is_file(dir, "mfcc.conf"))
        return true;
    snprintf(why, why_size, "neither am/final.mdl with conf/ and graph/ nor final.mdl "
             "with mfcc.conf is there");
    return false;
}

/* The first (by name) valid vosk-model-* directory in models_dir. */
static char *discover(const char *models_dir)
{
    DIR *d = models_dir ? opendir(models_dir) : NULL;
    if (!d)
        return NULL;
    char *best = NULL;
    struct dirent *ent;
    size_t seen = 0;
    while ((ent = readdir(d)) != NULL && seen++ < VOSK_SCAN_MAX) {
        if (!mm_str_has_prefix(ent->d_name, "vosk-model-"))
            continue;
        if (best && strcmp(ent->d_name, strrchr(best, '/') + 1) >= 0)
            continue;
        char *path = mm_path_join(models_dir, ent->d_name);
        char why[256];
        if (path && rt_vosk_valid(path, why, sizeof why)) {
            free(best);
            best = path;
        } else {
            free(path);
        }
    }
    closedir(d);
    return best;
}

static const char *origin_how(mm_origin origin)
{
    switch (origin) {
    case MM_ORIGIN_ENV:  return "VOSK_MODEL_PATH";
    case MM_ORIGIN_FLAG: return "--vosk-model-path";
    case MM_ORIGIN_FILE: return "config.yaml";
    default:             return "default";
    }
}

int rt_vosk_resolve(const mm_config *cfg, const char *default_path, rt_vosk *out)
{
    memset(out, 0, sizeof *out);
    char why[256];
    const char *fallback = default_path ? default_path : RT_VOSK_DEFAULT;
    if (cfg->vosk_model_path) {
        out->how = origin_how(mm_config_origin(cfg, "vosk_model_path"));
        if (rt_vosk_valid(cfg->vosk_model_path, why, sizeof why)) {
            out->path = mm_strdup(cfg->vosk_model_path);
            return out->path ? 0 : MM_ENOMEM;
        }
        out->error = mm_asprintf("Vosk model not found: %s (from %s): %s; point "
                                 "VOSK_MODEL_PATH or vosk_model_path at an unpacked Vosk "
                                 "model directory (https://alphacephei.com/vosk/models)",
                                 cfg->vosk_model_path, out->how, why);
        return MM_ENOTFOUND;
    }
    char *found = discover(cfg->models_dir);
    if (found) {
        out->path = found;
        out->how = "models_dir";
        return 0;
    }
    if (rt_vosk_valid(fallback, why, sizeof why)) {
        out->path = mm_strdup(fallback);
        out->how = "default";
        return out->path ? 0 : MM_ENOMEM;
    }
    out->error = mm_asprintf("Vosk model not found: tried %s/vosk-model-* and %s; set "
                             "VOSK_MODEL_PATH or vosk_model_path to an unpacked Vosk model "
                             "directory, or unpack one (https://alphacephei.com/vosk/models) "
                             "into %s", cfg->models_dir ? cfg->models_dir : ".", fallback,
                             cfg->models_dir ? cfg->models_dir : ".");
    return MM_ENOTFOUND;
}

void rt_vosk_clear(rt_vosk *v)
{
    if (!v)
        return;
    free(v->path);
    free(v->error);
    memset(v, 0, sizeof *v);
}
