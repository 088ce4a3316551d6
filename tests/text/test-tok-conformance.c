/* test-tok-conformance.c - every vocabulary in ../shared/models/vocab with
 * .inp/.out pairs from llama.cpp's test-tokenizer-0 must tokenize to the
 * expected ids (add_special = false, parse_special = false, as that test
 * does). Prints per-vocabulary pass counts; unsupported tokenizer models are
 * reported as skipped by name. */
// labels: conformance
#include "support/test.h"
#include "text/text.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define SEP "\n__ggml_vocab_test__\n"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse one line of space-separated ids. */
static size_t parse_ids(const char *line, size_t len, int32_t *ids, size_t max)
{
    size_t n = 0, i = 0;
    while (i < len && n < max) {
        while (i < len && line[i] == ' ')
            i++;
        if (i >= len)
            break;
        char num[16];
        size_t k = 0;
        while (i < len && line[i] != ' ' && k + 1 < sizeof num)
            num[k++] = line[i++];
        num[k] = '\0';
        int64_t v;
        if (mm_parse_i64(num, 0, INT32_MAX, &v) != 0)
            return (size_t)-1;
        ids[n++] = (int32_t)v;
    }
    return n;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    printf("    %s:", label);
    for (size_t i = 0; i < n && i < 64; i++)
        printf(" %d", ids[i]);
    printf("\n");
}

/* Returns the number of failures for this vocabulary. */
static int run_vocab(const char *dir, const char *name, int *passed_total, int *cases_total)
{
    char *path = mm_path_join(dir, name);
    char *inp_path = mm_asprintf("%s.inp", path);
    char *out_path = mm_asprintf("%s.out", path);
    char *inp = NULL, *outs = NULL;
    size_t inp_len = 0, out_len = 0;
    gguf_file *f = NULL;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    int failures = 0;

    if (mm_file_read(inp_path, 1 << 20, &inp, &inp_len, NULL) != 0 ||
        mm_file_read(out_path, 1 << 20, &outs, &out_len, NULL) != 0) {
        printf("%-32s no .inp/.out pair: not a conformance case\n", name);
        goto done;
    }
    if (gguf_open(path, &f, &err) != 0) {
        printf("%-32s FAIL: cannot open: %s\n", name, err.message);
        failures = 1;
        goto done;
    }
    int rc = text_vocab_load(f, &v, &err);
    if (rc == MM_EUNSUPPORTED) {
        printf("%-32s SKIPPED: %s\n", name, err.message);
        goto done;
    }
    CHECK_INT(rc, 0);
    if (rc != 0) {
        printf("%-32s FAIL: %s\n", name, err.message);
        failures = 1;
        goto done;
    }

    int passed = 0, cases = 0;
    const char *ip = inp, *op = outs;
    const char *iend = inp + inp_len, *oend = outs + out_len;
    int32_t *got = malloc(65536 * sizeof *got), *want = malloc(65536 * sizeof *want);
    while (ip < iend) {
        const char *sep = strstr(ip, SEP);
        size_t tlen = sep ? (size_t)(sep - ip) : (size_t)(iend - ip);
        const char *nl = memchr(op, '\n', (size_t)(oend - op));
        size_t llen = nl ? (size_t)(nl - op) : (size_t)(oend - op);
        if (op >= oend) {
            printf("%-32s FAIL: .out has fewer lines than .inp has texts\n", name);
            failures++;
            break;
        }
        size_t n_want = parse_ids(op, llen, want, 65536);
        size_t n_got = 0;
        cases++;
        rc = text_tokenize(v, ip, tlen, false, false, got, 65536, &n_got, &err);
        bool ok = rc == 0 && n_want != (size_t)-1 && n_got == n_want &&
                  memcmp(got, want, n_got * sizeof *got) == 0;
        if (ok) {
            passed++;
        } else {
            failures++;
            printf("  %s case %d failed: \"%.*s\"%s\n", name, cases, (int)(tlen > 60 ? 60 : tlen),
                   ip, rc ? err.message : "");
            print_ids("want", want, n_want == (size_t)-1 ? 0 : n_want);
            print_ids("got ", got, n_got);
        }
        ip = sep ? sep + strlen(SEP) : iend;
        op = nl ? nl + 1 : oend;
    }
    free(got);
    free(want);
    printf("%-32s %d/%d passed (%s, pre '%s')\n", name, passed, cases,
           text_vocab_get_type(v) == TEXT_VOCAB_SPM ? "spm" : "bpe", text_vocab_pre_name(v));
    *passed_total += passed;
    *cases_total += cases;
    mmtest_checks++;
    if (passed != cases)
        mmtest_fail(__FILE__, __LINE__, "%s: %d of %d cases failed", name, cases - passed, cases);
done:
    text_vocab_free(v);
    gguf_close(f);
    free(inp);
    free(outs);
    free(path);
    free(inp_path);
    free(out_path);
    return failures;
}

int main(void)
{
    char *dir = mmtest_shared_path("models/vocab");
    if (!dir)
        mmtest_skip("../shared/models/vocab is absent: no tokenizer conformance data");
    DIR *d = opendir(dir);
    if (!d)
        mmtest_skip("cannot open %s", dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MM_ARRAY_LEN(names))
        if (mm_str_has_suffix(e->d_name, ".gguf"))
            names[n++] = mm_strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int passed = 0, cases = 0;
    for (size_t i = 0; i < n; i++) {
        run_vocab(dir, names[i], &passed, &cases);
        free(names[i]);
    }
    printf("total: %d/%d cases passed\n", passed, cases);
    free(dir);
    return mmtest_finish();
}
