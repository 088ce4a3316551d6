// labels: model integration
/* test-cli-chat.c - `modelmgr chat` driven through a pipe on a synthesized
 * model: turn 1 answers as `modelmgr run --chat` does; turn 2 reuses the
 * cached prefix (/stats says so) and still answers exactly as `modelmgr
 * run` evaluating the whole turn-2 prompt (written here by hand from the
 * template) from scratch; /reset and /system start over; misuse is
 * reported; and SIGINT stops an answer without ending the chat. */
#include "chat-fixture.h"

#include "gguf/gguf.h"
#include "support/synth.h"

#include <poll.h>
#include <signal.h>

/* No bos_token: chat and a plain-text `run` then both add one BOS. */
static const char tmpl[] = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}</s>"
                           "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";

static char *run_cli(const char *const *argv, int want)
{
    const char *env[] = { NULL };
    char *out = NULL;
    CHECK_INT(mmtest_run_cli(argv, env, &out, NULL), want);
    return out;
}

static void test_turns(const char *dir, const char *path)
{
    char *out = NULL, *err = NULL;
    const char *chat[] = { "chat", path, "--temperature", "0", "--max-tokens", "8", NULL };

    /* turn 1 == run --chat */
    CHECK_INT(chat_run(dir, chat, "hi\n", &out, &err), 0);
    const char *run1[] = { "run", path, "hi", "--chat", "--temperature", "0", "--max-tokens", "8",
                           NULL };
    char *answer1 = run_cli(run1, 0);
    CHECK(answer1 && strlen(answer1) > 1);   /* something was generated */
    CHECK_STR(out, answer1);
    CHECK(err && strstr(err, "ChatML") == NULL);   /* the file's template is used */
    free(out);
    free(err);

    /* turn 2 reuses turn 1's prefix and answers as a from-scratch run of
     * the whole conversation */
    CHECK_INT(chat_run(dir, chat, "hi\nthere\n/stats\n", &out, NULL), 0);
    CHECK_CONTAINS(out, "turns: 2\n");
    CHECK(chat_reused(out) > 0);
    char *answer2 = chat_second_answer(out, answer1 ? answer1 : "");
    CHECK(answer2 != NULL);
    size_t n1 = answer1 ? strlen(answer1) : 1;
    char *prompt2 = mm_asprintf("[user] hi</s>[assistant] %.*s</s>[user] there</s>[assistant] ",
                                (int)(n1 - 1), answer1 ? answer1 : "");
    const char *run2[] = { "run", path, prompt2, "--temperature", "0", "--max-tokens", "8", NULL };
    char *scratch = run_cli(run2, 0);
    CHECK_STR(answer2, scratch);
    free(scratch);
    free(prompt2);
    free(answer2);
    free(out);

    /* /reset forgets: the same question answers as in a fresh chat */
    CHECK_INT(chat_run(dir, chat, "hi\n/reset\nhi\n/stats\n", &out, &err), 0);
    char *twice = mm_asprintf("%s%sturns: 1\n", answer1 ? answer1 : "", answer1 ? answer1 : "");
    CHECK(out && strncmp(out, twice, strlen(twice)) == 0);
    CHECK_CONTAINS(err, "(the conversation is forgotten)");
    free(twice);
    free(out);
    free(err);

    /* /system TEXT (after a turn: it resets) and --system answer as run
     * --chat --system does */
    const char *runs[] = { "run", path, "hi", "--chat", "--system", "be brief", "--temperature",
                           "0", "--max-tokens", "8", NULL };
    char *with_sys = run_cli(runs, 0);
    CHECK(with_sys != NULL);
    CHECK_INT(chat_run(dir, chat, "hi\n/system be brief\nhi\n", &out, &err), 0);
    char *expect = mm_asprintf("%s%s", answer1 ? answer1 : "", with_sys ? with_sys : "");
    CHECK_STR(out, expect);
    CHECK_CONTAINS(err, "(system prompt set; the conversation is forgotten)");
    free(expect);
    free(out);
    free(err);
    const char *chat_sys[] = { "chat", path, "--system", "be brief", "--temperature", "0",
                               "--max-tokens", "8", NULL };
    CHECK_INT(chat_run(dir, chat_sys, "hi\n", &out, NULL), 0);
    CHECK_STR(out, with_sys);
    free(out);
    /* "/system" alone drops the system prompt again */
    CHECK_INT(chat_run(dir, chat_sys, "/system\nhi\n", &out, NULL), 0);
    CHECK_STR(out, answer1);
    free(out);
    free(with_sys);

    /* "//x" sends "/x" as text, as run --chat "/x" */
    const char *runx[] = { "run", path, "/x", "--chat", "--temperature", "0", "--max-tokens", "8",
                           NULL };
    char *slash = run_cli(runx, 0);
    CHECK_INT(chat_run(dir, chat, "//x\n", &out, NULL), 0);
    CHECK_STR(out, slash);
    free(slash);
    free(out);

    /* /help lists the commands; an unknown command is reported, the chat
     * goes on, and the exit status tells a script */
    CHECK_INT(chat_run(dir, chat, "/help\n/nope\nhi\n", &out, &err), 1);
    CHECK_CONTAINS(out, "/system TEXT");
    CHECK_CONTAINS(out, answer1);
    CHECK_CONTAINS(err, "unknown command '/nope': /help lists the commands");
    free(out);
    free(err);

    /* empty input: nothing to do, exit 0 */
    CHECK_INT(chat_run(dir, chat, "", &out, NULL), 0);
    CHECK_STR(out, "");
    free(out);

    /* a conversation longer than the context is refused, not truncated */
    const char *small[] = { "chat", path, "--ctx-size", "8", "--temperature", "0", NULL };
    CHECK_INT(chat_run(dir, small, "a b c d e f g h i j k\n", &out, &err), 1);
    CHECK_CONTAINS(err, "tokens but the context holds 8: /reset starts over");
    free(out);
    free(err);
    const char *bad[] = { "chat", path, "--top-p", "2", NULL };
    CHECK_INT(chat_run(dir, bad, "", &out, &err), 2);
    CHECK_CONTAINS(err, "--top-p: '2' is not a number in [0, 1]");
    free(out);
    free(err);
    free(answer1);
}

/* A child chatting with a long answer gets SIGINT once the answer has
 * started: the answer stops, the chat goes on (/stats answers) and end of
 * input exits 0. The model's eos id is out of range, so it has no
 * end-of-generation token: only --max-tokens, a full context or Ctrl-C
 * end an answer. */
static void test_sigint(const char *dir, const mmtest_synth_params *params)
{
    char *path = mm_path_join(dir, "endless.gguf");
    char *err_path = mm_path_join(dir, "sigint-err.txt");
    gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    CHECK_INT(mmtest_synth_fill_writer(params, w, NULL), 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 100000);
    CHECK_INT(gguf_writer_write(w, path, NULL), 0);
    gguf_writer_free(w);
    int in[2], out[2];
    CHECK_INT(pipe(in), 0);
    CHECK_INT(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fe, 2);
        execl(chat_bin(), chat_bin(), "chat", path, "--temperature", "0", "--max-tokens",
              "1000000", "--ctx-size", "16384", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    close(in[0]);
    close(out[1]);
    CHECK_INT((int)write(in[1], "hi\n", 3), 3);
    mm_buf got;
    mm_buf_init(&got, 64u << 20);
    bool sent = false;
    for (;;) {
        struct pollfd pfd = { out[0], POLLIN, 0 };
        if (poll(&pfd, 1, 60000) <= 0)
            break;   /* the child hangs: the CHECKs below fail */
        char chunk[4096];
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n <= 0)
            break;
        mm_buf_append(&got, chunk, (size_t)n);
        if (!sent && got.len >= 16) {
            CHECK_INT(kill(pid, SIGINT), 0);
            CHECK_INT((int)write(in[1], "/stats\n", 7), 7);
            close(in[1]);
            sent = true;
        }
    }
    close(out[0]);
    if (!sent)
        close(in[1]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    CHECK(sent);
    /* the answer was cut short of the context, and kept as turn 1 */
    const char *turns = got.data ? strstr(got.data, "turns: 1\n") : NULL;
    CHECK(turns != NULL);
    const char *gen = got.data ? strstr(got.data, "generation: ") : NULL;
    long n_gen = gen ? strtol(gen + 12, NULL, 10) : -1;
    CHECK(n_gen > 0 && n_gen < 16000);
    char *err = NULL;
    size_t len = 0;
    CHECK_INT(mm_file_read(err_path, 1u << 20, &err, &len, NULL), 0);
    CHECK_CONTAINS(err, "(stopped by Ctrl-C; the answer so far is kept)");
    free(err);
    mm_buf_free(&got);
    free(err_path);
    free(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char *dir = mmtest_tmpdir();
    char *path = mm_path_join(dir, "m.gguf");
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.weight_scale = 0.5f;
    p.n_ctx = 16384;
    p.chat_template = tmpl;
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    test_turns(dir, path);
    test_sigint(dir, &p);
    free(path);
    mmtest_rmtree(dir);
    free(dir);
    return mmtest_finish();
}
