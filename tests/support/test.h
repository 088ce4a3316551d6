/* test.h - the project's small test harness: checks that count failures and
 * keep going, temporary directories, shared test data and CLI runs.
 * A test program calls checks, then returns mmtest_finish(). */
#ifndef MM_TEST_H
#define MM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int mmtest_failures;
extern int mmtest_checks;

void mmtest_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond) do { mmtest_checks++; if (!(cond)) \
    mmtest_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)

#define CHECK_INT(actual, expected) do { mmtest_checks++; \
    long long a_ = (long long)(actual), e_ = (long long)(expected); \
    if (a_ != e_) mmtest_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", \
                              #actual, a_, e_); } while (0)

#define CHECK_STR(actual, expected) do { mmtest_checks++; \
    const char *a_ = (actual), *e_ = (expected); \
    if (!a_ || !e_ || strcmp(a_, e_) != 0) mmtest_fail(__FILE__, __LINE__, \
        "%s == \"%s\", expected \"%s\"", #actual, a_ ? a_ : "(null)", e_ ? e_ : "(null)"); \
    } while (0)

#define CHECK_CONTAINS(haystack, needle) do { mmtest_checks++; \
    const char *h_ = (haystack), *n_ = (needle); \
    if (!h_ || !strstr(h_, n_)) mmtest_fail(__FILE__, __LINE__, \
        "%s does not contain \"%s\": \"%s\"", #haystack, n_, h_ ? h_ : "(null)"); \
    } while (0)

#define CHECK_NEAR(actual, expected, tol) do { mmtest_checks++; \
    double a_ = (double)(actual), e_ = (double)(expected), t_ = (double)(tol); \
    if (!(a_ - e_ <= t_ && e_ - a_ <= t_)) mmtest_fail(__FILE__, __LINE__, \
        "%s == %g, expected %g within %g", #actual, a_, e_, t_); } while (0)

/* Print the summary; returns the process exit status (0 pass, 1 fail). */
int mmtest_finish(void);

/* Exit status CTest reads as "skipped". */
#define MMTEST_SKIP 77
/* Print "SKIP: reason" and exit with MMTEST_SKIP. */
void mmtest_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A fresh empty directory under $TMPDIR (or /tmp), removed with everything
 * in it by mmtest_rmtree. Caller frees the returned string. */
char *mmtest_tmpdir(void);
void mmtest_rmtree(const char *path);
/* Write a file (creating parent dirs); aborts the test on failure. */
void mmtest_write_file(const char *path, const char *content);

/* Path of rel inside ../shared (MM_SHARED_DIR), or NULL when absent.
 * Caller frees. */
char *mmtest_shared_path(const char *rel);

/* Run the modelmgr binary ($MODELMGR_BIN) with argv (NULL-terminated, argv[0]
 * excluded), capturing stdout and stderr (each NUL-terminated, caller frees;
 * either pointer may be NULL). Returns the exit status, or -1. Extra
 * environment entries "NAME=value" may be given in env (NULL-terminated). */
int mmtest_run_cli(const char *const *argv, const char *const *env,
                   char **out, char **err_out);

/* A configuration isolated in dir: models_dir dir/models, models_file
 * dir/models.txt, hf_cache dir/hub, HOME dir, an empty config file, one
 * thread, a pool of one, no Vosk path; extra "key=value" flags (NULL or
 * NULL-terminated) are applied after those. Prints the error and returns
 * NULL when loading fails; caller frees with mm_config_free. */
struct mm_config;
struct mm_config *mmtest_config(const char *dir, const char *const *extra_flags);

/* The command-line options that make a modelmgr process (a worker) see
 * mmtest_config(dir)'s catalog: dir/empty.yaml, the models dir and file,
 * the HF cache, one thread, a pool of one, no Vosk path. argv is
 * NULL-terminated and points into the struct. */
typedef struct mmtest_cli_args {
    char        cfg[4300], dir[4300], file[4300], cache[4300];
    const char *argv[8];
} mmtest_cli_args;
void mmtest_cli_args_init(mmtest_cli_args *a, const char *dir);

/* xorshift64 (13, 7, 17) on *state (nonzero): reproducible random data for
 * the tests, each keeping its own seed. mmtest_rng_u64 is the
 * next state; mmtest_rng_f maps its top 53 bits to [-1, 1). */
uint64_t mmtest_rng_u64(uint64_t *state);
float    mmtest_rng_f(uint64_t *state);

#endif /* MM_TEST_H */
