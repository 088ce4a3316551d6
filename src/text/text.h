/* text.h - the text subsystem's one header: chat templates (a Jinja
 * interpreter for the subset Hugging Face chat templates use) and
 * tokenizers (SentencePiece-style "llama" and byte-level BPE "gpt2" with its
 * pre-tokenizers, built only from a GGUF's tokenizer.ggml.* metadata), with
 * special-token matching and streaming-safe decoding back to UTF-8. */
#ifndef MM_TEXT_H
#define MM_TEXT_H

#include "core/core.h"
#include "gguf/gguf.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ======================================================================
 * Chat templates
 *
 * The GGUF key tokenizer.chat_template holds a Jinja template. text_tmpl
 * renders it byte-for-byte as Python's Jinja2 does when Hugging Face
 * transformers applies it: ImmutableSandboxedEnvironment(trim_blocks=True,
 * lstrip_blocks=True) with the loopcontrols extension, globals
 * raise_exception and strftime_now, and a tojson filter that keeps
 * non-ASCII text (json.dumps(ensure_ascii=False)).
 * ====================================================================== */

typedef struct text_tmpl text_tmpl;

/* Bounds on one render; a zero field takes the default in brackets. */
typedef struct text_tmpl_opts {
    int64_t  now_unix;     /* time strftime_now() formats, as UTC; 0: the current local time */
    size_t   max_output;   /* bytes of rendered text [4 MiB] */
    size_t   max_memory;   /* bytes of working memory [64 MiB] */
    uint64_t max_steps;    /* loop iterations + macro calls + filter items [1,000,000] */
    int      max_depth;    /* nested macro calls [64] */
} text_tmpl_opts;

/* Parse a template of len bytes (at most 1 MiB). On success *out is the
 * parsed template, owned by the caller (text_tmpl_free). A syntax error, or
 * an unknown filter or test outside an if statement (where Jinja2 reports
 * it at compile time), is MM_EINVAL with "... at line N: ..." in err. The
 * template keeps no pointer to src; it is immutable and may be rendered
 * from several threads at once. */
int text_tmpl_parse(const char *src, size_t len, text_tmpl **out, mm_error *err);

/* Render tmpl with context, a JSON object whose members become template
 * variables (messages, tools, add_generation_prompt, bos_token, ...; borrowed
 * for the call). The text is appended to out. opts may be NULL.
 * Errors: raise_exception("msg") gives MM_EINVAL with exactly "msg" as the
 * message; other template errors MM_EINVAL with "chat template line N: ...";
 * a bound exceeded gives MM_ELIMIT. On error out is left as it was.
 * Thread-safe for distinct out buffers. */
int text_tmpl_render(const text_tmpl *tmpl, const cJSON *context,
                     const text_tmpl_opts *opts, mm_buf *out, mm_error *err);

void text_tmpl_free(text_tmpl *tmpl);

/* ======================================================================
 * Tokenizer
 * ====================================================================== */

/* Thread safety: a text_vocab is immutable after construction; every
 * function taking a const text_vocab * may run concurrently on one vocab.
 * A text_decoder belongs to one stream (one thread at a time). */

typedef struct text_vocab text_vocab;

#define TEXT_TOKEN_NULL (-1)

/* Bounds: a vocabulary larger than TEXT_MAX_VOCAB tokens or with a token
 * longer than TEXT_MAX_TOKEN_BYTES is refused (MM_ELIMIT); one
 * text_tokenize call takes at most TEXT_MAX_INPUT bytes (MM_ELIMIT). */
#define TEXT_MAX_VOCAB       (1u << 22)
#define TEXT_MAX_TOKEN_BYTES (64u << 10)
#define TEXT_MAX_INPUT       (64u << 20)

typedef enum text_vocab_type {
    TEXT_VOCAB_SPM = 1,  /* tokenizer.ggml.model = "llama": score merges, byte fallback */
    TEXT_VOCAB_BPE = 2   /* tokenizer.ggml.model = "gpt2": byte-level BPE by merge rank */
} text_vocab_type;

/* tokenizer.ggml.token_type values. */
typedef enum text_token_type {
    TEXT_TOKEN_UNDEFINED    = 0,
    TEXT_TOKEN_NORMAL       = 1,
    TEXT_TOKEN_UNKNOWN      = 2,
    TEXT_TOKEN_CONTROL      = 3,
    TEXT_TOKEN_USER_DEFINED = 4,
    TEXT_TOKEN_UNUSED       = 5,
    TEXT_TOKEN_BYTE         = 6
} text_token_type;

/* Build a vocabulary from a GGUF's tokenizer.ggml.* keys; nothing in *out
 * borrows from f, which may be closed afterwards. Caller owns *out
 * (text_vocab_free). Errors: MM_EUNSUPPORTED for a tokenizer model or
 * pre-tokenizer this build does not implement ("unsupported tokenizer model
 * 'bert'"), MM_EFORMAT for missing or mistyped keys, MM_ELIMIT, MM_ENOMEM. */
int text_vocab_load(const gguf_file *f, text_vocab **out, mm_error *err);

/* An in-memory description of a vocabulary (tests, tools). Arrays are
 * read during text_vocab_new only (copied). Special ids default like
 * llama.cpp's for the type (SPM: bos 1, eos 2, unk 0) when given as
 * TEXT_SPEC_DEFAULT; TEXT_TOKEN_NULL means "none". */
#define TEXT_SPEC_DEFAULT (-2)
typedef struct text_vocab_spec {
    text_vocab_type    type;
    const char        *pre;          /* BPE pre-tokenizer name; NULL = "default" */
    const char *const *tokens;       /* n_tokens NUL-terminated strings */
    size_t             n_tokens;
    const float       *scores;       /* NULL: all 0 */
    const int32_t     *token_types;  /* NULL: all NORMAL */
    const char *const *merges;       /* BPE: "left right", rank = index */
    size_t             n_merges;
    int32_t bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;  /* or TEXT_SPEC_DEFAULT */
    int     add_bos, add_eos, add_space_prefix;  /* 0, 1, or -1 for the type's default */
} text_vocab_spec;

/* A spec with every id TEXT_SPEC_DEFAULT and every flag -1. */
void text_vocab_spec_init(text_vocab_spec *spec, text_vocab_type type);
int  text_vocab_new(const text_vocab_spec *spec, text_vocab **out, mm_error *err);
void text_vocab_free(text_vocab *v);

text_vocab_type text_vocab_get_type(const text_vocab *v);
uint32_t    text_vocab_n_tokens(const text_vocab *v);
const char *text_vocab_pre_name(const text_vocab *v);   /* "llama-bpe", "" for SPM */
int32_t     text_vocab_bos(const text_vocab *v);        /* TEXT_TOKEN_NULL if none */
int32_t     text_vocab_eos(const text_vocab *v);
int32_t     text_vocab_eot(const text_vocab *v);
int32_t     text_vocab_unk(const text_vocab *v);
int32_t     text_vocab_pad(const text_vocab *v);
bool        text_vocab_add_bos(const text_vocab *v);
bool        text_vocab_add_eos(const text_vocab *v);
/* End of generation: eos, eot, eom and tokens whose text marks an end of
 * turn (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...). */
bool        text_vocab_is_eog(const text_vocab *v, int32_t id);
bool        text_vocab_is_control(const text_vocab *v, int32_t id);
/* The stored token text (SPM "▁the", BPE "Ġthe"), borrowed from v; NULL for
 * an id out of range. */
const char *text_vocab_token_text(const text_vocab *v, int32_t id, size_t *len);
/* Token id of an exact stored text, or TEXT_TOKEN_NULL. */
int32_t     text_vocab_find(const text_vocab *v, const char *text, size_t len);

/* Tokenize len bytes of text (any bytes; need not be NUL-terminated).
 * add_special: prepend BOS / append EOS as the vocabulary's flags say.
 * parse_special: match control tokens (<|im_start|>, <s> ...) written in the
 * text; user-defined tokens are always matched, as llama.cpp does. Writes at
 * most max_ids ids; *n_ids gets the count. MM_ELIMIT when the text is longer
 * than TEXT_MAX_INPUT or needs more than max_ids ids (nothing useful is left
 * in ids then), MM_ENOMEM. Thread-safe. */
int text_tokenize(const text_vocab *v, const char *text, size_t len,
                  bool add_special, bool parse_special,
                  int32_t *ids, size_t max_ids, size_t *n_ids, mm_error *err);

/* The bytes token id stands for (SPM "▁" -> " ", <0x0A> -> "\n", BPE
 * byte-to-unicode undone). Control and unknown tokens give "" unless special
 * is true (then their text). *piece is borrowed from v and not
 * NUL-terminated; a piece may be an incomplete UTF-8 sequence. 0 or
 * MM_EINVAL for an id out of range. */
int text_token_piece(const text_vocab *v, int32_t id, bool special,
                     const char **piece, size_t *len);

/* Concatenate the pieces of ids into out (exact bytes, no UTF-8 repair).
 * strip_leading_space removes one leading space from the first piece (what
 * SPM's add_space_prefix added). 0, MM_EINVAL (bad id), MM_ELIMIT/MM_ENOMEM
 * (out is full). */
int text_detokenize(const text_vocab *v, const int32_t *ids, size_t n_ids,
                    bool special, bool strip_leading_space, mm_buf *out, mm_error *err);

/* Streaming detokenizer: each push appends only complete UTF-8 characters to
 * out; an incomplete sequence at the end of a piece is held back (at most 3
 * bytes) until the next piece completes it. Bytes that can never form valid
 * UTF-8 are replaced by U+FFFD, so the output is always valid UTF-8; for
 * pieces that concatenate to valid UTF-8 the output is byte-identical. */
typedef struct text_decoder {
    const text_vocab *vocab;        /* borrowed */
    bool              special;      /* render control tokens' text */
    bool              strip_space;  /* drop one leading space of the stream */
    uint8_t           pending[4];
    size_t            n_pending;
} text_decoder;

void text_decoder_init(text_decoder *d, const text_vocab *v, bool special,
                       bool strip_leading_space);
/* 0, MM_EINVAL (bad id), MM_ELIMIT/MM_ENOMEM (out full; the token is lost). */
int  text_decoder_push(text_decoder *d, int32_t id, mm_buf *out, mm_error *err);
/* Emit what is held back (as U+FFFD: it was incomplete) and reset. */
int  text_decoder_flush(text_decoder *d, mm_buf *out, mm_error *err);

/* ---- Chat prompts (chat.c) ---- */

/* Render messages (an OpenAI-style array of {"role", "content"}) with f's
 * tokenizer.chat_template, or ChatML when f is NULL or has none
 * (*used_chatml says which; may be NULL). bos_token/eos_token are v's token
 * texts ("" when the vocabulary has none). Appends to out (at most 4 MiB of
 * rendered text). Errors: MM_EINVAL for messages that are not an array or a
 * template's raise_exception (the template's message), the template
 * parser's and renderer's errors. Thread-safe. */
int text_chat_render(const gguf_file *f, const text_vocab *v, const cJSON *messages,
                     bool add_generation_prompt, mm_buf *out, bool *used_chatml, mm_error *err);

/* Which template text_chat_render_with used. */
typedef enum text_chat_source {
    TEXT_CHAT_GGUF = 0,    /* the file's tokenizer.chat_template */
    TEXT_CHAT_OVERRIDE,    /* the caller's override (config.yaml `chat_template`) */
    TEXT_CHAT_CHATML       /* neither: the ChatML default */
} text_chat_source;

/* text_chat_render with an optional override: when override is non-NULL
 * its template is used instead of f's. A syntax error in the override is
 * MM_EINVAL with "chat_template override (<override_origin>): ..." so the
 * user knows which template to fix (override_origin, e.g. "config.yaml:7",
 * may be NULL); errors the template raises while rendering are passed on
 * unchanged. *source (may be NULL) says which template was used.
 * Thread-safe. */
int text_chat_render_with(const gguf_file *f, const char *override, const char *override_origin,
                          const text_vocab *v, const cJSON *messages, bool add_generation_prompt,
                          mm_buf *out, text_chat_source *source, mm_error *err);

/* ---- UTF-8 and byte-level helpers (tok-utf8.c) ---- */

/* Length of the well-formed UTF-8 sequence at s (1..4), 0 when the n bytes
 * are a valid but incomplete prefix, or -k when the first k bytes (k >= 1)
 * are an ill-formed subpart to replace with one U+FFFD. */
int  text_utf8_check(const uint8_t *s, size_t n);
/* Whole buffer well-formed? */
bool text_utf8_valid(const uint8_t *s, size_t n);
/* GPT-2 byte-to-unicode: byte b as a code point (U+0021.. or U+0100..). */
uint32_t text_byte_to_cpt(uint8_t b);
/* Inverse; -1 for a code point that no byte maps to. */
int  text_cpt_to_byte(uint32_t cpt);
/* Encode cpt as UTF-8 into out (4 bytes room); returns the length (1..4). */
size_t text_utf8_encode(uint32_t cpt, char *out);

/* ---- internal to src/text/tok-*.c (not for other subsystems) ---- */

/* Per-token attributes (bit set), as llama.cpp derives them. */
enum {
    TEXT_ATTR_NORMAL       = 1u << 0,
    TEXT_ATTR_UNKNOWN      = 1u << 1,
    TEXT_ATTR_CONTROL      = 1u << 2,
    TEXT_ATTR_USER_DEFINED = 1u << 3,
    TEXT_ATTR_UNUSED       = 1u << 4,
    TEXT_ATTR_BYTE         = 1u << 5,
    TEXT_ATTR_LSTRIP       = 1u << 6,   /* eat whitespace left of a special match */
    TEXT_ATTR_RSTRIP       = 1u << 7,   /* ... right of it */
    TEXT_ATTR_EOG          = 1u << 8    /* ends generation */
};

/* A byte range of a text; inputs are bounded by TEXT_MAX_INPUT < 4 GiB. */
typedef struct text_span {
    uint32_t off;
    uint32_t len;
} text_span;

/* A growable span list with a hard cap (the input length bounds it). */
typedef struct text_spans {
    text_span *v;
    size_t     n, cap;
} text_spans;
int  text_spans_push(text_spans *s, uint32_t off, uint32_t len);
void text_spans_free(text_spans *s);

/* Output ids with the caller's bound. */
typedef struct text_ids {
    int32_t *v;
    size_t   n, max;
} text_ids;
int text_ids_push(text_ids *o, int32_t id);

/* A merge candidate of the SPM and BPE merge loops. The queue pops the
 * highest priority first, ties broken by the leftmost symbol, which is the
 * order both llama.cpp tokenizers merge in. */
typedef struct text_merge {
    double  priority;     /* SPM: the merged token's score; BPE: -rank */
    int32_t left, right;  /* symbol indices */
    int32_t aux[3];       /* the algorithm's own payload */
} text_merge;

/* A binary heap of merges; zero-initialise, reuse across words, free once. */
typedef struct text_merge_queue {
    text_merge *items;
    size_t      n, cap;
} text_merge_queue;

int        text_mq_push(text_merge_queue *q, const text_merge *m);  /* 0 or MM_ENOMEM */
text_merge text_mq_pop(text_merge_queue *q);                        /* q->n must be > 0 */
void       text_mq_free(text_merge_queue *q);

/* Compiled pre-tokenizer of one BPE vocabulary (tok-pre.c). Immutable after
 * text_pretok_new; splitting is thread-safe with per-call scratch. */
typedef struct text_pretok text_pretok;
typedef struct text_pretok_info {
    bool ignore_merges;   /* a whole word that is a token skips merging */
    bool add_bos;         /* llama.cpp's default add_bos for this pre type */
} text_pretok_info;
/* MM_EUNSUPPORTED for an unknown name (the message names it). */
int  text_pretok_new(const char *name, text_pretok **out, text_pretok_info *info,
                     mm_error *err);
void text_pretok_free(text_pretok *p);
/* Tests: split with PCRE2 only, bypassing the hand-written splitters. */
void text_pretok_use_pcre_only(text_pretok *p);
/* Tests: whether valid UTF-8 goes through the fused cascade (tok-cascade.c). */
bool text_pretok_fused(const text_pretok *p);
/* Split text[0..len) into words, appended to out; scratch is reused
 * between calls (free it with text_spans_free). */
int  text_pretok_split(const text_pretok *p, const char *text, size_t len,
                       text_spans *out, text_spans *scratch, mm_error *err);

/* Whether to JIT-compile the pre-tokenizer regexes: true unless the
 * environment sets MM_VALGRIND (memcheck cannot follow PCRE2's generated
 * code and reports false errors in it; the interpreter matches the same). */
bool text_regex_jit(void);

/* Hand-written equivalents of the hottest patterns (tok-split.c). */
enum { TEXT_SPLIT_NONE = 0, TEXT_SPLIT_GPT2, TEXT_SPLIT_LLAMA3, TEXT_SPLIT_QWEN2 };
/* Builds the Unicode category table once per process (thread-safe); false
 * if that failed, and then callers use PCRE2. */
bool text_split_ready(void);
/* Split the valid UTF-8 piece text[off, off + len) into out. */
int  text_split_custom(int kind, const char *text, uint32_t off, uint32_t len,
                       text_spans *out);

/* Hand-written splitting for one-class patterns (tok-class.c): `C`, `C+`,
 * `\s?C`, `\s?C+` (C one "\p{X}" or "[...]" class) and `\s+$`. */
typedef struct text_class text_class;
enum { TEXT_CLASS_ONE = 1, TEXT_CLASS_RUN, TEXT_CLASS_TRAIL_WS };
/* What a recognized pattern is: its shape, whether `\s?` leads, and the
 * code point bitmaps (0x110000 bits; borrowed, they live as long as the
 * process) of its class (NULL for TEXT_CLASS_TRAIL_WS) and of \s. */
typedef struct text_class_info {
    int             shape;
    bool            ws_prefix;
    const uint64_t *member;
    const uint64_t *ws;
} text_class_info;
void text_class_get_info(const text_class *c, text_class_info *info);
/* The bitmap of one class ("\p{L}", "[\r\n]", "\s"), built on first use
 * (thread-safe); NULL when it cannot be built. */
const uint64_t *text_class_bitmap(const char *cls);
/* *out is NULL when pattern has none of those shapes, or its class table
 * cannot be built (then PCRE2 splits); caller owns *out (text_class_free).
 * 0, or MM_ENOMEM. */
int  text_class_new(const char *pattern, text_class **out);
void text_class_free(text_class *c);
/* Split the valid UTF-8 piece text[off, off + len) into out (matches and
 * the gaps between them), exactly as PCRE2 does with the pattern. */
int  text_class_split(const text_class *c, const char *text, uint32_t off, uint32_t len,
                      text_spans *out);

/* A whole cascade run over one per-byte map of the text (tok-cascade.c):
 * the text is classified once, each pattern marks its cuts in the map, and
 * the words are read off at the end, instead of one list of pieces per
 * pattern. Levels it knows: the one-class shapes above, GPT-2's pattern
 * and `[0-9][0-9][0-9]`, with at most 5 distinct classes in all. */
typedef struct text_cascade text_cascade;
enum { TEXT_LEVEL_CLASS = 1, TEXT_LEVEL_GPT2, TEXT_LEVEL_DIGIT3 };
typedef struct text_level {
    int               kind;   /* TEXT_LEVEL_* */
    const text_class *cls;    /* TEXT_LEVEL_CLASS: borrowed for text_cascade_new only */
} text_level;
/* *out is NULL when some level has no such form or the classes do not fit
 * (then the caller splits level by level); caller owns *out
 * (text_cascade_free). 0, or MM_ENOMEM. */
int  text_cascade_new(const text_level *levels, size_t n_levels, text_cascade **out);
void text_cascade_free(text_cascade *c);
/* Split valid UTF-8 text[0, len) (len >= 1) into out, exactly as the
 * levels applied one after the other do. 0, or MM_ENOMEM. Thread-safe. */
int  text_cascade_split(const text_cascade *c, const char *text, size_t len, text_spans *out);

struct text_vocab {
    text_vocab_type type;
    char       *pre_name;        /* owned; "" for SPM */
    uint32_t    n_tokens;
    char       *pool;            /* every token text, back to back */
    size_t     *text_off;        /* n_tokens + 1 offsets into pool */
    float      *scores;          /* n_tokens */
    uint16_t   *attr;            /* n_tokens TEXT_ATTR_* */
    int32_t    *tok_table;       /* open addressing: id or -1 */
    size_t      tok_mask;
    /* BPE merges: key (left << 32 | right) -> rank, merged id */
    uint64_t   *merge_keys;
    int32_t    *merge_rank;
    int32_t    *merge_result;
    size_t      merge_mask;
    size_t      n_merges;
    int32_t     byte_tok[256];   /* token for a lone byte (fallback), or -1 */
    /* decoded pieces (special = true form) */
    char       *piece_pool;
    size_t     *piece_off;       /* n_tokens + 1 */
    /* special tokens (control, user-defined, unknown) in matching priority
     * (longer first, then lower id), and their indices bucketed by first
     * byte for the scan that finds which of them occur in a text */
    int32_t    *special_ids;
    size_t      n_special;
    uint32_t   *special_by_byte;
    uint32_t    special_bucket[257];
    uint8_t     special_first[256];     /* 1: some special token starts with byte b */
    uint8_t     special_single[32];     /* bit b: a 1-byte special token b */
    uint8_t    *special_pair;           /* 65536 bits: some special starts b0 b1 */
    int32_t     bos, eos, eot, eom, unk, pad;
    bool        add_bos, add_eos, add_space_prefix, ignore_merges;
    bool        spm_split_ok;    /* no token has a non-space byte before U+2581 */
    text_pretok *pretok;         /* BPE only */
};

/* What both constructors hand to text_vocab_build: strings as (ptr, len). */
typedef struct text_vocab_input {
    text_vocab_type type;
    const char     *pre;          /* NUL-terminated or NULL */
    const char     *model_name;   /* general.name, for llama.cpp's per-model attributes */
    const gguf_str *tokens;
    size_t          n_tokens;
    const float    *scores;
    const int32_t  *types;
    const gguf_str *merges;
    size_t          n_merges;
    int64_t         ids[6];       /* bos eos eot eom unk pad; TEXT_SPEC_DEFAULT or value */
    int             flags[3];     /* add_bos add_eos add_space_prefix; -1 default */
} text_vocab_input;

enum { TEXT_ID_BOS, TEXT_ID_EOS, TEXT_ID_EOT, TEXT_ID_EOM, TEXT_ID_UNK, TEXT_ID_PAD };
/* Build a vocabulary from in (copied); caller owns *out. */
int text_vocab_build(const text_vocab_input *in, text_vocab **out, mm_error *err);

/* Word -> ids cache of one tokenize call (tok-cache.c). Words are borrowed
 * from text[0, len), which must outlive the cache. A NULL cache (allocation
 * failed) misses. */
typedef struct text_word_cache text_word_cache;
text_word_cache *text_word_cache_new(const char *text, size_t len);
void text_word_cache_free(text_word_cache *c);
bool text_word_cache_get(const text_word_cache *c, const char *word, size_t len,
                         const int32_t **ids, size_t *n_ids);
void text_word_cache_put(text_word_cache *c, const char *word, size_t len,
                         const int32_t *ids, size_t n_ids);

/* Look up a token text (hash), -1 when absent. */
int32_t text_vocab_lookup(const text_vocab *v, const char *s, size_t n);
/* Encode one raw fragment (no special tokens in it) into out. */
int text_spm_encode(const text_vocab *v, const char *text, size_t len,
                    bool prefix_space, text_ids *out, mm_error *err);
int text_bpe_encode(const text_vocab *v, const char *text, size_t len,
                    text_ids *out, mm_error *err);

/* ----------------------------------------------------------------------
 * Template internals, shared by src/text/jinja-*.c only.
 * Every value and AST node lives in an arena: the AST in the template's,
 * values in one per render, so nothing is freed piecemeal and an error
 * can unwind with longjmp from any depth (as Lua does) without leaking.
 * ---------------------------------------------------------------------- */

typedef struct jinja_arena jinja_arena;

/* max_bytes bounds the sum of all allocations; caller frees with
 * jinja_arena_free. */
jinja_arena *jinja_arena_new(size_t max_bytes);
void jinja_arena_free(jinja_arena *a);
/* Zeroed memory, or NULL when out of memory or over the arena's bound. */
void *jinja_arena_alloc(jinja_arena *a, size_t size);

typedef enum jinja_type {
    JT_UNDEF, JT_NONE, JT_BOOL, JT_INT, JT_FLOAT, JT_STR,
    JT_LIST,      /* list, or tuple when list->is_tuple */
    JT_DICT,      /* dict; also the loop object */
    JT_NS,        /* namespace(): a dict whose attributes may be set */
    JT_MACRO,     /* a {% macro %} */
    JT_FUNC       /* a global function (range, namespace, ...) */
} jinja_type;

typedef struct jinja_list jinja_list;
typedef struct jinja_dict jinja_dict;
typedef struct jinja_node jinja_node;

typedef struct jinja_val {
    jinja_type type;
    bool safe;               /* STR: a Markup (from |safe or |e): "+" escapes the other side */
    union {
        bool    b;
        int64_t i;
        double  f;
        struct { const char *p; size_t len; } s;  /* STR; UNDEF: what is undefined */
        jinja_list *list;
        jinja_dict *dict;                          /* DICT, NS */
        const jinja_node *macro;
        int func;
    } u;
} jinja_val;

struct jinja_list {
    jinja_val *items;
    size_t len, cap;
    bool is_tuple;
    bool is_gen;             /* a generator (|map, |select...): always true, no len(), not JSON */
    const char *fail_msg;    /* a generator that fails with this when iterated */
};

struct jinja_dict {                                /* insertion ordered */
    jinja_val *keys, *vals;
    size_t len, cap;
    bool is_loop;            /* the loop object: prints as <LoopContext i/n> */
};

/* ---- tokens (jinja-lex.c) ---- */

typedef enum jinja_tok_type {
    JK_DATA, JK_BLOCK_BEGIN, JK_BLOCK_END, JK_VAR_BEGIN, JK_VAR_END,
    JK_NAME, JK_STRING, JK_INT, JK_FLOAT, JK_OP, JK_EOF
} jinja_tok_type;

typedef struct jinja_token {
    jinja_tok_type type;
    int line;
    const char *p;           /* DATA/NAME/OP text; STRING: the decoded value */
    size_t len;
    int64_t i;               /* INT */
    double f;                /* FLOAT */
} jinja_token;

/* Split a template into tokens (in arena), applying Jinja2's whitespace
 * control with trim_blocks and lstrip_blocks; the last token is JK_EOF. */
int jinja_lex(const char *src, size_t len, jinja_arena *arena,
              jinja_token **out, size_t *n_out, mm_error *err);

/* ---- AST (jinja-parse.c) ---- */

typedef enum jinja_kind {
    /* expressions */
    JN_LIT, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT, JN_ATTR, JN_ITEM, JN_SLICE,
    JN_CALL, JN_FILTER, JN_TEST, JN_NEG, JN_POS, JN_NOT, JN_BIN, JN_CMP,
    JN_AND, JN_OR, JN_COND,
    /* statements */
    JN_BODY, JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_SETBLOCK,
    JN_MACRO, JN_FILTERBLOCK, JN_BREAK, JN_CONTINUE, JN_WITH
} jinja_kind;

/* Binary and comparison operators. */
enum {
    JOP_ADD = 1, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW,
    JOP_CONCAT, JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN
};

struct jinja_node {
    jinja_kind kind;
    int line;
    int op;                  /* JOP_*; TEST: 1 when negated; FILTER/TEST: builtin id */
    jinja_val lit;           /* LIT, TEXT */
    const char *name;        /* NAME, ATTR, FILTER, TEST, SET/SETBLOCK/MACRO target */
    const char *attr;        /* SET ns.attr */
    jinja_node *a, *b, *c, *d;
    jinja_node **kids;       /* BODY statements, LIST/TUPLE items, DICT k,v pairs,
                                CALL/FILTER/TEST positional args, CMP operands,
                                MACRO defaults (NULL where none) */
    size_t n_kids;
    const char **names;      /* CALL/FILTER/TEST keyword names (kw_vals parallel),
                                FOR/SET targets, MACRO parameters */
    jinja_node **kw_vals;
    size_t n_names;
    int *ops;                /* CMP: n_kids - 1 operators */
};

/* Parse src (NUL-terminated, len bytes) into a BODY node in arena. */
int jinja_parse(const char *src, size_t len, jinja_arena *arena,
                jinja_node **out, mm_error *err);

/* Parser state and helpers shared by jinja-parse.c (expressions) and
 * jinja-stmt.c (statements). A syntax error longjmps to jmp. */
#define JINJA_PARSE_MAX_DEPTH 200

typedef struct jinja_parser {
    jinja_token *t;
    size_t n, i;
    jinja_arena *arena;
    mm_error *err;
    jmp_buf jmp;
    int depth;
    int code;                /* the error code jinja_perr/jinja_palloc unwound with */
} jinja_parser;

/* Growable arrays of nodes and names in the arena. */
typedef struct jinja_nvec { jinja_node **v; size_t n, cap; } jinja_nvec;
typedef struct jinja_svec { const char **v; size_t n, cap; } jinja_svec;

_Noreturn void jinja_perr(jinja_parser *ps, int line, const char *fmt, ...) MM_PRINTF(3, 4);
_Noreturn void jinja_unexpected(jinja_parser *ps, const char *wanted);
void *jinja_palloc(jinja_parser *ps, size_t size);
jinja_token *jinja_tok_cur(jinja_parser *ps);
jinja_token *jinja_tok_peek(jinja_parser *ps, size_t k);
jinja_token *jinja_tok_next(jinja_parser *ps);
bool jinja_tok_is(const jinja_token *t, jinja_tok_type type, const char *text);
bool jinja_is_op(jinja_parser *ps, const char *op);
bool jinja_is_name(jinja_parser *ps, const char *name);
bool jinja_skip_op(jinja_parser *ps, const char *op);
bool jinja_skip_name(jinja_parser *ps, const char *name);
void jinja_expect_op(jinja_parser *ps, const char *op);
const char *jinja_expect_ident(jinja_parser *ps);
jinja_node *jinja_new_node(jinja_parser *ps, jinja_kind kind, int line);
void jinja_nvec_push(jinja_parser *ps, jinja_nvec *a, jinja_node *x);
void jinja_svec_push(jinja_parser *ps, jinja_svec *a, const char *x);
/* Count one nesting level against JINJA_PARSE_MAX_DEPTH (callers decrement). */
void jinja_enter(jinja_parser *ps);
/* An expression (with "a if b else c"); an or-expression (without). */
jinja_node *jinja_parse_expr(jinja_parser *ps);
jinja_node *jinja_parse_or(jinja_parser *ps);
/* Comma-separated expressions as a tuple; with_cond as above. */
jinja_node *jinja_parse_tuple(jinja_parser *ps, bool with_cond);
/* The filter after "|" applied to operand (NULL inside {% filter %}). */
jinja_node *jinja_parse_filter(jinja_parser *ps, jinja_node *operand);

/* ---- builtins (jinja-filters.c, jinja-builtins.c) ---- */

/* Ids of filters and tests, or -1 when there is none with that name. */
int jinja_filter_id(const char *name);
int jinja_test_id(const char *name);

enum { JF_RANGE, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME, JF__COUNT,
       JF_METHOD = 100 /* a method taken as a value (d.items): truthy, not callable here */ };

/* ---- render state (jinja-eval.c) ---- */

typedef struct jinja_frame {
    jinja_dict *vars;
    struct jinja_frame *parent;
} jinja_frame;

#define JINJA_MAX_NESTING 1000

typedef struct jinja_ctx {
    jinja_arena *arena;
    jmp_buf *jmp;            /* jinja_fail jumps here */
    mm_error *err;
    int line;                /* template line being evaluated, for messages */
    jinja_frame *root;
    text_tmpl_opts opts;
    uint64_t steps;
    int depth;
    int nesting;             /* eval/exec calls on the C stack */
    int code;                /* the error being unwound */
    mm_buf tmp[256];         /* scratch buffers in use (LIFO), freed on unwind */
    int n_tmp;
} jinja_ctx;

/* Fill err with "chat template line N: msg" and unwind the render. */
_Noreturn void jinja_fail(jinja_ctx *c, int code, const char *fmt, ...) MM_PRINTF(3, 4);
/* Unwind with msg as the whole message (raise_exception). */
_Noreturn void jinja_raise(jinja_ctx *c, const char *msg, size_t len);
/* Count one unit of work against max_steps. */
void jinja_step(jinja_ctx *c);
void *jinja_alloc(jinja_ctx *c, size_t size);

/* ---- values (jinja-value.c) ---- */

jinja_val jinja_undef(const char *what);
jinja_val jinja_none(void);
jinja_val jinja_bool(bool b);
jinja_val jinja_int(int64_t i);
jinja_val jinja_float(double f);
/* A string value pointing at p (not copied: p must outlive the render). */
jinja_val jinja_str(const char *p, size_t len);
jinja_val jinja_str_copy(jinja_ctx *c, const char *p, size_t len);
jinja_val jinja_new_list(jinja_ctx *c);
jinja_val jinja_new_dict(jinja_ctx *c);
void jinja_list_push(jinja_ctx *c, jinja_list *l, jinja_val v);
/* Insert or replace key. */
void jinja_dict_set(jinja_ctx *c, jinja_dict *d, jinja_val key, jinja_val v);
/* Pointer to the value for key, or NULL. */
jinja_val *jinja_dict_get(jinja_dict *d, jinja_val key);
jinja_val *jinja_dict_get_str(jinja_dict *d, const char *key);

bool jinja_truthy(jinja_val v);
bool jinja_equal(jinja_val a, jinja_val b);
/* <0, 0, >0 for Python's ordering of a and b; fails on unorderable types. */
int jinja_compare(jinja_ctx *c, jinja_val a, jinja_val b);
const char *jinja_type_name(jinja_val v);
bool jinja_is_number(jinja_val v);        /* int, float or bool */
double jinja_as_double(jinja_val v);

/* str(v) as Python prints it (undefined prints as ""). */
void jinja_write_str(jinja_ctx *c, mm_buf *b, jinja_val v);
/* repr(v) as Python prints it. */
void jinja_write_repr(jinja_ctx *c, mm_buf *b, jinja_val v);
/* json.dumps(v, ensure_ascii, indent (NULL: none), separators, sort_keys). */
void jinja_write_json(jinja_ctx *c, mm_buf *b, jinja_val v, bool ensure_ascii,
                      const char *indent, const char *item_sep, const char *key_sep,
                      bool sort_keys);
/* str(v) as a string value (strings are returned as they are). */
jinja_val jinja_to_str(jinja_ctx *c, jinja_val v);
/* Append to b, failing the render when b refuses (over its bound). */
void jinja_buf_put(jinja_ctx *c, mm_buf *b, const char *p, size_t len);
/* A scratch buffer bounded by max_output; every jinja_buf_new is paired
 * with jinja_buf_to_str in LIFO order, which copies the text into the arena
 * and frees b. The buffer lives in the context, not on the caller's stack,
 * so that an error unwinding past it (longjmp) can still free it. */
mm_buf *jinja_buf_new(jinja_ctx *c);
jinja_val jinja_buf_to_str(jinja_ctx *c, mm_buf *b);

jinja_val jinja_from_json(jinja_ctx *c, const cJSON *j, int depth);

/* Decode one UTF-8 sequence at s (len > 0; *adv its bytes); an invalid
 * byte decodes as itself. Encode cp into out (4 bytes room); returns bytes. */
uint32_t jinja_utf8_decode(const char *s, size_t len, size_t *adv);
size_t jinja_utf8_encode(char *out, uint32_t cp);
/* Python's one-to-one case mappings for the scripts jinja-utf8.c covers;
 * other code points map to themselves. */
uint32_t jinja_upper(uint32_t cp);
uint32_t jinja_lower(uint32_t cp);
bool jinja_is_cased(uint32_t cp);
/* Python's str.upper() ('U'), lower() ('L'), title() ('T'), capitalize()
 * ('C') and Jinja's title filter ('J': a word starts after [-\s({[<]). */
jinja_val jinja_change_case(jinja_ctx *c, jinja_val s, int mode);
/* str.isupper() (upper) or str.islower(). */
bool jinja_has_case(jinja_val s, bool upper);
/* Bytes of the whitespace character (as Python's str.isspace()) starting
 * at s / ending at s + len; 0 when there is none. */
size_t jinja_space_len(const char *s, size_t len);
size_t jinja_space_len_back(const char *s, size_t len);
/* UTF-8 code points in s; byte offset of code point index i (clamped). */
size_t jinja_utf8_len(const char *s, size_t len);
size_t jinja_utf8_offset(const char *s, size_t len, size_t index);

/* ---- evaluation helpers used by the builtins ---- */

jinja_val jinja_getattr(jinja_ctx *c, jinja_val obj, const char *name, size_t len);
jinja_val jinja_getitem(jinja_ctx *c, jinja_val obj, jinja_val key);
/* Iterate v as a list (lists/tuples as they are, dict keys, string chars,
 * undefined as empty); fails when v is not iterable. */
jinja_list *jinja_iterable(jinja_ctx *c, jinja_val v);

/* Fail with "'name' is undefined" for an undefined value (jinja-ops.c). */
_Noreturn void jinja_fail_undefined(jinja_ctx *c, jinja_val u);
/* a op b for JOP_ADD..JOP_POW, with Python's types and errors. */
jinja_val jinja_arith(jinja_ctx *c, int op, jinja_val a, jinja_val b);
/* a op b for JOP_EQ..JOP_NOTIN. */
bool jinja_compare_op(jinja_ctx *c, int op, jinja_val a, jinja_val b);
/* obj[start:stop:step]; has[k] false where a bound is absent or None. */
jinja_val jinja_slice(jinja_ctx *c, jinja_val obj, const bool has[3], const int64_t bound[3]);

/* Arguments of a filter, test, method or function call. */
typedef struct jinja_args {
    jinja_val *pos;
    size_t n_pos;
    const char **kw_names;
    jinja_val *kw_vals;
    size_t n_kw;
} jinja_args;

/* HTML-escape v into a Markup string (a Markup is returned as it is). */
jinja_val jinja_escape(jinja_ctx *c, jinja_val v);
jinja_val jinja_apply_filter(jinja_ctx *c, int id, jinja_val v, const jinja_args *args);
bool jinja_apply_test(jinja_ctx *c, int id, jinja_val v, const jinja_args *args);
/* A method call obj.name(args); *found false when obj has no such method. */
jinja_val jinja_call_method(jinja_ctx *c, jinja_val obj, const char *name,
                            const jinja_args *args, bool *found);
jinja_val jinja_call_func(jinja_ctx *c, int func, const jinja_args *args);
/* Lookup a global (range, namespace, ...) by name; false when none. */
bool jinja_global(const char *name, jinja_val *out);
/* Call a macro value; defined in jinja-eval.c. */
jinja_val jinja_call_macro(jinja_ctx *c, const jinja_node *m, const jinja_args *args);

#endif /* MM_TEXT_H */
