// labels: conformance
/* test-forward-conformance.c - the engine on files llama.cpp made: every
 * ../shared/models/mini/mini-*.gguf agrees with the naive reference for a
 * prompt and greedy decode steps, and stories260K continues "Once upon a
 * time" with the story llama.cpp produces. Skips (77) without the data. */
#include "engine/engine.h"
#include "reference/reference.h"
#include "support/test.h"
#include "text/text.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double rel_err(const float *a, const float *b, uint32_t n)
{
    double worst = 0, scale = 1e-6;
    for (uint32_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        worst = d > worst ? d : worst;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return worst / scale;
}

static int32_t argmax(const float *l, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (l[i] > l[best])
            best = (int32_t)i;
    return best;
}

#define N_PROMPT 6
#define N_DECODE 4

/* Tolerances (relative to the largest logit): F32/F16/BF16 files differ from
 * the reference only by the F16 KV cache and f32 sums; quantized files add
 * the activation rounding of the Q8_0/Q8_1/Q8_K fast path (see
 * test-forward.c), through 4 layers here. */
static double tolerance_for(const char *file)
{
    if (strstr(file, "f32") || strstr(file, "f16"))
        return 1e-2;
    return 1e-1;
}

static void check_mini(const char *path, const char *file)
{
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    mm_error err = { 0 };
    char msg[256] = "";
    CHECK_INT(engine_model_load(path, &model, &err), 0);
    if (!model) {
        printf("%s: %s\n", file, err.message);
        return;
    }
    ref_model *ref = ref_model_load(path, msg, sizeof msg);
    CHECK(ref != NULL);
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_ctx = 32;
    cp.n_threads = 2;
    cp.all_logits = true;
    CHECK_INT(engine_ctx_new(model, &cp, &ctx, &err), 0);
    if (!ref || !ctx)
        goto done;
    uint32_t nv = model->hp.n_vocab;
    int32_t seq[N_PROMPT + N_DECODE] = { 1, 415, 2936, 9060, 285, 1142 };
    for (int i = 0; i < N_PROMPT; i++)
        seq[i] %= (int32_t)nv;
    float *want = malloc((size_t)(N_PROMPT + N_DECODE) * nv * sizeof(float));
    double worst = 0;
    CHECK_INT(engine_eval(ctx, seq, N_PROMPT, &err), 0);
    CHECK_INT(ref_forward(ref, seq, N_PROMPT, want), 0);
    for (uint32_t i = 0; i < N_PROMPT; i++) {
        double e = rel_err(engine_ctx_logits(ctx, i), want + (size_t)i * nv, nv);
        worst = e > worst ? e : worst;
    }
    int agree = 0;
    for (int s = 0; s < N_DECODE; s++) {
        int len = N_PROMPT + s;
        seq[len] = argmax(want + (size_t)(len - 1) * nv, nv);
        agree += argmax(engine_ctx_logits(ctx, s == 0 ? N_PROMPT - 1 : 0), nv) == seq[len];
        CHECK_INT(engine_eval(ctx, seq + len, 1, &err), 0);
        CHECK_INT(ref_forward(ref, seq, (uint32_t)len + 1, want), 0);
        double e = rel_err(engine_ctx_logits(ctx, 0), want + (size_t)len * nv, nv);
        worst = e > worst ? e : worst;
    }
    double tol = tolerance_for(file);
    printf("%-22s rel err %.2e (tolerance %.0e), greedy agrees %d/%d\n", file, worst, tol, agree,
           N_DECODE);
    if (!(worst <= tol))
        mmtest_fail(__FILE__, __LINE__, "%s: error %g > %g", file, worst, tol);
    free(want);
done:
    engine_ctx_free(ctx);
    ref_model_free(ref);
    engine_model_free(model);
}

static void test_minis(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "mini-", 5) != 0 || !strstr(de->d_name, ".gguf"))
            continue;
        char *path = mm_asprintf("%s/%s", dir, de->d_name);
        check_mini(path, de->d_name);
        free(path);
        n++;
    }
    closedir(d);
    CHECK(n >= 10);
}

/* Token id of the vocabulary entry equal to text, or -1. */
static int32_t vocab_find(const gguf_arr *tokens, const char *text)
{
    for (uint64_t i = 0; i < tokens->count; i++) {
        gguf_str s;
        if (gguf_arr_str(tokens, i, &s) == 0 && s.len == strlen(text) &&
            memcmp(s.ptr, text, s.len) == 0)
            return (int32_t)i;
    }
    return -1;
}

static void test_stories(const char *path)
{
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    engine_sampler *smp = NULL;
    text_vocab *vocab = NULL;
    mm_error err = { 0 };
    CHECK_INT(engine_model_load(path, &model, &err), 0);
    if (!model)
        return;
    gguf_arr tokens;
    CHECK_INT(gguf_get_arr(model->file, "tokenizer.ggml.tokens", &tokens), 0);
    /* SPM prompt: BOS then the pieces, looked up in the file's vocabulary */
    const char *pieces[] = { "\xe2\x96\x81Once", "\xe2\x96\x81upon", "\xe2\x96\x81" "a",
                             "\xe2\x96\x81time" };
    int32_t prompt[5] = { 1 };
    for (int i = 0; i < 4; i++) {
        prompt[i + 1] = vocab_find(&tokens, pieces[i]);
        CHECK(prompt[i + 1] > 2);
    }
    /* the tokenizer (src/text) must agree with the vocabulary lookup */
    int32_t tok_ids[16];
    size_t n_tok = 0;
    CHECK_INT(text_vocab_load(model->file, &vocab, &err), 0);
    if (vocab) {
        const char *text = "Once upon a time";
        CHECK_INT(text_tokenize(vocab, text, strlen(text), true, false, tok_ids, 16, &n_tok, &err),
                  0);
        CHECK_INT(n_tok, 5);
        CHECK(n_tok == 5 && memcmp(tok_ids, prompt, sizeof prompt) == 0);
    }
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_threads = 2;
    CHECK_INT(engine_ctx_new(model, &cp, &ctx, &err), 0);
    engine_sampler_params sp;
    engine_sampler_default_params(&sp);
    sp.temperature = 0;
    CHECK_INT(engine_sampler_new(&sp, model->hp.n_vocab, &smp, &err), 0);
    if (!ctx || !smp)
        goto done;
    CHECK_INT(engine_eval(ctx, prompt, 5, &err), 0);
    char text[512] = "";
    size_t len = 0;
    int32_t gen[12];
    for (int step = 0; step < 12; step++) {
        int32_t t = engine_sampler_sample(smp, engine_ctx_logits(ctx, step == 0 ? 4 : 0));
        gen[step] = t;
        gguf_str s;
        if (gguf_arr_str(&tokens, (uint64_t)t, &s) == 0 && len + s.len < sizeof text) {
            memcpy(text + len, s.ptr, s.len);
            len += s.len;
            text[len] = '\0';
        }
        CHECK_INT(engine_eval(ctx, &t, 1, &err), 0);
    }
    /* '▁' (U+2581) is SPM's space */
    char shown[512];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < sizeof shown; i++) {
        if (i + 2 < len && memcmp(text + i, "\xe2\x96\x81", 3) == 0) {
            shown[o++] = ' ';
            i += 2;
        } else {
            shown[o++] = text[i];
        }
    }
    shown[o] = '\0';
    printf("stories260K: prompt ids [%d, %d, %d, %d, %d] \"Once upon a time\" ->%s\n",
           prompt[0], prompt[1], prompt[2], prompt[3], prompt[4], shown);
    CHECK(strncmp(shown, ", there was a little girl named Lily.",
                  strlen(", there was a little girl named Lily.")) == 0);
    if (vocab) {
        mm_buf out;
        mm_buf_init(&out, 4096);
        CHECK_INT(text_detokenize(vocab, gen, 12, false, false, &out, &err), 0);
        CHECK(out.data && strncmp(out.data, ", there was a little girl named Lily.", 37) == 0);
        mm_buf_free(&out);
    }
done:
    text_vocab_free(vocab);
    engine_sampler_free(smp);
    engine_ctx_free(ctx);
    engine_model_free(model);
}

int main(void)
{
    char *mini = mmtest_shared_path("models/mini");
    char *stories = mmtest_shared_path("models/stories260K.gguf");
    if (!mini && !stories)
        mmtest_skip("../shared/models not available");
    if (mini)
        test_minis(mini);
    if (stories)
        test_stories(stories);
    free(mini);
    free(stories);
    return mmtest_finish();
}
