/* test-hub-cli.c - `modelmgr pull` end to end against the mock hub: the
 * pinning refusal and its exit status, a pinned pull writing models.lock
 * (beside models.txt) and audit.jsonl (in models_dir), a quant tag pulling a
 * split set, and a cached re-run. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>

static int pull(const fixture *fx, const char *const *args, char **out, char **err)
{
    static char ep[128], cache[4200], home[4200], models[4200], list[4200];
    snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", mockhub_url(fx->mh));
    snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s", fx->cache);
    snprintf(home, sizeof home, "HF_HOME=%s/home", fx->tmp);
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", fx->tmp);
    snprintf(list, sizeof list, "MODELS_FILE=%s/conf/models.txt", fx->tmp);
    const char *env[] = { ep, cache, home, models, list, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=",
                          "HF_HUB_OFFLINE=0", "NO_PROXY=127.0.0.1", NULL };
    return mmtest_run_cli(args, env, out, err);
}

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    mockhub_repo_add(fx.mh, "org/gguf", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q5_K_M-00002-of-00002.gguf", 1000, 4, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q5_K_M-00001-of-00002.gguf", 2000, 5, true);
    mockhub_file_add(fx.mh, "org/gguf", "m-Q8_0.gguf", 1000, 6, true);
    mockhub_tag_add(fx.mh, "org/gguf", "v2", "main");
    char *out = NULL, *err = NULL;

    const char *unpinned[] = { "pull", FX_REPO, FX_LFS, NULL };
    CHECK_INT(pull(&fx, unpinned, &out, &err), 2);
    CHECK_CONTAINS(err, "modelmgr: Revision must be explicitly pinned: pass a commit hash or "
                        "tag (got 'main')");
    free(out);
    free(err);

    const char *pinned[] = { "pull", FX_REPO, FX_LFS, "--revision", "v1.0", NULL };
    CHECK_INT(pull(&fx, pinned, &out, &err), 0);
    CHECK_CONTAINS(out, "downloaded org/model/model.gguf (200000 bytes, sha256 ");
    CHECK_CONTAINS(out, fx.commit);
    free(out);
    free(err);
    CHECK_INT(pull(&fx, pinned, &out, &err), 0);
    CHECK_CONTAINS(out, "cached org/model/model.gguf");
    free(out);
    free(err);

    const char *quant[] = { "pull", "org/gguf:q5_k_m", "--revision=v2", "--quiet", NULL };
    CHECK_INT(pull(&fx, quant, &out, &err), 0);
    char *first = out ? strstr(out, "m-Q5_K_M-00001-of-00002.gguf") : NULL;
    char *second = out ? strstr(out, "m-Q5_K_M-00002-of-00002.gguf") : NULL;
    CHECK(first && second && first < second);
    CHECK(out && !strstr(out, "Q8_0"));
    /* The quant tag selects files: the repo is org/gguf everywhere. */
    CHECK_CONTAINS(out, "downloaded org/gguf/m-Q5_K_M-00001-of-00002.gguf (2000 bytes");
    CHECK(out && !strstr(out, "org/gguf:"));
    free(out);
    free(err);

    /* models.lock lives beside models.txt (MODELS_FILE), not in models_dir. */
    char path[4300];
    snprintf(path, sizeof path, "%s/models/models.lock", fx.tmp);
    CHECK(!fx_exists(path));
    snprintf(path, sizeof path, "%s/conf/models.lock", fx.tmp);
    char *text = NULL;
    CHECK_INT(mm_file_read(path, 1 << 20, &text, NULL, NULL), 0);
    cJSON *doc = cJSON_Parse(text ? text : "");
    const cJSON *models = cJSON_GetObjectItem(doc, "models");
    CHECK_INT(cJSON_GetArraySize(models), 2);
    const cJSON *m0 = cJSON_GetArrayItem(models, 0);
    CHECK_STR(cJSON_GetObjectItem(m0, "repo")->valuestring, FX_REPO);
    CHECK_STR(cJSON_GetObjectItem(m0, "revision")->valuestring, "v1.0");
    CHECK_STR(cJSON_GetObjectItem(m0, "commit")->valuestring, fx.commit);
    mockhub_file_info info;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &info);
    const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(m0, "files"), 0);
    CHECK_STR(cJSON_GetObjectItem(f0, "sha256")->valuestring, info.sha256);
    CHECK_INT(cJSON_GetObjectItem(f0, "size")->valueint, FX_LFS_SIZE);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(models, 1), "files")), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(models, 1), "repo")->valuestring, "org/gguf");
    cJSON_Delete(doc);
    free(text);

    snprintf(path, sizeof path, "%s/models/audit.jsonl", fx.tmp);
    CHECK_INT(mm_file_read(path, 1 << 20, &text, NULL, NULL), 0);
    int lines = 0, errors = 0;
    for (char *p = text; p && *p; p++)
        lines += *p == '\n';
    for (char *p = text; p && (p = strstr(p, "\"result\":\"error\"")); p++)
        errors++;
    CHECK_INT(lines, 5);   /* refused, downloaded, cached, two split parts */
    CHECK_INT(errors, 1);
    CHECK_CONTAINS(text, "\"result\":\"cached\"");
    CHECK_CONTAINS(text, "\"repo\":\"org/gguf\"");
    CHECK(text && !strstr(text, "org/gguf:"));
    free(text);

    /* The token file at $HF_HOME/token is used, unless config.yaml sets
     * hf_token: "" on purpose: then the pull is anonymous. */
    mockhub_repo_add(fx.mh, "org/gated", MOCKHUB_GATED);
    mockhub_file_add(fx.mh, "org/gated", "g.gguf", 500, 7, true);
    mockhub_tag_add(fx.mh, "org/gated", "v1", "main");
    snprintf(path, sizeof path, "%s/home/token", fx.tmp);
    mmtest_write_file(path, FX_TOKEN "\n");
    const char *gated[] = { "pull", "org/gated", "g.gguf", "--revision", "v1", "--quiet", NULL };
    CHECK_INT(pull(&fx, gated, &out, &err), 0);
    CHECK_CONTAINS(out, "downloaded org/gated/g.gguf");
    free(out);
    free(err);
    char conf[4300];
    snprintf(conf, sizeof conf, "%s/conf/no-token.yaml", fx.tmp);
    mmtest_write_file(conf, "hf_token: \"\"\n");
    const char *anonymous[] = { "pull", "org/gated", "g.gguf", "--revision", "v1", "--quiet",
                                "--config", conf, NULL };
    mockhub_file_add(fx.mh, "org/gated", "h.gguf", 500, 8, true);
    anonymous[2] = "h.gguf";
    CHECK_INT(pull(&fx, anonymous, &out, &err), 1);
    CHECK_CONTAINS(err, "HF_TOKEN");
    CHECK(err && !strstr(err, FX_TOKEN));
    free(out);
    free(err);

    /* An automated pull of a GGUF repo without a quant tag takes one quant,
     * as llama.cpp and Ollama do: Q4_K_M, else Q8_0, else the first .gguf;
     * a repo without .gguf files comes whole. */
    mockhub_repo_add(fx.mh, "org/multi", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/multi", "m-F16.gguf", 900, 11, true);
    mockhub_file_add(fx.mh, "org/multi", "m-Q4_K_M.gguf", 500, 12, true);
    mockhub_file_add(fx.mh, "org/multi", "m-Q8_0.gguf", 700, 13, true);
    mockhub_file_add(fx.mh, "org/multi", "mmproj-m-F16.gguf", 300, 14, true);
    mockhub_repo_add(fx.mh, "org/q8", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/q8", "a-F16.gguf", 900, 15, true);
    mockhub_file_add(fx.mh, "org/q8", "a-Q8_0.gguf", 700, 16, true);
    mockhub_repo_add(fx.mh, "org/other", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/other", "mmproj-x.gguf", 300, 17, true);
    mockhub_file_add(fx.mh, "org/other", "x-IQ4_XS.gguf", 400, 18, true);
    mockhub_repo_add(fx.mh, "org/st", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/st", "config.json", 100, 19, false);
    mockhub_file_add(fx.mh, "org/st", "model.safetensors", 800, 20, true);
    const char *multi[] = { "pull", "org/multi", "--automated", NULL };
    CHECK_INT(pull(&fx, multi, &out, &err), 0);
    CHECK_CONTAINS(out, "org/multi/m-Q4_K_M.gguf");
    CHECK(out && !strstr(out, "m-Q8_0") && !strstr(out, "m-F16") && !strstr(out, "mmproj"));
    free(out);
    free(err);
    multi[1] = "org/q8";
    CHECK_INT(pull(&fx, multi, &out, &err), 0);
    CHECK_CONTAINS(out, "org/q8/a-Q8_0.gguf");
    CHECK(out && !strstr(out, "a-F16"));
    free(out);
    free(err);
    multi[1] = "org/other";
    CHECK_INT(pull(&fx, multi, &out, &err), 0);
    CHECK_CONTAINS(out, "org/other/x-IQ4_XS.gguf");
    CHECK(out && !strstr(out, "mmproj"));
    free(out);
    free(err);
    multi[1] = "org/st";
    CHECK_INT(pull(&fx, multi, &out, &err), 0);
    CHECK_CONTAINS(out, "org/st/config.json");
    CHECK_CONTAINS(out, "org/st/model.safetensors");
    free(out);
    free(err);

    const char *bad[] = { "pull", "--bogus", NULL };
    CHECK_INT(pull(&fx, bad, &out, &err), 2);
    CHECK_CONTAINS(err, "unknown option '--bogus'");
    free(out);
    free(err);
    fx_stop(&fx);
    return mmtest_finish();
}
