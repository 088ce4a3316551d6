/* seeds-main.c - the fuzz-seeds tool: writes the generated seed corpus of one
 * harness into a directory for libFuzzer ("fuzz-seeds gguf corpus/gguf"). */
#include "core/core.h"
#include "fuzz.h"

#include <string.h>

static int write_seed(const char *name, const void *data, size_t size, void *user)
{
    const char *dir = user;
    char *path = mm_path_join(dir, name);
    if (!path)
        return MM_ENOMEM;
    mm_error err = { 0 };
    int rc = mm_file_write_atomic(path, data, size, &err);
    if (rc != 0)
        fprintf(stderr, "fuzz-seeds: %s\n", err.message);
    free(path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz-seeds <gguf|models|config|parse|tok> <directory>\n");
        return 2;
    }
    mm_error err = { 0 };
    if (mm_mkdirs(argv[2], &err) != 0) {
        fprintf(stderr, "fuzz-seeds: %s\n", err.message);
        return 1;
    }
    int rc = fuzz_seeds(argv[1], write_seed, argv[2]);
    if (rc == MM_ENOTFOUND)
        fprintf(stderr, "fuzz-seeds: no harness '%s' (gguf, models, config, parse or tok)\n", argv[1]);
    return rc == 0 ? 0 : 1;
}
