/* tok-vocab.c - builds a text_vocab (token table, merge ranks, special
 * tokens, end-of-generation set, decoded pieces) from a GGUF's
 * tokenizer.ggml.* keys or from an in-memory spec, following llama.cpp's
 * defaults so that ids match its tokenizer. */
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static size_t table_size_for(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    return cap;
}

int32_t text_vocab_lookup(const text_vocab *v, const char *s, size_t n)
{
    size_t i = (size_t)hash_bytes(s, n) & v->tok_mask;
    for (;;) {
        int32_t id = v->tok_table[i];
        if (id < 0)
            return -1;
        size_t off = v->text_off[id], tl = v->text_off[id + 1] - off;
        if (tl == n && memcmp(v->pool + off, s, n) == 0)
            return id;
        i = (i + 1) & v->tok_mask;
    }
}

static const char *tok_text(const text_vocab *v, int32_t id, size_t *len)
{
    *len = v->text_off[id + 1] - v->text_off[id];
    return v->pool + v->text_off[id];
}

static bool tok_is(const text_vocab *v, int32_t id, const char *s)
{
    size_t n;
    const char *t = tok_text(v, id, &n);
    return n == strlen(s) && memcmp(t, s, n) == 0;
}

static int build_tokens(text_vocab *v, const text_vocab_input *in, mm_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < in->n_tokens; i++) {
        if (in->tokens[i].len > TEXT_MAX_TOKEN_BYTES)
            return mm_error_set(err, MM_ELIMIT, "token %zu is %llu bytes long (limit %u)",
                                i, (unsigned long long)in->tokens[i].len, TEXT_MAX_TOKEN_BYTES);
        total += in->tokens[i].len ? in->tokens[i].len : 24;
    }
    v->pool = malloc(total + 1);
    v->text_off = malloc((in->n_tokens + 1) * sizeof *v->text_off);
    v->scores = calloc(in->n_tokens, sizeof *v->scores);
    v->attr = calloc(in->n_tokens, sizeof *v->attr);
    size_t cap = table_size_for(in->n_tokens);
    v->tok_table = malloc(cap * sizeof *v->tok_table);
    if (!v->pool || !v->text_off || !v->scores || !v->attr || !v->tok_table)
        return mm_error_set(err, MM_ENOMEM, "out of memory building a %zu-token vocabulary",
                            in->n_tokens);
    memset(v->tok_table, 0xff, cap * sizeof *v->tok_table);
    v->tok_mask = cap - 1;
    v->n_tokens = (uint32_t)in->n_tokens;

    size_t off = 0;
    for (size_t i = 0; i < in->n_tokens; i++) {
        v->text_off[i] = off;
        if (in->tokens[i].len == 0) {
            /* llama.cpp gives empty entries a placeholder text so that they
             * stay distinct and never match input */
            off += (size_t)snprintf(v->pool + off, 24, "[EMPTY_%zu]", i);
        } else {
            memcpy(v->pool + off, in->tokens[i].ptr, in->tokens[i].len);
            off += in->tokens[i].len;
        }
    }
    v->text_off[in->n_tokens] = off;

    for (size_t i = 0; i < in->n_tokens; i++) {
        size_t n;
        const char *s = tok_text(v, (int32_t)i, &n);
        size_t h = (size_t)hash_bytes(s, n) & v->tok_mask;
        bool dup = false;
        while (v->tok_table[h] >= 0) {
            size_t on;
            const char *o = tok_text(v, v->tok_table[h], &on);
            if (on == n && memcmp(o, s, n) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & v->tok_mask;
        }
        if (dup) {
            MM_LOG_WARN("tokenizer: duplicate token text at id %zu; keeping the first id", i);
        } else {
            v->tok_table[h] = (int32_t)i;
        }
        v->scores[i] = in->scores ? in->scores[i] : 0.0f;
        uint16_t a = TEXT_ATTR_NORMAL;
        if (in->types) {
            switch (in->types[i]) {
            case TEXT_TOKEN_NORMAL:       a = TEXT_ATTR_NORMAL; break;
            case TEXT_TOKEN_UNKNOWN:      a = TEXT_ATTR_UNKNOWN; break;
            case TEXT_TOKEN_CONTROL:      a = TEXT_ATTR_CONTROL; break;
            case TEXT_TOKEN_USER_DEFINED: a = TEXT_ATTR_USER_DEFINED; break;
            case TEXT_TOKEN_UNUSED:       a = TEXT_ATTR_UNUSED; break;
            case TEXT_TOKEN_BYTE:         a = TEXT_ATTR_BYTE; break;
            default:                      a = 0; break;
            }
        }
        v->attr[i] = a;
    }
    return 0;
}

static int build_merges(text_vocab *v, const text_vocab_input *in, mm_error *err)
{
    size_t cap = table_size_for(in->n_merges);
    v->merge_keys = malloc(cap * sizeof *v->merge_keys);
    v->merge_rank = malloc(cap * sizeof *v->merge_rank);
    v->merge_result = malloc(cap * sizeof *v->merge_result);
    if (!v->merge_keys || !v->merge_rank || !v->merge_result)
        return mm_error_set(err, MM_ENOMEM, "out of memory for %zu merges", in->n_merges);
    memset(v->merge_rank, 0xff, cap * sizeof *v->merge_rank);
    v->merge_mask = cap - 1;
    size_t skipped = 0;
    char *joined = malloc(2 * TEXT_MAX_TOKEN_BYTES + 1);
    if (!joined)
        return mm_error_set(err, MM_ENOMEM, "out of memory for merges");
    for (size_t r = 0; r < in->n_merges; r++) {
        const char *s = in->merges[r].ptr;
        size_t n = (size_t)in->merges[r].len, sp = 0;
        /* the split is at the first space after position 0, so a merge of
         * a token that is itself a space still parses */
        for (size_t i = 1; i < n; i++)
            if (s[i] == ' ') { sp = i; break; }
        if (sp == 0 || n > 2 * TEXT_MAX_TOKEN_BYTES) {
            skipped++;
            continue;
        }
        int32_t l = text_vocab_lookup(v, s, sp);
        int32_t rr = text_vocab_lookup(v, s + sp + 1, n - sp - 1);
        memcpy(joined, s, sp);
        memcpy(joined + sp, s + sp + 1, n - sp - 1);
        int32_t res = text_vocab_lookup(v, joined, n - 1);
        if (l < 0 || rr < 0 || res < 0) {
            /* a merge whose parts or result are not tokens can never
             * produce a token id; HF vocabularies do not contain them */
            skipped++;
            continue;
        }
        uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)rr;
        size_t h = (size_t)hash_u64(key) & v->merge_mask;
        while (v->merge_rank[h] >= 0 && v->merge_keys[h] != key)
            h = (h + 1) & v->merge_mask;
        if (v->merge_rank[h] >= 0)
            continue;   /* duplicate rule: the first (lowest rank) wins */
        v->merge_keys[h] = key;
        v->merge_rank[h] = (int32_t)r;
        v->merge_result[h] = res;
        v->n_merges++;
    }
    free(joined);
    if (skipped)
        MM_LOG_DEBUG("tokenizer: %zu of %zu merges skipped (not over tokens)", skipped,
                     in->n_merges);
    return 0;
}

/* Whether no token has U+2581 right after something that is not U+2581:
 * then SPM merges never cross the start of a space run (tok-spm.c). */
static bool spm_can_split(const text_vocab *v)
{
    static const char mark[3] = { (char)0xE2, (char)0x96, (char)0x81 };
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        size_t n;
        const char *t = tok_text(v, (int32_t)id, &n);
        for (size_t k = 1; k + 3 <= n; k++)
            if (memcmp(t + k, mark, 3) == 0 && !(k >= 3 && memcmp(t + k - 3, mark, 3) == 0))
                return false;
    }
    return true;
}

static void build_byte_tokens(text_vocab *v)
{
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id;
        if (v->type == TEXT_VOCAB_SPM) {
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            id = text_vocab_lookup(v, buf, 6);
            if (id < 0) {
                buf[0] = (char)b;
                id = text_vocab_lookup(v, buf, 1);
            }
        } else {
            size_t n = text_utf8_encode(text_byte_to_cpt((uint8_t)b), buf);
            id = text_vocab_lookup(v, buf, n);
        }
        v->byte_tok[b] = id;
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The piece of one token (special = true form) appended at pool + *off. */
static void build_piece(const text_vocab *v, int32_t id, char *pool, size_t *off)
{
    size_t n;
    const char *t = tok_text(v, id, &n);
    uint16_t a = v->attr[id];
    char *o = pool + *off;
    if (a & (TEXT_ATTR_UNKNOWN | TEXT_ATTR_CONTROL | TEXT_ATTR_USER_DEFINED)) {
        memcpy(o, t, n);
        *off += n;
    } else if (a & TEXT_ATTR_NORMAL) {
        size_t w = 0;
        if (v->type == TEXT_VOCAB_SPM) {
            for (size_t i = 0; i < n; i++) {
                if (i + 2 < n && (uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x96 &&
                    (uint8_t)t[i + 2] == 0x81) {
                    o[w++] = ' ';
                    i += 2;
                } else {
                    o[w++] = t[i];
                }
            }
        } else {
            for (size_t i = 0; i < n;) {
                int k = text_utf8_check((const uint8_t *)t + i, n - i);
                if (k <= 0) {         /* not UTF-8: keep the byte as it is */
                    o[w++] = t[i++];
                    continue;
                }
                uint32_t cpt = (uint8_t)t[i];
                if (k > 1) {
                    cpt &= 0x7Fu >> k;
                    for (int j = 1; j < k; j++)
                        cpt = (cpt << 6) | ((uint8_t)t[i + j] & 0x3F);
                }
                int b = text_cpt_to_byte(cpt);
                if (b >= 0) {
                    o[w++] = (char)b;
                } else {          /* outside the byte map: the character itself */
                    memcpy(o + w, t + i, (size_t)k);
                    w += (size_t)k;
                }
                i += (size_t)k;
            }
        }
        *off += w;
    } else if (a & TEXT_ATTR_BYTE) {
        int hi = n == 6 ? hex_val(t[3]) : -1, lo = n == 6 ? hex_val(t[4]) : -1;
        if (hi >= 0 && lo >= 0 && memcmp(t, "<0x", 3) == 0) {
            o[0] = (char)(hi * 16 + lo);
            *off += 1;
        } else {
            memcpy(o, t, n);
            *off += n;
        }
    }
    /* undefined and unused tokens decode to nothing, as in llama.cpp */
}

static int build_pieces(text_vocab *v, mm_error *err)
{
    /* a piece is never longer than its token text */
    size_t cap = v->text_off[v->n_tokens] + 1;
    v->piece_pool = malloc(cap);
    v->piece_off = malloc((v->n_tokens + 1) * sizeof *v->piece_off);
    if (!v->piece_pool || !v->piece_off)
        return mm_error_set(err, MM_ENOMEM, "out of memory for token pieces");
    size_t off = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        v->piece_off[i] = off;
        build_piece(v, (int32_t)i, v->piece_pool, &off);
    }
    v->piece_off[v->n_tokens] = off;
    return 0;
}

static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "_<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81"
    "sentence\xef\xbd\x9c>", "<end_of_utterance>",
};
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
};

static bool text_in(const text_vocab *v, int32_t id, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tok_is(v, id, list[i]))
            return true;
    return false;
}

/* llama.cpp finds end-of-turn tokens by their text and forces them to be
 * control tokens; it also marks control tokens named "unused". */
static void detect_special(text_vocab *v)
{
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        int32_t id = (int32_t)i;
        if (v->eot < 0 && text_in(v, id, k_eot_texts, MM_ARRAY_LEN(k_eot_texts))) {
            v->eot = id;
            v->attr[id] |= TEXT_ATTR_CONTROL;
        }
        if (v->eom < 0 && tok_is(v, id, "<|eom_id|>")) {
            v->eom = id;
            v->attr[id] |= TEXT_ATTR_CONTROL;
        }
    }
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        int32_t id = (int32_t)i;
        if ((v->attr[id] & TEXT_ATTR_CONTROL) && !(v->attr[id] & TEXT_ATTR_UNUSED)) {
            size_t n;
            const char *t = tok_text(v, id, &n);
            for (size_t k = 0; k + 6 <= n; k++)
                if (memcmp(t + k, "unused", 6) == 0) {
                    v->attr[id] |= TEXT_ATTR_UNUSED;
                    break;
                }
        }
        if (text_in(v, id, k_eog_texts, MM_ARRAY_LEN(k_eog_texts)))
            v->attr[id] |= TEXT_ATTR_EOG | TEXT_ATTR_CONTROL;
    }
    int32_t always[3] = { v->eos, v->eot, v->eom };
    for (int k = 0; k < 3; k++)
        if (always[k] >= 0)
            v->attr[always[k]] |= TEXT_ATTR_EOG;
}

/* Special tokens are tried longest first (ties: lower id first). */
typedef struct special_key {
    size_t  len;
    int32_t id;
} special_key;

static int cmp_special(const void *a, const void *b)
{
    const special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_specials(text_vocab *v, const char *model_name, mm_error *err)
{
    size_t n = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (TEXT_ATTR_CONTROL | TEXT_ATTR_USER_DEFINED | TEXT_ATTR_UNKNOWN))
            n++;
    v->special_ids = malloc((n ? n : 1) * sizeof *v->special_ids);
    special_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!v->special_ids || !keys) {
        free(keys);
        return mm_error_set(err, MM_ENOMEM, "out of memory for special tokens");
    }
    n = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (TEXT_ATTR_CONTROL | TEXT_ATTR_USER_DEFINED | TEXT_ATTR_UNKNOWN)) {
            keys[n].len = v->text_off[i + 1] - v->text_off[i];
            keys[n].id = (int32_t)i;
            n++;
        }
    v->n_special = n;
    qsort(keys, n, sizeof *keys, cmp_special);

    /* llama.cpp's phi-3 rule: special tokens swallow whitespace after them */
    if (model_name) {
        char lower[128];
        size_t k = 0;
        for (; model_name[k] && k + 1 < sizeof lower; k++)
            lower[k] = (char)((model_name[k] >= 'A' && model_name[k] <= 'Z')
                              ? model_name[k] + 32 : model_name[k]);
        lower[k] = '\0';
        if (strstr(lower, "phi-3") || strstr(lower, "phi3")) {
            for (size_t i = 0; i < n; i++)
                v->attr[keys[i].id] |= TEXT_ATTR_RSTRIP;
            int32_t id = text_vocab_lookup(v, "</s>", 4);
            if (id >= 0) v->attr[id] |= TEXT_ATTR_RSTRIP;
            const char *keep[] = { "<unk>", "<s>", "<|endoftext|>" };
            for (size_t i = 0; i < 3; i++) {
                id = text_vocab_lookup(v, keep[i], strlen(keep[i]));
                if (id >= 0) v->attr[id] &= (uint16_t)~TEXT_ATTR_RSTRIP;
            }
        }
    }

    for (size_t i = 0; i < n; i++)
        v->special_ids[i] = keys[i].id;
    v->special_by_byte = malloc((n ? n : 1) * sizeof *v->special_by_byte);
    if (!v->special_by_byte) {
        free(keys);
        return mm_error_set(err, MM_ENOMEM, "out of memory for special tokens");
    }
    v->special_pair = calloc(65536 / 8, 1);
    if (!v->special_pair) {
        free(keys);
        return mm_error_set(err, MM_ENOMEM, "out of memory for special tokens");
    }
    uint32_t count[256] = { 0 };
    for (size_t i = 0; i < n; i++) {
        const uint8_t *t = (const uint8_t *)v->pool + v->text_off[keys[i].id];
        count[t[0]]++;
        v->special_first[t[0]] = 1;
        if (keys[i].len == 1) {
            v->special_single[t[0] >> 3] |= (uint8_t)(1u << (t[0] & 7));
        } else {
            unsigned pair = (unsigned)t[0] << 8 | t[1];
            v->special_pair[pair >> 3] |= (uint8_t)(1u << (pair & 7));
        }
    }
    v->special_bucket[0] = 0;
    for (int b = 0; b < 256; b++)
        v->special_bucket[b + 1] = v->special_bucket[b] + count[b];
    uint32_t fill[256];
    memcpy(fill, v->special_bucket, sizeof fill);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)v->pool[v->text_off[keys[i].id]];
        v->special_by_byte[fill[b]++] = (uint32_t)i;
    }
    free(keys);
    return 0;
}

static int32_t resolve_id(int64_t given, int32_t dflt, uint32_t n_tokens, const char *what)
{
    int32_t d = dflt >= 0 && (uint32_t)dflt < n_tokens ? dflt : TEXT_TOKEN_NULL;
    if (given == TEXT_SPEC_DEFAULT)
        return d;
    if (given < 0)
        return TEXT_TOKEN_NULL;
    if (given >= n_tokens) {
        /* llama.cpp ignores an out-of-range id with a warning; so do we */
        MM_LOG_WARN("tokenizer: %s id %lld is out of range (n_vocab %u); using %d", what,
                    (long long)given, n_tokens, (int)d);
        return d;
    }
    return (int32_t)given;
}

int text_vocab_build(const text_vocab_input *in, text_vocab **out, mm_error *err)
{
    *out = NULL;
    if (in->n_tokens == 0)
        return mm_error_set(err, MM_EFORMAT,
                            "tokenizer has no tokens (tokenizer.ggml.tokens is empty)");
    if (in->n_tokens > TEXT_MAX_VOCAB)
        return mm_error_set(err, MM_ELIMIT, "tokenizer has %zu tokens (limit %u)", in->n_tokens,
                            TEXT_MAX_VOCAB);
    text_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return mm_error_set(err, MM_ENOMEM, "out of memory for a vocabulary");
    v->type = in->type;
    int rc;
    text_pretok_info info = { false, false };
    if (in->type == TEXT_VOCAB_BPE) {
        const char *pre = in->pre && in->pre[0] ? in->pre : "default";
        if (!in->pre || !in->pre[0])
            MM_LOG_WARN("tokenizer: no tokenizer.ggml.pre; using the 'default' pre-tokenizer "
                        "(quality may suffer: re-convert the model)");
        if ((rc = text_pretok_new(pre, &v->pretok, &info, err)) != 0)
            goto fail;
        v->pre_name = mm_strdup(pre);
    } else {
        v->pre_name = mm_strdup("");
    }
    if (!v->pre_name) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = build_tokens(v, in, err)) != 0)
        goto fail;
    if (in->type == TEXT_VOCAB_BPE && (rc = build_merges(v, in, err)) != 0)
        goto fail;
    build_byte_tokens(v);
    v->spm_split_ok = in->type == TEXT_VOCAB_SPM && spm_can_split(v);

    bool spm = in->type == TEXT_VOCAB_SPM;
    v->bos = resolve_id(in->ids[TEXT_ID_BOS], spm ? 1 : 11, v->n_tokens, "bos");
    v->eos = resolve_id(in->ids[TEXT_ID_EOS], spm ? 2 : 11, v->n_tokens, "eos");
    v->eot = resolve_id(in->ids[TEXT_ID_EOT], -1, v->n_tokens, "eot");
    v->eom = resolve_id(in->ids[TEXT_ID_EOM], -1, v->n_tokens, "eom");
    v->unk = resolve_id(in->ids[TEXT_ID_UNK], spm ? 0 : -1, v->n_tokens, "unknown");
    v->pad = resolve_id(in->ids[TEXT_ID_PAD], -1, v->n_tokens, "padding");
    v->add_bos = in->flags[0] >= 0 ? in->flags[0] != 0 : (spm || info.add_bos);
    v->add_eos = in->flags[1] >= 0 ? in->flags[1] != 0 : false;
    v->add_space_prefix = in->flags[2] >= 0 ? in->flags[2] != 0 : spm;
    v->ignore_merges = info.ignore_merges;
    if (v->add_bos && v->bos < 0) {
        rc = mm_error_set(err, MM_EFORMAT, "tokenizer.ggml.add_bos_token is true but there is "
                          "no valid tokenizer.ggml.bos_token_id");
        goto fail;
    }
    if (v->add_eos && v->eos < 0) {
        rc = mm_error_set(err, MM_EFORMAT, "tokenizer.ggml.add_eos_token is true but there is "
                          "no valid tokenizer.ggml.eos_token_id");
        goto fail;
    }
    detect_special(v);
    if ((rc = build_specials(v, in->model_name, err)) != 0)
        goto fail;
    if ((rc = build_pieces(v, err)) != 0)
        goto fail;
    *out = v;
    return 0;
fail:
    text_vocab_free(v);
    return rc;
}

void text_vocab_free(text_vocab *v)
{
    if (!v)
        return;
    text_pretok_free(v->pretok);
    free(v->pre_name);
    free(v->pool);
    free(v->text_off);
    free(v->scores);
    free(v->attr);
    free(v->tok_table);
    free(v->merge_keys);
    free(v->merge_rank);
    free(v->merge_result);
    free(v->piece_pool);
    free(v->piece_off);
    free(v->special_ids);
    free(v->special_by_byte);
    free(v->special_pair);
    free(v);
}

void text_vocab_spec_init(text_vocab_spec *spec, text_vocab_type type)
{
    memset(spec, 0, sizeof *spec);
    spec->type = type;
    spec->bos_id = spec->eos_id = spec->eot_id = TEXT_SPEC_DEFAULT;
    spec->eom_id = spec->unk_id = spec->pad_id = TEXT_SPEC_DEFAULT;
    spec->add_bos = spec->add_eos = spec->add_space_prefix = -1;
}

static gguf_str *strs_from_cstrs(const char *const *s, size_t n)
{
    gguf_str *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].ptr = s[i] ? s[i] : "";
        v[i].len = s[i] ? strlen(s[i]) : 0;
    }
    return v;
}

int text_vocab_new(const text_vocab_spec *spec, text_vocab **out, mm_error *err)
{
    *out = NULL;
    if (spec->type != TEXT_VOCAB_SPM && spec->type != TEXT_VOCAB_BPE)
        return mm_error_set(err, MM_EINVAL, "unknown vocabulary type %d", (int)spec->type);
    text_vocab_input in = { 0 };
    in.type = spec->type;
    in.pre = spec->pre;
    in.n_tokens = spec->n_tokens;
    in.scores = spec->scores;
    in.types = spec->token_types;
    in.n_merges = spec->n_merges;
    in.ids[TEXT_ID_BOS] = spec->bos_id;
    in.ids[TEXT_ID_EOS] = spec->eos_id;
    in.ids[TEXT_ID_EOT] = spec->eot_id;
    in.ids[TEXT_ID_EOM] = spec->eom_id;
    in.ids[TEXT_ID_UNK] = spec->unk_id;
    in.ids[TEXT_ID_PAD] = spec->pad_id;
    in.flags[0] = spec->add_bos;
    in.flags[1] = spec->add_eos;
    in.flags[2] = spec->add_space_prefix;
    gguf_str *toks = strs_from_cstrs(spec->tokens, spec->n_tokens);
    gguf_str *merges = strs_from_cstrs(spec->merges, spec->n_merges);
    int rc;
    if (!toks || !merges) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory");
    } else {
        in.tokens = toks;
        in.merges = merges;
        rc = text_vocab_build(&in, out, err);
    }
    free(toks);
    free(merges);
    return rc;
}

/* ---- accessors ---- */

text_vocab_type text_vocab_get_type(const text_vocab *v) { return v->type; }
uint32_t text_vocab_n_tokens(const text_vocab *v) { return v->n_tokens; }
const char *text_vocab_pre_name(const text_vocab *v) { return v->pre_name; }
int32_t text_vocab_bos(const text_vocab *v) { return v->bos; }
int32_t text_vocab_eos(const text_vocab *v) { return v->eos; }
int32_t text_vocab_eot(const text_vocab *v) { return v->eot; }
int32_t text_vocab_unk(const text_vocab *v) { return v->unk; }
int32_t text_vocab_pad(const text_vocab *v) { return v->pad; }
bool text_vocab_add_bos(const text_vocab *v) { return v->add_bos; }
bool text_vocab_add_eos(const text_vocab *v) { return v->add_eos; }

bool text_vocab_is_eog(const text_vocab *v, int32_t id)
{
    return id >= 0 && (uint32_t)id < v->n_tokens && (v->attr[id] & TEXT_ATTR_EOG);
}

bool text_vocab_is_control(const text_vocab *v, int32_t id)
{
    return id >= 0 && (uint32_t)id < v->n_tokens && (v->attr[id] & TEXT_ATTR_CONTROL);
}

const char *text_vocab_token_text(const text_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= v->n_tokens)
        return NULL;
    return tok_text(v, id, len);
}

int32_t text_vocab_find(const text_vocab *v, const char *text, size_t len)
{
    return text_vocab_lookup(v, text, len);
}
