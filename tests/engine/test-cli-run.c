// labels: model integration
/* test-cli-run.c - `modelmgr run --tokens` and `modelmgr bench` end to end on
 * a synthesized model: greedy ids equal the naive reference's argmax chain,
 * seeded sampling repeats, errors are clear, bench prints its table. */
#include "engine/engine.h"
#include "reference/reference.h"
#include "support/synth.h"
#include "support/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_GEN 6

int main(void)
{
    char *dir = mmtest_tmpdir();
    char *path = mm_asprintf("%s/m.gguf", dir);
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.weight_scale = 0.25f;
    p.n_vocab = 300;
    CHECK_INT(mmtest_synth_model(&p, path), 0);
    const char *env[] = { NULL };

    /* expected greedy chain from the reference */
    char msg[256];
    ref_model *ref = ref_model_load(path, msg, sizeof msg);
    CHECK(ref != NULL);
    int32_t seq[4 + N_GEN] = { 1, 200, 17, 42 };
    char want[256] = "[";
    uint32_t nv = ref ? ref_model_n_vocab(ref) : 0;
    float *logits = malloc((size_t)(4 + N_GEN) * (nv ? nv : 1) * sizeof(float));
    int n_want = 0;
    for (int s = 0; ref && s < N_GEN; s++) {
        CHECK_INT(ref_forward(ref, seq, (uint32_t)(4 + s), logits), 0);
        const float *l = logits + (size_t)(4 + s - 1) * nv;
        int32_t best = 0;
        for (uint32_t t = 1; t < nv; t++)
            if (l[t] > l[best])
                best = (int32_t)t;
        if (best == 2)   /* the model's EOS ends generation */
            break;
        seq[4 + s] = best;
        size_t len = strlen(want);
        snprintf(want + len, sizeof want - len, "%s%d", s ? ", " : "", best);
        n_want++;
    }
    size_t wlen = strlen(want);
    snprintf(want + wlen, sizeof want - wlen, "]\n");
    CHECK(n_want > 0);
    free(logits);
    ref_model_free(ref);

    char *out = NULL, *err = NULL;
    char n_gen[16];
    snprintf(n_gen, sizeof n_gen, "%d", N_GEN);
    const char *run[] = { "run", path, "--tokens", "1 200, 17 42", "--temperature", "0",
                          "--max-tokens", n_gen, "--ids", "--threads", "2", NULL };
    CHECK_INT(mmtest_run_cli(run, env, &out, &err), 0);
    CHECK_STR(out, want);
    printf("greedy: %s", out ? out : "(null)\n");
    free(out);
    free(err);

    /* a catalog key (the file's stem under models_dir) names the same model */
    char *mdir = mm_asprintf("%s/models", dir);
    char *copy = mm_asprintf("%s/tiny.gguf", mdir);
    mmtest_write_file(copy, "");
    CHECK_INT(mmtest_synth_model(&p, copy), 0);
    const char *by_key[] = { "run", "tiny", "--models-dir", mdir, "--tokens", "1 200 17 42",
                             "--temperature", "0", "--max-tokens", n_gen, "--ids", NULL };
    CHECK_INT(mmtest_run_cli(by_key, env, &out, NULL), 0);
    CHECK_STR(out, want);
    free(out);
    free(copy);
    free(mdir);

    /* same seed, same tokens */
    const char *sampled[] = { "run", path, "--tokens", "1 5 9", "--temperature", "1.2",
                              "--seed", "77", "--max-tokens", "8", "--top-k", "20", NULL };
    char *out2 = NULL;
    CHECK_INT(mmtest_run_cli(sampled, env, &out, NULL), 0);
    CHECK_INT(mmtest_run_cli(sampled, env, &out2, NULL), 0);
    CHECK_STR(out, out2);
    CHECK(out && out[0] == '[');
    free(out);
    free(out2);

    const char *bad_id[] = { "run", path, "--tokens", "1 300", NULL };
    CHECK_INT(mmtest_run_cli(bad_id, env, NULL, &err), 2);
    CHECK_CONTAINS(err, "--tokens: '300' is not a token id of this model (0..299)");
    free(err);
    const char *no_tokens[] = { "run", path, NULL };
    CHECK_INT(mmtest_run_cli(no_tokens, env, NULL, &err), 2);
    CHECK_CONTAINS(err, "give a prompt: modelmgr run MODEL \"text\", or token ids with --tokens");
    free(err);
    const char *missing[] = { "run", "no-such-model", "--tokens", "1", NULL };
    CHECK_INT(mmtest_run_cli(missing, env, NULL, &err), 1);
    CHECK_CONTAINS(err, "no model 'no-such-model' in the catalog and no such .gguf file");
    free(err);

    const char *bench[] = { "bench", path, "-p", "16", "-n", "8", "-r", "2", "-t", "2", NULL };
    CHECK_INT(mmtest_run_cli(bench, env, &out, &err), 0);
    CHECK_CONTAINS(out, "| model ");
    CHECK_CONTAINS(out, "pp16");
    CHECK_CONTAINS(out, "tg8");
    CHECK_CONTAINS(out, "peak RSS:");
    CHECK_CONTAINS(out, "load time:");
    free(out);
    free(err);

    mmtest_rmtree(dir);
    free(dir);
    free(path);
    return mmtest_finish();
}
