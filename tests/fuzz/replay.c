/* replay.c - runs one harness without libFuzzer, as a normal CTest test: the
 * generated seed corpus (each seed whole and truncated), then every file in
 * tests/fuzz/regress/<harness>/ (inputs that once broke something), or the
 * files and directories named on the command line. Each input is an
 * exact-size heap copy so AddressSanitizer sees any over-read. A broken
 * invariant aborts, which fails the test. */
#include "core/core.h"
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_HARNESS
#error "FUZZ_HARNESS names the harness (\"gguf\", ...)"
#endif

/* Prefixes tried per seed: all of them for small seeds, evenly spaced ones
 * for large seeds, so the test stays within a few seconds under ASan. */
#define TRUNCATIONS_MAX 2048u

static size_t inputs_run;

static void run_one(const void *data, size_t size)
{
    uint8_t *copy = calloc(1, size ? size : 1);   /* zeroed: size 0 still passes a valid pointer */
    FUZZ_CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    inputs_run++;
}

static int run_seed(const char *name, const void *data, size_t size, void *user)
{
    (void)name;
    (void)user;
    run_one(data, size);
    size_t step = size / TRUNCATIONS_MAX + 1;
    for (size_t len = 0; len < size; len += step)
        run_one(data, len);
    return 0;
}

static int run_file(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    mm_error err = { 0 };
    if (mm_file_read(path, 64u << 20, &data, &len, &err) != 0) {
        fprintf(stderr, "fuzz-replay: %s\n", err.message);
        return 1;
    }
    run_one(data, len);
    free(data);
    return 0;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz-replay: %s: not found\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "fuzz-replay: %s: cannot open the directory\n", path);
        return 1;
    }
    int failures = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *child = mm_path_join(path, de->d_name);
        FUZZ_CHECK(child);
        failures += run_path(child);
        free(child);
    }
    closedir(dir);
    return failures;
}

int main(int argc, char **argv)
{
    int failures = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            failures += run_path(argv[i]);
    } else {
        int rc = fuzz_seeds(FUZZ_HARNESS, run_seed, NULL);
        if (rc != 0) {
            fprintf(stderr, "fuzz-replay: cannot generate the %s seeds (%d)\n", FUZZ_HARNESS, rc);
            return 1;
        }
        struct stat st;
        if (stat(FUZZ_REGRESS_DIR, &st) == 0)
            failures += run_path(FUZZ_REGRESS_DIR);
    }
    printf("fuzz-replay %s: %zu inputs, %d unreadable\n", FUZZ_HARNESS, inputs_run, failures);
    return failures ? 1 : 0;
}
