/* test-hub-record.c - models.lock merging and atomic rewrite, malformed
 * lock files left alone, and audit.jsonl lines from concurrent writers that
 * never interleave and never carry a secret. */
#include "hub/hub.h"
#include "support/test.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>

static hub_result file(const char *name, const char *commit, uint64_t size, char fill)
{
    hub_result r;
    memset(&r, 0, sizeof r);
    mm_strlcpy(r.filename, name, sizeof r.filename);
    mm_strlcpy(r.commit, commit, sizeof r.commit);
    r.size = size;
    memset(r.sha256, fill, 64);
    r.sha256[64] = '\0';
    return r;
}

static cJSON *load(const char *path)
{
    char *text = NULL;
    if (mm_file_read(path, 1 << 20, &text, NULL, NULL) != 0)
        return NULL;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    return doc;
}

static const cJSON *entry(const cJSON *doc, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "models"), i);
}

static void test_lock(void)
{
    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/models.lock", dir);
    const char *c1 = "1111111111111111111111111111111111111111";
    const char *c2 = "2222222222222222222222222222222222222222";
    mm_error err = { 0 };
    hub_result two[] = { file("a.gguf", c1, 10, 'a'), file("b.json", c1, 20, 'b') };
    CHECK_INT(hub_lock_update(path, "org/m", "v1", two, 2, &err), 0);
    cJSON *doc = load(path);
    CHECK_INT(cJSON_GetObjectItem(doc, "version")->valueint, 1);
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 0), "repo")->valuestring, "org/m");
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 0), "revision")->valuestring, "v1");
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 0), "commit")->valuestring, c1);
    const cJSON *files = cJSON_GetObjectItem(entry(doc, 0), "files");
    CHECK_INT(cJSON_GetArraySize(files), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(files, 1), "path")->valuestring, "b.json");
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(files, 1), "size")->valueint, 20);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(files, 0), "sha256")->valuestring,
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cJSON_Delete(doc);

    /* Same commit: merged; updated file replaced, not duplicated. */
    hub_result more[] = { file("c.bin", c1, 30, 'c'), file("a.gguf", c1, 11, 'd') };
    CHECK_INT(hub_lock_update(path, "org/m", "v1", more, 2, &err), 0);
    doc = load(path);
    files = cJSON_GetObjectItem(entry(doc, 0), "files");
    CHECK_INT(cJSON_GetArraySize(files), 3);
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(files, 0), "size")->valueint, 11);
    cJSON_Delete(doc);

    /* Another repo: a second entry; a new commit replaces the first. */
    hub_result other[] = { file("x.gguf", c2, 5, 'e') };
    CHECK_INT(hub_lock_update(path, "org/other", "v2", other, 1, &err), 0);
    hub_result moved[] = { file("a.gguf", c2, 12, 'f') };
    CHECK_INT(hub_lock_update(path, "org/m", "v3", moved, 1, &err), 0);
    doc = load(path);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "models")), 2);
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 0), "repo")->valuestring, "org/other");
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 1), "commit")->valuestring, c2);
    CHECK_STR(cJSON_GetObjectItem(entry(doc, 1), "revision")->valuestring, "v3");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(entry(doc, 1), "files")), 1);
    cJSON_Delete(doc);

    /* A damaged lock file is reported and kept as it is. */
    mmtest_write_file(path, "{ not json");
    CHECK_INT(hub_lock_update(path, "org/m", "v1", two, 2, &err), MM_EFORMAT);
    CHECK_CONTAINS(err.message, "malformed");
    char *text = NULL;
    CHECK_INT(mm_file_read(path, 1024, &text, NULL, NULL), 0);
    CHECK_STR(text, "{ not json");
    free(text);
    mmtest_rmtree(dir);
    free(dir);
}

#define WRITERS 4
#define LINES 50
static const char *audit_dir;

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES; i++) {
        char file[64];
        snprintf(file, sizeof file, "w%ld-%d.gguf", id, i);
        hub_audit_record r = { .action = "pull", .repo = "org/m", .revision = "v1",
                               .commit = "1111111111111111111111111111111111111111",
                               .file = file, .bytes = (uint64_t)i, .sha256 = NULL,
                               .result = "error",
                               .error = "the Hub rejected hf_auditSECRETtoken4242",
                               .duration_ms = 5 };
        if (hub_audit_append(audit_dir, &r, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_audit(void)
{
    char *dir = mmtest_tmpdir();
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/models", dir);
    audit_dir = sub;
    CHECK_INT(mm_log_add_secret("hf_auditSECRETtoken4242"), 0);
    pthread_t t[WRITERS];
    for (long i = 0; i < WRITERS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < WRITERS; i++) {
        void *rv = NULL;
        pthread_join(t[i], &rv);
        CHECK(rv == NULL);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.jsonl", sub);
    char *text = NULL;
    CHECK_INT(mm_file_read(path, 1 << 22, &text, NULL, NULL), 0);
    CHECK(text && strstr(text, "hf_auditSECRETtoken4242") == NULL);
    int lines = 0;
    for (char *line = text, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        CHECK(o != NULL);
        lines++;
        const cJSON *when = cJSON_GetObjectItem(o, "time");
        CHECK(cJSON_IsString(when) && strlen(when->valuestring) == 20 &&
              when->valuestring[19] == 'Z' && when->valuestring[10] == 'T');
        CHECK_STR(cJSON_GetObjectItem(o, "action")->valuestring, "pull");
        CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "user")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "host")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "sha256")));
        CHECK_CONTAINS(cJSON_GetObjectItem(o, "error")->valuestring, "hf_***4242");
        cJSON_Delete(o);
    }
    CHECK_INT(lines, WRITERS * LINES);
    free(text);
    mmtest_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_lock();
    test_audit();
    return mmtest_finish();
}
