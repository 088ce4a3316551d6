// labels: model integration conformance
/* test-cli-chat-stories.c - `modelmgr chat` on ../shared/models/stories260K.gguf
 * (a real model without a chat template: ChatML stands in): turn 1 answers
 * as `modelmgr run --chat`, and turn 2, which reuses turn 1's cached prefix,
 * answers exactly as `modelmgr run` over the whole ChatML conversation
 * (written here by hand) evaluated from scratch. Skips without the file. */
#include "chat-fixture.h"

static char *run_cli(const char *const *argv)
{
    const char *env[] = { NULL };
    char *out = NULL;
    CHECK_INT(mmtest_run_cli(argv, env, &out, NULL), 0);
    return out;
}

int main(void)
{
    char *path = mmtest_shared_path("models/stories260K.gguf");
    if (!path)
        mmtest_skip("../shared/models/stories260K.gguf is absent");
    char *dir = mmtest_tmpdir();
    const char *chat[] = { "chat", path, "--temperature", "0", "--max-tokens", "12", NULL };
    const char *run1[] = { "run", path, "Once upon a time", "--chat", "--temperature", "0",
                           "--max-tokens", "12", NULL };
    char *answer1 = run_cli(run1);
    CHECK(answer1 && strlen(answer1) > 1);
    char *out = NULL, *err = NULL;
    CHECK_INT(chat_run(dir, chat, "Once upon a time\nthere was\n/stats\n", &out, &err), 0);
    CHECK_CONTAINS(err, "using ChatML");
    CHECK_CONTAINS(out, "turns: 2\n");
    CHECK(chat_reused(out) > 0);
    char *answer2 = chat_second_answer(out, answer1 ? answer1 : "");
    CHECK(answer2 != NULL);
    size_t n1 = answer1 ? strlen(answer1) : 1;
    char *prompt2 = mm_asprintf("<|im_start|>user\nOnce upon a time<|im_end|>\n"
                                "<|im_start|>assistant\n%.*s<|im_end|>\n"
                                "<|im_start|>user\nthere was<|im_end|>\n<|im_start|>assistant\n",
                                (int)(n1 - 1), answer1 ? answer1 : "");
    const char *run2[] = { "run", path, prompt2, "--temperature", "0", "--max-tokens", "12",
                           NULL };
    char *scratch = run_cli(run2);
    CHECK(scratch && strlen(scratch) > 1);
    CHECK_STR(answer2, scratch);
    free(scratch);
    free(prompt2);
    free(answer2);
    free(out);
    free(err);
    free(answer1);
    mmtest_rmtree(dir);
    free(dir);
    free(path);
    return mmtest_finish();
}
