// labels: model integration
/* test-cli-run-text.c - `modelmgr run MODEL "PROMPT"`: stories260K's greedy
 * continuation of "Once upon a time" is the text llama.cpp prints for it;
 * on a synthesized model a text prompt gives the same ids as the ids of its
 * pieces (looked up in the synthesizer's token list) given with --tokens,
 * --chat renders the template, -v reports speed, and misuse is refused. */
#include "core/core.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int synth_id(const char *want)
{
    char buf[64];
    float score;
    int32_t type;
    for (uint32_t id = 0; id < 320 && mmtest_synth_token(id, buf, sizeof buf, &score, &type); id++)
        if (strcmp(buf, want) == 0)
            return (int)id;
    return -1;
}

static bool test_stories(void)
{
    char *path = mmtest_shared_path("models/stories260K.gguf");
    if (!path)
        return false;
    const char *env[] = { NULL };
    char *out = NULL, *err = NULL;
    const char *argv[] = { "run", path, "Once upon a time", "--temperature", "0",
                           "--max-tokens", "16", "-v", NULL };
    CHECK_INT(mmtest_run_cli(argv, env, &out, &err), 0);
    /* llama.cpp's greedy continuation of this prompt on this model */
    CHECK_CONTAINS(out, ", there was a little girl named Lily");
    CHECK_CONTAINS(err, "tokens/s");
    free(out);
    free(err);
    free(path);
    return true;
}

static void test_synth(const char *dir)
{
    char *path = mm_asprintf("%s/m.gguf", dir);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.weight_scale = 0.5f;
    p.chat_template = "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] "
                      "}}</s>{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    const char *env[] = { NULL };
    int a = synth_id("\xe2\x96\x81" "a"), b = synth_id("\xe2\x96\x81" "b");
    CHECK(a > 0 && b > 0);
    char ids[64];
    snprintf(ids, sizeof ids, "1 %d %d", a, b);   /* BOS, "▁a", "▁b" */

    char *out = NULL, *out2 = NULL, *err = NULL;
    const char *text[] = { "run", path, "a b", "--temperature", "0", "--max-tokens", "6", "--ids",
                           NULL };
    const char *tok[] = { "run", path, "--tokens", ids, "--temperature", "0", "--max-tokens", "6",
                          "--ids", NULL };
    CHECK_INT(mmtest_run_cli(text, env, &out, NULL), 0);
    CHECK_INT(mmtest_run_cli(tok, env, &out2, NULL), 0);
    CHECK(out && out[0] == '[');
    CHECK_STR(out, out2);
    free(out);
    free(out2);

    /* --chat: "<s>[system] S</s>[user] a b</s>[assistant] " with no second
     * BOS; a hand-tokenized equivalent gives the same ids */
    const char *chat[] = { "run", path, "hi", "--chat", "--system", "yo", "--temperature", "0",
                           "--max-tokens", "4", "--ids", NULL };
    CHECK_INT(mmtest_run_cli(chat, env, &out, &err), 0);
    CHECK(out && out[0] == '[');
    CHECK(err && strstr(err, "ChatML") == NULL);
    free(err);
    char *hand = NULL;
    const char *tk[] = { "tokenize", path, "<s>[system] yo</s>[user] hi</s>[assistant] ",
                         "--ids", "--no-bos", "--parse-special", NULL };
    CHECK_INT(mmtest_run_cli(tk, env, &hand, NULL), 0);
    CHECK(hand && strncmp(hand, "[1, ", 4) == 0);   /* the template's one BOS */
    const char *by_ids[] = { "run", path, "--tokens", hand ? hand : "1", "--temperature", "0",
                             "--max-tokens", "4", "--ids", NULL };
    CHECK_INT(mmtest_run_cli(by_ids, env, &out2, NULL), 0);
    CHECK_STR(out, out2);
    free(hand);
    free(out);
    free(out2);

    /* text output ends with a newline; streaming gives the same as --ids
     * decoded (checked by the stories260K case); here only that it runs */
    const char *plain[] = { "run", path, "a b", "--temperature", "0", "--max-tokens", "4", NULL };
    CHECK_INT(mmtest_run_cli(plain, env, &out, NULL), 0);
    CHECK(out && strlen(out) > 0 && out[strlen(out) - 1] == '\n');
    free(out);

    const char *both[] = { "run", path, "a", "--tokens", "1", NULL };
    CHECK_INT(mmtest_run_cli(both, env, NULL, &err), 2);
    CHECK_CONTAINS(err, "give either a text PROMPT or --tokens, not both");
    free(err);
    const char *sys[] = { "run", path, "a", "--system", "x", NULL };
    CHECK_INT(mmtest_run_cli(sys, env, NULL, &err), 2);
    CHECK_CONTAINS(err, "--system needs --chat");
    free(err);
    free(path);
}

int main(void)
{
    char *dir = mmtest_tmpdir();
    test_synth(dir);
    if (!test_stories())
        printf("note: ../shared/models/stories260K.gguf absent; its check skipped\n");
    mmtest_rmtree(dir);
    free(dir);
    return mmtest_finish();
}
