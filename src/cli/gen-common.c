/* gen-common.c - what `modelmgr run` and `modelmgr chat` share: the sampling
 * flags and turning a conversation into prompt token ids with the model's
 * chat template (a config.yaml override, else the file's, else ChatML). */
#include "cli/cli.h"

#include "core/core.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "text/text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int float_option(const cli_args *args, const char *name, float min, float max,
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

int cli_int_option(const cli_args *args, const char *name, int64_t min, int64_t max,
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

int cli_sampling_params(const cli_args *args, struct engine_sampler_params *sp)
{
    int64_t v;
    engine_sampler_default_params(sp);
    if (float_option(args, "temperature", 0, 100, &sp->temperature) ||
        float_option(args, "top-p", 0, 1, &sp->top_p) ||
        float_option(args, "min-p", 0, 1, &sp->min_p) ||
        float_option(args, "repeat-penalty", 0.01f, 100, &sp->repeat_penalty) ||
        float_option(args, "presence-penalty", -100, 100, &sp->presence_penalty) ||
        float_option(args, "frequency-penalty", -100, 100, &sp->frequency_penalty))
        return -1;
    v = sp->top_k;
    if (cli_int_option(args, "top-k", 0, INT32_MAX, &v))
        return -1;
    sp->top_k = (int32_t)v;
    v = sp->penalty_last_n;
    if (cli_int_option(args, "repeat-last-n", 0, 4096, &v))
        return -1;
    sp->penalty_last_n = (int32_t)v;
    v = (int64_t)sp->seed;
    if (cli_int_option(args, "seed", 0, INT64_MAX, &v))
        return -1;
    sp->seed = (uint64_t)v;
    return 0;
}

const char *cli_chat_override(const mm_config *cfg, const char *model, const char **origin)
{
    const mm_model_override *o = mm_config_model_override(cfg, model);
    if (!o || !o->chat_template)
        return NULL;
    if (origin)
        *origin = o->chat_template_where;
    return o->chat_template;
}

int cli_chat_tokenize(const mm_config *cfg, const char *model, const struct gguf_file *file,
                      const struct text_vocab *vocab, const struct cJSON *msgs, int32_t **out,
                      uint32_t *n_out, int *source)
{
    mm_error err = { 0 };
    mm_buf chat;
    mm_buf_init(&chat, 4u << 20);
    int status = CLI_FAIL;
    const char *origin = NULL;
    const char *override = cli_chat_override(cfg, model, &origin);
    text_chat_source used = TEXT_CHAT_GGUF;
    if (text_chat_render_with(file, override, origin, vocab, msgs, true, &chat, &used,
                              &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    if (source)
        *source = (int)used;
    const char *text = chat.data ? chat.data : "";
    size_t len = chat.len;
    /* No second BOS when the template wrote one, as llama.cpp does. */
    bool add_special = true;
    int32_t bos = text_vocab_bos(vocab);
    size_t blen = 0;
    const char *btext = bos == TEXT_TOKEN_NULL ? NULL : text_vocab_token_text(vocab, bos, &blen);
    if (btext && blen && len >= blen && memcmp(text, btext, blen) == 0)
        add_special = false;
    status = cli_tokenize_prompt(vocab, text, len, add_special, out, n_out);
done:
    mm_buf_free(&chat);
    return status;
}

int cli_tokenize_prompt(const struct text_vocab *vocab, const char *text, size_t len,
                        bool add_special, int32_t **out, uint32_t *n_out)
{
    if (len > CLI_MAX_PROMPT_BYTES) {
        cli_error("the prompt is longer than %u bytes", CLI_MAX_PROMPT_BYTES);
        return CLI_USAGE;
    }
    mm_error err = { 0 };
    size_t n = 0, max_ids = len + 4;
    int32_t *ids = malloc(max_ids * sizeof *ids);
    if (!ids) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    /* Control tokens are parsed, as llama-cli does. */
    if (text_tokenize(vocab, text, len, add_special, true, ids, max_ids, &n, &err) != 0) {
        cli_error("%s", err.message);
        free(ids);
        return CLI_FAIL;
    }
    if (n == 0) {
        cli_error("the prompt is empty");
        free(ids);
        return CLI_USAGE;
    }
    *out = ids;
    *n_out = (uint32_t)n;
    return CLI_OK;
}

void cli_chat_note(int source)
{
    if (source == TEXT_CHAT_CHATML)
        cli_error("note: the model has no chat template (tokenizer.chat_template); "
                  "using ChatML");
}

bool cli_chat_append(struct cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) ||
        !cJSON_AddStringToObject(m, "content", content) || !cJSON_AddItemToArray(msgs, m)) {
        cJSON_Delete(m);
        return false;
    }
    return true;
}
