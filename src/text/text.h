/* text.h - the text subsystem's header. Its tokenizer section covers
 * everything between a user's string and token ids, built only from a
 * GGUF's tokenizer.ggml.* metadata (SentencePiece-style "llama" and
 * byte-level BPE "gpt2" with its pre-tokenizers), special-token matching,
 * and streaming-safe decoding back to UTF-8. */
#ifndef MM_TEXT_H
#define MM_TEXT_H

#include "core/core.h"
#include "gguf/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Split text[0..len) into words, appended to out; scratch is reused
 * between calls (free it with text_spans_free). */
int  text_pretok_split(const text_pretok *p, const char *text, size_t len,
                       text_spans *out, text_spans *scratch, mm_error *err);

/* Hand-written equivalents of the hottest patterns (tok-split.c). */
enum { TEXT_SPLIT_NONE = 0, TEXT_SPLIT_GPT2, TEXT_SPLIT_LLAMA3, TEXT_SPLIT_QWEN2 };
/* Builds the Unicode category table once per process (thread-safe); false
 * if that failed, and then callers use PCRE2. */
bool text_split_ready(void);
/* Split the valid UTF-8 piece text[off, off + len) into out. */
int  text_split_custom(int kind, const char *text, uint32_t off, uint32_t len,
                       text_spans *out);

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
 * and must outlive the cache. A NULL cache (allocation failed) misses. */
typedef struct text_word_cache text_word_cache;
text_word_cache *text_word_cache_new(void);
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

#endif /* MM_TEXT_H */
