/* tok-pre.c - BPE pre-tokenizers: the regex cascades that llama.cpp selects
 * by tokenizer.ggml.pre, compiled once per vocabulary with PCRE2 (UTF, UCP,
 * JIT). Each pattern splits every current piece into matches and the gaps
 * between them; gaps are kept, exactly as llama.cpp's unicode_regex_split. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/text.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PATTERNS 6

/* The patterns as llama.cpp writes them (its adaptations of the upstream
 * tokenizer.json regexes: case-insensitive groups spelled out). */
#define P_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define P_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define P_LLAMA3 P_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_QWEN2 P_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_GPT4O "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" \
    P_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" \
    P_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_TEKKEN "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define P_DIGIT3 "[0-9][0-9][0-9]"

typedef struct pre_def {
    const char *names;          /* '|'-separated tokenizer.ggml.pre values */
    bool        ignore_merges;
    bool        add_bos;
    const char *patterns[MAX_PATTERNS];
} pre_def;

static const pre_def k_pre_defs[] = {
    { "default", false, false,
      { "[\\p{P}\\$\\+<=>\\^~\\|]+", P_GPT2, "\\p{N}+", P_DIGIT3 } },
    { "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", true, true,
      { P_LLAMA3 } },
    { "dbrx|smaug-bpe", false, false, { P_LLAMA3 } },
    { "chatglm-bpe|glm4", false, false, { P_LLAMA3 } },
    { "deepseek-llm", false, false,
      { "[\\r\\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293"
        "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c"
        "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5"
        "\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
        "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59"
        "\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc"
        "\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"
        "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
        "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee"
        "\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e"
        "\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f"
        "\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"
        "\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        "\\s+$",
        "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
        "\\p{N}+" } },
    { "deepseek-coder", false, false,
      { "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
        "\\p{N}" } },
    { "falcon", false, false,
      { "[\\p{P}\\$\\+<=>\\^~\\|`]+", P_GPT2, P_DIGIT3 } },
    { "starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", false, false,
      { "\\p{N}", P_GPT2 } },
    { "gpt-2|phi-2|mpt|olmo|jais|trillion|jina-es|jina-de|jina-v2-es|jina-v2-de|gigachat|"
      "exaone4|mellum|roberta-bpe|jina-v1-en|jina-v2-code", false, false, { P_GPT2 } },
    { "qwen2|deepseek-r1-qwen|stablelm2|hunyuan|megrez", false, false, { P_QWEN2 } },
    { "poro-chat|bloom|gpt3-finnish", false, false,
      { " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+" } },
    { "tekken", true, true, { P_TEKKEN } },
    { "gpt-4o|llama4", false, false, { P_GPT4O } },
    { "seed-coder", false, false,
      { P_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"
        "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" } },
};

struct text_pretok {
    size_t      n;
    pcre2_code *code[MAX_PATTERNS];
    bool        jit[MAX_PATTERNS];   /* JIT-compiled: use the fast entry point */
    /* bytes a match can start with (from PCRE2's study); a piece without
     * any of them cannot match and needs no call */
    bool        has_first[MAX_PATTERNS];
    uint8_t     first[MAX_PATTERNS][32];
    uint32_t    min_len[MAX_PATTERNS];
    int         custom[MAX_PATTERNS];    /* TEXT_SPLIT_*: hand-written equivalent */
    text_class *cls[MAX_PATTERNS];       /* one-class patterns: hand-written, or NULL */
    text_cascade *fused;                 /* the whole cascade in one map, or NULL */
    bool        no_custom;               /* tests: always use PCRE2 */
};

void text_pretok_use_pcre_only(text_pretok *p)
{
    p->no_custom = true;
}

bool text_pretok_fused(const text_pretok *p)
{
    return p->fused != NULL;
}

/* The fused form of the cascade, when every pattern has one. */
static int make_fused(text_pretok *p, const pre_def *def)
{
    text_level levels[MAX_PATTERNS];
    for (size_t i = 0; i < p->n; i++) {
        levels[i].cls = p->cls[i];
        if (p->cls[i])
            levels[i].kind = TEXT_LEVEL_CLASS;
        else if (p->custom[i] == TEXT_SPLIT_GPT2)
            levels[i].kind = TEXT_LEVEL_GPT2;
        else if (strcmp(def->patterns[i], P_DIGIT3) == 0)
            levels[i].kind = TEXT_LEVEL_DIGIT3;
        else
            return 0;
    }
    return text_cascade_new(levels, p->n, &p->fused);
}

static void study_first(text_pretok *p, size_t i)
{
    const pcre2_code *c = p->code[i];
    uint32_t type = 0, unit = 0, min_len = 0;
    const uint8_t *bitmap = NULL;
    p->has_first[i] = false;
    pcre2_pattern_info(c, PCRE2_INFO_MINLENGTH, &min_len);
    p->min_len[i] = min_len;
    if (pcre2_pattern_info(c, PCRE2_INFO_FIRSTCODETYPE, &type) != 0)
        return;
    if (type == 1 && pcre2_pattern_info(c, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
        unit < 256) {
        memset(p->first[i], 0, 32);
        p->first[i][unit >> 3] |= (uint8_t)(1u << (unit & 7));
        p->has_first[i] = true;
    } else if (type == 0 && pcre2_pattern_info(c, PCRE2_INFO_FIRSTBITMAP, &bitmap) == 0 &&
               bitmap) {
        memcpy(p->first[i], bitmap, 32);
        p->has_first[i] = true;
    }
}

/* Can pattern i match anywhere in piece? false only when it surely cannot. */
static bool may_match(const text_pretok *p, size_t i, const char *piece, size_t len)
{
    if (len < p->min_len[i])
        return false;
    if (!p->has_first[i])
        return true;
    const uint8_t *bm = p->first[i];
    for (size_t k = 0; k < len; k++) {
        uint8_t b = (uint8_t)piece[k];
        if (bm[b >> 3] & (1u << (b & 7)))
            return true;
    }
    return false;
}

static bool name_in_list(const char *name, const char *list)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

int text_pretok_new(const char *name, text_pretok **out, text_pretok_info *info, mm_error *err)
{
    *out = NULL;
    const pre_def *def = NULL;
    for (size_t i = 0; i < MM_ARRAY_LEN(k_pre_defs) && !def; i++)
        if (name_in_list(name, k_pre_defs[i].names))
            def = &k_pre_defs[i];
    if (!def)
        return mm_error_set(err, MM_EUNSUPPORTED, "unsupported BPE pre-tokenizer '%.64s' "
                            "(tokenizer.ggml.pre); this build knows default, gpt-2, llama-bpe, "
                            "qwen2, smollm, deepseek-llm, deepseek-coder, starcoder, falcon, "
                            "mpt, refact, phi-2 and a few more", name);
    text_pretok *p = calloc(1, sizeof *p);
    if (!p)
        return mm_error_set(err, MM_ENOMEM, "out of memory for a pre-tokenizer");
    for (size_t i = 0; i < MAX_PATTERNS && def->patterns[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        /* MATCH_INVALID_UTF: bytes that are not UTF-8 never match and so
         * stay in gaps, which byte-level BPE then encodes byte by byte.
         * DOLLAR_ENDONLY: '$' means the end of the piece, as in std::regex. */
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)def->patterns[i], PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
                                      PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            text_pretok_free(p);
            return mm_error_set(err, MM_EINTERNAL, "pre-tokenizer '%s' pattern %zu does not "
                                "compile at offset %zu: %s", name, i, (size_t)eo, (char *)msg);
        }
        /* without JIT PCRE2 still matches correctly, only slower */
        p->jit[p->n] = text_regex_jit() && pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
        p->code[p->n] = c;
        study_first(p, p->n);
        const char *src = def->patterns[i];
        p->custom[p->n] = strcmp(src, P_GPT2) == 0 ? TEXT_SPLIT_GPT2
                        : strcmp(src, P_LLAMA3) == 0 ? TEXT_SPLIT_LLAMA3
                        : strcmp(src, P_QWEN2) == 0 ? TEXT_SPLIT_QWEN2 : TEXT_SPLIT_NONE;
        if (p->custom[p->n] != TEXT_SPLIT_NONE && !text_split_ready())
            p->custom[p->n] = TEXT_SPLIT_NONE;
        p->n++;
        if (text_class_new(src, &p->cls[p->n - 1]) != 0) {
            text_pretok_free(p);
            return mm_error_set(err, MM_ENOMEM, "out of memory for a pre-tokenizer");
        }
    }
    if (make_fused(p, def) != 0) {
        text_pretok_free(p);
        return mm_error_set(err, MM_ENOMEM, "out of memory for a pre-tokenizer");
    }
    if (info) {
        info->ignore_merges = def->ignore_merges;
        info->add_bos = def->add_bos;
    }
    *out = p;
    return 0;
}

void text_pretok_free(text_pretok *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        pcre2_code_free(p->code[i]);
        text_class_free(p->cls[i]);
    }
    text_cascade_free(p->fused);
    free(p);
}

int text_spans_push(text_spans *s, uint32_t off, uint32_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        text_span *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return MM_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

void text_spans_free(text_spans *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Bytes of the longest valid UTF-8 prefix of s. */
static size_t valid_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII eight bytes at a time */
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) {
            i += 8;
            continue;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = text_utf8_check(s + i, n - i);
        if (k <= 0)
            break;
        i += (size_t)k;
    }
    return i;
}

/* Split every span of in by pattern c into out (matches and gaps).
 * valid_upto: text[0, valid_upto) is valid UTF-8, so a piece inside it is
 * too (pieces start and end at character boundaries) and needs no check. */
static int split_one(const text_pretok *p, size_t pat, const char *text, const text_spans *in,
                     text_spans *out, pcre2_match_data *md, pcre2_match_context *mc,
                     size_t valid_upto, mm_error *err)
{
    const pcre2_code *c = p->code[pat];
    bool jit = p->jit[pat];
    for (size_t k = 0; k < in->n; k++) {
        const char *piece = text + in->v[k].off;
        size_t len = in->v[k].len, pos = 0, gap = 0;
        bool hand = !p->no_custom && (p->custom[pat] != TEXT_SPLIT_NONE || p->cls[pat]);
        /* a piece holding the first invalid sequence is invalid as a
         * whole; only pieces after it need a look */
        if (hand && in->v[k].off + len > valid_upto &&
            (in->v[k].off <= valid_upto || !text_utf8_valid((const uint8_t *)piece, len)))
            hand = false;
        if (hand && p->custom[pat] != TEXT_SPLIT_NONE) {
            if (text_split_custom(p->custom[pat], text, in->v[k].off, (uint32_t)len, out) != 0)
                goto oom;
            continue;
        }
        if (hand) {
            if (text_class_split(p->cls[pat], text, in->v[k].off, (uint32_t)len, out) != 0)
                goto oom;
            continue;
        }
        if (!may_match(p, pat, piece, len)) {
            if (text_spans_push(out, in->v[k].off, (uint32_t)len) != 0)
                goto oom;
            continue;
        }
        while (pos < len) {
            int rc = jit ? pcre2_jit_match(c, (PCRE2_SPTR)piece, len, pos, 0, md, mc)
                         : pcre2_match(c, (PCRE2_SPTR)piece, len, pos, 0, md, mc);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return mm_error_set(err, MM_EINTERNAL, "pre-tokenizer match failed: %s",
                                    (char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me <= ms) {
                /* an empty match adds nothing; step over one character */
                pos = ms + 1;
                while (pos < len && ((uint8_t)piece[pos] & 0xC0) == 0x80)
                    pos++;
                continue;
            }
            if (ms > gap && text_spans_push(out, in->v[k].off + (uint32_t)gap,
                                            (uint32_t)(ms - gap)) != 0)
                goto oom;
            if (text_spans_push(out, in->v[k].off + (uint32_t)ms, (uint32_t)(me - ms)) != 0)
                goto oom;
            gap = pos = me;
        }
        if (gap < len && text_spans_push(out, in->v[k].off + (uint32_t)gap,
                                         (uint32_t)(len - gap)) != 0)
            goto oom;
    }
    return 0;
oom:
    return mm_error_set(err, MM_ENOMEM, "out of memory pre-tokenizing");
}

int text_pretok_split(const text_pretok *p, const char *text, size_t len, text_spans *out,
                      text_spans *scratch, mm_error *err)
{
    if (len == 0)
        return 0;
    if (len > TEXT_MAX_INPUT)
        return mm_error_set(err, MM_ELIMIT, "text of %zu bytes is over the %u-byte limit",
                            len, TEXT_MAX_INPUT);
    size_t valid_upto = valid_prefix((const uint8_t *)text, len);
    if (p->fused && !p->no_custom && valid_upto == len)
        return text_cascade_split(p->fused, text, len, out) == 0
               ? 0 : mm_error_set(err, MM_ENOMEM, "out of memory pre-tokenizing");
    int rc = 0;
    pcre2_match_data *md = pcre2_match_data_create(8, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    if (!md || !mc || !js) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory pre-tokenizing");
        goto done;
    }
    pcre2_jit_stack_assign(mc, NULL, js);
    /* the cascade ping-pongs between two lists; the last lands in out */
    text_spans a = { 0 }, b = { 0 };
    a = *scratch;
    a.n = 0;
    if (text_spans_push(&a, 0, (uint32_t)len) != 0) {
        *scratch = a;
        rc = mm_error_set(err, MM_ENOMEM, "out of memory pre-tokenizing");
        goto done;
    }
    text_spans *src = &a, *dst = &b;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        dst->n = 0;
        rc = split_one(p, i, text, src, dst, md, mc, valid_upto, err);
        text_spans *t = src; src = dst; dst = t;
    }
    if (rc == 0)
        for (size_t i = 0; i < src->n && rc == 0; i++)
            if (text_spans_push(out, src->v[i].off, src->v[i].len) != 0)
                rc = mm_error_set(err, MM_ENOMEM, "out of memory pre-tokenizing");
    /* keep the larger buffer as scratch for the next call */
    if (a.cap >= b.cap) { *scratch = a; text_spans_free(&b); }
    else { *scratch = b; text_spans_free(&a); }
done:
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    return rc;
}
