/* config-defaults.c - defaults that depend on the machine or the environment:
 * physical cores, 75% of RAM, the Hugging Face home, cache and token file.
 * Each runs only when no layer set its key. */
#include "config/config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPU_PAIRS_MAX 4096

typedef struct core_set {
    long   pairs[CPU_PAIRS_MAX][2];  /* (package, core) */
    size_t n;
} core_set;

static void core_set_add(core_set *set, long package, long core)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->pairs[i][0] == package && set->pairs[i][1] == core)
            return;
    if (set->n < CPU_PAIRS_MAX) {
        set->pairs[set->n][0] = package;
        set->pairs[set->n][1] = core;
        set->n++;
    }
}

static bool read_long(const char *path, long *out)
{
    char *text = NULL;
    if (mm_file_read(path, 64, &text, NULL, NULL) != 0)
        return false;
    int64_t v;
    bool ok = mm_parse_i64(text, -1, INT32_MAX, &v) == 0;
    if (ok)
        *out = (long)v;
    free(text);
    return ok;
}

static bool is_cpu_dir(const char *name)
{
    if (strncmp(name, "cpu", 3) != 0 || !name[3])
        return false;
    for (const char *p = name + 3; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static size_t count_sysfs(const char *sys_cpu_dir, core_set *set)
{
    DIR *dir = opendir(sys_cpu_dir);
    if (!dir)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (!is_cpu_dir(entry->d_name))
            continue;
        char path[1024];
        long package = 0, core;
        snprintf(path, sizeof path, "%s/%s/topology/core_id", sys_cpu_dir, entry->d_name);
        if (!read_long(path, &core))
            continue;   /* offline CPUs have no topology */
        snprintf(path, sizeof path, "%s/%s/topology/physical_package_id", sys_cpu_dir, entry->d_name);
        read_long(path, &package);
        core_set_add(set, package, core);
    }
    closedir(dir);
    return set->n;
}

/* "physical id" and "core id" lines; one pair per processor block. */
static size_t count_cpuinfo(const char *cpuinfo_path, core_set *set)
{
    char *text = NULL;
    if (mm_file_read(cpuinfo_path, 16 * 1024 * 1024, &text, NULL, NULL) != 0)
        return 0;
    long package = 0, core = -1;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            mm_str_trim(line);
            int64_t v;
            if (mm_parse_i64(colon + 1, 0, INT32_MAX, &v) == 0) {
                if (strcmp(line, "physical id") == 0)
                    package = (long)v;
                else if (strcmp(line, "core id") == 0)
                    core = (long)v;
            }
        } else if (!*mm_str_trim(line) && core >= 0) {
            core_set_add(set, package, core);
            package = 0;
            core = -1;
        }
        line = next;
    }
    if (core >= 0)
        core_set_add(set, package, core);
    free(text);
    return set->n;
}

int config_count_physical_cores(const char *sys_cpu_dir, const char *cpuinfo_path)
{
    core_set *set = calloc(1, sizeof *set);
    if (!set)
        return 0;
    size_t n = sys_cpu_dir ? count_sysfs(sys_cpu_dir, set) : 0;
    if (n == 0 && cpuinfo_path) {
        set->n = 0;
        n = count_cpuinfo(cpuinfo_path, set);
    }
    free(set);
    return (int)n;
}

int config_default_threads(const cfg_env *env, char **text, mm_origin *origin,
                           char *where, size_t where_size, mm_error *err)
{
    int cores = config_count_physical_cores("/sys/devices/system/cpu", "/proc/cpuinfo");
    if (cores <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cores = online > 0 ? (int)online : 1;
    }
    if (cores > 1024)
        cores = 1024;
    *text = mm_asprintf("%d", cores);
    return *text ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
}

int config_default_memory(const cfg_env *env, char **text, mm_origin *origin,
                          char *where, size_t where_size, mm_error *err)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    uint64_t budget = 4ull << 30;   /* when the machine will not say */
    if (pages > 0 && page_size > 0)
        budget = (uint64_t)pages * (uint64_t)page_size / 4 * 3;
    if (budget < (1u << 20))
        budget = 1u << 20;
    *text = mm_asprintf("%" PRIu64, budget);
    return *text ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory");
}

char *config_hf_home(const cfg_env *env)
{
    const char *v;
    if ((v = config_getenv(env, "HF_HOME")) != NULL)
        return mm_strdup(v);
    if ((v = config_getenv(env, "XDG_CACHE_HOME")) != NULL)
        return mm_path_join(v, "huggingface");
    if ((v = config_getenv(env, "HOME")) != NULL)
        return mm_path_join(v, ".cache/huggingface");
    return NULL;
}

/* HF_HUB_CACHE is the key's own variable; this is the fallback chain behind
 * it, reported with the variable the value was derived from. */
int config_default_hf_cache(const cfg_env *env, char **text, mm_origin *origin,
                            char *where, size_t where_size, mm_error *err)
{
    *text = NULL;
    const char *from = config_getenv(env, "HF_HOME") ? "HF_HOME"
                     : config_getenv(env, "XDG_CACHE_HOME") ? "XDG_CACHE_HOME" : NULL;
    char *home = config_hf_home(env);
    if (!home)
        return 0;   /* no HOME at all: leave the cache unset */
    *text = mm_path_join(home, "hub");
    free(home);
    if (!*text)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    if (from) {
        *origin = MM_ORIGIN_ENV;
        mm_strlcpy(where, from, where_size);
    }
    return 0;
}

/* The token file huggingface-cli writes: $HF_HOME/token. A problem with it
 * is a warning, not an error: most commands never need a token. */
int config_default_hf_token(const cfg_env *env, char **text, mm_origin *origin,
                            char *where, size_t where_size, mm_error *err)
{
    *text = NULL;
    char *home = config_hf_home(env);
    char *path = home ? mm_path_join(home, "token") : NULL;
    free(home);
    if (!path)
        return 0;
    char *token = NULL;
    mm_error read_err = { 0 };
    int rc = mm_file_read(path, CFG_TOKEN_FILE_MAX, &token, NULL, &read_err);
    if (rc == MM_ENOTFOUND) {
        free(path);
        return 0;
    }
    if (rc != 0) {
        MM_LOG_WARN("ignoring the Hugging Face token file: %s", read_err.message);
        free(path);
        return 0;
    }
    mm_str_trim(token);
    if (*token) {
        *text = token;
        *origin = MM_ORIGIN_FILE;
        mm_strlcpy(where, path, where_size);
        /* Registered before anyone could print it. */
        mm_log_add_secret(token);
    } else {
        free(token);
    }
    free(path);
    return 0;
}
