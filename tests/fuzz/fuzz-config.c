/* fuzz-config.c - mm_config_load on an arbitrary config.yaml with an empty
 * environment and no flags. The bytes go through a real file (the loader
 * takes a path); a load either fails with a message or yields a
 * configuration whose every item can be listed with secrets redacted. */
#include "fuzz.h"
#include "modelmgr.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char config_path[4096];
static int config_fd = -1;

static void remove_config(void)
{
    if (config_fd >= 0) {
        close(config_fd);
        unlink(config_path);
    }
}

static void discard_log(mm_log_level level, const char *line, void *user)
{
    (void)level;
    (void)line;
    (void)user;
}

/* One file per process, rewritten for each input; in memory (/dev/shm) when
 * possible, since truncating a disk file costs more than the load itself. */
static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    if (!tmp || !*tmp)
        tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(config_path, sizeof config_path, "%s/mm-fuzz-config-XXXXXX.yaml", tmp);
    config_fd = mkstemps(config_path, 5);
    FUZZ_CHECK(config_fd >= 0);
    atexit(remove_config);
    mm_log_set_callback(discard_log, NULL);
}

static void write_input(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(config_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(config_fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
}

/* A secret must never show in the listing, only its redacted form. */
static void check_items(const mm_config *cfg)
{
    size_t n = mm_config_key_count();
    for (size_t i = 0; i < n; i++) {
        mm_config_item item;
        FUZZ_CHECK(mm_config_item_get(cfg, i, &item) == 0);
        FUZZ_CHECK(item.key && item.key[0]);
        FUZZ_CHECK(memchr(item.value, 0, sizeof item.value) != NULL);
        FUZZ_CHECK(memchr(item.where, 0, sizeof item.where) != NULL);
        if (!item.secret)
            continue;
        const char *raw = strcmp(item.key, "hf_token") == 0 ? cfg->hf_token
                        : strcmp(item.key, "api_key") == 0 ? cfg->api_key : NULL;
        if (raw && strlen(raw) >= 4)
            FUZZ_CHECK(strstr(item.value, raw) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (config_fd < 0)
        setup();
    write_input(data, size);
    static const char *const empty_env[] = { NULL };
    mm_config_sources src = { .config_path = config_path, .env = empty_env, .flags = NULL };
    mm_config *cfg = NULL;
    mm_error err = { 0 };
    int rc = mm_config_load(&src, &cfg, &err);
    if (rc != 0) {
        FUZZ_CHECK(cfg == NULL && rc < 0 && err.code == rc && err.message[0]);
        return 0;
    }
    FUZZ_CHECK(cfg != NULL);
    check_items(cfg);
    mm_config_free(cfg);
    return 0;
}
