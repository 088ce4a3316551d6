/* hub-fixture.h - shared set-up for the hub integration tests: a mock hub
 * with one well-known repository, a fresh cache directory, and a hub client
 * with sub-second back-offs. Header-only; each test program includes it once. */
#ifndef MM_HUB_FIXTURE_H
#define MM_HUB_FIXTURE_H

#include "hub/hub.h"
#include "support/mockhub.h"
#include "support/test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FX_REPO "org/model"
#define FX_TOKEN "hf_fixtureTOKENabcdef123456"
#define FX_UNAPPROVED "hf_unapprovedTOKEN98765432"
#define FX_SMALL "config.json"
#define FX_SMALL_SIZE 300
#define FX_SMALL_SEED 1
#define FX_LFS "model.gguf"
#define FX_LFS_SIZE 200000
#define FX_LFS_SEED 2
#define FX_NESTED "sub/dir/weights.bin"
#define FX_NESTED_SIZE 5000
#define FX_NESTED_SEED 3

typedef struct fixture {
    mockhub *mh;
    char    *tmp;
    char     cache[4096];
    char     commit[41];     /* main = tag v1.0 = branch dev */
} fixture;

static inline void fx_opts(const fixture *fx, hub_options *o)
{
    hub_options_init(o);
    o->use_env = false;
    o->endpoint = mockhub_url(fx->mh);
    o->token = "";
    o->cache_dir = fx->cache;
    o->backoff_initial_ms = 5;
    o->backoff_max_ms = 40;
    o->retry_after_max_ms = 1200;
    o->request_timeout_ms = 3000;
    o->stall_timeout_ms = 3000;
    o->lock_timeout_ms = 20000;
}

static inline hub *fx_hub(const fixture *fx, const char *token, bool offline)
{
    hub_options o;
    fx_opts(fx, &o);
    o.token = token;
    o.offline = offline;
    hub *h = NULL;
    mm_error err = { 0 };
    if (hub_open(&o, &h, &err) != 0) {
        fprintf(stderr, "hub_open: %s\n", err.message);
        abort();
    }
    return h;
}

static inline void fx_start(fixture *fx, const mockhub_options *mo)
{
    /* The mock lives on loopback; a proxy from the environment must not intercept it. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    memset(fx, 0, sizeof *fx);
    mockhub_options def = { .token = FX_TOKEN, .unapproved_token = FX_UNAPPROVED };
    if (mockhub_start(mo ? mo : &def, &fx->mh) != 0) {
        fprintf(stderr, "mockhub_start failed\n");
        abort();
    }
    fx->tmp = mmtest_tmpdir();
    snprintf(fx->cache, sizeof fx->cache, "%s/hub", fx->tmp);
    if (mockhub_repo_add(fx->mh, FX_REPO, MOCKHUB_PUBLIC) != 0 ||
        mockhub_file_add(fx->mh, FX_REPO, FX_SMALL, FX_SMALL_SIZE, FX_SMALL_SEED, false) != 0 ||
        mockhub_file_add(fx->mh, FX_REPO, FX_LFS, FX_LFS_SIZE, FX_LFS_SEED, true) != 0 ||
        mockhub_file_add(fx->mh, FX_REPO, FX_NESTED, FX_NESTED_SIZE, FX_NESTED_SEED, true) != 0 ||
        mockhub_tag_add(fx->mh, FX_REPO, "v1.0", "main") != 0 ||
        mockhub_branch_add(fx->mh, FX_REPO, "dev", "main") != 0 ||
        mockhub_ref_commit(fx->mh, FX_REPO, "main", fx->commit) != 0) {
        fprintf(stderr, "mock repo set-up failed\n");
        abort();
    }
}

static inline void fx_stop(fixture *fx)
{
    mockhub_stop(fx->mh);
    mmtest_rmtree(fx->tmp);
    free(fx->tmp);
}

/* True when path holds exactly the bytes of mockhub_content(seed, size). */
static inline bool fx_content_is(const char *path, uint32_t seed, size_t size)
{
    char *data = NULL;
    size_t len = 0;
    if (mm_file_read(path, size + 1, &data, &len, NULL) != 0)
        return false;
    uint8_t *want = malloc(size ? size : 1);
    mockhub_content(seed, want, size);
    bool same = len == size && memcmp(data, want, size) == 0;
    free(want);
    free(data);
    return same;
}

/* Entries in dir (excluding . and ..) whose name contains part (NULL: all). */
static inline int fx_count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (!part || strstr(e->d_name, part)))
            n++;
    closedir(d);
    return n;
}

static inline bool fx_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Run the modelmgr CLI against the fixture: its hub, cache, an HF_HOME, the
 * models_dir <tmp>/models and models.txt at <tmp>/conf/models.txt (so
 * models.lock is <tmp>/conf/models.lock). Returns the exit status. */
static inline int fx_cli(const fixture *fx, const char *const *args, char **out, char **err)
{
    char ep[128], cache[4200], home[4200], models[4200], list[4200];
    snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", mockhub_url(fx->mh));
    snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s", fx->cache);
    snprintf(home, sizeof home, "HF_HOME=%s/home", fx->tmp);
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", fx->tmp);
    snprintf(list, sizeof list, "MODELS_FILE=%s/conf/models.txt", fx->tmp);
    const char *env[] = { ep, cache, home, models, list, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=",
                          "HF_HUB_OFFLINE=0", "NO_PROXY=127.0.0.1", NULL };
    return mmtest_run_cli(args, env, out, err);
}

#endif /* MM_HUB_FIXTURE_H */
