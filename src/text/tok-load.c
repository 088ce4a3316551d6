/* tok-load.c - reads a vocabulary from a GGUF's tokenizer.ggml.* keys
 * (typed, bounded, with clear errors for what is missing or unsupported) and
 * hands it to text_vocab_build. */
#include "text/text.h"

#include <stdlib.h>
#include <string.h>

static int read_str_array(const gguf_file *f, const char *key, bool required, gguf_str **out,
                          size_t *n, mm_error *err)
{
    gguf_arr arr;
    *out = NULL;
    *n = 0;
    int rc = gguf_get_arr(f, key, &arr);
    if (rc == MM_ENOTFOUND && !required)
        return 0;
    if (rc == MM_ENOTFOUND)
        return mm_error_set(err, MM_EFORMAT, "the model has no %s: it cannot be tokenized", key);
    if (rc != 0 || arr.type != GGUF_TYPE_STRING)
        return mm_error_set(err, MM_EFORMAT, "%s must be an array of strings", key);
    if (arr.count > TEXT_MAX_VOCAB * 4ull)
        return mm_error_set(err, MM_ELIMIT, "%s has %llu entries (limit %u)", key,
                            (unsigned long long)arr.count, TEXT_MAX_VOCAB * 4);
    gguf_str *v = malloc((arr.count ? arr.count : 1) * sizeof *v);
    if (!v)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", key);
    for (uint64_t i = 0; i < arr.count; i++) {
        if (gguf_arr_str(&arr, i, &v[i]) != 0) {
            free(v);
            return mm_error_set(err, MM_EFORMAT, "%s[%llu] is unreadable", key,
                                (unsigned long long)i);
        }
    }
    *out = v;
    *n = (size_t)arr.count;
    return 0;
}

/* scores (f32 or i32) and token types (i32); NULL when absent. */
static int read_num_array(const gguf_file *f, const char *key, size_t n_tokens, bool want_float,
                          void **out, mm_error *err)
{
    gguf_arr arr;
    *out = NULL;
    int rc = gguf_get_arr(f, key, &arr);
    if (rc == MM_ENOTFOUND)
        return 0;
    bool ok = rc == 0 && (arr.type == GGUF_TYPE_INT32 ||
                          (want_float && arr.type == GGUF_TYPE_FLOAT32));
    if (!ok)
        return mm_error_set(err, MM_EFORMAT, "%s must be an array of %s", key,
                            want_float ? "f32 or i32" : "i32");
    if (arr.count < n_tokens)
        return mm_error_set(err, MM_EFORMAT, "%s has %llu entries for %zu tokens", key,
                            (unsigned long long)arr.count, n_tokens);
    void *v = malloc((n_tokens ? n_tokens : 1) * 4);
    if (!v)
        return mm_error_set(err, MM_ENOMEM, "out of memory reading %s", key);
    const uint8_t *src = arr.data;
    for (size_t i = 0; i < n_tokens; i++) {
        if (want_float && arr.type == GGUF_TYPE_INT32) {
            int32_t x;
            memcpy(&x, src + 4 * i, 4);
            ((float *)v)[i] = (float)x;
        } else {
            memcpy((uint8_t *)v + 4 * i, src + 4 * i, 4);   /* unaligned in the map */
        }
    }
    *out = v;
    return 0;
}

static int read_opt_id(const gguf_file *f, const char *key, int64_t *id)
{
    uint32_t x;
    int rc = gguf_get_u32(f, key, &x);
    /* converters write UINT32_MAX for "none": llama.cpp then keeps its
     * default, as for any id out of range, so treat it as absent */
    if (rc == 0 && x != UINT32_MAX)
        *id = x;
    else
        *id = TEXT_SPEC_DEFAULT;
    return rc == MM_ENOTFOUND ? 0 : rc;
}

static int read_opt_bool(const gguf_file *f, const char *key, int *flag)
{
    bool b;
    int rc = gguf_get_bool(f, key, &b);
    *flag = rc == 0 ? (int)b : -1;
    return rc == MM_ENOTFOUND ? 0 : rc;
}

static char *gguf_strdup(const gguf_str *s)
{
    return s->len > 4096 ? NULL : mm_strndup(s->ptr, (size_t)s->len);
}

int text_vocab_load(const gguf_file *f, text_vocab **out, mm_error *err)
{
    *out = NULL;
    text_vocab_input in = { 0 };
    gguf_str model, pre, name;
    char *model_s = NULL, *pre_s = NULL, *name_s = NULL;
    gguf_str *toks = NULL, *merges = NULL;
    void *scores = NULL, *types = NULL;
    int rc;

    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != 0) {
        return mm_error_set(err, MM_EFORMAT, "the model has no tokenizer.ggml.model string: "
                            "it carries no tokenizer");
    }
    model_s = gguf_strdup(&model);
    if (!model_s) {
        rc = mm_error_set(err, MM_EFORMAT, "tokenizer.ggml.model is not a short string");
        goto fail;
    }
    if (strcmp(model_s, "llama") == 0) {
        in.type = TEXT_VOCAB_SPM;
    } else if (strcmp(model_s, "gpt2") == 0) {
        in.type = TEXT_VOCAB_BPE;
    } else {
        rc = mm_error_set(err, MM_EUNSUPPORTED, "unsupported tokenizer model '%.64s' "
                          "(supported: 'llama' (SentencePiece BPE), 'gpt2' (byte-level BPE))",
                          model_s);
        goto fail;
    }
    if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) == 0 && !(pre_s = gguf_strdup(&pre))) {
        rc = mm_error_set(err, MM_EFORMAT, "tokenizer.ggml.pre is not a short string");
        goto fail;
    }
    if (gguf_get_str(f, "general.name", &name) == 0)
        name_s = gguf_strdup(&name);
    in.pre = pre_s;
    in.model_name = name_s;

    if ((rc = read_str_array(f, "tokenizer.ggml.tokens", true, &toks, &in.n_tokens, err)) != 0)
        goto fail;
    if ((rc = read_num_array(f, "tokenizer.ggml.scores", in.n_tokens, true, &scores, err)) != 0)
        goto fail;
    if ((rc = read_num_array(f, "tokenizer.ggml.token_type", in.n_tokens, false, &types, err)) != 0)
        goto fail;
    if (in.type == TEXT_VOCAB_BPE &&
        (rc = read_str_array(f, "tokenizer.ggml.merges", true, &merges, &in.n_merges, err)) != 0)
        goto fail;
    in.tokens = toks;
    in.merges = merges;
    in.scores = scores;
    in.types = types;
    static const char *const id_keys[6] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
    };
    for (int i = 0; i < 6; i++)
        if (read_opt_id(f, id_keys[i], &in.ids[i]) != 0) {
            rc = mm_error_set(err, MM_EFORMAT, "%s must be an unsigned 32-bit integer", id_keys[i]);
            goto fail;
        }
    static const char *const flag_keys[3] = {
        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.add_space_prefix",
    };
    for (int i = 0; i < 3; i++)
        if (read_opt_bool(f, flag_keys[i], &in.flags[i]) != 0) {
            rc = mm_error_set(err, MM_EFORMAT, "%s must be a boolean", flag_keys[i]);
            goto fail;
        }
    rc = text_vocab_build(&in, out, err);
fail:
    free(model_s);
    free(pre_s);
    free(name_s);
    free(toks);
    free(merges);
    free(scores);
    free(types);
    return rc;
}

