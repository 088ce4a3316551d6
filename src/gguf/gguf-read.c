/* gguf-read.c - the validating GGUF reader: parses the header, metadata and
 * tensor infos of a read-only mapping, checks every count, length, offset and
 * type against the file size before use, and answers typed lookups. Tensor
 * data and strings stay in the mapping; nothing is copied but keys and names. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor data and float values are handed out as stored (little-endian). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader needs a little-endian host");

#define GGUF_MAGIC "GGUF"
#define HEADER_SIZE 24u
#define MIN_KV_SIZE 13u      /* empty key (8) + type (4) + 1-byte value */
#define MIN_TINFO_SIZE 28u   /* name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8) */

typedef struct gguf_kv {
    char     *key;     /* NUL-terminated copy */
    gguf_type type;
    uint64_t  off;     /* absolute offset of the value */
    gguf_arr  arr;     /* when type == GGUF_TYPE_ARRAY */
} gguf_kv;

struct gguf_file {
    const uint8_t *base;       /* the whole file, read-only */
    uint64_t       size;
    void          *map;        /* owned mapping (gguf_open) or NULL */
    uint32_t       version;
    uint32_t       alignment;
    uint64_t       data_offset;
    gguf_kv       *kv;
    size_t         n_kv;
    gguf_tensor   *tensors;
    size_t         n_tensors;
    /* Element offsets of string arrays and arrays of arrays (two slots per
     * element for the latter: offset, then the child's index base), so that
     * element i is found in O(1). */
    uint64_t      *index;
    size_t         index_len;
    size_t         index_cap;
    uint32_t      *kv_hash;    /* open addressing; slot = kv index + 1 */
    uint32_t      *tensor_hash;
    size_t         hash_mask_kv;
    size_t         hash_mask_tensor;
};

/* Parse state: where we are and what we are reading, for error messages. */
typedef struct cursor {
    gguf_file  *f;
    uint64_t    pos;
    const char *label;     /* file name for messages */
    char        what[160]; /* "metadata key 3 ('general.name')" */
    mm_error   *err;
} cursor;

static int fail_at(cursor *c, uint64_t at, const char *fmt, ...) MM_PRINTF(3, 4);
static int fail_at(cursor *c, uint64_t at, const char *fmt, ...)
{
    char detail[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (c->what[0])
        return mm_error_set(c->err, MM_EFORMAT, "%s: offset %llu: %s: %s", c->label,
                            (unsigned long long)at, c->what, detail);
    return mm_error_set(c->err, MM_EFORMAT, "%s: offset %llu: %s", c->label,
                        (unsigned long long)at, detail);
}

static uint64_t remaining(const cursor *c)
{
    return c->f->size - c->pos;
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static int read_u32(cursor *c, const char *field, uint32_t *out)
{
    if (remaining(c) < 4)
        return fail_at(c, c->pos, "%s: file ends inside the field (4 bytes needed, %llu left)",
                       field, (unsigned long long)remaining(c));
    *out = load_u32(c->f->base + c->pos);
    c->pos += 4;
    return 0;
}

static int read_u64(cursor *c, const char *field, uint64_t *out)
{
    if (remaining(c) < 8)
        return fail_at(c, c->pos, "%s: file ends inside the field (8 bytes needed, %llu left)",
                       field, (unsigned long long)remaining(c));
    *out = load_u64(c->f->base + c->pos);
    c->pos += 8;
    return 0;
}

/* A length-prefixed string at c->pos, at most max bytes. */
static int read_str(cursor *c, const char *field, uint64_t max, gguf_str *out)
{
    uint64_t at = c->pos, len = 0;
    int rc = read_u64(c, field, &len);
    if (rc)
        return rc;
    if (len > remaining(c))
        return fail_at(c, at, "%s length %llu exceeds the file size", field,
                       (unsigned long long)len);
    if (len > max)
        return fail_at(c, at, "%s length %llu exceeds the limit of %llu bytes", field,
                       (unsigned long long)len, (unsigned long long)max);
    out->ptr = (const char *)c->f->base + c->pos;
    out->len = len;
    c->pos += len;
    return 0;
}

static size_t fixed_size(gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Reserve n index slots; the caller has bounded n by the file size. */
static int index_reserve(cursor *c, uint64_t n, int64_t *base)
{
    gguf_file *f = c->f;
    if (n > GGUF_MAX_INDEXED - f->index_len)
        return fail_at(c, c->pos, "the arrays need more than %u index entries in total "
                       "(one per string, two per nested array)", GGUF_MAX_INDEXED);
    size_t need = f->index_len + (size_t)n;
    if (need > f->index_cap) {
        size_t cap = f->index_cap ? f->index_cap : 1024;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 / sizeof(uint64_t) ? need : cap * 2;
        uint64_t *grown = realloc(f->index, cap * sizeof *grown);
        if (!grown)
            return mm_error_set(c->err, MM_ENOMEM, "%s: out of memory indexing arrays", c->label);
        f->index = grown;
        f->index_cap = cap;
    }
    *base = (int64_t)f->index_len;
    f->index_len = need;
    return 0;
}

/* Array value at c->pos (element type, count, elements); depth 1 = top level. */
static int parse_array(cursor *c, unsigned depth, gguf_arr *out)
{
    uint64_t at = c->pos, count;
    uint32_t et = 0;
    int rc;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return fail_at(c, at, "arrays nested deeper than %u levels", GGUF_MAX_ARRAY_DEPTH);
    if ((rc = read_u32(c, "array element type", &et)) != 0)
        return rc;
    if (et >= GGUF_TYPE_COUNT)
        return fail_at(c, at, "array element type %u is not a GGUF value type", et);
    uint64_t count_at = c->pos;
    if ((rc = read_u64(c, "array count", &count)) != 0)
        return rc;
    size_t esize = fixed_size((gguf_type)et);
    uint64_t min_size = esize ? esize : et == GGUF_TYPE_STRING ? 8 : 12;
    uint64_t min_bytes;
    if (__builtin_mul_overflow(count, min_size, &min_bytes) || min_bytes > remaining(c))
        return fail_at(c, count_at, "array count %llu exceeds the file size",
                       (unsigned long long)count);
    if (count > GGUF_MAX_ARRAY)
        return fail_at(c, count_at, "array count %llu exceeds the limit of %u elements",
                       (unsigned long long)count, GGUF_MAX_ARRAY);
    out->type = (gguf_type)et;
    out->count = count;
    out->data = c->f->base + c->pos;
    out->file = c->f;
    out->index_base = -1;
    if (esize) {
        if (et == GGUF_TYPE_BOOL) {
            for (uint64_t i = 0; i < count; i++)
                if (c->f->base[c->pos + i] > 1)
                    return fail_at(c, c->pos + i, "bool array element %llu is %u (must be 0 or 1)",
                                   (unsigned long long)i, c->f->base[c->pos + i]);
        }
        c->pos += min_bytes;
        return 0;
    }
    int64_t base = -1;
    if ((rc = index_reserve(c, et == GGUF_TYPE_STRING ? count : 2 * count, &base)) != 0)
        return rc;
    out->index_base = base;
    for (uint64_t i = 0; i < count; i++) {
        if (et == GGUF_TYPE_STRING) {
            gguf_str s;
            c->f->index[base + (int64_t)i] = c->pos;
            if ((rc = read_str(c, "string", GGUF_MAX_STRING, &s)) != 0)
                return rc;
        } else {
            gguf_arr child;
            c->f->index[base + 2 * (int64_t)i] = c->pos;
            if ((rc = parse_array(c, depth + 1, &child)) != 0)
                return rc;
            c->f->index[base + 2 * (int64_t)i + 1] = (uint64_t)child.index_base;
        }
    }
    return 0;
}

static int parse_value(cursor *c, gguf_kv *kv)
{
    size_t esize = fixed_size(kv->type);
    kv->off = c->pos;
    if (esize) {
        if (remaining(c) < esize)
            return fail_at(c, c->pos, "%s value: file ends inside the value",
                           kv->type == GGUF_TYPE_BOOL ? "bool" : "number");
        if (kv->type == GGUF_TYPE_BOOL && c->f->base[c->pos] > 1)
            return fail_at(c, c->pos, "bool value is %u (must be 0 or 1)", c->f->base[c->pos]);
        c->pos += esize;
        return 0;
    }
    if (kv->type == GGUF_TYPE_STRING) {
        gguf_str s;
        return read_str(c, "string", GGUF_MAX_STRING, &s);
    }
    return parse_array(c, 1, &kv->arr);
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t *hash_new(size_t n, size_t *mask)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    *mask = cap - 1;
    return calloc(cap, sizeof(uint32_t));
}

/* Insert name with value idx; returns the existing index on a duplicate, else -1. */
static int64_t hash_insert(uint32_t *table, size_t mask, const char *name, uint32_t idx,
                           const char *(*name_of)(const gguf_file *, size_t), const gguf_file *f)
{
    size_t slot = (size_t)hash_bytes(name, strlen(name)) & mask;
    while (table[slot]) {
        if (strcmp(name_of(f, table[slot] - 1), name) == 0)
            return (int64_t)table[slot] - 1;
        slot = (slot + 1) & mask;
    }
    table[slot] = idx + 1;
    return -1;
}

static int64_t hash_find(const uint32_t *table, size_t mask, const char *name,
                         const char *(*name_of)(const gguf_file *, size_t), const gguf_file *f)
{
    if (!table)
        return -1;
    size_t slot = (size_t)hash_bytes(name, strlen(name)) & mask;
    while (table[slot]) {
        if (strcmp(name_of(f, table[slot] - 1), name) == 0)
            return (int64_t)table[slot] - 1;
        slot = (slot + 1) & mask;
    }
    return -1;
}

static const char *kv_name(const gguf_file *f, size_t i) { return f->kv[i].key; }
static const char *tensor_name(const gguf_file *f, size_t i) { return f->tensors[i].name; }

static int parse_kv(cursor *c, size_t i)
{
    gguf_file *f = c->f;
    gguf_kv *kv = &f->kv[i];
    uint64_t at = c->pos;
    gguf_str key;
    uint32_t type = 0;
    int rc;
    snprintf(c->what, sizeof c->what, "metadata key %zu", i);
    if ((rc = read_str(c, "key", GGUF_MAX_KEY, &key)) != 0)
        return rc;
    if (key.len == 0)
        return fail_at(c, at, "key is empty");
    for (uint64_t k = 0; k < key.len; k++) {
        uint8_t ch = (uint8_t)key.ptr[k];
        if (ch < 0x20 || ch > 0x7e)
            return fail_at(c, at + 8 + k, "key contains byte 0x%02x; keys must be printable ASCII", ch);
    }
    if (!(kv->key = mm_strndup(key.ptr, (size_t)key.len)))
        return mm_error_set(c->err, MM_ENOMEM, "%s: out of memory", c->label);
    f->n_kv = i + 1;   /* owned from here on, freed by gguf_close */
    snprintf(c->what, sizeof c->what, "metadata key %zu ('%.100s')", i, kv->key);
    int64_t dup = hash_insert(f->kv_hash, f->hash_mask_kv, kv->key, (uint32_t)i, kv_name, f);
    if (dup >= 0)
        return fail_at(c, at, "duplicate key (first defined as metadata key %lld)", (long long)dup);
    uint64_t type_at = c->pos;
    if ((rc = read_u32(c, "value type", &type)) != 0)
        return rc;
    if (type >= GGUF_TYPE_COUNT)
        return fail_at(c, type_at, "value type %u is not a GGUF value type", type);
    kv->type = (gguf_type)type;
    if ((rc = parse_value(c, kv)) != 0)
        return rc;
    if (strcmp(kv->key, "general.alignment") == 0) {
        if (kv->type != GGUF_TYPE_UINT32)
            return fail_at(c, type_at, "general.alignment must be UINT32 (type 4), not type %u", type);
        uint32_t a = load_u32(f->base + kv->off);
        if (a == 0 || (a & (a - 1)) != 0)
            return fail_at(c, kv->off, "general.alignment %u is not a power of two", a);
        f->alignment = a;
    }
    return 0;
}

static int parse_tensor_info(cursor *c, size_t i, uint64_t *offset_at)
{
    gguf_file *f = c->f;
    gguf_tensor *t = &f->tensors[i];
    uint64_t at = c->pos;
    gguf_str name;
    int rc;
    snprintf(c->what, sizeof c->what, "tensor %zu", i);
    if ((rc = read_str(c, "name", GGUF_MAX_NAME - 1, &name)) != 0)
        return rc;
    if (name.len == 0)
        return fail_at(c, at, "tensor name is empty");
    for (uint64_t k = 0; k < name.len; k++) {
        uint8_t ch = (uint8_t)name.ptr[k];
        if (ch < 0x20 || ch == 0x7f)
            return fail_at(c, at + 8 + k, "name contains control byte 0x%02x", ch);
    }
    char *copy = mm_strndup(name.ptr, (size_t)name.len);
    if (!copy)
        return mm_error_set(c->err, MM_ENOMEM, "%s: out of memory", c->label);
    t->name = copy;
    f->n_tensors = i + 1;
    snprintf(c->what, sizeof c->what, "tensor %zu ('%s')", i, copy);
    int64_t dup = hash_insert(f->tensor_hash, f->hash_mask_tensor, copy, (uint32_t)i, tensor_name, f);
    if (dup >= 0)
        return fail_at(c, at, "duplicate tensor name (first defined as tensor %lld)", (long long)dup);
    uint64_t dims_at = c->pos;
    if ((rc = read_u32(c, "n_dims", &t->n_dims)) != 0)
        return rc;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fail_at(c, dims_at, "n_dims %u is out of range (1..%u)", t->n_dims, GGUF_MAX_DIMS);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        uint64_t ne_at = c->pos;
        if ((rc = read_u64(c, "dimension", &t->ne[d])) != 0)
            return rc;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return fail_at(c, ne_at, "dimension %u is %llu (must be 1..2^63-1)", d,
                           (unsigned long long)t->ne[d]);
        if (__builtin_mul_overflow(n_el, t->ne[d], &n_el) || n_el > (uint64_t)INT64_MAX)
            return fail_at(c, ne_at, "element count overflows at dimension %u", d);
    }
    t->n_elements = n_el;
    uint64_t type_at = c->pos;
    if ((rc = read_u32(c, "type", &t->type)) != 0)
        return rc;
    const ggml_type_traits *tt = ggml_type_get_traits(t->type);
    if (!tt)
        return fail_at(c, type_at, "tensor type %u is unknown or removed from ggml", t->type);
    if (t->ne[0] % tt->block_size != 0)
        return fail_at(c, dims_at + 4, "ne[0] = %llu is not a multiple of the %s block size %u",
                       (unsigned long long)t->ne[0], tt->name, tt->block_size);
    uint64_t bytes = (t->ne[0] / tt->block_size);
    if (__builtin_mul_overflow(bytes, tt->type_size, &bytes) ||
        __builtin_mul_overflow(bytes, n_el / t->ne[0], &bytes))
        return fail_at(c, type_at, "tensor byte size overflows");
    t->nbytes = bytes;
    *offset_at = c->pos;
    return read_u64(c, "data offset", &t->offset);
}

/* Tensor data ranges can only be checked once the data section start is known. */
static int check_tensor_data(cursor *c, size_t i, uint64_t offset_at)
{
    gguf_file *f = c->f;
    gguf_tensor *t = &f->tensors[i];
    uint64_t start, end;
    snprintf(c->what, sizeof c->what, "tensor %zu ('%s')", i, t->name);
    if (t->offset % f->alignment != 0)
        return fail_at(c, offset_at, "data offset %llu is not a multiple of the alignment %u",
                       (unsigned long long)t->offset, f->alignment);
    if (__builtin_add_overflow(f->data_offset, t->offset, &start) ||
        __builtin_add_overflow(start, t->nbytes, &end) || end > f->size)
        return fail_at(c, offset_at,
                       "data (offset %llu + %llu bytes from the data section at %llu) lies "
                       "outside the file of %llu bytes",
                       (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                       (unsigned long long)f->data_offset, (unsigned long long)f->size);
    t->data = f->base + start;
    return 0;
}

static int parse_header(cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
    gguf_file *f = c->f;
    if (f->size < 4 || memcmp(f->base, GGUF_MAGIC, 4) != 0)
        return mm_error_set(c->err, MM_EFORMAT, "%s: not a GGUF file (the first 4 bytes are not \"GGUF\")",
                            c->label);
    c->pos = 4;
    int rc = read_u32(c, "version", &f->version);
    if (rc)
        return rc;
    if (f->version == 1)
        return mm_error_set(c->err, MM_EUNSUPPORTED,
                            "%s: GGUF version 1 is obsolete; reconvert the model", c->label);
    if (f->version != 0 && (f->version & 0xFFFF) == 0)
        return mm_error_set(c->err, MM_EUNSUPPORTED,
                            "%s: big-endian GGUF files are not supported; convert the model "
                            "to little-endian", c->label);
    if (f->version == 0)
        return fail_at(c, 4, "version 0 is not a GGUF version");
    if (f->version > 3)
        return mm_error_set(c->err, MM_EUNSUPPORTED,
                            "%s: GGUF version %u is not supported (versions 2 and 3 are)",
                            c->label, f->version);
    if ((rc = read_u64(c, "tensor count", n_tensors)) != 0 ||
        (rc = read_u64(c, "metadata count", n_kv)) != 0)
        return rc;
    uint64_t left = remaining(c);
    if (*n_kv > left / MIN_KV_SIZE)
        return fail_at(c, 16, "metadata count %llu exceeds the file size", (unsigned long long)*n_kv);
    if (*n_kv > GGUF_MAX_KV)
        return fail_at(c, 16, "metadata count %llu exceeds the limit of %u",
                       (unsigned long long)*n_kv, GGUF_MAX_KV);
    if (*n_tensors > left / MIN_TINFO_SIZE)
        return fail_at(c, 8, "tensor count %llu exceeds the file size", (unsigned long long)*n_tensors);
    if (*n_tensors > GGUF_MAX_TENSORS)
        return fail_at(c, 8, "tensor count %llu exceeds the limit of %u",
                       (unsigned long long)*n_tensors, GGUF_MAX_TENSORS);
    return 0;
}

static int parse_file(gguf_file *f, const char *label, mm_error *err)
{
    cursor c = { .f = f, .pos = 0, .label = label, .err = err };
    uint64_t n_tensors, n_kv, *offset_at = NULL;
    int rc = parse_header(&c, &n_tensors, &n_kv);
    if (rc)
        return rc;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    f->kv = calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    f->kv_hash = hash_new((size_t)n_kv, &f->hash_mask_kv);
    f->tensor_hash = hash_new((size_t)n_tensors, &f->hash_mask_tensor);
    offset_at = calloc(n_tensors ? n_tensors : 1, sizeof *offset_at);
    if (!f->kv || !f->tensors || !f->kv_hash || !f->tensor_hash || !offset_at) {
        rc = mm_error_set(err, MM_ENOMEM, "%s: out of memory", label);
        goto done;
    }
    for (size_t i = 0; i < n_kv; i++)
        if ((rc = parse_kv(&c, i)) != 0)
            goto done;
    for (size_t i = 0; i < n_tensors; i++)
        if ((rc = parse_tensor_info(&c, i, &offset_at[i])) != 0)
            goto done;
    c.what[0] = '\0';
    uint64_t pad = (f->alignment - c.pos % f->alignment) % f->alignment;
    if (__builtin_add_overflow(c.pos, pad, &f->data_offset)) {
        rc = fail_at(&c, c.pos, "data section offset overflows");
        goto done;
    }
    /* A vocabulary-only file may end without the padding; with tensors the
     * data section must start inside the file. */
    if (n_tensors > 0 && f->data_offset > f->size) {
        rc = fail_at(&c, c.pos, "data section (aligned to %u) starts at %llu, past the end "
                     "of the file (%llu bytes)", f->alignment,
                     (unsigned long long)f->data_offset, (unsigned long long)f->size);
        goto done;
    }
    if (n_tensors == 0 && f->data_offset > f->size)
        f->data_offset = f->size;   /* the empty data section starts at the end */
    for (size_t i = 0; i < n_tensors; i++)
        if ((rc = check_tensor_data(&c, i, offset_at[i])) != 0)
            goto done;
done:
    free(offset_at);
    return rc;
}

static int open_mapped(const uint8_t *data, uint64_t size, void *map, const char *label,
                       gguf_file **out, mm_error *err)
{
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        if (map)
            munmap(map, (size_t)size);
        return mm_error_set(err, MM_ENOMEM, "%s: out of memory", label);
    }
    f->base = data;
    f->size = size;
    f->map = map;
    int rc = parse_file(f, label, err);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int gguf_open_buffer(const void *data, size_t size, gguf_file **out, mm_error *err)
{
    *out = NULL;
    if (!data && size)
        return mm_error_set(err, MM_EINVAL, "gguf_open_buffer: NULL data");
    static const uint8_t empty[1];
    return open_mapped(data ? data : empty, size, NULL, "GGUF buffer", out, err);
}

int gguf_open(const char *path, gguf_file **out, mm_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mm_error_set(err, errno == ENOENT ? MM_ENOTFOUND : MM_EIO, "%s: cannot open: %s",
                            path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = mm_error_set(err, MM_EIO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mm_error_set(err, MM_EIO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HEADER_SIZE || size > SIZE_MAX) {
        close(fd);
        return mm_error_set(err, MM_EFORMAT, "%s: not a GGUF file (%llu bytes is too small or too large)",
                            path, (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (map == MAP_FAILED)
        return mm_error_set(err, MM_EIO, "%s: cannot map: %s", path, strerror(saved));
    return open_mapped(map, size, map, path, out, err);
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_kv; i++)
        free(f->kv[i].key);
    for (size_t i = 0; i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    free(f->index);
    free(f->kv_hash);
    free(f->tensor_hash);
    if (f->map)
        munmap(f->map, (size_t)f->size);
    free(f);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }

size_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }

const char *gguf_kv_key(const gguf_file *f, size_t i)
{
    return i < f->n_kv ? f->kv[i].key : NULL;
}

gguf_type gguf_kv_type(const gguf_file *f, size_t i)
{
    return i < f->n_kv ? f->kv[i].type : GGUF_TYPE_COUNT;
}

int64_t gguf_find_key(const gguf_file *f, const char *key)
{
    return hash_find(f->kv_hash, f->hash_mask_kv, key, kv_name, f);
}

size_t gguf_tensor_count(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    int64_t i = hash_find(f->tensor_hash, f->hash_mask_tensor, name, tensor_name, f);
    return i < 0 ? NULL : &f->tensors[i];
}

const void *gguf_kv_data(const gguf_file *f, size_t i)
{
    return i < f->n_kv ? f->base + f->kv[i].off : NULL;
}

int gguf_kv_arr(const gguf_file *f, size_t i, gguf_arr *out)
{
    if (i >= f->n_kv || f->kv[i].type != GGUF_TYPE_ARRAY)
        return MM_EINVAL;
    *out = f->kv[i].arr;
    return 0;
}

int gguf_arr_str(const gguf_arr *arr, uint64_t i, gguf_str *out)
{
    if (!arr || arr->type != GGUF_TYPE_STRING || i >= arr->count || arr->index_base < 0)
        return MM_EINVAL;
    const gguf_file *f = arr->file;
    uint64_t off = f->index[arr->index_base + (int64_t)i];
    out->len = load_u64(f->base + off);
    out->ptr = (const char *)f->base + off + 8;
    return 0;
}

int gguf_arr_arr(const gguf_arr *arr, uint64_t i, gguf_arr *out)
{
    if (!arr || arr->type != GGUF_TYPE_ARRAY || i >= arr->count || arr->index_base < 0)
        return MM_EINVAL;
    const gguf_file *f = arr->file;
    uint64_t off = f->index[arr->index_base + 2 * (int64_t)i];
    out->type = (gguf_type)load_u32(f->base + off);
    out->count = load_u64(f->base + off + 4);
    out->data = f->base + off + 12;
    out->file = f;
    out->index_base = (int64_t)f->index[arr->index_base + 2 * (int64_t)i + 1];
    return 0;
}
