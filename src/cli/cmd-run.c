/* cmd-run.c - `modelmgr run MODEL "prompt"` (or `--tokens "1 2 3"`): evaluate
 * a prompt with the built-in engine and stream the generated text (or ids).
 * This command uses the engine's and the text subsystem's internal headers
 * (there is no public streaming generation API yet). */
#include "cli/cli.h"

#include "core/core.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "text/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_PROMPT 65536

static const cli_option run_options[] = {
    { "tokens", "IDS", "prompt as token ids separated by spaces or commas (instead of PROMPT)" },
    { "ids", NULL, "print the generated token ids as [id, id, ...] (always so with --tokens)" },
    { "chat", NULL, "apply the model's chat template to PROMPT as one user message" },
    { "system", "TEXT", "with --chat: a system message before it" },
    { "verbose", NULL, "-v: print prompt and generation tokens/s to stderr" },
    { "max-tokens", "N", "tokens to generate (default 32)" },
    CLI_SAMPLING_OPTIONS,
    { NULL, NULL, NULL }
};

static const cli_spec run_spec = {
    .usage = "modelmgr run [options] MODEL \"PROMPT\"  |  modelmgr run [options] MODEL "
             "--tokens \"ID ID ...\"",
    .description = "Generate text with the built-in CPU engine, streamed as it is made. MODEL\n"
                   "is a catalog key or a path to a .gguf file. The prompt is text (tokenized\n"
                   "with BOS and control tokens parsed) or raw token ids; generation stops\n"
                   "after --max-tokens or at an end-of-generation token (eos, eot,\n"
                   "<|im_end|>, ...).\n"
                   "Threads: --threads N (configuration key 'threads').",
    .options = run_options,
    .min_args = 1,
    .max_args = 2,
};

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

/* Where generated tokens go: "[id, ...]" when dec is NULL, else text
 * streamed through the decoder. */
typedef struct run_out {
    text_decoder *dec;
    mm_buf        buf;
    int64_t       n;
} run_out;

static int emit(run_out *o, int32_t t)
{
    if (!o->dec) {
        printf("%s%" PRId32, o->n ? ", " : "", t);
    } else {
        mm_error err = { 0 };
        o->buf.len = 0;
        if (text_decoder_push(o->dec, t, &o->buf, &err) != 0) {
            cli_error("%s", err.message);
            return -1;
        }
        fwrite(o->buf.data ? o->buf.data : "", 1, o->buf.len, stdout);
    }
    o->n++;
    fflush(stdout);
    return 0;
}

static void finish(run_out *o)
{
    if (!o->dec) {
        printf("]\n");
        return;
    }
    o->buf.len = 0;
    if (text_decoder_flush(o->dec, &o->buf, NULL) == 0)
        fwrite(o->buf.data ? o->buf.data : "", 1, o->buf.len, stdout);
    printf("\n");
    fflush(stdout);
}

static double per_second(int64_t n, int64_t us)
{
    return us > 0 ? (double)n * 1e6 / (double)us : 0.0;
}

static int generate(engine_ctx *ctx, engine_sampler *smp, const engine_model *model,
                    const int32_t *prompt, uint32_t n_prompt, int64_t max_tokens, run_out *o,
                    bool verbose)
{
    mm_error err = { 0 };
    int status = CLI_FAIL;
    for (uint32_t i = 0; i < n_prompt; i++)
        engine_sampler_accept(smp, prompt[i]);
    int64_t t0 = mm_now_us();
    if (engine_eval(ctx, prompt, n_prompt, &err) != 0) {
        cli_error("%s", err.message);
        return CLI_FAIL;
    }
    int64_t t1 = mm_now_us();
    const float *logits = engine_ctx_logits(ctx, n_prompt - 1);
    if (!o->dec)
        printf("[");
    for (int64_t i = 0; i < max_tokens; i++) {
        int32_t t = engine_sampler_sample(smp, logits);
        if (engine_model_is_eog(model, t))
            break;
        if (emit(o, t) != 0)
            goto done;
        engine_sampler_accept(smp, t);
        if (i + 1 == max_tokens)
            break;
        if (engine_ctx_pos(ctx) >= engine_ctx_size(ctx)) {
            finish(o);
            cli_error("stopped: the context of %" PRIu32 " tokens is full (--ctx-size)",
                      engine_ctx_size(ctx));
            return CLI_FAIL;
        }
        if (engine_eval(ctx, &t, 1, &err) != 0) {
            finish(o);
            cli_error("%s", err.message);
            return CLI_FAIL;
        }
        logits = engine_ctx_logits(ctx, 0);
    }
    status = CLI_OK;
done:
    finish(o);
    if (verbose) {
        int64_t t2 = mm_now_us();
        fprintf(stderr, "prompt: %" PRIu32 " tokens, %.1f tokens/s; generation: %" PRId64
                " tokens, %.1f tokens/s\n", n_prompt, per_second(n_prompt, t1 - t0), o->n,
                per_second(o->n, t2 - t1));
    }
    return status;
}

/* The text prompt as ids: plain text with BOS (control tokens parsed, as
 * llama-cli does), or with --chat the model's chat template over
 * [system,] user (gen-common.c). */
static int tokenize_prompt(const cli_args *args, const gguf_file *file, const text_vocab *vocab,
                           const char *text, int32_t **out, uint32_t *n_out)
{
    if (cli_has(args, "chat")) {
        cJSON *msgs = cJSON_CreateArray();
        const char *sys = cli_value(args, "system");
        if (!msgs || (sys && !cli_chat_append(msgs, "system", sys)) ||
            !cli_chat_append(msgs, "user", text)) {
            cJSON_Delete(msgs);
            cli_error("out of memory");
            return CLI_FAIL;
        }
        int source = 0;
        int status = cli_chat_tokenize(args->cfg, args->args[0], file, vocab, msgs, out, n_out,
                                   &source);
        cJSON_Delete(msgs);
        if (status == CLI_OK)
            cli_chat_note(source);
        return status;
    }
    return cli_tokenize_prompt(vocab, text, strlen(text), true, out, n_out);
}

/* -v is --verbose (before a lone "--" only). */
static char **map_short_options(int argc, char **argv)
{
    char **out = calloc((size_t)argc + 1, sizeof *out);
    if (!out)
        return NULL;
    bool done = false;
    for (int i = 0; i < argc; i++) {
        out[i] = argv[i];
        if (strcmp(argv[i], "--") == 0)
            done = true;
        else if (!done && strcmp(argv[i], "-v") == 0)
            out[i] = "--verbose";
    }
    return out;
}

int cmd_run(int argc, char **argv)
{
    char **mapped = map_short_options(argc, argv);
    if (!mapped) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cli_args args;
    int status = cli_parse(&run_spec, argc, mapped, &args);
    if (status != CLI_RUN) {
        free(mapped);
        return status;
    }
    char *path = NULL;
    engine_model *model = NULL;
    engine_ctx *ctx = NULL;
    engine_sampler *smp = NULL;
    text_vocab *vocab = NULL;
    text_decoder dec;
    int32_t *prompt = NULL;
    uint32_t n_prompt = 0;
    mm_error err = { 0 };
    engine_sampler_params sp;
    int64_t max_tokens = 32, n_ctx = 0;
    run_out o = { 0 };
    mm_buf_init(&o.buf, 1u << 16);
    const char *text = args.n_args > 1 ? args.args[1] : NULL;
    const char *tokens = cli_value(&args, "tokens");
    status = CLI_USAGE;
    if (!text && !tokens) {
        cli_error("give a prompt: modelmgr run MODEL \"text\", or token ids with --tokens "
                  "\"1 2 3\"");
        goto done;
    }
    if (text && tokens) {
        cli_error("give either a text PROMPT or --tokens, not both");
        goto done;
    }
    if (tokens && (cli_has(&args, "chat") || cli_value(&args, "system"))) {
        cli_error("--chat and --system need a text PROMPT, not --tokens");
        goto done;
    }
    if (cli_value(&args, "system") && !cli_has(&args, "chat")) {
        cli_error("--system needs --chat");
        goto done;
    }
    if (cli_sampling_params(&args, &sp) ||
        cli_int_option(&args, "max-tokens", 1, 1 << 20, &max_tokens) ||
        cli_int_option(&args, "ctx-size", 1, 1 << 20, &n_ctx))
        goto done;
    status = cli_model_path(args.cfg, args.args[0], &path);
    if (status != CLI_OK)
        goto done;
    status = CLI_FAIL;
    if (engine_model_load(path, &model, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    if (tokens) {
        if (parse_tokens(tokens, model->hp.n_vocab, &prompt, &n_prompt) != 0) {
            status = CLI_USAGE;
            goto done;
        }
    } else {
        if (text_vocab_load(model->file, &vocab, &err) != 0) {
            cli_error("%s", err.message);
            goto done;
        }
        status = tokenize_prompt(&args, model->file, vocab, text, &prompt, &n_prompt);
        if (status != CLI_OK)
            goto done;
        status = CLI_FAIL;
        if (!cli_has(&args, "ids")) {
            text_decoder_init(&dec, vocab, false, false);
            o.dec = &dec;
        }
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
    status = generate(ctx, smp, model, prompt, n_prompt, max_tokens, &o,
                      cli_has(&args, "verbose"));
done:
    mm_buf_free(&o.buf);
    engine_sampler_free(smp);
    engine_ctx_free(ctx);
    text_vocab_free(vocab);
    engine_model_free(model);
    free(prompt);
    free(path);
    cli_args_free(&args);
    free(mapped);
    return status;
}
