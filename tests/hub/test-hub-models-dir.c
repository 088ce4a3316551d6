/* test-hub-models-dir.c - the readable side of models_dir against the mock
 * hub: a pulled .gguf gets <models_dir>/<file>.gguf linked to its snapshot
 * file (each part of a split quant too), a whole repo a folder link, the
 * catalog lists each model once (the link and the cache are one model), `rm`
 * takes the dangling links away, and a local path is linked or copied in,
 * checked to exist, audited and listed. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

static char ep_flag[256];

static mm_config *config(const fixture *fx)
{
    snprintf(ep_flag, sizeof ep_flag, "hf_endpoint=%s", mockhub_url(fx->mh));
    const char *extra[] = { ep_flag, "hf_token=", NULL };
    return mmtest_config(fx->tmp, extra);
}

static int pull(const mm_config *cfg, const char *repo, const char *file, const char *rev,
                bool copy, mm_pull_file *files, size_t *n, mm_error *err)
{
    mm_pull_request rq = { .repo = repo, .file = file, .revision = rev, .copy = copy,
                           .models_dir = cfg->models_dir };
    return mm_pull(cfg, &rq, NULL, NULL, files, 8, n, err);
}

static bool is_link_to(const char *path, const char *target)
{
    char buf[8192];
    ssize_t len = readlink(path, buf, sizeof buf - 1);
    if (len < 0)
        return false;
    buf[len] = '\0';
    return strcmp(buf, target) == 0;
}

/* Catalog models whose first file resolves to the same file as path. */
static int listed(const mm_config *cfg, const char *path, const char **key)
{
    mm_catalog *cat = NULL;
    if (mm_catalog_open(cfg, &cat, NULL) != 0)
        return -1;
    char *want = realpath(path, NULL);
    int n = 0;
    static char found_key[256];
    for (size_t i = 0; want && i < mm_catalog_count(cat); i++) {
        const mm_model_info *m = mm_catalog_at(cat, i);
        char *real = m->n_paths ? realpath(m->paths[0], NULL) : NULL;
        if (real && strcmp(real, want) == 0) {
            n++;
            mm_strlcpy(found_key, m->key, sizeof found_key);
        }
        free(real);
    }
    if (key)
        *key = found_key;
    free(want);
    mm_catalog_close(cat);
    return n;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_hub_links(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mm_config *cfg = config(&fx);
    mockhub_repo_add(fx.mh, "org/gguf", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q5_K_M-00001-of-00002.gguf", 2000, 5, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q5_K_M-00002-of-00002.gguf", 1000, 4, true);
    mockhub_repo_add(fx.mh, "org/whole", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/whole", "w.gguf", 900, 8, true);
    mockhub_file_add(fx.mh, "org/whole", "config.json", 50, 9, false);
    char gguf_commit[41], whole_commit[41];
    mockhub_ref_commit(fx.mh, "org/gguf", "main", gguf_commit);
    mockhub_ref_commit(fx.mh, "org/whole", "main", whole_commit);

    mm_pull_file files[8];
    size_t n = 0;
    mm_error err = { 0 };
    CHECK_INT(pull(cfg, FX_REPO, FX_LFS, "v1.0", false, files, &n, &err), 0);
    char link[4200], target[8400];
    snprintf(link, sizeof link, "%s/model.gguf", cfg->models_dir);
    snprintf(target, sizeof target, "%s/models--org--model/snapshots/%s/model.gguf", fx.cache,
             fx.commit);
    CHECK(is_link_to(link, target));
    CHECK_STR(files[0].link, link);
    CHECK(fx_content_is(link, FX_LFS_SEED, FX_LFS_SIZE));
    CHECK_INT(listed(cfg, link, NULL), 1);   /* the link and the cache: one model */

    /* A non-GGUF file gets no entry. */
    CHECK_INT(pull(cfg, FX_REPO, FX_SMALL, "v1.0", false, files, &n, &err), 0);
    CHECK_STR(files[0].link, "");
    snprintf(link, sizeof link, "%s/%s", cfg->models_dir, FX_SMALL);
    CHECK(!fx_exists(link));

    /* Each part of a split quant, under its own name, side by side. */
    CHECK_INT(pull(cfg, "org/gguf:Q5_K_M", NULL, gguf_commit, false, files, &n, &err), 0);
    CHECK_INT(n, 2);
    for (int part = 1; part <= 2; part++) {
        snprintf(link, sizeof link, "%s/m-Q5_K_M-0000%d-of-00002.gguf", cfg->models_dir, part);
        snprintf(target, sizeof target, "%s/models--org--gguf/snapshots/%s/m-Q5_K_M-0000%d-of-"
                 "00002.gguf", fx.cache, gguf_commit, part);
        CHECK(is_link_to(link, target));
    }
    snprintf(link, sizeof link, "%s/m-Q5_K_M-00001-of-00002.gguf", cfg->models_dir);
    CHECK_INT(listed(cfg, link, NULL), 1);

    /* A whole repo: one folder link to its snapshot. */
    CHECK_INT(pull(cfg, "org/whole", NULL, whole_commit, false, files, &n, &err), 0);
    snprintf(link, sizeof link, "%s/whole", cfg->models_dir);
    snprintf(target, sizeof target, "%s/models--org--whole/snapshots/%s", fx.cache, whole_commit);
    CHECK(is_link_to(link, target));
    snprintf(link, sizeof link, "%s/whole/w.gguf", cfg->models_dir);
    CHECK(fx_content_is(link, 8, 900));
    CHECK_INT(listed(cfg, link, NULL), 1);

    /* Another repo's file of the same name does not take the entry. */
    mockhub_repo_add(fx.mh, "org/other", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/other", "model.gguf", 400, 12, true);
    char other_commit[41];
    mockhub_ref_commit(fx.mh, "org/other", "main", other_commit);
    CHECK_INT(pull(cfg, "org/other", "model.gguf", other_commit, false, files, &n, &err), 0);
    CHECK_STR(files[0].link, "");
    snprintf(link, sizeof link, "%s/model.gguf", cfg->models_dir);
    snprintf(target, sizeof target, "%s/models--org--model/snapshots/%s/model.gguf", fx.cache,
             fx.commit);
    CHECK(is_link_to(link, target));

    /* rm takes its dangling links away, and only those. */
    mm_remove_report rep;
    CHECK_INT(mm_remove(cfg, FX_REPO, NULL, NULL, cfg->models_dir, &rep, &err), 0);
    CHECK_INT(rep.n_entries, 1);
    CHECK(!fx_exists(link));
    CHECK_INT(mm_remove(cfg, "org/whole", NULL, NULL, cfg->models_dir, &rep, &err), 0);
    CHECK_INT(rep.n_entries, 1);
    snprintf(link, sizeof link, "%s/whole", cfg->models_dir);
    CHECK(!fx_exists(link));
    snprintf(link, sizeof link, "%s/m-Q5_K_M-00002-of-00002.gguf", cfg->models_dir);
    CHECK(fx_exists(link));

    /* The CLI says where the entry is, and rm says what it removed. */
    char *out = NULL, *errs = NULL;
    const char *cli_pull[] = { "pull", FX_REPO, FX_LFS, "--revision", "v1.0", "--quiet", NULL };
    CHECK_INT(fx_cli(&fx, cli_pull, &out, &errs), 0);
    CHECK_CONTAINS(out, "  models_dir entry: ");
    CHECK_CONTAINS(out, "/models/model.gguf\n");
    free(out);
    free(errs);
    const char *cli_rm[] = { "rm", FX_REPO, NULL };
    CHECK_INT(fx_cli(&fx, cli_rm, &out, &errs), 0);
    CHECK_CONTAINS(out, ", 1 models_dir entry");
    free(out);
    free(errs);
    mm_config_free(cfg);
    fx_stop(&fx);
}

static void test_local(void)
{
    CHECK(hub_is_local_path("model.gguf") && hub_is_local_path("/abs/x") &&
          hub_is_local_path("./org/name") && hub_is_local_path("../x/y") &&
          hub_is_local_path("~/m/x.gguf"));
    CHECK(!hub_is_local_path("org/name") && !hub_is_local_path(".org/name") &&
          !hub_is_local_path("org/name:Q4_K_M"));
    fixture fx;
    fx_start(&fx, NULL);
    mm_config *cfg = config(&fx);
    char src[4200], dir[4200], path[8400];
    snprintf(src, sizeof src, "%s/elsewhere/local.gguf", fx.tmp);
    snprintf(dir, sizeof dir, "%s/elsewhere", fx.tmp);
    CHECK_INT(mm_mkdirs(dir, NULL), 0);
    const char content[] = "GGUF not really, but bytes to link";
    mmtest_write_file(src, content);
    char want_sha[65];
    sha256_hex(content, strlen(content), want_sha);

    mm_pull_file files[8];
    size_t n = 0;
    mm_error err = { 0 };
    CHECK_INT(pull(cfg, src, NULL, NULL, false, files, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK(files[0].local);
    snprintf(path, sizeof path, "%s/local.gguf", cfg->models_dir);
    CHECK(is_link_to(path, src));
    CHECK_STR(files[0].path, path);
    CHECK_STR(files[0].sha256, want_sha);
    const char *key = NULL;
    CHECK_INT(listed(cfg, path, &key), 1);
    CHECK_STR(key, "local");
    /* Again: the same link is fine. */
    CHECK_INT(pull(cfg, src, NULL, NULL, false, files, &n, &err), 0);
    /* Another file of that name does not take the entry over. */
    char src2[4200];
    snprintf(src2, sizeof src2, "%s/elsewhere/two", fx.tmp);
    CHECK_INT(mm_mkdirs(src2, NULL), 0);
    snprintf(src2, sizeof src2, "%s/elsewhere/two/local.gguf", fx.tmp);
    mmtest_write_file(src2, "other bytes");
    CHECK_INT(pull(cfg, src2, NULL, NULL, false, files, &n, &err), MM_EEXIST);
    CHECK_CONTAINS(err.message, "already links to");
    snprintf(path, sizeof path, "%s/local.gguf", cfg->models_dir);
    CHECK(is_link_to(path, src));

    /* A folder, copied: a real folder with the same files. */
    snprintf(path, sizeof path, "%s/elsewhere/kit/sub", fx.tmp);
    CHECK_INT(mm_mkdirs(path, NULL), 0);
    snprintf(path, sizeof path, "%s/elsewhere/kit/sub/notes.txt", fx.tmp);
    mmtest_write_file(path, "hello");
    snprintf(path, sizeof path, "%s/elsewhere/kit/k.gguf", fx.tmp);
    mmtest_write_file(path, "kit bytes");
    snprintf(src, sizeof src, "%s/elsewhere/kit/", fx.tmp);
    CHECK_INT(pull(cfg, src, NULL, NULL, true, files, &n, &err), 0);
    CHECK(files[0].downloaded);
    CHECK_INT(files[0].size, 14);
    snprintf(path, sizeof path, "%s/kit", cfg->models_dir);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(path, sizeof path, "%s/kit/sub/notes.txt", cfg->models_dir);
    char *text = NULL;
    CHECK_INT(mm_file_read(path, 100, &text, NULL, NULL), 0);
    CHECK_STR(text ? text : "", "hello");
    free(text);
    /* Copying over an existing entry is refused, nothing lost. */
    CHECK_INT(pull(cfg, src, NULL, NULL, true, files, &n, &err), MM_EEXIST);
    CHECK_CONTAINS(err.message, "already exists: remove it first");
    CHECK(fx_exists(path));

    /* A path that is not there. */
    snprintf(src, sizeof src, "%s/nowhere.gguf", fx.tmp);
    CHECK_INT(pull(cfg, src, NULL, NULL, false, files, &n, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "is not a Hub repo (org/name) and no such file or folder exists");
    CHECK_INT(pull(cfg, "no-such-model.gguf", NULL, NULL, false, files, &n, &err), MM_ENOTFOUND);
    CHECK_INT(pull(cfg, "", NULL, NULL, false, files, &n, &err), MM_EINVAL);
    /* A local path takes no revision. */
    CHECK_INT(pull(cfg, dir, NULL, "v1", false, files, &n, &err), MM_EINVAL);

    /* Audited: linked, copied, and the failures. */
    snprintf(path, sizeof path, "%s/audit.jsonl", cfg->models_dir);
    CHECK_INT(mm_file_read(path, 1 << 20, &text, NULL, NULL), 0);
    CHECK_CONTAINS(text, "\"result\":\"linked\"");
    CHECK_CONTAINS(text, "\"result\":\"copied\"");
    CHECK_CONTAINS(text, want_sha);
    CHECK_CONTAINS(text, "nowhere.gguf");
    free(text);

    /* The CLI. */
    snprintf(src, sizeof src, "%s/elsewhere/cli.gguf", fx.tmp);
    mmtest_write_file(src, "cli");
    char *out = NULL, *errs = NULL;
    const char *args[] = { "pull", src, NULL };
    CHECK_INT(fx_cli(&fx, args, &out, &errs), 0);
    char line[8600];
    snprintf(line, sizeof line, "linked %s as %s/models/cli.gguf\n", src, fx.tmp);
    CHECK_CONTAINS(out, line);
    free(out);
    free(errs);
    mm_config_free(cfg);
    fx_stop(&fx);
}

int main(void)
{
    test_hub_links();
    test_local();
    return mmtest_finish();
}
