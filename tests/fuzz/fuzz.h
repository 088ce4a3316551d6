/* fuzz.h - what the harnesses under tests/fuzz/ share: the libFuzzer entry
 * point each one defines, the check that turns a broken invariant into a
 * crash the fuzzer (or the replay driver) reports, and the seed corpus the
 * project generates for each harness (seeds.c). */
#ifndef MM_FUZZ_H
#define MM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called by libFuzzer, or by replay.c, once per input. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a bug in the code under test: abort so that
 * libFuzzer saves the input and the replay test fails. */
#define FUZZ_CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
    abort(); } } while (0)

/* Receives one seed: a file name (no directory) and its bytes. */
typedef int (*fuzz_emit_fn)(const char *name, const void *data, size_t size, void *user);

/* Generate the seed corpus of harness ("gguf", "models", "config", "parse",
 * "tok", "request", "sse", "template", "hub"),
 * calling emit for each seed. 0, the first non-zero emit result, or a
 * negative MM_E* when a seed cannot be built; MM_ENOTFOUND for an unknown
 * harness. */
int fuzz_seeds(const char *harness, fuzz_emit_fn emit, void *user);

#endif /* MM_FUZZ_H */
