/* test-hub-lockfile.c - models.lock read back: where it lives (beside
 * models.txt), validation of every field with the first bad entry named
 * (an unsafe path is refused, never used), and removal of one entry,
 * matched by repo and commit, leaving the others as they were. */
#include "hub/hub.h"
#include "support/test.h"

#include <stdlib.h>
#include <unistd.h>

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define SHA "abababababababababababababababababababababababababababababababab"

static char *tmp;

static int read_lock(const char *text, hub_lock **out, mm_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/models.lock", tmp);
    mmtest_write_file(path, text);
    return hub_lock_read(path, out, err);
}

static void check_bad(const char *text, const char *message)
{
    hub_lock *lock = NULL;
    mm_error err = { 0 };
    CHECK_INT(read_lock(text, &lock, &err), MM_EFORMAT);
    CHECK(lock == NULL);
    CHECK_CONTAINS(err.message, message);
}

int main(void)
{
    tmp = mmtest_tmpdir();

    /* mm_lock_path: the directory of models_file. */
    mm_config cfg = { 0 };
    cfg.models_file = "/etc/modelmgr/models.txt";
    char *p = mm_lock_path(&cfg);
    CHECK_STR(p, "/etc/modelmgr/models.lock");
    free(p);
    cfg.models_file = "models.txt";
    p = mm_lock_path(&cfg);
    CHECK_STR(p, "./models.lock");
    free(p);
    p = mm_lock_path(NULL);
    CHECK_STR(p, "./models.lock");
    free(p);

    /* A well-formed lock with two models. */
    const char *good =
        "{\"version\":1,\"models\":["
        "{\"repo\":\"org/a\",\"revision\":\"v1\",\"commit\":\"" C1 "\",\"files\":["
        "{\"path\":\"m.gguf\",\"size\":123,\"sha256\":\"" SHA "\"},"
        "{\"path\":\"sub/x.bin\",\"size\":0,\"sha256\":\"" SHA "\"}]},"
        "{\"repo\":\"org/b\",\"revision\":\"\",\"commit\":\"" C2 "\",\"files\":[]}]}";
    hub_lock *lock = NULL;
    mm_error err = { 0 };
    CHECK_INT(read_lock(good, &lock, &err), 0);
    CHECK(lock && lock->n_models == 2);
    if (lock && lock->n_models == 2) {
        CHECK_STR(lock->models[0].repo, "org/a");
        CHECK_STR(lock->models[0].revision, "v1");
        CHECK_STR(lock->models[0].commit, C1);
        CHECK_INT(lock->models[0].n_files, 2);
        CHECK_STR(lock->models[0].files[1].path, "sub/x.bin");
        CHECK_INT(lock->models[0].files[0].size, 123);
        CHECK_STR(lock->models[0].files[0].sha256, SHA);
        CHECK_INT(lock->models[1].n_files, 0);
    }
    hub_lock_free(lock);
    hub_lock_free(NULL);

    check_bad("not json", "is malformed (no \"models\" array");
    check_bad("{\"models\":[{\"repo\":\"../etc\",\"commit\":\"" C1 "\",\"files\":[]}]}",
              "model 1: missing or invalid \"repo\"");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"main\",\"files\":[]}]}",
              "org/a: \"commit\" is not a 40-hex commit");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"" C1 "\"}]}",
              "org/a: \"files\" is not an array");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"" C1 "\",\"files\":["
              "{\"path\":\"../../../etc/passwd\",\"size\":1,\"sha256\":\"" SHA "\"}]}]}",
              "org/a file 1: missing or unsafe \"path\"");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"" C1 "\",\"files\":["
              "{\"path\":\"m.gguf\",\"size\":1,\"sha256\":\"ABAB\"}]}]}",
              "org/a/m.gguf: \"sha256\" is not 64 lowercase hex digits");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"" C1 "\",\"files\":["
              "{\"path\":\"m.gguf\",\"size\":-1,\"sha256\":\"" SHA "\"}]}]}",
              "org/a/m.gguf: \"size\" is not a byte count");
    check_bad("{\"models\":[{\"repo\":\"org/a\",\"commit\":\"" C1 "\",\"files\":["
              "{\"path\":\"m.gguf\",\"size\":1.5,\"sha256\":\"" SHA "\"}]}]}",
              "\"size\" is not a byte count");

    char path[4200];
    snprintf(path, sizeof path, "%s/none/models.lock", tmp);
    CHECK_INT(hub_lock_read(path, &lock, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "does not exist: pull a model with a pinned revision first");

    /* Removal: the commit must match; another repo's entry stays. */
    CHECK_INT(read_lock(good, &lock, &err), 0);
    hub_lock_free(lock);
    snprintf(path, sizeof path, "%s/models.lock", tmp);
    bool removed = true;
    CHECK_INT(hub_lock_remove(path, "org/a", C2, &removed, &err), 0);
    CHECK(!removed);
    CHECK_INT(hub_lock_remove(path, "org/a", C1, &removed, &err), 0);
    CHECK(removed);
    CHECK_INT(hub_lock_read(path, &lock, &err), 0);
    CHECK(lock && lock->n_models == 1 && strcmp(lock->models[0].repo, "org/b") == 0);
    hub_lock_free(lock);
    CHECK_INT(hub_lock_remove(path, "org/b", NULL, &removed, &err), 0);
    CHECK(removed);
    CHECK_INT(hub_lock_read(path, &lock, &err), 0);
    CHECK(lock && lock->n_models == 0);
    hub_lock_free(lock);
    snprintf(path, sizeof path, "%s/none/models.lock", tmp);
    CHECK_INT(hub_lock_remove(path, "org/b", NULL, &removed, &err), 0);   /* no file: no error */
    CHECK(!removed);
    snprintf(path, sizeof path, "%s/none", tmp);
    CHECK(access(path, F_OK) != 0);

    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
