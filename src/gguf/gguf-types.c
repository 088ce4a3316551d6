/* gguf-types.c - the ggml tensor type table (block geometry of every type
 * with a known layout) and the names of llama_ftype values (general.file_type). */
#include "gguf/gguf.h"

#include <stdio.h>

/* Block geometry from ggml-common.h; ids without an entry are removed or
 * unknown types and make a file invalid. Q8_1 is the C struct size (36), not
 * gguf-py's 40: it never occurs in files. */
static const ggml_type_traits type_traits[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32]     = { "F32",       1,   4 },
    [GGML_TYPE_F16]     = { "F16",       1,   2 },
    [GGML_TYPE_Q4_0]    = { "Q4_0",     32,  18 },
    [GGML_TYPE_Q4_1]    = { "Q4_1",     32,  20 },
    [GGML_TYPE_Q5_0]    = { "Q5_0",     32,  22 },
    [GGML_TYPE_Q5_1]    = { "Q5_1",     32,  24 },
    [GGML_TYPE_Q8_0]    = { "Q8_0",     32,  34 },
    [GGML_TYPE_Q8_1]    = { "Q8_1",     32,  36 },
    [GGML_TYPE_Q2_K]    = { "Q2_K",    256,  84 },
    [GGML_TYPE_Q3_K]    = { "Q3_K",    256, 110 },
    [GGML_TYPE_Q4_K]    = { "Q4_K",    256, 144 },
    [GGML_TYPE_Q5_K]    = { "Q5_K",    256, 176 },
    [GGML_TYPE_Q6_K]    = { "Q6_K",    256, 210 },
    [GGML_TYPE_Q8_K]    = { "Q8_K",    256, 292 },
    [GGML_TYPE_IQ2_XXS] = { "IQ2_XXS", 256,  66 },
    [GGML_TYPE_IQ2_XS]  = { "IQ2_XS",  256,  74 },
    [GGML_TYPE_IQ3_XXS] = { "IQ3_XXS", 256,  98 },
    [GGML_TYPE_IQ1_S]   = { "IQ1_S",   256,  50 },
    [GGML_TYPE_IQ4_NL]  = { "IQ4_NL",   32,  18 },
    [GGML_TYPE_IQ3_S]   = { "IQ3_S",   256, 110 },
    [GGML_TYPE_IQ2_S]   = { "IQ2_S",   256,  82 },
    [GGML_TYPE_IQ4_XS]  = { "IQ4_XS",  256, 136 },
    [GGML_TYPE_I8]      = { "I8",        1,   1 },
    [GGML_TYPE_I16]     = { "I16",       1,   2 },
    [GGML_TYPE_I32]     = { "I32",       1,   4 },
    [GGML_TYPE_I64]     = { "I64",       1,   8 },
    [GGML_TYPE_F64]     = { "F64",       1,   8 },
    [GGML_TYPE_IQ1_M]   = { "IQ1_M",   256,  56 },
    [GGML_TYPE_BF16]    = { "BF16",      1,   2 },
    [GGML_TYPE_TQ1_0]   = { "TQ1_0",   256,  54 },
    [GGML_TYPE_TQ2_0]   = { "TQ2_0",   256,  66 },
    [GGML_TYPE_MXFP4]   = { "MXFP4",    32,  17 },
};

const ggml_type_traits *ggml_type_get_traits(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || type_traits[type].block_size == 0)
        return NULL;
    return &type_traits[type];
}

const char *ggml_type_name(uint32_t type)
{
    const ggml_type_traits *tt = ggml_type_get_traits(type);
    if (tt)
        return tt->name;
    /* Per thread, so concurrent callers never see each other's number. */
    static _Thread_local char unknown[24];
    snprintf(unknown, sizeof unknown, "type %u", (unsigned)type);
    return unknown;
}

uint64_t ggml_row_size(uint32_t type, uint64_t ne0)
{
    const ggml_type_traits *tt = ggml_type_get_traits(type);
    if (!tt || ne0 % tt->block_size != 0)
        return 0;
    return ne0 / tt->block_size * tt->type_size;
}

/* llama_ftype values; gaps are removed types (4-6, 33-35). */
static const char *const ftype_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",     [3] = "Q4_1",
    [7] = "Q8_0",     [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",
    [11] = "Q3_K_S",  [12] = "Q3_K_M",  [13] = "Q3_K_L",  [14] = "Q4_K_S",
    [15] = "Q4_K_M",  [16] = "Q5_K_S",  [17] = "Q5_K_M",  [18] = "Q6_K",
    [19] = "IQ2_XXS", [20] = "IQ2_XS",  [21] = "Q2_K_S",  [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL",  [26] = "IQ3_S",
    [27] = "IQ3_M",   [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS",
    [31] = "IQ1_M",   [32] = "BF16",    [36] = "TQ1_0",   [37] = "TQ2_0",
};

const char *gguf_file_type_name(int32_t file_type)
{
    if (file_type < 0 || (size_t)file_type >= MM_ARRAY_LEN(ftype_names))
        return NULL;
    return ftype_names[file_type];
}
