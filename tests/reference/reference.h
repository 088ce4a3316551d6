/* reference.h - a deliberately naive llama/qwen2 forward pass for tests:
 * every weight dequantized to f32 up front with the scalar dequantizers,
 * straightforward loops with double accumulation, no SIMD, no threads, no
 * KV cache (each call recomputes the whole sequence). Written from
 * gguf-and-quants.md section 7, independently of src/engine/ctx.c, so the
 * engine's logits can be checked against it. */
#ifndef MM_TEST_REFERENCE_H
#define MM_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_model ref_model;

/* Load path; returns NULL and writes a message into msg on failure.
 * Free with ref_model_free. */
ref_model *ref_model_load(const char *path, char *msg, size_t msg_size);
void ref_model_free(ref_model *m);
uint32_t ref_model_n_vocab(const ref_model *m);

/* Logits of every position of tokens[0..n) into logits[n][n_vocab]
 * (positions 0..n-1). Returns 0, or -1 for a bad token id or OOM. */
int ref_forward(const ref_model *m, const int32_t *tokens, uint32_t n, float *logits);

#endif /* MM_TEST_REFERENCE_H */
