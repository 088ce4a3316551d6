/* gguf-facts.c - the facts a catalog shows about a model (architecture,
 * size, shape, vocabulary, file type), read from GGUF metadata and tensor
 * shapes through the reader's public lookups. */
#include "gguf/gguf.h"

#include <stdio.h>
#include <string.h>

/* Copy a file string into a fixed field, replacing control bytes so a
 * hostile name cannot inject terminal escapes into a listing. */
static void copy_field(char *dst, size_t size, gguf_str s)
{
    size_t n = s.len < size - 1 ? (size_t)s.len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

/* Element i of an integer array as u64; false for other element types or
 * negative values. */
static bool arr_uint(const gguf_arr *arr, uint64_t i, uint64_t *out)
{
    const uint8_t *p = (const uint8_t *)arr->data;
    switch (arr->type) {
    case GGUF_TYPE_UINT8:  *out = p[i]; return true;
    case GGUF_TYPE_INT8:   { int8_t v; memcpy(&v, p + i, 1); *out = (uint64_t)v; return v >= 0; }
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); *out = v; return true; }
    case GGUF_TYPE_INT16:  { int16_t v; memcpy(&v, p + 2 * i, 2); *out = (uint64_t)v; return v >= 0; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); *out = v; return true; }
    case GGUF_TYPE_INT32:  { int32_t v; memcpy(&v, p + 4 * i, 4); *out = (uint64_t)v; return v >= 0; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p + 8 * i, 8); *out = v; return true; }
    case GGUF_TYPE_INT64:  { int64_t v; memcpy(&v, p + 8 * i, 8); *out = (uint64_t)v; return v >= 0; }
    default: return false;
    }
}

/* "<arch>.<suffix>" as u32; per-layer arrays (head counts of some models)
 * give their largest element. 0 when absent or unusable. */
static uint32_t arch_u32(const gguf_file *f, const char *arch, const char *suffix)
{
    char key[160];
    uint32_t v;
    gguf_arr arr;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_get_u32(f, key, &v) == 0)
        return v;
    if (gguf_get_arr(f, key, &arr) != 0)
        return 0;
    uint64_t best = 0, e;
    for (uint64_t i = 0; i < arr.count; i++)
        if (arr_uint(&arr, i, &e) && e > best && e <= UINT32_MAX)
            best = e;
    return (uint32_t)best;
}

/* Files without general.file_type (older converters, llama2.c exports) get
 * the name of their matrices' type when all matrices share one; a mix is
 * left unnamed rather than guessed. */
static void infer_file_type_name(const gguf_file *f, char *out, size_t size)
{
    uint32_t type = UINT32_MAX;
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->n_dims < 2)
            continue;
        if (type != UINT32_MAX && t->type != type)
            return;
        type = t->type;
    }
    if (type != UINT32_MAX)
        snprintf(out, size, "%s", ggml_type_name(type));
}

void gguf_model_facts(const gguf_file *f, mm_model_facts *out)
{
    memset(out, 0, sizeof *out);
    gguf_str s;
    if (gguf_get_str(f, "general.architecture", &s) == 0)
        copy_field(out->architecture, sizeof out->architecture, s);
    if (gguf_get_str(f, "general.name", &s) == 0)
        copy_field(out->name, sizeof out->name, s);

    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        uint64_t n = gguf_tensor_at(f, i)->n_elements;
        out->n_params = out->n_params > UINT64_MAX - n ? UINT64_MAX : out->n_params + n;
    }

    const char *arch = out->architecture;
    if (arch[0]) {
        out->context_length = arch_u32(f, arch, "context_length");
        out->embedding_length = arch_u32(f, arch, "embedding_length");
        out->block_count = arch_u32(f, arch, "block_count");
        out->head_count = arch_u32(f, arch, "attention.head_count");
        out->head_count_kv = arch_u32(f, arch, "attention.head_count_kv");
        if (out->head_count_kv == 0)
            out->head_count_kv = out->head_count;
        out->vocab_size = arch_u32(f, arch, "vocab_size");
    }
    gguf_arr tokens;
    if (out->vocab_size == 0 && gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens) == 0 &&
        tokens.type == GGUF_TYPE_STRING)
        out->vocab_size = tokens.count > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens.count;

    int32_t ftype;
    out->file_type = gguf_get_i32(f, "general.file_type", &ftype) == 0 ? ftype : -1;
    const char *ftype_name = gguf_file_type_name(out->file_type);
    if (ftype_name)
        snprintf(out->file_type_name, sizeof out->file_type_name, "%s", ftype_name);
    else if (out->file_type < 0)
        infer_file_type_name(f, out->file_type_name, sizeof out->file_type_name);

    out->has_chat_template = gguf_get_str(f, "tokenizer.chat_template", &s) == 0;
    out->file_size = gguf_file_size(f);
}
