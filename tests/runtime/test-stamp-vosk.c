/* test-stamp-vosk.c - the update-check stamp (missing, fresh, stale,
 * corrupt, from the future, interval 0; written atomically; a failed check
 * leaves no stamp), the Vosk model path precedence and layout checks, and
 * device selection. */
#include "runtime/runtime.h"
#include "support/test.h"

#include <stdio.h>
#include <stdlib.h>

static char *tmp;

static char *at(const char *rel)
{
    char *p = mm_path_join(tmp, rel);
    MM_ASSERT(p);
    return p;
}

static void write_stamp(const char *dir, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, RT_STAMP_NAME);
    mmtest_write_file(path, text);
}

static int checks_run;

static int check_ok(void *user, mm_error *err)
{
    (void)user;
    (void)err;
    checks_run++;
    return 0;
}

static int check_fails(void *user, mm_error *err)
{
    (void)user;
    checks_run++;
    return mm_error_set(err, MM_ENET, "hub unreachable");
}

static void test_stamp(void)
{
    char *dir = at("stamp-models");
    int64_t last;
    bool due;
    /* Missing (the directory does not even exist). */
    CHECK_INT(rt_stamp_read(dir, 3600, 100000, &last, &due), RT_STAMP_MISSING);
    CHECK(due);
    CHECK_INT(last, 0);
    /* Fresh: 3599 s after a stamp of 96401. */
    write_stamp(dir, "96401\n");
    CHECK_INT(rt_stamp_read(dir, 3600, 100000, &last, &due), RT_STAMP_FRESH);
    CHECK(!due);
    CHECK_INT(last, 96401);
    /* Stale: exactly the interval. */
    write_stamp(dir, "96400");
    CHECK_INT(rt_stamp_read(dir, 3600, 100000, &last, &due), RT_STAMP_STALE);
    CHECK(due);
    /* Corrupt: not a number, negative, trailing junk, from the future. */
    const char *bad[] = { "yesterday", "-5", "96400x", "", "100001" };
    for (size_t i = 0; i < MM_ARRAY_LEN(bad); i++) {
        write_stamp(dir, bad[i]);
        CHECK_INT(rt_stamp_read(dir, 3600, 100000, &last, &due), RT_STAMP_CORRUPT);
        CHECK(due);
    }
    /* Interval 0: never due. */
    CHECK_INT(rt_stamp_read(dir, 0, 100000, &last, &due), RT_STAMP_CORRUPT);
    CHECK(!due);

    /* maybe_run: a failing check writes no stamp, a good one does. */
    char *dir2 = at("run-models");
    bool ran = false;
    mm_error err = { 0 };
    checks_run = 0;
    CHECK_INT(rt_update_maybe_run(dir2, 3600, 200000, check_fails, NULL, &ran, &err), MM_ENET);
    CHECK(ran);
    CHECK_INT(rt_stamp_read(dir2, 3600, 200000, &last, &due), RT_STAMP_MISSING);
    CHECK_INT(rt_update_maybe_run(dir2, 3600, 200000, check_ok, NULL, &ran, &err), 0);
    CHECK(ran);
    CHECK_INT(rt_stamp_read(dir2, 3600, 200000, &last, &due), RT_STAMP_FRESH);
    CHECK_INT(last, 200000);
    char path[1200], *text = NULL;
    snprintf(path, sizeof path, "%s/%s", dir2, RT_STAMP_NAME);
    CHECK_INT(mm_file_read(path, 64, &text, NULL, NULL), 0);
    CHECK_STR(text, "200000\n");
    free(text);
    /* Within the interval the check does not run. */
    CHECK_INT(rt_update_maybe_run(dir2, 3600, 203599, check_ok, NULL, &ran, &err), 0);
    CHECK(!ran);
    CHECK_INT(rt_update_maybe_run(dir2, 3600, 203600, check_ok, NULL, &ran, &err), 0);
    CHECK(ran);
    CHECK_INT(checks_run, 3);
    free(dir);
    free(dir2);
}

/* ---- Vosk ---- */

static char *make_vosk(const char *rel, bool flat)
{
    char *dir = at(rel);
    char file[1300];
    if (flat) {
        snprintf(file, sizeof file, "%s/final.mdl", dir);
        mmtest_write_file(file, "x");
        snprintf(file, sizeof file, "%s/mfcc.conf", dir);
        mmtest_write_file(file, "x");
    } else {
        snprintf(file, sizeof file, "%s/am/final.mdl", dir);
        mmtest_write_file(file, "x");
        snprintf(file, sizeof file, "%s/conf/model.conf", dir);
        mmtest_write_file(file, "x");
        snprintf(file, sizeof file, "%s/graph/words.txt", dir);
        mmtest_write_file(file, "x");
    }
    return dir;
}

static mm_config *vosk_config(const char *env_value, const char *flag_value,
                              const char *models_dir)
{
    char env_entry[1300], flag_entry[1300], dir_entry[1300], home[1300];
    snprintf(home, sizeof home, "HOME=%s", tmp);
    snprintf(env_entry, sizeof env_entry, "VOSK_MODEL_PATH=%s", env_value ? env_value : "");
    snprintf(flag_entry, sizeof flag_entry, "vosk_model_path=%s", flag_value ? flag_value : "");
    snprintf(dir_entry, sizeof dir_entry, "models_dir=%s", models_dir);
    const char *env[] = { home, env_value ? env_entry : NULL, NULL };
    const char *flags[] = { dir_entry, flag_value ? flag_entry : NULL, NULL };
    char cfg_path[1200];
    snprintf(cfg_path, sizeof cfg_path, "%s/empty.yaml", tmp);
    mmtest_write_file(cfg_path, "# empty\n");
    mm_config_sources src = { .config_path = cfg_path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_config_load(&src, &cfg, NULL);
    MM_ASSERT(cfg);
    return cfg;
}

static void test_vosk_layouts(void)
{
    char why[256];
    char *full = make_vosk("layout/full", false);
    char *flat = make_vosk("layout/flat", true);
    CHECK(rt_vosk_valid(full, why, sizeof why));
    CHECK(rt_vosk_valid(flat, why, sizeof why));
    char *missing = at("layout/none");
    CHECK(!rt_vosk_valid(missing, why, sizeof why));
    CHECK_STR(why, "no such directory");
    char *half = at("layout/half");
    char file[1300];
    snprintf(file, sizeof file, "%s/am/final.mdl", half);
    mmtest_write_file(file, "x");
    snprintf(file, sizeof file, "%s/conf/model.conf", half);
    mmtest_write_file(file, "x");
    CHECK(!rt_vosk_valid(half, why, sizeof why));
    CHECK_STR(why, "has am/final.mdl but no graph/ directory");
    char *empty = at("layout/empty");
    snprintf(file, sizeof file, "%s/README", empty);
    mmtest_write_file(file, "x");
    CHECK(!rt_vosk_valid(empty, why, sizeof why));
    CHECK_CONTAINS(why, "neither am/final.mdl");
    free(full);
    free(flat);
    free(missing);
    free(half);
    free(empty);
}

static void test_vosk_precedence(void)
{
    char *env_model = make_vosk("v/env-model", false);
    char *flag_model = make_vosk("v/flag-model", true);
    char *models = at("v/models");
    char *found_b = make_vosk("v/models/vosk-model-small-b", false);
    char *found_a = make_vosk("v/models/vosk-model-small-a", true);
    char *def = make_vosk("v/default", false);
    rt_vosk v;

    /* The environment variable. */
    mm_config *cfg = vosk_config(env_model, NULL, models);
    CHECK_INT(rt_vosk_resolve(cfg, def, &v), 0);
    CHECK_STR(v.path, env_model);
    CHECK_STR(v.how, "VOSK_MODEL_PATH");
    rt_vosk_clear(&v);
    mm_config_free(cfg);

    /* A flag beats the environment (the configuration's layering). */
    cfg = vosk_config(env_model, flag_model, models);
    CHECK_INT(rt_vosk_resolve(cfg, def, &v), 0);
    CHECK_STR(v.path, flag_model);
    CHECK_STR(v.how, "--vosk-model-path");
    rt_vosk_clear(&v);
    mm_config_free(cfg);

    /* An explicit path that is not a model is an error, not a fallback. */
    char *bogus = at("v/bogus");
    cfg = vosk_config(bogus, NULL, models);
    CHECK_INT(rt_vosk_resolve(cfg, def, &v), MM_ENOTFOUND);
    CHECK(v.path == NULL);
    CHECK_CONTAINS(v.error, "Vosk model not found: ");
    CHECK_CONTAINS(v.error, bogus);
    CHECK_CONTAINS(v.error, "(from VOSK_MODEL_PATH)");
    CHECK_CONTAINS(v.error, "no such directory");
    rt_vosk_clear(&v);
    mm_config_free(cfg);

    /* Unset: the first vosk-model-* in models_dir by name. */
    cfg = vosk_config(NULL, NULL, models);
    CHECK_INT(rt_vosk_resolve(cfg, def, &v), 0);
    CHECK_STR(v.path, found_a);
    CHECK_STR(v.how, "models_dir");
    rt_vosk_clear(&v);
    mm_config_free(cfg);

    /* Nothing in models_dir: the default location. */
    char *empty_models = at("v/empty-models");
    cfg = vosk_config(NULL, NULL, empty_models);
    CHECK_INT(rt_vosk_resolve(cfg, def, &v), 0);
    CHECK_STR(v.path, def);
    CHECK_STR(v.how, "default");
    rt_vosk_clear(&v);

    /* Nothing anywhere: the message names both places and the fix. */
    CHECK_INT(rt_vosk_resolve(cfg, bogus, &v), MM_ENOTFOUND);
    CHECK_CONTAINS(v.error, "Vosk model not found: tried ");
    CHECK_CONTAINS(v.error, "/vosk-model-*");
    CHECK_CONTAINS(v.error, bogus);
    CHECK_CONTAINS(v.error, "set VOSK_MODEL_PATH");
    CHECK(v.how == NULL);
    rt_vosk_clear(&v);
    mm_config_free(cfg);
    free(env_model);
    free(flag_model);
    free(models);
    free(found_a);
    free(found_b);
    free(def);
    free(bogus);
    free(empty_models);
}

static void test_device(void)
{
    char device[16], note[256];
    rt_device_select("auto", device, sizeof device, note, sizeof note);
    CHECK_STR(device, "cpu");
    CHECK_STR(note, "");
    rt_device_select("cpu", device, sizeof device, note, sizeof note);
    CHECK_STR(device, "cpu");
    CHECK_STR(note, "");
    rt_device_select("gpu", device, sizeof device, note, sizeof note);
    CHECK_STR(device, "cpu");
    CHECK_CONTAINS(note, "a GPU was requested (device=gpu) but this build has no GPU backend");
}

int main(void)
{
    tmp = mmtest_tmpdir();
    test_stamp();
    test_vosk_layouts();
    test_vosk_precedence();
    test_device();
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
