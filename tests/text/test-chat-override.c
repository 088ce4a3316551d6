// labels: model integration
/* test-chat-override.c - a `models:` entry's chat_template in config.yaml
 * replaces the GGUF's template everywhere it is applied: `modelmgr template`
 * prints the override's rendering (expected strings written here by hand),
 * inline or from a file; `run --chat` and `chat` feed the same tokens as a
 * plain-text run of that hand-written prompt; the model manager (what the
 * server uses) answers the same; `show` says which template is used; a
 * broken override and an unreadable template file are clear errors. */
#include "chat-fixture.h"

#include "support/synth.h"

static char *dir, *cfg_path, *models, *models_file, *hub, *home;

/* The command with the isolated configuration's flags after it. */
static int cli(const char *const *words, char **out, char **err)
{
    const char *argv[32];
    size_t n = 0;
    for (; words[n]; n++)
        argv[n] = words[n];
    const char *flags[] = { "--config", cfg_path, "--models-dir", models, "--models-file",
                            models_file, "--hf-cache", hub, "--threads", "1", NULL };
    for (size_t i = 0; flags[i]; i++)
        argv[n++] = flags[i];
    argv[n] = NULL;
    const char *env[] = { home, NULL };
    return mmtest_run_cli(argv, env, out, err);
}

static void write_config(const char *yaml)
{
    mmtest_write_file(cfg_path, yaml);
}

static void test_template(const char *msgs)
{
    char *out = NULL, *err = NULL;
    /* inline override (the file's template would give "<user>hi") */
    const char *t1[] = { "template", "synth", "--messages", msgs, NULL };
    CHECK_INT(cli(t1, &out, &err), 0);
    CHECK_STR(out, "(user:hi)(assistant:");
    free(out);
    free(err);
    /* from a file beside config.yaml, without the generation prompt (the
     * file's last newline goes, as Jinja2 drops a template's trailing
     * newline) */
    const char *t2[] = { "template", "filed", "--messages", msgs, "--no-generation-prompt",
                         NULL };
    CHECK_INT(cli(t2, &out, NULL), 0);
    CHECK_STR(out, "[[user|hi]]");
    free(out);
    /* no override: the file's own */
    const char *t3[] = { "template", "plain", "--messages", msgs, NULL };
    CHECK_INT(cli(t3, &out, NULL), 0);
    CHECK_STR(out, "<user>hi");
    free(out);

    const char *s1[] = { "show", "synth", NULL };
    CHECK_INT(cli(s1, &out, NULL), 0);
    char *want = mm_asprintf("  template used: override (%s:3, inline)\n", cfg_path);
    CHECK_CONTAINS(out, want);
    free(want);
    free(out);
    const char *s2[] = { "show", "filed", "--json", NULL };
    CHECK_INT(cli(s2, &out, NULL), 0);
    CHECK_CONTAINS(out, "\"chat_template_source\":\t\"override\"");
    free(out);
    const char *s3[] = { "show", "plain", NULL };
    CHECK_INT(cli(s3, &out, NULL), 0);
    CHECK_CONTAINS(out, "  template used: the file's (tokenizer.chat_template)\n");
    free(out);
}

/* run --chat, chat and the model manager all generate from the override's
 * prompt: the same answer as a plain run of the hand-rendered text (same
 * BOS, control tokens parsed). */
static void test_generation(void)
{
    char *scratch = NULL, *out = NULL;
    const char *plain[] = { "run", "synth", "(user:hi)(assistant:", "--temperature", "0",
                            "--max-tokens", "8", NULL };
    CHECK_INT(cli(plain, &scratch, NULL), 0);
    CHECK(scratch && strlen(scratch) > 1);
    const char *run[] = { "run", "synth", "hi", "--chat", "--temperature", "0", "--max-tokens",
                          "8", NULL };
    CHECK_INT(cli(run, &out, NULL), 0);
    CHECK_STR(out, scratch);
    free(out);
    const char *chat[] = { "chat", "synth", "--temperature", "0", "--max-tokens", "8",
                           "--config", cfg_path, "--models-dir", models, "--models-file",
                           models_file, "--hf-cache", hub, NULL };
    CHECK_INT(chat_run(dir, chat, "hi\n", &out, NULL), 0);
    CHECK_STR(out, scratch);
    free(out);

    char home_flag[1100];
    snprintf(home_flag, sizeof home_flag, "%s", home);
    const char *env[] = { home_flag, NULL };
    char models_flag[1100], file_flag[1100], hub_flag[1100];
    snprintf(models_flag, sizeof models_flag, "models_dir=%s", models);
    snprintf(file_flag, sizeof file_flag, "models_file=%s", models_file);
    snprintf(hub_flag, sizeof hub_flag, "hf_cache=%s", hub);
    const char *flags[] = { models_flag, file_flag, hub_flag, "threads=1", "pool_size=1",
                            "cache_size=0", NULL };
    mm_config_sources src = { .config_path = cfg_path, .env = env, .flags = flags };
    mm_config *cfg = NULL;
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_config_load(&src, &cfg, &err), 0);
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    mm_gen_message msgs[] = { { "user", "hi" } };
    mm_gen_request req = { .model = "synth", .messages = msgs, .n_messages = 1,
                           .temperature = 0, .max_tokens = 8 };
    mm_gen_result res = { 0 };
    CHECK_INT(mgr ? mm_manager_generate(mgr, &req, &res, &err) : -1, 0);
    char *line = mm_asprintf("%s\n", res.text ? res.text : "");
    CHECK_STR(line, scratch);
    free(line);
    mm_gen_result_clear(&res);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    free(scratch);
}

static void test_errors(const char *msgs)
{
    char *out = NULL, *err = NULL;
    write_config("models:\n"
                 "  - name: synth\n"
                 "    chat_template: \"{% if %}oops\"\n");
    const char *t1[] = { "template", "synth", "--messages", msgs, NULL };
    CHECK_INT(cli(t1, &out, &err), 1);
    char *want = mm_asprintf("modelmgr: chat_template override (%s:3): chat template syntax "
                             "error at line 1", cfg_path);
    CHECK_CONTAINS(err, want);
    free(want);
    free(out);
    free(err);
    const char *run[] = { "run", "synth", "hi", "--chat", NULL };
    CHECK_INT(cli(run, &out, &err), 1);
    CHECK_CONTAINS(err, "chat_template override (");
    free(out);
    free(err);

    write_config("models:\n"
                 "  - name: synth\n"
                 "    quality_tier: 2\n"
                 "    chat_template: no-such.jinja\n");
    const char *c1[] = { "config", NULL };
    CHECK_INT(cli(c1, &out, &err), 2);
    want = mm_asprintf("%s:4: models: chat_template: cannot read the template file: ", cfg_path);
    CHECK_CONTAINS(err, want);
    CHECK_CONTAINS(err, "no-such.jinja");
    free(want);
    free(out);
    free(err);
    write_config("models:\n"
                 "  - name: synth\n"
                 "    chat_template: [a, b]\n");
    CHECK_INT(cli(c1, &out, &err), 2);
    CHECK_CONTAINS(err, ":3: models: chat_template: expected an inline Jinja template or the "
                        "path of a file holding one (at most 1 MiB)");
    free(out);
    free(err);
}

int main(void)
{
    dir = mmtest_tmpdir();
    models = mm_path_join(dir, "models");
    models_file = mm_path_join(dir, "models.txt");
    hub = mm_path_join(dir, "hub");
    cfg_path = mm_path_join(dir, "config.yaml");
    home = mm_asprintf("HOME=%s", dir);
    mm_mkdirs(models, NULL);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.weight_scale = 0.5f;
    p.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}";
    const char *names[] = { "synth", "filed", "plain" };
    for (size_t i = 0; i < 3; i++) {
        char *path = mm_asprintf("%s/%s.gguf", models, names[i]);
        CHECK_INT(mmtest_synth_model(&p, path), 0);
        free(path);
    }
    char *tmpl_file = mm_path_join(dir, "t.jinja");
    mmtest_write_file(tmpl_file, "{% for m in messages %}[[{{ m.role }}|{{ m.content }}]]"
                                 "{% endfor %}{% if add_generation_prompt %}<go>{% endif %}\n");
    write_config("models:\n"
                 "  - name: synth\n"
                 "    chat_template: \"{% for m in messages %}({{ m.role }}:{{ m.content }})"
                 "{% endfor %}{% if add_generation_prompt %}(assistant:{% endif %}\"\n"
                 "  - name: filed\n"
                 "    chat_template: t.jinja\n");
    char *msgs = mm_path_join(dir, "msgs.json");
    mmtest_write_file(msgs, "[{\"role\": \"user\", \"content\": \"hi\"}]");
    test_template(msgs);
    test_generation();
    test_errors(msgs);
    free(msgs);
    free(tmpl_file);
    mmtest_rmtree(dir);
    free(dir);
    free(models);
    free(models_file);
    free(hub);
    free(cfg_path);
    free(home);
    return mmtest_finish();
}
