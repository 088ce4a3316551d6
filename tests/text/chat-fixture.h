/* chat-fixture.h - drive `modelmgr chat` through a pipe as a user would:
 * the input lines on stdin, stdout and stderr captured (shared by the
 * chat tests). */
#ifndef MM_TEST_CHAT_FIXTURE_H
#define MM_TEST_CHAT_FIXTURE_H

#include "core/core.h"
#include "support/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline const char *chat_bin(void)
{
    const char *bin = getenv("MODELMGR_BIN");
    return bin ? bin : "./modelmgr";
}

/* argv[0] is the command ("chat"), NULL-terminated. Runs the binary with
 * stdin from a file holding input and stdout/stderr into files of dir;
 * returns the exit status (-1 when it did not exit) and the outputs
 * (caller frees). */
static inline int chat_run(const char *dir, const char *const *argv, const char *input, char **out,
                    char **err_out)
{
    char *in_path = mm_path_join(dir, "chat-in.txt");
    char *out_path = mm_path_join(dir, "chat-out.txt");
    char *err_path = mm_path_join(dir, "chat-err.txt");
    mmtest_write_file(in_path, input);
    pid_t pid = fork();
    if (pid == 0) {
        int fi = open(in_path, O_RDONLY);
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        size_t argc = 0;
        while (argv[argc])
            argc++;
        char **args = calloc(argc + 2, sizeof *args);
        args[0] = (char *)chat_bin();
        for (size_t i = 0; i < argc; i++)
            args[i + 1] = (char *)argv[i];
        execv(args[0], args);
        _exit(127);
    }
    int status = -1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    size_t len = 0;
    if (mm_file_read(out_path, 64u << 20, out, &len, NULL) != 0)
        *out = NULL;
    if (err_out && mm_file_read(err_path, 64u << 20, err_out, &len, NULL) != 0)
        *err_out = NULL;
    free(in_path);
    free(out_path);
    free(err_path);
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The number after "reused: " in /stats output, or -1. */
static inline long chat_reused(const char *out)
{
    const char *p = out ? strstr(out, "reused: ") : NULL;
    return p ? strtol(p + 8, NULL, 10) : -1;
}

/* Turn 2's answer line(s) of out = answer1 + answer2 + "turns: ..." where
 * answer1 (with its newline) is known: what lies between them, or NULL.
 * Caller frees. */
static inline char *chat_second_answer(const char *out, const char *answer1)
{
    size_t n1 = strlen(answer1);
    if (!out || strncmp(out, answer1, n1) != 0)
        return NULL;
    const char *stats = NULL, *p = out + n1;
    while ((p = strstr(p, "turns: ")) != NULL)
        stats = p++;
    return stats ? mm_strndup(out + n1, (size_t)(stats - (out + n1))) : NULL;
}

#endif /* MM_TEST_CHAT_FIXTURE_H */
