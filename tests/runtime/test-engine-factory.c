/* test-engine-factory.c - the manager over the real engine factory on a
 * synthesized GGUF: greedy generation equals a hand-written loop over the
 * engine (argmax written here, not the sampler; the same streaming decoder), the second identical
 * request comes from the cache, a fixed seed repeats, chat messages are
 * rendered with the model's template (prompt written here by hand) and
 * tokenized without a second BOS, and health shows the loaded model with
 * one instance. */
// labels: model
#include "engine/engine.h"
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

static mm_config *make_config(void)
{
    const char *extra[] = { "default_model=synth", NULL };
    return mmtest_config(tmp, extra);
}

/* Greedy decoding by hand: eval the prompt, then argmax (first index on
 * ties) until n tokens or end of generation. */
static char *reference_greedy(const char *path, const char *prompt, bool add_special,
                              bool parse_special, int n)
{
    engine_model *model = NULL;
    text_vocab *vocab = NULL;
    engine_ctx *ctx = NULL;
    char *result = NULL;
    mm_buf out;
    mm_buf_init(&out, 1 << 20);
    engine_ctx_params p;
    engine_ctx_default_params(&p);
    p.n_threads = 1;
    int32_t ids[512];
    size_t n_ids = 0;
    if (engine_model_load(path, &model, NULL) != 0 || text_vocab_load(model->file, &vocab, NULL) != 0 ||
        engine_ctx_new(model, &p, &ctx, NULL) != 0 ||
        text_tokenize(vocab, prompt, strlen(prompt), add_special, parse_special, ids, 512, &n_ids,
                      NULL) != 0 ||
        engine_eval(ctx, ids, (uint32_t)n_ids, NULL) != 0)
        goto done;
    int32_t gen[64];
    int n_gen = 0;
    for (int i = 0; i < n; i++) {
        const float *logits = engine_ctx_logits(ctx, i == 0 ? (uint32_t)n_ids - 1 : 0);
        if (!logits)
            goto done;
        int32_t best = 0;
        for (uint32_t v = 1; v < model->hp.n_vocab; v++)
            if (logits[v] > logits[best])
                best = (int32_t)v;
        if (text_vocab_is_eog(vocab, best))
            break;
        gen[n_gen++] = best;
        if (i + 1 < n && engine_eval(ctx, &best, 1, NULL) != 0)
            goto done;
    }
    /* The streaming decoder, as a server streams: invalid UTF-8 from
     * random weights becomes U+FFFD the same way. */
    text_decoder dec;
    text_decoder_init(&dec, vocab, false, false);
    for (int i = 0; i < n_gen; i++)
        if (text_decoder_push(&dec, gen[i], &out, NULL) != 0)
            goto done;
    if (text_decoder_flush(&dec, &out, NULL) == 0)
        result = mm_buf_take(&out);
done:
    mm_buf_free(&out);
    engine_ctx_free(ctx);
    text_vocab_free(vocab);
    engine_model_free(model);
    return result;
}

int main(void)
{
    tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "synth.gguf");
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.weight_scale = 0.5f;   /* logits far enough apart that argmax is clear */
    params.chat_template = "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] "
                           "{{ m['content'] }}</s>{% endfor %}"
                           "{% if add_generation_prompt %}[assistant] {% endif %}";
    CHECK_INT(mmtest_synth_model(&params, path), 0);

    mm_config *cfg = make_config();
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    if (!mgr)
        return mmtest_finish();

    mm_gen_request req = { .model = "synth", .prompt = "hello world", .max_tokens = 8 };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), 0);
    CHECK(!res.cached);
    char *expect = reference_greedy(path, "hello world", true, false, 8);
    CHECK(expect != NULL && expect[0] != '\0');   /* something was generated */
    CHECK_STR(res.text, expect);
    char *first = mm_strdup(res.text);
    mm_gen_result_clear(&res);
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), 0);
    CHECK(res.cached);
    CHECK_STR(res.text, first);
    mm_gen_result_clear(&res);

    /* A fixed seed repeats (cache bypassed so the engine runs twice). */
    mm_gen_request seeded = { .model = "synth", .prompt = "abc", .max_tokens = 8,
                              .temperature = 1.0, .has_seed = true, .seed = 7,
                              .no_cache = true };
    CHECK_INT(mm_manager_generate(mgr, &seeded, &res, &err), 0);
    char *s1 = mm_strdup(res.text);
    mm_gen_result_clear(&res);
    CHECK_INT(mm_manager_generate(mgr, &seeded, &res, &err), 0);
    CHECK_STR(res.text, s1);
    CHECK(!res.cached);
    mm_gen_result_clear(&res);

    mm_gen_message msgs[] = { { "user", "hi" } };
    mm_gen_request chat = { .model = "synth", .messages = msgs, .n_messages = 1 };
    chat.temperature = 0;
    chat.max_tokens = 8;
    CHECK_INT(mm_manager_generate(mgr, &chat, &res, &err), 0);
    /* the template starts with "<s>": no BOS is added in front of it, and
     * the "</s>" it writes is the EOS token (parse_special) */
    char *chat_expect = reference_greedy(path, "<s>[user] hi</s>[assistant] ", false, true, 8);
    CHECK(chat_expect != NULL);
    CHECK_STR(res.text, chat_expect);
    char *doubled = reference_greedy(path, "<s>[user] hi</s>[assistant] ", true, true, 8);
    char *unparsed = reference_greedy(path, "<s>[user] hi</s>[assistant] ", false, false, 8);
    /* the two mistakes would give other text on these weights */
    CHECK(doubled && unparsed && strcmp(doubled, chat_expect) != 0 &&
          strcmp(unparsed, chat_expect) != 0);
    free(doubled);
    free(unparsed);
    free(chat_expect);
    mm_gen_result_clear(&res);

    mm_health h;
    CHECK_INT(mm_manager_health(mgr, &h, NULL), 0);
    CHECK_INT(h.n_models, 1);
    if (h.n_models == 1) {
        CHECK(h.models[0].loaded);
        CHECK_INT(h.models[0].instances, 1);
        CHECK_INT(h.models[0].requests, 5);
        CHECK_INT(h.models[0].failures, 0);
        CHECK_INT(h.models[0].status, MM_HEALTH_HEALTHY);
    }
    mm_health_clear(&h);

    free(first);
    free(s1);
    free(expect);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    free(path);
    free(dir);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
