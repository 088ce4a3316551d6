/* engine.h - the built-in CPU inference engine's internal interface.
 * Section 1 is quantization: the ggml block layouts, fp16/bf16 conversions,
 * per-type dequantizers, reference quantizers and the dot-product kernels a
 * matmul is built from. Sections 2-5 are the model, the thread pool, the
 * context (KV cache, forward pass) and the sampler. */
#ifndef MM_ENGINE_H
#define MM_ENGINE_H

#include "gguf/gguf.h"   /* enum ggml_type (values only; no gguf function is used) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ======================================================================
 * 1. Quantization
 *
 * How a matmul uses this section (y = W x, W of type T with rows of K
 * elements, see gguf-and-quants.md section 4):
 *
 *     const engine_quant_traits *wt = engine_quant_get(T);   // NULL: unsupported
 *     const engine_quant_traits *at = engine_quant_get(wt->vec_dot_type);
 *     size_t row_bytes = engine_row_size(T, K);
 *     at->quantize_row(x, xq, K);        // once per activation vector; xq holds
 *                                        // engine_row_size(at->type, K) bytes
 *     for (m = 0; m < M; m++)            // threads split the rows
 *         y[m] = wt->vec_dot(K, (const uint8_t *)W + m * row_bytes, xq);
 *
 * An embedding lookup is wt->dequantize_row(row t, out, K).
 * K must be a multiple of both types' block_size (the loader checks this
 * once per tensor with engine_row_size() != 0; the kernels do not check).
 * The kernels are pure: no allocation, no locks, thread-safe; rows may
 * start at any address (GGUF alignment can be 1). Inputs are assumed
 * finite; a NaN weight gives a NaN result, as in ggml.
 * ====================================================================== */

#define ENGINE_QK        32   /* elements per block of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q8_1 */
#define ENGINE_QK_K      256  /* elements per K-quant super-block */
#define ENGINE_K_SCALE_SIZE 12

/* ---- fp16 / bf16 (IEEE binary16 and bfloat16 bit patterns) ---- */

/* Exact: subnormals, +-0, +-inf and NaN are preserved. Inline because
 * every kernel calls it once per block. Scalar definition (no table, no
 * initialisation); the AVX2 kernels use F16C instead. */
static inline float engine_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp  = (h >> 10) & 0x1Fu;
    uint32_t man  = h & 0x3FFu;
    uint32_t bits;
    float f;
    if (exp == 0x1F) {                    /* inf / NaN keep their payload */
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {                /* normal: rebias 15 -> 127 */
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        /* zero or subnormal man * 2^-24: exact in f32, never flushed
         * (tiny K-quant dmin values are subnormal halves) */
        f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, sizeof bits);
        bits |= sign;
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even; overflow gives +-inf, tiny values subnormals or
 * +-0, NaN stays a (quiet) NaN. Same results as x86 F16C vcvtps2ph. */
uint16_t engine_f32_to_f16(float f);
float    engine_bf16_to_f32(uint16_t b);
/* Round to nearest even; NaN becomes a quiet NaN (ggml's rule). */
uint16_t engine_f32_to_bf16(float f);

/* Element i of a row of uint16 (f16/bf16) or f32 values at any address. */
static inline uint16_t engine_load_u16(const void *row, int64_t i)
{
    uint16_t v;
    memcpy(&v, (const uint8_t *)row + 2 * i, sizeof v);
    return v;
}

static inline float engine_load_f32(const void *row, int64_t i)
{
    float v;
    memcpy(&v, (const uint8_t *)row + 4 * i, sizeof v);
    return v;
}

/* ---- block layouts (bit-exact to ggml; sizes static-asserted) ----
 * Scales typed uint16_t are fp16 bit patterns. Element order inside the
 * blocks is described in gguf-and-quants.md section 3. The structs have no
 * padding; they are packed (alignment 1) because GGUF allows any power-of-two
 * alignment, so a tensor may start at an odd address and every kernel must
 * accept blocks at any address. */
#if defined(__GNUC__)
#define ENGINE_PACKED __attribute__((packed))
#else
#define ENGINE_PACKED
#endif

typedef struct ENGINE_PACKED engine_block_q4_0 {
    uint16_t d;                      /* scale */
    uint8_t  qs[ENGINE_QK / 2];      /* nibbles: low = elements 0..15, high = 16..31 */
} engine_block_q4_0;

typedef struct ENGINE_PACKED engine_block_q4_1 {
    uint16_t d;                      /* scale */
    uint16_t m;                      /* min, added */
    uint8_t  qs[ENGINE_QK / 2];
} engine_block_q4_1;

typedef struct ENGINE_PACKED engine_block_q5_0 {
    uint16_t d;
    uint8_t  qh[4];                  /* little-endian u32: bit i = 5th bit of element i */
    uint8_t  qs[ENGINE_QK / 2];
} engine_block_q5_0;

typedef struct ENGINE_PACKED engine_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t  qh[4];
    uint8_t  qs[ENGINE_QK / 2];
} engine_block_q5_1;

typedef struct ENGINE_PACKED engine_block_q8_0 {
    uint16_t d;
    int8_t   qs[ENGINE_QK];
} engine_block_q8_0;

/* Activation-only: Q8_0 plus s = d * sum(qs), so the Q4_1/Q5_1 min folds
 * into one multiply per block. */
typedef struct ENGINE_PACKED engine_block_q8_1 {
    uint16_t d;
    uint16_t s;
    int8_t   qs[ENGINE_QK];
} engine_block_q8_1;

typedef struct ENGINE_PACKED engine_block_q2_k {
    uint8_t  scales[ENGINE_QK_K / 16];   /* low nibble scale, high nibble min, per 16 */
    uint8_t  qs[ENGINE_QK_K / 4];        /* 2-bit planes */
    uint16_t d;                          /* multiplies the scales */
    uint16_t dmin;                       /* multiplies the mins */
} engine_block_q2_k;

typedef struct ENGINE_PACKED engine_block_q3_k {
    uint8_t  hmask[ENGINE_QK_K / 8];     /* 3rd bit; clear means "minus 4" */
    uint8_t  qs[ENGINE_QK_K / 4];        /* low 2 bits */
    uint8_t  scales[12];                 /* 16 x 6-bit, biased by 32 */
    uint16_t d;
} engine_block_q3_k;

typedef struct ENGINE_PACKED engine_block_q4_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[ENGINE_K_SCALE_SIZE]; /* 8 scales + 8 mins, 6 bits each */
    uint8_t  qs[ENGINE_QK_K / 2];
} engine_block_q4_k;

typedef struct ENGINE_PACKED engine_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[ENGINE_K_SCALE_SIZE];
    uint8_t  qh[ENGINE_QK_K / 8];
    uint8_t  qs[ENGINE_QK_K / 2];
} engine_block_q5_k;

typedef struct ENGINE_PACKED engine_block_q6_k {
    uint8_t  ql[ENGINE_QK_K / 2];        /* low 4 bits */
    uint8_t  qh[ENGINE_QK_K / 4];        /* high 2 bits */
    int8_t   scales[ENGINE_QK_K / 16];   /* signed */
    uint16_t d;
} engine_block_q6_k;

/* Activation-only: f32 scale (may be negative), sums per 16 for the mins. */
typedef struct ENGINE_PACKED engine_block_q8_k {
    float    d;
    int8_t   qs[ENGINE_QK_K];
    int16_t  bsums[ENGINE_QK_K / 16];
} engine_block_q8_k;

/* Scale and min (both 0..63) of Q4_K/Q5_K sub-block i (0..7), unpacked
 * from the 12 packed scale bytes: sub-blocks 4..7 keep their low 4 bits in
 * bytes 8..11 and their top 2 bits in bits 6-7 of bytes 0..7. */
static inline void engine_k_scale_min(int i, const uint8_t packed[12], uint8_t *sc, uint8_t *m)
{
    if (i < 4) {
        *sc = packed[i] & 63;
        *m  = packed[i + 4] & 63;
    } else {
        *sc = (uint8_t)((packed[i + 4] & 0x0F) | ((packed[i - 4] >> 6) << 4));
        *m  = (uint8_t)((packed[i + 4] >> 4) | ((packed[i] >> 6) << 4));
    }
}

/* ---- kernels ----
 * dequantize_row: n elements (a multiple of the block size) from src blocks.
 * quantize_row:   the reverse: ggml's reference quantizers, giving the same
 *                 bytes llama.cpp writes without an importance matrix
 *                 (tests/engine/test-conformance.c checks every type).
 *                 Slow for the K-quants: meant for activations (Q8_0, Q8_1,
 *                 Q8_K, F32), tests and tools.
 * vec_dot:        dot product of n elements of a weight row with an
 *                 activation row already quantized to vec_dot_type. */
typedef void  (*engine_dequantize_fn)(const void *src, float *dst, int64_t n);
typedef void  (*engine_quantize_fn)(const float *src, void *dst, int64_t n);
typedef float (*engine_vec_dot_fn)(int64_t n, const void *w_row, const void *act_row);
/* A matmul tile: n_rows weight rows (row r at w + r * w_row) times n_tok
 * activation rows (token t at act + t * act_stride), out[t * out_stride + r]
 * for every pair. Register-blocked: each weight vector loaded serves several
 * tokens and each activation vector several rows. Every output is
 * bit-identical to vec_dot(n, row r, token t), for any n_rows and n_tok
 * (1 included), which keeps batched and token-by-token prompts and any
 * split of the rows across threads identical. */
typedef void  (*engine_gemm_fn)(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                const void *act, size_t act_stride, int64_t n_tok,
                                float *out, size_t out_stride);

typedef struct engine_quant_traits {
    const char          *name;           /* "Q4_K" */
    uint32_t             type;           /* ggml_type */
    uint32_t             block_size;     /* elements per block */
    uint32_t             type_size;      /* bytes per block */
    engine_dequantize_fn dequantize_row;
    engine_quantize_fn   quantize_row;
    engine_vec_dot_fn    vec_dot;        /* NULL for activation-only types */
    uint32_t             vec_dot_type;   /* format vec_dot wants the activations in */
    engine_gemm_fn       gemm;           /* NULL: call vec_dot per (row, token) */
} engine_quant_traits;

/* The kernels for a type, using the fastest path this CPU supports (AVX2
 * when present, unless engine_quant_force_scalar(true)); NULL for a type the
 * engine cannot compute with. Q8_1 and Q8_K (activation formats) have an
 * entry with vec_dot NULL, so a usable weight type is `t && t->vec_dot`.
 * The entry is static (never freed). Thread-safe and lock-free; the first
 * call detects the CPU. */
const engine_quant_traits *engine_quant_get(uint32_t type);
/* Always the portable scalar kernels (tests compare the two). */
const engine_quant_traits *engine_quant_get_scalar(uint32_t type);
/* Make engine_quant_get return the scalar kernels (true) or the best ones
 * again (false). For tests and benchmarks; call it before starting work
 * threads, as pointers fetched earlier keep the old choice. */
void engine_quant_force_scalar(bool scalar);
/* "avx2" or "scalar": what engine_quant_get hands out now. */
const char *engine_quant_isa(void);

/* Bytes of a row of n elements of type; 0 when the type is unknown or n is
 * not a multiple of its block size. */
size_t engine_row_size(uint32_t type, int64_t n);

/* Per-type kernels (portable C). Names follow ggml's. */
void engine_dequantize_row_f32 (const void *src, float *dst, int64_t n);
void engine_dequantize_row_f16 (const void *src, float *dst, int64_t n);
void engine_dequantize_row_bf16(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q8_1(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q2_k(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q3_k(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q4_k(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q5_k(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q6_k(const void *src, float *dst, int64_t n);
void engine_dequantize_row_q8_k(const void *src, float *dst, int64_t n);

void engine_quantize_row_f32 (const float *src, void *dst, int64_t n);
void engine_quantize_row_f16 (const float *src, void *dst, int64_t n);
void engine_quantize_row_bf16(const float *src, void *dst, int64_t n);
void engine_quantize_row_q4_0(const float *src, void *dst, int64_t n);
void engine_quantize_row_q4_1(const float *src, void *dst, int64_t n);
void engine_quantize_row_q5_0(const float *src, void *dst, int64_t n);
void engine_quantize_row_q5_1(const float *src, void *dst, int64_t n);
void engine_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void engine_quantize_row_q8_1(const float *src, void *dst, int64_t n);
void engine_quantize_row_q2_k(const float *src, void *dst, int64_t n);
void engine_quantize_row_q3_k(const float *src, void *dst, int64_t n);
void engine_quantize_row_q4_k(const float *src, void *dst, int64_t n);
void engine_quantize_row_q5_k(const float *src, void *dst, int64_t n);
void engine_quantize_row_q6_k(const float *src, void *dst, int64_t n);
void engine_quantize_row_q8_k(const float *src, void *dst, int64_t n);

/* F32/F16/BF16 weights meet f32 activations: decoding is bandwidth-bound on
 * the weights, and keeping activations in f32 avoids a rounding step that
 * ggml's f16 x f16 pairing would add. Accumulation is in double. */
float engine_vec_dot_f32_f32 (int64_t n, const void *w, const void *a);
float engine_vec_dot_f16_f32 (int64_t n, const void *w, const void *a);
float engine_vec_dot_bf16_f32(int64_t n, const void *w, const void *a);
float engine_vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *a);
float engine_vec_dot_q4_1_q8_1(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_0_q8_0(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_1_q8_1(int64_t n, const void *w, const void *a);
float engine_vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *a);
float engine_vec_dot_q2_k_q8_k(int64_t n, const void *w, const void *a);
float engine_vec_dot_q3_k_q8_k(int64_t n, const void *w, const void *a);
float engine_vec_dot_q4_k_q8_k(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_k_q8_k(int64_t n, const void *w, const void *a);
float engine_vec_dot_q6_k_q8_k(int64_t n, const void *w, const void *a);

/* x86-64 AVX2+FMA+F16C variants (quant-avx2.c). Only call them when
 * engine_quant_get chose them; on other CPUs they fault. Not declared off
 * x86 (or when built with -DENGINE_NO_SIMD, which is how the portable-only
 * build is checked on x86), where the file compiles to nothing. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(ENGINE_NO_SIMD)
#define ENGINE_HAVE_AVX2_KERNELS 1
bool  engine_cpu_has_avx2(void);
void  engine_dequantize_row_f16_avx2(const void *src, float *dst, int64_t n);
/* bit-identical to engine_quantize_row_f16 */
void  engine_quantize_row_f16_avx2(const float *src, void *dst, int64_t n);
void  engine_dequantize_row_q4_0_avx2(const void *src, float *dst, int64_t n);
void  engine_dequantize_row_q8_0_avx2(const void *src, float *dst, int64_t n);
/* byte-identical to engine_quantize_row_q8_0 */
void  engine_quantize_row_q8_0_avx2(const float *src, void *dst, int64_t n);
float engine_vec_dot_f32_f32_avx2 (int64_t n, const void *w, const void *a);
float engine_vec_dot_f16_f32_avx2 (int64_t n, const void *w, const void *a);
float engine_vec_dot_bf16_f32_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q2_k_q8_k_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q3_k_q8_k_avx2(int64_t n, const void *w, const void *a);
/* quant-gemm-avx2.c; the F32/F16 vec_dots above are its 1 x 1 tile */
void  engine_gemm_f32_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                               const void *act, size_t act_stride, int64_t n_tok, float *out,
                               size_t out_stride);
void  engine_gemm_f16_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                               const void *act, size_t act_stride, int64_t n_tok, float *out,
                               size_t out_stride);
void  engine_gemm_bf16_f32_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                const void *act, size_t act_stride, int64_t n_tok, float *out,
                                size_t out_stride);
/* quant-q-avx2.c; the Q8_0/Q4_0 vec_dots above are its 1 x 1 case */
void  engine_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                 const void *act, size_t act_stride, int64_t n_tok, float *out,
                                 size_t out_stride);
void  engine_gemm_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                 const void *act, size_t act_stride, int64_t n_tok, float *out,
                                 size_t out_stride);
/* quant-k-avx2.c; the Q4_K/Q5_K/Q6_K vec_dots are its 1 x 1 case */
float engine_vec_dot_q4_k_q8_k_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q5_k_q8_k_avx2(int64_t n, const void *w, const void *a);
float engine_vec_dot_q6_k_q8_k_avx2(int64_t n, const void *w, const void *a);
void  engine_gemm_q4_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                 const void *act, size_t act_stride, int64_t n_tok, float *out,
                                 size_t out_stride);
void  engine_gemm_q5_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                 const void *act, size_t act_stride, int64_t n_tok, float *out,
                                 size_t out_stride);
void  engine_gemm_q6_k_q8_k_avx2(int64_t n, const void *w, size_t w_row, int64_t n_rows,
                                 const void *act, size_t act_stride, int64_t n_tok, float *out,
                                 size_t out_stride);
#endif

/* ======================================================================
 * 2. Model (model.c)
 *
 * A model is a validated view of a GGUF file's llama-family transformer:
 * hyper-parameters from the metadata and, per layer, pointers to the
 * tensors inside the read-only map (weights are never copied). Supported
 * architectures: llama (normal RoPE, optional biases), qwen2 (Q/K/V biases,
 * neox RoPE) and qwen2vl's text path (neox RoPE). A loaded model is
 * immutable: any number of contexts and threads may share it.
 * ====================================================================== */

typedef enum engine_rope_mode {
    ENGINE_ROPE_NORMAL = 0,   /* adjacent pairs (2i, 2i+1): llama */
    ENGINE_ROPE_NEOX   = 1    /* halves (i, i + n_rot/2): qwen2, qwen2vl */
} engine_rope_mode;

typedef struct engine_hparams {
    char     arch[32];         /* general.architecture */
    uint32_t n_vocab;          /* rows of token_embd */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;         /* attention.key_length, default n_embd / n_head */
    uint32_t n_rot;            /* rope.dimension_count, default head_dim */
    uint32_t n_ff;
    uint32_t n_ctx_train;      /* context_length */
    float    rms_eps;
    float    rope_freq_base;   /* default 10000 */
    float    rope_freq_scale;  /* 1 / rope.scaling.factor (linear), default 1 */
    engine_rope_mode rope_mode;
    uint32_t q_dim;            /* n_head * head_dim */
    uint32_t kv_dim;           /* n_head_kv * head_dim */
    int32_t  bos_id, eos_id, eot_id;   /* -1 when absent */
} engine_hparams;

#define ENGINE_MAX_EOG 8

typedef struct engine_layer {
    const gguf_tensor *attn_norm;  /* [n_embd] F32 */
    const gguf_tensor *wq;         /* [n_embd, q_dim] */
    const gguf_tensor *wk;         /* [n_embd, kv_dim] */
    const gguf_tensor *wv;         /* [n_embd, kv_dim] */
    const gguf_tensor *wo;         /* [q_dim, n_embd] */
    const gguf_tensor *bq, *bk, *bv, *bo;   /* F32 biases or NULL */
    const gguf_tensor *ffn_norm;   /* [n_embd] F32 */
    const gguf_tensor *w_gate;     /* [n_embd, n_ff] */
    const gguf_tensor *w_up;       /* [n_embd, n_ff] */
    const gguf_tensor *w_down;     /* [n_ff, n_embd] */
} engine_layer;

typedef struct engine_model {
    gguf_file         *file;        /* owned when loaded by path */
    bool               owns_file;
    engine_hparams     hp;
    const gguf_tensor *tok_embd;    /* [n_embd, n_vocab] */
    const gguf_tensor *output_norm; /* [n_embd] F32 */
    const gguf_tensor *output;      /* [n_embd, n_vocab]; token_embd when tied */
    bool               tied_output;
    const gguf_tensor *rope_freqs;  /* [n_rot/2] F32 divisors, or NULL */
    engine_layer      *layers;      /* n_layer entries, owned */
    uint64_t           weight_bytes;/* bytes of every tensor the forward pass reads */
    uint64_t           n_params;
    /* end-of-generation ids: eos, eot, eom, and tokens whose text is one of
     * <|eot_id|> <|im_end|> <|end|> <end_of_turn> <|endoftext|> <EOT> */
    int32_t            eog[ENGINE_MAX_EOG];
    uint32_t           n_eog;
} engine_model;

/* Open path and load it (engine_model_free closes the file), or load from
 * an already open file that the caller keeps open until engine_model_free
 * (borrowed). Errors: MM_EUNSUPPORTED "architecture X is not supported by
 * the built-in engine (supported: llama, qwen2, qwen2vl)" or "tensor T has
 * type Q which the built-in engine cannot compute with"; MM_EFORMAT for a
 * missing key or tensor or a wrong shape, naming it; the gguf reader's
 * errors. *out is caller-owned. Thread-safe (no shared state). */
int  engine_model_load(const char *path, engine_model **out, mm_error *err);
int  engine_model_load_file(gguf_file *file, engine_model **out, mm_error *err);
void engine_model_free(engine_model *m);
/* True when token ends generation (see engine_model.eog). Thread-safe. */
bool engine_model_is_eog(const engine_model *m, int32_t token);

/* ======================================================================
 * 3. Thread pool (pool.c)
 *
 * n_threads - 1 persistent workers plus the calling thread. engine_pool_run
 * runs fn(arg, ith, nth) on every thread and returns when all are done.
 * Workers spin briefly on an atomic generation counter and then sleep on a
 * condition variable, so the per-call cost on a busy pool is a few atomics
 * and no lock. One caller at a time (a context owns its pool).
 * ====================================================================== */

typedef struct engine_pool engine_pool;
typedef void (*engine_task_fn)(void *arg, int ith, int nth);

/* n_threads >= 1; caller owns *out (engine_pool_free). MM_ENOMEM or
 * MM_EINVAL (thread creation failed). */
int  engine_pool_new(int n_threads, engine_pool **out, mm_error *err);
void engine_pool_free(engine_pool *pool);
int  engine_pool_threads(const engine_pool *pool);
void engine_pool_run(engine_pool *pool, engine_task_fn fn, void *arg);
/* Rows [*begin, *end) of n that thread ith of nth handles. */
static inline void engine_split_rows(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
    int64_t per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

/* ======================================================================
 * 4. Context: KV cache and forward pass (ctx.c, forward.c)
 *
 * A context owns the F16 KV caches of n_seq sequences (K and V laid out
 * [n_seq][n_layer][n_ctx][kv_dim], cell index = position, K stored after
 * RoPE), its thread pool and scratch buffers, all allocated once at
 * creation: evaluation allocates nothing and takes no lock. One thread at a
 * time per context; many contexts may share one model. Every output element
 * is computed by one thread with a fixed reduction order, so results do not
 * depend on the thread count, on how a prompt is split into calls, or on
 * which other sequences share a decode step (batched decoding: one token of
 * each of several sequences per pass over the weights; each row attends to
 * its own sequence's cache only).
 * ====================================================================== */

typedef struct engine_ctx_params {
    uint32_t n_ctx;        /* KV cells; 0: min(model context, 4096) */
    uint32_t n_batch;      /* most tokens per engine_eval call; 0: 512 */
    int      n_threads;    /* <= 0: 1 */
    bool     all_logits;   /* keep logits of every position of a call (tests) */
    uint32_t n_seq;        /* sequences, each with its own n_ctx-cell KV cache; 0: 1, at most 64 */
} engine_ctx_params;

void engine_ctx_default_params(engine_ctx_params *p);

typedef struct engine_ctx engine_ctx;

/* Caller owns *out (engine_ctx_free); the model is borrowed and must
 * outlive the context. MM_ENOMEM, MM_EINVAL for impossible settings. */
int  engine_ctx_new(const engine_model *model, const engine_ctx_params *params,
                    engine_ctx **out, mm_error *err);
void engine_ctx_free(engine_ctx *ctx);

/* Evaluate n tokens at positions n_past .. n_past + n - 1 (n_past =
 * engine_ctx_pos). Prompt batches run as matrix x matrix products
 * (activations quantized once per token and reused for every weight row);
 * n larger than n_batch is processed in chunks. MM_EINVAL for a token id
 * outside the vocabulary, MM_ELIMIT when the context is full (nothing is
 * evaluated in either case). */
int  engine_eval(engine_ctx *ctx, const int32_t *tokens, uint32_t n, mm_error *err);
/* Logits (n_vocab floats) of the last token of the latest call, or with
 * all_logits of token i of that call. Borrowed until the next eval. */
const float *engine_ctx_logits(const engine_ctx *ctx, uint32_t i);
uint32_t engine_ctx_pos(const engine_ctx *ctx);      /* tokens in sequence 0's cache */
uint32_t engine_ctx_size(const engine_ctx *ctx);     /* n_ctx (per sequence) */
/* Forget every cached position >= pos of sequence 0 (rewind); pos >
 * engine_ctx_pos is a no-op. */
void engine_ctx_truncate(engine_ctx *ctx, uint32_t pos);

/* ---- sequences (batched decoding) ----
 * engine_eval is engine_eval_seq on sequence 0. A prompt is evaluated into
 * one sequence with engine_eval_seq; engine_decode then advances several
 * sequences by one token each in ONE pass over the weights (matrix x
 * matrix over their rows, as a prompt chunk), attention per sequence over
 * its own cache. Logits of a decode call: engine_ctx_logits(ctx, i) is row
 * i's (the sequence seqs[i]). The results of a sequence are bit-identical
 * whichever other sequences share its steps. */
uint32_t engine_ctx_n_seq(const engine_ctx *ctx);
/* Tokens in sequence seq's cache (0 for a sequence that does not exist). */
uint32_t engine_seq_pos(const engine_ctx *ctx, uint32_t seq);
/* Forget sequence seq's positions >= pos; other sequences are untouched. */
void engine_seq_truncate(engine_ctx *ctx, uint32_t seq, uint32_t pos);
/* A sequence's first n cells (K and V of every layer) as bytes, to keep a
 * prompt prefix outside the context and put it back later, into the same
 * or another sequence of a context over the same model.
 * engine_seq_state_size bytes; get fails (MM_EINVAL) when the sequence
 * holds fewer than n cells; set makes the sequence exactly those n cells. */
size_t engine_seq_state_size(const engine_ctx *ctx, uint32_t n);
int  engine_seq_state_get(engine_ctx *ctx, uint32_t seq, uint32_t n, void *state, mm_error *err);
int  engine_seq_state_set(engine_ctx *ctx, uint32_t seq, uint32_t n, const void *state,
                          mm_error *err);
/* As engine_eval, into sequence seq. MM_EINVAL for a sequence that does not
 * exist. */
int  engine_eval_seq(engine_ctx *ctx, uint32_t seq, const int32_t *tokens, uint32_t n,
                     mm_error *err);
/* tokens[i] at the next position of sequence seqs[i], for n distinct
 * sequences (n <= n_seq). MM_EINVAL for a bad token, an unknown or repeated
 * sequence; MM_ELIMIT when one of them is full (nothing is evaluated). */
int  engine_decode(engine_ctx *ctx, const uint32_t *seqs, const int32_t *tokens, uint32_t n,
                   mm_error *err);

/* Bytes a model plus one context with these settings needs: weights (the
 * mapped tensors), the KV cache and the scratch buffers. */
typedef struct engine_mem_estimate {
    uint64_t weights;
    uint64_t kv_cache;
    uint64_t scratch;
    uint64_t total;
} engine_mem_estimate;
void engine_mem_estimate_get(const engine_model *model, const engine_ctx_params *params,
                             engine_mem_estimate *out);

/* ======================================================================
 * 4b. Attention kernels and the SiLU gate (attn.c, attn-avx2.c)
 *
 * One work item of causal attention: n_tok query tokens of one sequence
 * times the n_group query heads that share one KV head (GQA), against that
 * head's slice of the F16 cache. Cells are walked in blocks of
 * ENGINE_ATTN_BLOCK, each block converted to f32 once and used by every
 * row of the item, with a running (online) softmax per row. Blocks start at
 * absolute cell multiples of ENGINE_ATTN_BLOCK and each row's arithmetic
 * depends only on its query and its own cells, so a row gives the same
 * bits alone (decoding) or inside any item (a prompt chunk), on any thread.
 * ====================================================================== */

#define ENGINE_ATTN_BLOCK 32u   /* KV cells per block */
#define ENGINE_ATTN_ROWS  16u   /* query rows (tokens x group heads) an item aims for */

typedef struct engine_attn_args {
    const float    *q;         /* query of token t, group head j: q + t * q_stride + j * head_dim */
    float          *out;       /* same layout as q; fully written */
    size_t          q_stride;  /* floats between tokens, in q and out */
    uint32_t        n_tok;     /* >= 1 */
    uint32_t        n_group;   /* >= 1 */
    const uint32_t *pos;       /* [n_tok] token t attends cells 0 .. pos[t] */
    const uint16_t *k, *v;     /* f16; cell s at k + s * kv_stride (this KV head's slice) */
    size_t          kv_stride; /* uint16 elements between cells */
    uint32_t        head_dim;
    float           scale;     /* applied to q . k before the softmax */
    float          *scratch;   /* engine_attn_scratch_floats(n_tok * n_group, head_dim) floats */
} engine_attn_args;

typedef void (*engine_attn_fn)(const engine_attn_args *a);

/* Floats of scratch one call with rows = n_tok * n_group needs. */
size_t engine_attn_scratch_floats(uint32_t rows, uint32_t head_dim);
/* The kernel for head_dim on this CPU (AVX2 unless engine_quant_isa() says
 * "scalar" or head_dim is not a multiple of 8). Thread-safe, pure. */
engine_attn_fn engine_attn_get(uint32_t head_dim);
/* Portable C; the tests compare the AVX2 kernel with it. */
void engine_attn_f16(const engine_attn_args *a);
#ifdef ENGINE_HAVE_AVX2_KERNELS
/* head_dim a multiple of 8. */
void engine_attn_f16_avx2(const engine_attn_args *a);
#endif

/* The FFN gate: g[i] = silu(g[i]) * u[i] = g / (1 + e^-g) * u, n elements.
 * engine_silu_mul_get picks the AVX2 version (same vector exp as the
 * attention) unless engine_quant_isa() says "scalar". Pure, thread-safe. */
typedef void (*engine_silu_mul_fn)(float *g, const float *u, size_t n);
engine_silu_mul_fn engine_silu_mul_get(void);
void engine_silu_mul(float *g, const float *u, size_t n);
#ifdef ENGINE_HAVE_AVX2_KERNELS
void engine_silu_mul_avx2(float *g, const float *u, size_t n);
#endif

/* ======================================================================
 * 5. Sampler (sampler.c)
 *
 * Chain (llama.cpp's order): penalties over the last penalty_last_n
 * accepted tokens -> top_k -> top_p -> min_p -> temperature -> seeded
 * draw. temperature <= 0 is greedy (argmax, first index wins ties) after
 * the penalties. The result is a pure function of the logits, the
 * parameters and the sampler's state (accepted tokens, RNG), so the same
 * seed gives the same tokens.
 * ====================================================================== */

typedef struct engine_sampler_params {
    float    temperature;     /* default 0.8; <= 0 greedy */
    int32_t  top_k;           /* default 40; <= 0 off */
    float    top_p;           /* default 0.95; >= 1 off */
    float    min_p;           /* default 0.05; <= 0 off */
    float    repeat_penalty;  /* default 1 (off) */
    float    presence_penalty;/* default 0 */
    float    frequency_penalty;/* default 0 */
    int32_t  penalty_last_n;  /* default 64 */
    uint64_t seed;            /* default 0xFFFFFFFF (a fixed seed: this engine has no "random") */
} engine_sampler_params;

void engine_sampler_default_params(engine_sampler_params *p);

typedef struct engine_sampler engine_sampler;

/* Caller owns *out (engine_sampler_free). Buffers for n_vocab candidates
 * are allocated here, so sampling allocates nothing. */
int  engine_sampler_new(const engine_sampler_params *p, uint32_t n_vocab,
                        engine_sampler **out, mm_error *err);
void engine_sampler_free(engine_sampler *s);
/* Pick a token from logits (n_vocab floats, not modified). Does not accept it. */
int32_t engine_sampler_sample(engine_sampler *s, const float *logits);
/* Record a token (prompt or generated) in the penalty window. */
void engine_sampler_accept(engine_sampler *s, int32_t token);
/* Clear the penalty window and re-seed the RNG. */
void engine_sampler_reset(engine_sampler *s);

/* ----------------------------------------------------------------------
 * For ctx.c and ctx-forward.c only (they define ENGINE_CTX_SOURCE before
 * including this header): the context's fields and sizes.
 * ---------------------------------------------------------------------- */
#ifdef ENGINE_CTX_SOURCE
#define CTX_DEFAULT_N_CTX   4096u
#define CTX_DEFAULT_N_BATCH 512u
#define CTX_MAX_N_CTX       (1u << 20)
#define CTX_MAX_N_SEQ       64u
#define CTX_MAX_MATMULS     3    /* weights sharing one input in one pool call */
#define CTX_TILE_BYTES      (16u << 10)   /* weight rows per matmul tile: half an L1 */
#define CTX_GEMM_TILE_BYTES (128u << 10)  /* rows per gemm call: a quarter of an L2 */
/* Passes of at most this many rows (decode steps) quantize activations on
 * the caller and finish the q/k/v heads (RoPE, KV store) inside the QKV
 * matmul's items: a few microseconds of work, where a pool call of its own
 * costs a round trip through the pool that the other thread waits out, tens
 * of microseconds whenever the machine is busy */
#define CTX_SERIAL_ROWS     8u

/* Scratch sizes in floats (or bytes for act_q), shared by the allocator and
 * the memory estimate so the two cannot disagree. */
typedef struct ctx_layout {
    size_t x, xb, q, kv, att, ff, tmp, scores, logits, cs; /* floats */
    size_t attn_tok;                                       /* tokens per attention item */
    size_t attn_scratch;                                   /* floats per thread */
    size_t act_row;                                        /* bytes per quantized token */
    size_t act_q;                                          /* bytes */
} ctx_layout;

struct engine_ctx {
    const engine_model *model;
    engine_pool *pool;
    uint32_t  n_ctx;
    uint32_t  n_batch;
    uint32_t  n_seq;
    uint32_t  n_rows;        /* max(n_batch, n_seq): rows of one pass */
    bool      all_logits;
    uint32_t *seq_pos;       /* [n_seq] cells 0..pos-1 of a sequence hold positions 0..pos-1 */
    uint32_t *row_seq;       /* [n_rows] the sequence of each row of the current pass */
    uint32_t *row_pos;       /* [n_rows] its position */
    uint32_t *attn_blk;      /* [n_rows + 1] first row of each attention block of the pass */
    uint32_t  n_attn_blk;
    uint32_t  n_logits;      /* rows of logits valid after the last call */
    uint32_t  logits_first;  /* the call's token whose logits are row 0 */
    ctx_layout lay;
    /* [n_seq][n_layer][n_head_kv][n_ctx][head_dim] f16 (K after RoPE): an
     * attention item (one KV head of one sequence) reads its cells as one
     * contiguous stream, not 2 cache lines every kv_dim elements; decode
     * attention waits on these reads (they leave the caches while the
     * weights stream), about 1 ms per sequence per step at 80 cells before */
    uint16_t *k_cache;
    uint16_t *v_cache;
    float    *x;             /* [n_batch][n_embd] residual stream */
    float    *xb;            /* [n_batch][n_embd] normalized input of a block */
    float    *q;             /* [n_batch][q_dim] */
    float    *k;             /* [n_batch][kv_dim] */
    float    *v;             /* [n_batch][kv_dim] */
    float    *att;           /* [n_batch][q_dim] attention output, heads concatenated */
    float    *hb;            /* [n_batch][n_ff] gate, then silu(gate) * up */
    float    *hb2;           /* [n_batch][n_ff] up */
    float    *tmp;           /* [n_batch][n_embd] projection output before the residual add */
    float    *scores;        /* [n_threads][attn_scratch]: attention blocks per thread */
    float    *logits;        /* [all_logits ? n_rows : n_seq][n_vocab] */
    float    *cs;            /* [n_batch][n_rot] cos, sin per rotary pair and token */
    float    *inv_freq;      /* [n_rot / 2] theta per unit position */
    uint8_t  *act_q;         /* [n_batch][act_row] activations in a weight's vec_dot format */
    /* which activations act_q holds, so Q/K/V (and gate/up) quantize once */
    const float *act_src;
    uint32_t  act_type;
    uint32_t  act_k;
    uint32_t  act_n;
};

/* Where the cells of one KV head of one layer of a sequence start. */
static inline size_t engine_ctx_kv_off(const engine_ctx *c, uint32_t seq, uint32_t layer,
                                       uint32_t head)
{
    const engine_hparams *hp = &c->model->hp;
    return (((size_t)seq * hp->n_layer + layer) * hp->n_head_kv + head) * c->n_ctx * hp->head_dim;
}
#endif

/* ----------------------------------------------------------------------
 * For the AVX2 kernel files only (they define ENGINE_AVX2_SOURCE before
 * including this header): their target attribute and the helpers they
 * share. One horizontal sum serves every kernel, because kernels that must
 * agree bit for bit (a type's vec_dot and its tiles) all end with it.
 * ---------------------------------------------------------------------- */
#if defined(ENGINE_AVX2_SOURCE) && defined(ENGINE_HAVE_AVX2_KERNELS)
#include <immintrin.h>
#include <string.h>

#define AVX2   __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* The sum of v's 8 lanes, always in this order. */
AVX2 INLINE float engine_avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The F16 at p (any alignment) as an f32. */
AVX2 INLINE float engine_avx2_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}
#endif

#endif /* MM_ENGINE_H */
