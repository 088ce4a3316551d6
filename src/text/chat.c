/* chat.c - turn an OpenAI-style messages array into a model's prompt text:
 * the GGUF's tokenizer.chat_template (or ChatML when it has none) rendered
 * with the vocabulary's bos/eos token strings, as llama.cpp does, and
 * tools/documents null, as transformers passes them. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

#define CHAT_MAX_OUTPUT (4u << 20)

/* What llama.cpp falls back to when a model carries no template. */
static const char chatml_template[] =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

static cJSON *token_string(const text_vocab *v, int32_t id)
{
    size_t len = 0;
    const char *s = id == TEXT_TOKEN_NULL ? NULL : text_vocab_token_text(v, id, &len);
    if (!s)
        return cJSON_CreateString("");
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    cJSON *item = cJSON_CreateString(copy);
    free(copy);
    return item;
}

int text_chat_render(const gguf_file *f, const text_vocab *v, const cJSON *messages,
                     bool add_generation_prompt, mm_buf *out, bool *used_chatml, mm_error *err)
{
    text_chat_source source = TEXT_CHAT_GGUF;
    int rc = text_chat_render_with(f, NULL, NULL, v, messages, add_generation_prompt, out,
                                   &source, err);
    if (used_chatml)
        *used_chatml = source == TEXT_CHAT_CHATML;
    return rc;
}

int text_chat_render_with(const gguf_file *f, const char *override, const char *override_origin,
                          const text_vocab *v, const cJSON *messages, bool add_generation_prompt,
                          mm_buf *out, text_chat_source *source, mm_error *err)
{
    text_tmpl *tmpl = NULL;
    cJSON *ctx = NULL;
    gguf_str src = { chatml_template, sizeof chatml_template - 1 };
    text_chat_source used = TEXT_CHAT_GGUF;
    if (override) {
        src.ptr = override;
        src.len = strlen(override);
        used = TEXT_CHAT_OVERRIDE;
    } else if (f == NULL || gguf_get_str(f, "tokenizer.chat_template", &src) != 0) {
        src.ptr = chatml_template;
        src.len = sizeof chatml_template - 1;
        used = TEXT_CHAT_CHATML;
    }
    if (source)
        *source = used;
    if (!cJSON_IsArray(messages)) {
        mm_error_set(err, MM_EINVAL, "messages must be a JSON array of {\"role\", \"content\"} "
                     "objects");
        return MM_EINVAL;
    }
    mm_error perr = { 0 };
    int rc = text_tmpl_parse(src.ptr, (size_t)src.len, &tmpl, &perr);
    if (rc != 0) {
        if (used == TEXT_CHAT_OVERRIDE)
            mm_error_set(err, rc, "chat_template override (%s): %s",
                         override_origin ? override_origin : "config", perr.message);
        else
            mm_error_set(err, rc, "%s", perr.message);
        goto fail;
    }
    rc = MM_ENOMEM;
    ctx = cJSON_CreateObject();
    cJSON *msgs = cJSON_Duplicate(messages, 1);
    if (!ctx || !msgs || !cJSON_AddItemToObject(ctx, "messages", msgs)) {
        cJSON_Delete(msgs);
        mm_error_set(err, MM_ENOMEM, "out of memory building the chat template's context");
        goto fail;
    }
    cJSON *bos = token_string(v, text_vocab_bos(v));
    if (!bos || !cJSON_AddItemToObject(ctx, "bos_token", bos)) {
        cJSON_Delete(bos);
        mm_error_set(err, MM_ENOMEM, "out of memory building the chat template's context");
        goto fail;
    }
    cJSON *eos = token_string(v, text_vocab_eos(v));
    if (!eos || !cJSON_AddItemToObject(ctx, "eos_token", eos) ||
        !cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt) ||
        !cJSON_AddNullToObject(ctx, "tools") || !cJSON_AddNullToObject(ctx, "documents")) {
        if (!cJSON_GetObjectItem(ctx, "eos_token"))
            cJSON_Delete(eos);
        mm_error_set(err, MM_ENOMEM, "out of memory building the chat template's context");
        goto fail;
    }
    text_tmpl_opts opts = { .max_output = CHAT_MAX_OUTPUT };
    rc = text_tmpl_render(tmpl, ctx, &opts, out, err);
fail:
    cJSON_Delete(ctx);
    text_tmpl_free(tmpl);
    return rc;
}
