/* tokenizer.c - encoding and decoding throughput (MB/s) of the tokenizers on
 * a large synthetic text, for every vocabulary found in the shared
 * conformance folder (or the GGUF files given as arguments). */
#include "support/test.h"
#include "text/text.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread in ms: on a shared machine wall time measures the
 * neighbours, CPU time measures the tokenizer. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* English-like prose with numbers, punctuation, code and some non-ASCII;
 * valid UTF-8 (a character cut by the size limit is dropped, *len says how
 * much is left), as real prompts are. */
static char *make_text(size_t size, size_t *len)
{
    static const char *const words[] = {
        "the", "of", "and", "to", "in", "is", "model", "token", "server", "request",
        "language", "memory", "quantized", "weights", "attention", "layer", "cache",
        "Hello", "World", "because", "however", "international", "performance",
        "it's", "don't", "we'll", "they're", "1234", "3.14159", "2026", "x = y + 1;",
        "if (n > 0) {", "return err;", "caf\xc3\xa9", "na\xc3\xafve", "\xd0\xbf\xd1\x80\xd0\xb8"
        "\xd0\xb2\xd0\xb5\xd1\x82", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xf0\x9f\xa6\x99",
    };
    char *t = malloc(size + 64);
    if (!t)
        return NULL;
    size_t n = 0;
    while (n < size) {
        const char *w = words[rnd() % MM_ARRAY_LEN(words)];
        size_t wl = strlen(w);
        memcpy(t + n, w, wl);
        n += wl;
        uint64_t r = rnd() % 20;
        t[n++] = r == 0 ? '\n' : r == 1 ? ',' : r == 2 ? '.' : ' ';
        if (r == 2)
            t[n++] = ' ';
    }
    *len = size;
    while (*len > 0 && ((uint8_t)t[*len] & 0xC0) == 0x80)
        (*len)--;
    return t;
}

static void bench_one(const char *path, const char *text, size_t len)
{
    gguf_file *f = NULL;
    text_vocab *v = NULL;
    mm_error err = { 0 };
    double t0 = cpu_ms();
    if (gguf_open(path, &f, &err) != 0 || text_vocab_load(f, &v, &err) != 0) {
        printf("%-40s %s\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, err.message);
        gguf_close(f);
        return;
    }
    double t_load = cpu_ms() - t0;
    int32_t *ids = malloc(len * sizeof *ids);
    size_t n = 0;
    t0 = cpu_ms();
    int rc = text_tokenize(v, text, len, false, false, ids, len, &n, &err);
    double t_enc = cpu_ms() - t0;
    mm_buf out;
    mm_buf_init(&out, len * 2 + 16);
    t0 = cpu_ms();
    text_decoder d;
    text_decoder_init(&d, v, false, false);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = text_decoder_push(&d, ids[i], &out, &err);
    text_decoder_flush(&d, &out, &err);
    double t_dec = cpu_ms() - t0;
    double mb = (double)len / (1024.0 * 1024.0);
    printf("%-34s %-4s %-15s load %5.0f ms  encode %7.1f MB/s (%zu tokens, %.2f bytes/token)"
           "  stream-decode %7.1f MB/s%s\n",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
           text_vocab_get_type(v) == TEXT_VOCAB_SPM ? "spm" : "bpe", text_vocab_pre_name(v),
           t_load, mb / ((t_enc > 0 ? t_enc : 1) / 1000.0), n, (double)len / (double)(n ? n : 1),
           mb / ((t_dec > 0 ? t_dec : 1) / 1000.0), rc ? " (error)" : "");
    mm_buf_free(&out);
    free(ids);
    text_vocab_free(v);
    gguf_close(f);
}

int main(int argc, char **argv)
{
    size_t len = 0;
    char *text = make_text(8u << 20, &len);
    if (!text)
        return 1;
    printf("tokenizer benchmark: %zu MiB of synthetic text, one text_tokenize call each; "
           "MB/s by thread CPU time\n",
           (len + (1u << 19)) >> 20);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            bench_one(argv[i], text, len);
        free(text);
        return 0;
    }
    char *dir = mmtest_shared_path("models/vocab");
    if (!dir)
        dir = mm_strdup("../shared/models/vocab");
    DIR *d = opendir(dir);
    if (!d) {
        printf("no vocabularies: %s is absent (pass GGUF files as arguments)\n", dir);
    } else {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!mm_str_has_suffix(e->d_name, ".gguf"))
                continue;
            char *path = mm_path_join(dir, e->d_name);
            bench_one(path, text, len);
            free(path);
        }
        closedir(d);
    }
    free(dir);
    free(text);
    return 0;
}
