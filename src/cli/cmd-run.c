/* cmd-run.c - `modelmgr run MODEL --tokens "1 2 3"`: evaluate a prompt given
 * as token ids with the built-in engine and print the generated ids. Until
 * the tokenizer lands, prompts and output are ids only. This command uses
 * the engine's internal header (there is no public generation API yet). */
#include "cli/cli.h"

#include "core/core.h"
#include "engine/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_PROMPT 65536

static const cli_option run_options[] = {
    { "tokens", "IDS", "prompt as token ids separated by spaces or commas (required)" },
    { "ids", NULL, "print the generated token ids as [id, id, ...] (the only output for now)" },
    { "max-tokens", "N", "tokens to generate (default 32)" },
    { "temperature", "T", "sampling temperature; 0 = greedy (default 0.8)" },
    { "top-k", "K", "keep the K most likely tokens; 0 = off (default 40)" },
    { "top-p", "P", "nucleus: smallest set with probability >= P; 1 = off (default 0.95)" },
    { "min-p", "P", "drop tokens below P x the top probability; 0 = off (default 0.05)" },
    { "repeat-penalty", "R", "penalize tokens of the last --repeat-last-n (default 1 = off)" },
    { "repeat-last-n", "N", "penalty window (default 64)" },
    { "presence-penalty", "F", "subtract F from seen tokens (default 0)" },
    { "frequency-penalty", "F", "subtract F x count from seen tokens (default 0)" },
    { "seed", "N", "random seed; the same seed gives the same tokens (default 4294967295)" },
    { "ctx-size", "N", "context length (default: min(model's, 4096))" },
    { NULL, NULL, NULL }
};

static const cli_spec run_spec = {
    .usage = "modelmgr run [options] MODEL --tokens \"ID ID ...\"",
    .description = "Generate tokens with the built-in CPU engine. MODEL is a catalog key or a\n"
                   "path to a .gguf file. The prompt is given as raw token ids; generation\n"
                   "stops after --max-tokens or at an end-of-generation token (eos, eot,\n"
                   "<|im_end|>, ...).\n"
                   "Threads: --threads N (configuration key 'threads').",
    .options = run_options,
    .min_args = 1,
    .max_args = 1,
};

static int parse_float_opt(const cli_args *args, const char *name, float min, float max,
                           float *out)
{
    const char *text = cli_value(args, name);
    if (!text)
        return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < min || v > max) {
        cli_error("--%s: '%s' is not a number in [%g, %g]", name, text, (double)min, (double)max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

static int parse_int_opt(const cli_args *args, const char *name, int64_t min, int64_t max,
                         int64_t *out)
{
    const char *text = cli_value(args, name);
    if (!text)
        return 0;
    if (mm_parse_i64(text, min, max, out) != 0) {
        cli_error("--%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", name, text, min,
                  max);
        return -1;
    }
    return 0;
}

/* "1 2 3" or "1,2,3" (or "[1, 2, 3]") into ids; ids must be < n_vocab. */
static int parse_tokens(const char *text, uint32_t n_vocab, int32_t **out, uint32_t *n_out)
{
    size_t len = strlen(text);
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    uint32_t n = 0;
    if (!ids)
        return -1;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '[' || *p == ']' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t' && *p != ']' && *p != '\n')
            p++;
        char word[24];
        size_t wl = (size_t)(p - start);
        int64_t v;
        if (wl >= sizeof word) {
            cli_error("--tokens: '%.*s...' is not a token id", 20, start);
            goto fail;
        }
        memcpy(word, start, wl);
        word[wl] = '\0';
        if (mm_parse_i64(word, 0, (int64_t)n_vocab - 1, &v) != 0) {
            cli_error("--tokens: '%s' is not a token id of this model (0..%" PRIu32 ")", word,
                      n_vocab - 1);
            goto fail;
        }
        if (n == RUN_MAX_PROMPT) {
            cli_error("--tokens: more than %d ids", RUN_MAX_PROMPT);
            goto fail;
        }
        ids[n++] = (int32_t)v;
    }
    if (n == 0) {
        cli_error("--tokens: no token ids given");
        goto fail;
    }
    *out = ids;
    *n_out = n;
    return 0;
fail:
    free(ids);
    return -1;
}

static int read_sampling(const cli_args *args, engine_sampler_params *sp)
{
    int64_t v;
    engine_sampler_default_params(sp);
    if (parse_float_opt(args, "temperature", 0, 100, &sp->temperature) ||
        parse_float_opt(args, "top-p", 0, 1, &sp->top_p) ||
        parse_float_opt(args, "min-p", 0, 1, &sp->min_p) ||
        parse_float_opt(args, "repeat-penalty", 0.01f, 100, &sp->repeat_penalty) ||
        parse_float_opt(args, "presence-penalty", -100, 100, &sp->presence_penalty) ||
        parse_float_opt(args, "frequency-penalty", -100, 100, &sp->frequency_penalty))
        return -1;
    v = sp->top_k;
    if (parse_int_opt(args, "top-k", 0, INT32_MAX, &v))
        return -1;
    sp->top_k = (int32_t)v;
    v = sp->penalty_last_n;
    if (parse_int_opt(args, "repeat-last-n", 0, 4096, &v))
        return -1;
    sp->penalty_last_n = (int32_t)v;
    v = (int64_t)sp->seed;
    if (parse_int_opt(args, "seed", 0, INT64_MAX, &v))
        return -1;
    sp->seed = (uint64_t)v;
    return 0;
}

static int generate(engine_ctx *ctx, engine_sampler *smp, const engine_model *model,
                    const int32_t *prompt, uint32_t n_prompt, int64_t max_tokens)
{
    mm_error err = { 0 };
    for (uint32_t i = 0; i < n_prompt; i++)
        engine_sampler_accept(smp, prompt[i]);
    if (engine_eval(ctx, prompt, n_prompt, &err) != 0) {
        cli_error("%s", err.message);
        return CLI_FAIL;
    }
    const float *logits = engine_ctx_logits(ctx, n_prompt - 1);
    printf("[");
    for (int64_t i = 0; i < max_tokens; i++) {
        int32_t t = engine_sampler_sample(smp, logits);
        if (engine_model_is_eog(model, t))
            break;
        printf("%s%" PRId32, i ? ", " : "", t);
        fflush(stdout);
        engine_sampler_accept(smp, t);
        if (i + 1 == max_tokens)
            break;
        if (engine_ctx_pos(ctx) >= engine_ctx_size(ctx)) {
            printf("]\n");
            cli_error("stopped: the context of %" PRIu32 " tokens is full (--ctx-size)",
                      engine_ctx_size(ctx));
            return CLI_FAIL;
        }
        if (engine_eval(ctx, &t, 1, &err) != 0) {
            printf("]\n");
            cli_error("%s", err.message);
            return CLI_FAIL;
        }
        logits = engine_ctx_logits(ctx, 0);
    }
    printf("]\n");
    return CLI_OK;
}

int cmd_run(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&run_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    char *path = NULL;
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    engine_sampler *smp = NULL;
    int32_t *prompt = NULL;
    uint32_t n_prompt = 0;
    mm_error err = { 0 };
    engine_sampler_params sp;
    int64_t max_tokens = 32, n_ctx = 0;
    status = CLI_USAGE;
    if (!cli_value(&args, "tokens")) {
        cli_error("give the prompt as token ids: --tokens \"1 2 3\" (text prompts need the "
                  "tokenizer, not built in yet)");
        goto done;
    }
    if (read_sampling(&args, &sp) || parse_int_opt(&args, "max-tokens", 1, 1 << 20, &max_tokens) ||
        parse_int_opt(&args, "ctx-size", 1, 1 << 20, &n_ctx))
        goto done;
    status = cli_model_path(args.cfg, args.args[0], &path);
    if (status != CLI_OK)
        goto done;
    status = CLI_FAIL;
    if (engine_model_load(path, &model, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    if (parse_tokens(cli_value(&args, "tokens"), model->hp.n_vocab, &prompt, &n_prompt) != 0) {
        status = CLI_USAGE;
        goto done;
    }
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_threads = args.cfg->threads;
    if (engine_ctx_new(model, &cp, &ctx, &err) != 0 ||
        engine_sampler_new(&sp, model->hp.n_vocab, &smp, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    if (n_prompt > engine_ctx_size(ctx)) {
        cli_error("the prompt has %" PRIu32 " tokens but the context holds %" PRIu32
                  " (--ctx-size)", n_prompt, engine_ctx_size(ctx));
        goto done;
    }
    status = generate(ctx, smp, model, prompt, n_prompt, max_tokens);
done:
    engine_sampler_free(smp);
    engine_ctx_free(ctx);
    engine_model_free(model);
    free(prompt);
    free(path);
    cli_args_free(&args);
    return status;
}
