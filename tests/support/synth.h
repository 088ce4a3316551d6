/* synth.h - synthesize small llama-family GGUF models for tests: chosen
 * shapes, seeded deterministic weights, the tensor names and ne-order shapes
 * llama.cpp uses, and a tiny SentencePiece-style byte-fallback vocabulary.
 * Weights are F32 unless a type hook picks another type for a tensor, in
 * which case a conversion hook writes that type's bytes. */
#ifndef MM_TEST_SYNTH_H
#define MM_TEST_SYNTH_H

#include "gguf/gguf.h"

#include <stdbool.h>
#include <stdint.h>

/* The ggml type to store one tensor in (name as in the file, ne in GGUF
 * order). Return GGML_TYPE_F32 to keep a tensor as is. */
typedef uint32_t (*mmtest_synth_type_fn)(const char *name, uint32_t n_dims, const uint64_t *ne,
                                         void *user);
/* Convert n_rows rows of ne0 F32 values into dst, which has exactly
 * n_rows * (ne0 / block_size) * type_size bytes of `type`. 0 or MM_E*. */
typedef int (*mmtest_synth_convert_fn)(uint32_t type, const float *src, uint64_t ne0,
                                       uint64_t n_rows, void *dst, void *user);

typedef struct mmtest_synth_params {
    const char *arch;           /* "llama" or "qwen2" */
    const char *name;           /* general.name; NULL: not written */
    uint32_t n_embd;            /* hidden size; a multiple of n_head */
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;         /* divides n_head */
    uint32_t n_ff;
    uint32_t n_vocab;           /* at least MMTEST_SYNTH_MIN_VOCAB */
    uint32_t n_ctx;             /* <arch>.context_length */
    float    rope_freq_base;
    float    rms_eps;
    bool     tied_output;       /* true: no output.weight (logits reuse token_embd) */
    int      qkv_bias;          /* -1: as the arch has them (qwen2 yes, llama no); 0 no; 1 yes */
    uint64_t seed;
    float    weight_scale;      /* weights are uniform in [-scale, scale] */
    const char *chat_template;  /* tokenizer.chat_template; NULL: not written */
    int32_t  file_type;         /* general.file_type; -1: 0 (ALL_F32) if every tensor is F32,
                                   else not written */
    uint32_t gguf_version;      /* 2 or 3 */
    uint32_t alignment;         /* power of two */
    mmtest_synth_type_fn    tensor_type;  /* NULL: every tensor F32 */
    mmtest_synth_convert_fn convert;      /* required when tensor_type picks a non-F32 type */
    void    *user;                        /* passed to both hooks */
} mmtest_synth_params;

/* <unk>, <s>, </s> and the 256 byte tokens. */
#define MMTEST_SYNTH_MIN_VOCAB 259u

/* Defaults: llama, n_embd 64, 2 layers, 4 heads, 2 kv heads, n_ff 128,
 * n_vocab 320, n_ctx 256, rope base 10000, eps 1e-5, untied, seed 1,
 * scale 0.02, no name or template, GGUF v3, alignment 32, all F32. */
void mmtest_synth_default_params(mmtest_synth_params *p);

/* Write the model to path (atomically). Returns 0 or a negative MM_E*;
 * the message goes to stderr (and to err when given). */
int mmtest_synth_model(const mmtest_synth_params *p, const char *path);
int mmtest_synth_model_err(const mmtest_synth_params *p, const char *path, mm_error *err);
/* The same into memory; caller frees *out. */
int mmtest_synth_model_buffer(const mmtest_synth_params *p, void **out, size_t *size, mm_error *err);
/* Fill a caller-made writer with the model, so a test can add keys or
 * tensors (or override them: setting a key again replaces it) before
 * serializing it itself. */
int mmtest_synth_fill_writer(const mmtest_synth_params *p, gguf_writer *w, mm_error *err);

/* A convert callback (user unused) quantizing with the engine's portable
 * scalar quantizers: what the tests use, independent of the CPU. */
int mmtest_synth_quantize(uint32_t type, const float *src, uint64_t ne0, uint64_t n_rows,
                          void *dst, void *user);

/* The benchmark models of bench/engine.c and bench/throughput.c, which share
 * BENCH_DIR files: "F16", "Q8_0", "Q4_0", "Q4_K" (the 254M shape: n_embd
 * 1024, 16 layers, 16/8 heads, FFN 2816, vocab 32000, n_ctx 4096; the K and
 * Q4_0 files keep output.weight in Q6_K, as llama.cpp does) or "F32" (the
 * 24M shape: n_embd 288, 6 layers, 6/6 heads, FFN 768, n_ctx 256). Written
 * to path with the engine's run-time quantizers; MM_EINVAL for another name. */
int mmtest_synth_bench_model(const char *type, const char *path);

/* The F32 values of tensor `name` (n elements, row-major in ne order) as
 * the synthesizer makes them: a splitmix64 stream seeded with
 * seed ^ fnv1a64(name); each value is scale * (2u - 1) with u uniform in
 * [0, 1) from the stream's top 24 bits; norm weights (*_norm.weight) add 1.
 * Lets a test compare what a file holds without trusting the reader. */
void mmtest_synth_values(const mmtest_synth_params *p, const char *name, float *out, uint64_t n);

/* The vocabulary: id 0 "<unk>" (type 2 UNKNOWN), 1 "<s>" and 2 "</s>"
 * (3 CONTROL), 3..258 "<0x00>".."<0xFF>" (6 BYTE), then pieces (1 NORMAL):
 * "\u2581", the letters a-z, "\u2581" + letter, then every two-letter string,
 * "\u2581" + it, three letters ... Score 0 for the first 259, -(id - 259)
 * after. Writes the text into buf (NUL-terminated); false if id is past
 * what fits in size bytes. */
bool mmtest_synth_token(uint32_t id, char *buf, size_t size, float *score, int32_t *type);

#endif /* MM_TEST_SYNTH_H */
