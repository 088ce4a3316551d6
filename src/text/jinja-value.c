/* jinja-value.c - the values chat templates compute with, held in an arena:
 * Python's truthiness, equality and ordering, and the exact text Python
 * prints for str(), repr() and json.dumps(). */
#include "text/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX_NESTING 200

/* ---- arena ---- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    max_align_t data[];
} arena_chunk;

struct jinja_arena {
    arena_chunk *head;
    size_t total, max;
};

jinja_arena *jinja_arena_new(size_t max_bytes)
{
    jinja_arena *a = calloc(1, sizeof *a);
    if (a)
        a->max = max_bytes;
    return a;
}

void jinja_arena_free(jinja_arena *a)
{
    if (!a)
        return;
    for (arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *jinja_arena_alloc(jinja_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (size > a->max || a->total > a->max - size)
        return NULL;
    arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t chunk = size > 32768 ? size : 65536;
        c = malloc(sizeof *c + chunk);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = chunk;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

/* ---- constructors ---- */

jinja_val jinja_undef(const char *what)
{
    jinja_val v = { .type = JT_UNDEF };
    v.u.s.p = what;
    v.u.s.len = what ? strlen(what) : 0;
    return v;
}
jinja_val jinja_none(void) { return (jinja_val){ .type = JT_NONE }; }
jinja_val jinja_bool(bool b) { jinja_val v = { .type = JT_BOOL }; v.u.b = b; return v; }
jinja_val jinja_int(int64_t i) { jinja_val v = { .type = JT_INT }; v.u.i = i; return v; }
jinja_val jinja_float(double f) { jinja_val v = { .type = JT_FLOAT }; v.u.f = f; return v; }
jinja_val jinja_str(const char *p, size_t len)
{
    jinja_val v = { .type = JT_STR };
    v.u.s.p = p ? p : "";
    v.u.s.len = len;
    return v;
}

jinja_val jinja_str_copy(jinja_ctx *c, const char *p, size_t len)
{
    char *s = jinja_alloc(c, len + 1);
    if (len)
        memcpy(s, p, len);
    return jinja_str(s, len);
}

jinja_val jinja_new_list(jinja_ctx *c)
{
    jinja_val v = { .type = JT_LIST };
    v.u.list = jinja_alloc(c, sizeof *v.u.list);
    return v;
}

jinja_val jinja_new_dict(jinja_ctx *c)
{
    jinja_val v = { .type = JT_DICT };
    v.u.dict = jinja_alloc(c, sizeof *v.u.dict);
    return v;
}

void jinja_list_push(jinja_ctx *c, jinja_list *l, jinja_val v)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jinja_val *items = jinja_alloc(c, cap * sizeof *items);
        if (l->len)
            memcpy(items, l->items, l->len * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = v;
}

jinja_val *jinja_dict_get(jinja_dict *d, jinja_val key)
{
    for (size_t i = 0; i < d->len; i++)
        if (jinja_equal(d->keys[i], key))
            return &d->vals[i];
    return NULL;
}

jinja_val *jinja_dict_get_str(jinja_dict *d, const char *key)
{
    return jinja_dict_get(d, jinja_str(key, strlen(key)));
}

void jinja_dict_set(jinja_ctx *c, jinja_dict *d, jinja_val key, jinja_val v)
{
    jinja_val *slot = jinja_dict_get(d, key);
    if (slot) {
        *slot = v;
        return;
    }
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jinja_val *keys = jinja_alloc(c, cap * sizeof *keys);
        jinja_val *vals = jinja_alloc(c, cap * sizeof *vals);
        if (d->len) {
            memcpy(keys, d->keys, d->len * sizeof *keys);
            memcpy(vals, d->vals, d->len * sizeof *vals);
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->len] = key;
    d->vals[d->len++] = v;
}

/* ---- Python semantics ---- */

bool jinja_is_number(jinja_val v)
{
    return v.type == JT_INT || v.type == JT_FLOAT || v.type == JT_BOOL;
}

double jinja_as_double(jinja_val v)
{
    return v.type == JT_FLOAT ? v.u.f : v.type == JT_INT ? (double)v.u.i : v.u.b ? 1.0 : 0.0;
}

static int64_t as_int(jinja_val v) { return v.type == JT_INT ? v.u.i : v.u.b; }

bool jinja_truthy(jinja_val v)
{
    switch (v.type) {
    case JT_UNDEF: case JT_NONE: return false;
    case JT_BOOL: return v.u.b;
    case JT_INT: return v.u.i != 0;
    case JT_FLOAT: return v.u.f != 0.0;
    case JT_STR: return v.u.s.len > 0;
    case JT_LIST: return v.u.list->is_gen || v.u.list->len > 0;
    case JT_DICT: return v.u.dict->len > 0;
    default: return true;
    }
}

/* Python raises RecursionError on values nested this deep; here they
 * compare unequal (equal) or fail (ordering), and the C stack is safe. */
#define COMPARE_MAX_NESTING 1000

static bool equal_depth(jinja_val a, jinja_val b, int depth);

bool jinja_equal(jinja_val a, jinja_val b)
{
    return equal_depth(a, b, 0);
}

static bool equal_depth(jinja_val a, jinja_val b, int depth)
{
    if (depth > COMPARE_MAX_NESTING)
        return false;
    if (jinja_is_number(a) && jinja_is_number(b)) {
        if (a.type != JT_FLOAT && b.type != JT_FLOAT)
            return as_int(a) == as_int(b);
        return jinja_as_double(a) == jinja_as_double(b);
    }
    if (a.type != b.type)
        return false;
    switch (a.type) {
    case JT_UNDEF: case JT_NONE: return true;
    case JT_STR:
        return a.u.s.len == b.u.s.len && memcmp(a.u.s.p, b.u.s.p, a.u.s.len) == 0;
    case JT_LIST:               /* the same object is equal, as Python's shortcut */
        if (a.u.list == b.u.list || a.u.list->is_gen || b.u.list->is_gen)
            return a.u.list == b.u.list;
        if (a.u.list->is_tuple != b.u.list->is_tuple || a.u.list->len != b.u.list->len)
            return false;
        for (size_t i = 0; i < a.u.list->len; i++)
            if (!equal_depth(a.u.list->items[i], b.u.list->items[i], depth + 1))
                return false;
        return true;
    case JT_DICT:
        if (a.u.dict == b.u.dict)
            return true;
        if (a.u.dict->len != b.u.dict->len)
            return false;
        for (size_t i = 0; i < a.u.dict->len; i++) {
            jinja_val *o = jinja_dict_get(b.u.dict, a.u.dict->keys[i]);
            if (!o || !equal_depth(a.u.dict->vals[i], *o, depth + 1))
                return false;
        }
        return true;
    case JT_NS: return a.u.dict == b.u.dict;
    case JT_MACRO: return a.u.macro == b.u.macro;
    case JT_FUNC: return a.u.func == b.u.func;
    default: return false;
    }
}

const char *jinja_type_name(jinja_val v)
{
    switch (v.type) {
    case JT_UNDEF: return "Undefined";
    case JT_NONE: return "NoneType";
    case JT_BOOL: return "bool";
    case JT_INT: return "int";
    case JT_FLOAT: return "float";
    case JT_STR: return "str";
    case JT_LIST: return v.u.list->is_gen ? "generator" : v.u.list->is_tuple ? "tuple" : "list";
    case JT_DICT: return "dict";
    case JT_NS: return "Namespace";
    case JT_MACRO: return "Macro";
    default: return "function";
    }
}

static int compare_depth(jinja_ctx *c, jinja_val a, jinja_val b, int depth);

int jinja_compare(jinja_ctx *c, jinja_val a, jinja_val b)
{
    return compare_depth(c, a, b, 0);
}

static int compare_depth(jinja_ctx *c, jinja_val a, jinja_val b, int depth)
{
    if (depth > COMPARE_MAX_NESTING)
        jinja_fail(c, MM_ELIMIT, "values nested deeper than %d cannot be compared",
                   COMPARE_MAX_NESTING);
    if (jinja_is_number(a) && jinja_is_number(b)) {
        if (a.type != JT_FLOAT && b.type != JT_FLOAT)
            return (as_int(a) > as_int(b)) - (as_int(a) < as_int(b));
        double x = jinja_as_double(a), y = jinja_as_double(b);
        return (x > y) - (x < y);
    }
    if (a.type == JT_STR && b.type == JT_STR) {
        size_t n = a.u.s.len < b.u.s.len ? a.u.s.len : b.u.s.len;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r)
            return r;
        return (a.u.s.len > b.u.s.len) - (a.u.s.len < b.u.s.len);
    }
    if (a.type == JT_LIST && b.type == JT_LIST && a.u.list->is_tuple == b.u.list->is_tuple) {
        size_t n = a.u.list->len < b.u.list->len ? a.u.list->len : b.u.list->len;
        for (size_t i = 0; i < n; i++) {
            if (!jinja_equal(a.u.list->items[i], b.u.list->items[i]))
                return compare_depth(c, a.u.list->items[i], b.u.list->items[i], depth + 1);
        }
        return (a.u.list->len > b.u.list->len) - (a.u.list->len < b.u.list->len);
    }
    if (a.type == JT_UNDEF || b.type == JT_UNDEF)
        jinja_fail(c, MM_EINVAL, "'%.*s' is undefined",
                   (int)(a.type == JT_UNDEF ? a.u.s.len : b.u.s.len),
                   a.type == JT_UNDEF ? a.u.s.p : b.u.s.p);
    jinja_fail(c, MM_EINVAL, "cannot compare '%s' with '%s'", jinja_type_name(a),
               jinja_type_name(b));
}

/* ---- text ---- */

mm_buf *jinja_buf_new(jinja_ctx *c)
{
    if (c->n_tmp == (int)MM_ARRAY_LEN(c->tmp))
        jinja_fail(c, MM_ELIMIT, "template nested too deeply");
    mm_buf *b = &c->tmp[c->n_tmp++];
    mm_buf_init(b, c->opts.max_output);
    return b;
}

void jinja_buf_put(jinja_ctx *c, mm_buf *b, const char *p, size_t len)
{
    int rc = mm_buf_append(b, p, len);
    if (rc == MM_ELIMIT)
        jinja_fail(c, MM_ELIMIT, "rendered text exceeds %zu bytes", b->max);
    if (rc)
        jinja_fail(c, MM_ENOMEM, "out of memory while rendering");
}

static void put_s(jinja_ctx *c, mm_buf *b, const char *s) { jinja_buf_put(c, b, s, strlen(s)); }

jinja_val jinja_buf_to_str(jinja_ctx *c, mm_buf *b)
{
    MM_ASSERT(c->n_tmp > 0 && &c->tmp[c->n_tmp - 1] == b);
    jinja_val v = jinja_str_copy(c, b->data ? b->data : "", b->len);
    mm_buf_free(b);
    c->n_tmp--;
    return v;
}

/* Python's repr(float): the shortest text that reads back the same. */
static void write_float(jinja_ctx *c, mm_buf *b, double f)
{
    if (isnan(f)) { put_s(c, b, "nan"); return; }
    if (isinf(f)) { put_s(c, b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    int exp = (int)strtol(p + 1, NULL, 10);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int k = 0; k < -exp - 1; k++)
                out[o++] = '0';
            for (size_t k = 0; k < nd; k++)
                out[o++] = digits[k];
        } else {
            for (int k = 0; k <= exp; k++)
                out[o++] = (size_t)k < nd ? digits[k] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < nd) {
                for (size_t k = (size_t)exp + 1; k < nd; k++)
                    out[o++] = digits[k];
            } else {
                out[o++] = '0';
            }
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t k = 1; k < nd; k++)
                out[o++] = digits[k];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    put_s(c, b, out);
}

static void write_int(jinja_ctx *c, mm_buf *b, int64_t i)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)i);
    put_s(c, b, tmp);
}

static void write_repr_str(jinja_ctx *c, mm_buf *b, const char *p, size_t len)
{
    bool has_sq = memchr(p, '\'', len) != NULL, has_dq = memchr(p, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jinja_buf_put(c, b, &q, 1);
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)p[i];
        char esc[16];
        if (ch == '\\' || ch == (unsigned char)q) {
            esc[0] = '\\';
            esc[1] = (char)ch;
            jinja_buf_put(c, b, esc, 2);
            i++;
        } else if (ch == '\n' || ch == '\r' || ch == '\t') {
            put_s(c, b, ch == '\n' ? "\\n" : ch == '\r' ? "\\r" : "\\t");
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            put_s(c, b, esc);
            i++;
        } else if (ch < 0x80) {
            jinja_buf_put(c, b, p + i, 1);
            i++;
        } else {
            size_t adv;
            uint32_t cp = jinja_utf8_decode(p + i, len - i, &adv);
            /* the non-printable code points Python escapes that templates may meet */
            if ((cp >= 0x80 && cp <= 0xA0) || cp == 0xAD) {
                snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
                put_s(c, b, esc);
            } else if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
                put_s(c, b, esc);
            } else {
                jinja_buf_put(c, b, p + i, adv);
            }
            i += adv;
        }
    }
    jinja_buf_put(c, b, &q, 1);
}

static void write_repr_depth(jinja_ctx *c, mm_buf *b, jinja_val v, int depth);

static void write_dict_repr(jinja_ctx *c, mm_buf *b, jinja_dict *d, int depth)
{
    put_s(c, b, "{");
    for (size_t i = 0; i < d->len; i++) {
        if (i)
            put_s(c, b, ", ");
        write_repr_depth(c, b, d->keys[i], depth + 1);
        put_s(c, b, ": ");
        write_repr_depth(c, b, d->vals[i], depth + 1);
    }
    put_s(c, b, "}");
}

static void write_repr_depth(jinja_ctx *c, mm_buf *b, jinja_val v, int depth)
{
    if (depth > VALUE_MAX_NESTING)
        jinja_fail(c, MM_ELIMIT, "value nested deeper than %d levels", VALUE_MAX_NESTING);
    switch (v.type) {
    case JT_UNDEF: put_s(c, b, "Undefined"); break;
    case JT_NONE: put_s(c, b, "None"); break;
    case JT_BOOL: put_s(c, b, v.u.b ? "True" : "False"); break;
    case JT_INT: write_int(c, b, v.u.i); break;
    case JT_FLOAT: write_float(c, b, v.u.f); break;
    case JT_STR: write_repr_str(c, b, v.u.s.p, v.u.s.len); break;
    case JT_LIST: {
        jinja_list *l = v.u.list;
        if (l->is_gen) {
            put_s(c, b, "<generator object>");
            break;
        }
        put_s(c, b, l->is_tuple ? "(" : "[");
        for (size_t i = 0; i < l->len; i++) {
            if (i)
                put_s(c, b, ", ");
            write_repr_depth(c, b, l->items[i], depth + 1);
        }
        if (l->is_tuple && l->len == 1)
            put_s(c, b, ",");
        put_s(c, b, l->is_tuple ? ")" : "]");
        break;
    }
    case JT_DICT:
        if (v.u.dict->is_loop) {
            jinja_val *i = jinja_dict_get_str(v.u.dict, "index");
            jinja_val *n = jinja_dict_get_str(v.u.dict, "length");
            char tmp[64];
            snprintf(tmp, sizeof tmp, "<LoopContext %lld/%lld>", i ? (long long)i->u.i : 0LL,
                     n ? (long long)n->u.i : 0LL);
            put_s(c, b, tmp);
            break;
        }
        write_dict_repr(c, b, v.u.dict, depth);
        break;
    case JT_NS:
        put_s(c, b, "<Namespace ");
        write_dict_repr(c, b, v.u.dict, depth);
        put_s(c, b, ">");
        break;
    case JT_MACRO: put_s(c, b, "<Macro '"); put_s(c, b, v.u.macro->name); put_s(c, b, "'>"); break;
    default:
        put_s(c, b, v.u.func == JF_METHOD ? "<built-in method>" : "<built-in function>");
        break;
    }
}

void jinja_write_repr(jinja_ctx *c, mm_buf *b, jinja_val v)
{
    write_repr_depth(c, b, v, 0);
}

void jinja_write_str(jinja_ctx *c, mm_buf *b, jinja_val v)
{
    if (v.type == JT_STR)
        jinja_buf_put(c, b, v.u.s.p, v.u.s.len);
    else if (v.type != JT_UNDEF)
        write_repr_depth(c, b, v, 0);
}

jinja_val jinja_to_str(jinja_ctx *c, jinja_val v)
{
    if (v.type == JT_STR)
        return v;
    if (v.type == JT_UNDEF)
        return jinja_str("", 0);
    mm_buf *b = jinja_buf_new(c);
    jinja_write_str(c, b, v);
    return jinja_buf_to_str(c, b);
}

/* ---- JSON (json.dumps) ---- */

typedef struct json_opts {
    bool ensure_ascii, sort_keys;
    const char *indent, *item_sep, *key_sep;
} json_opts;

static void write_json_str(jinja_ctx *c, mm_buf *b, const char *p, size_t len, bool ascii)
{
    put_s(c, b, "\"");
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)p[i];
        char esc[16];
        const char *simple = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\n' ? "\\n" :
                             ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : ch == '\b' ? "\\b" :
                             ch == '\f' ? "\\f" : NULL;
        if (simple) {
            put_s(c, b, simple);
            i++;
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            put_s(c, b, esc);
            i++;
        } else if (ch >= 0x80 && ascii) {
            size_t adv;
            uint32_t cp = jinja_utf8_decode(p + i, len - i, &adv);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xD800 | (v >> 10)),
                         (unsigned)(0xDC00 | (v & 0x3FF)));
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            }
            put_s(c, b, esc);
            i += adv;
        } else {
            size_t j = i + 1;
            while (j < len && (unsigned char)p[j] >= 0x20 && p[j] != '"' && p[j] != '\\' &&
                   !(ascii && (unsigned char)p[j] >= 0x80))
                j++;
            jinja_buf_put(c, b, p + i, j - i);
            i = j;
        }
    }
    put_s(c, b, "\"");
}

static void json_newline(jinja_ctx *c, mm_buf *b, const json_opts *o, int level)
{
    put_s(c, b, "\n");
    for (int k = 0; k < level; k++)
        put_s(c, b, o->indent);
}

static void write_json_depth(jinja_ctx *c, mm_buf *b, jinja_val v, const json_opts *o, int level);

static void write_json_key(jinja_ctx *c, mm_buf *b, jinja_val k, const json_opts *o)
{
    if (k.type == JT_STR) {
        write_json_str(c, b, k.u.s.p, k.u.s.len, o->ensure_ascii);
        return;
    }
    put_s(c, b, "\"");
    if (k.type == JT_BOOL)
        put_s(c, b, k.u.b ? "true" : "false");
    else if (k.type == JT_NONE)
        put_s(c, b, "null");
    else if (k.type == JT_INT || k.type == JT_FLOAT)
        jinja_write_repr(c, b, k);
    else
        jinja_fail(c, MM_EINVAL, "keys must be str, int, float, bool or None, not %s",
                   jinja_type_name(k));
    put_s(c, b, "\"");
}

static void write_json_dict(jinja_ctx *c, mm_buf *b, jinja_dict *d, const json_opts *o, int level)
{
    if (d->len == 0) {
        put_s(c, b, "{}");
        return;
    }
    size_t *order = jinja_alloc(c, d->len * sizeof *order);
    for (size_t i = 0; i < d->len; i++)
        order[i] = i;
    if (o->sort_keys) {          /* insertion sort: stable, dicts are small */
        for (size_t i = 1; i < d->len; i++) {
            size_t x = order[i], j = i;
            while (j > 0 && jinja_compare(c, d->keys[order[j - 1]], d->keys[x]) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
    }
    put_s(c, b, "{");
    for (size_t i = 0; i < d->len; i++) {
        if (i)
            put_s(c, b, o->item_sep);
        if (o->indent)
            json_newline(c, b, o, level + 1);
        write_json_key(c, b, d->keys[order[i]], o);
        put_s(c, b, o->key_sep);
        write_json_depth(c, b, d->vals[order[i]], o, level + 1);
    }
    if (o->indent)
        json_newline(c, b, o, level);
    put_s(c, b, "}");
}

static void write_json_depth(jinja_ctx *c, mm_buf *b, jinja_val v, const json_opts *o, int level)
{
    if (level > VALUE_MAX_NESTING)
        jinja_fail(c, MM_ELIMIT, "value nested deeper than %d levels", VALUE_MAX_NESTING);
    switch (v.type) {
    case JT_NONE: put_s(c, b, "null"); break;
    case JT_BOOL: put_s(c, b, v.u.b ? "true" : "false"); break;
    case JT_INT: write_int(c, b, v.u.i); break;
    case JT_FLOAT:
        if (isnan(v.u.f))
            put_s(c, b, "NaN");
        else if (isinf(v.u.f))
            put_s(c, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else
            write_float(c, b, v.u.f);
        break;
    case JT_STR: write_json_str(c, b, v.u.s.p, v.u.s.len, o->ensure_ascii); break;
    case JT_LIST: {
        jinja_list *l = v.u.list;
        if (l->is_gen)
            jinja_fail(c, MM_EINVAL, "Object of type generator is not JSON serializable");
        if (l->len == 0) {
            put_s(c, b, "[]");
            break;
        }
        put_s(c, b, "[");
        for (size_t i = 0; i < l->len; i++) {
            if (i)
                put_s(c, b, o->item_sep);
            if (o->indent)
                json_newline(c, b, o, level + 1);
            write_json_depth(c, b, l->items[i], o, level + 1);
        }
        if (o->indent)
            json_newline(c, b, o, level);
        put_s(c, b, "]");
        break;
    }
    case JT_DICT: write_json_dict(c, b, v.u.dict, o, level); break;
    default:
        jinja_fail(c, MM_EINVAL, "Object of type %s is not JSON serializable",
                   jinja_type_name(v));
    }
}

void jinja_write_json(jinja_ctx *c, mm_buf *b, jinja_val v, bool ensure_ascii,
                      const char *indent, const char *item_sep, const char *key_sep,
                      bool sort_keys)
{
    json_opts o = { ensure_ascii, sort_keys, indent, item_sep, key_sep };
    if (!o.item_sep)
        o.item_sep = indent ? "," : ", ";
    if (!o.key_sep)
        o.key_sep = ": ";
    write_json_depth(c, b, v, &o, 0);
}

jinja_val jinja_from_json(jinja_ctx *c, const cJSON *j, int depth)
{
    if (depth > VALUE_MAX_NESTING)
        jinja_fail(c, MM_ELIMIT, "context JSON nested deeper than %d levels", VALUE_MAX_NESTING);
    if (cJSON_IsNull(j))
        return jinja_none();
    if (cJSON_IsBool(j))
        return jinja_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        /* cJSON keeps no int/float distinction: integral values are ints */
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            return jinja_int((int64_t)d);
        return jinja_float(d);
    }
    if (cJSON_IsString(j))
        return jinja_str(j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        jinja_val l = jinja_new_list(c);
        for (const cJSON *it = j->child; it; it = it->next)
            jinja_list_push(c, l.u.list, jinja_from_json(c, it, depth + 1));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jinja_val d = jinja_new_dict(c);
        for (const cJSON *it = j->child; it; it = it->next)
            jinja_dict_set(c, d.u.dict, jinja_str(it->string, strlen(it->string)),
                           jinja_from_json(c, it, depth + 1));
        return d;
    }
    return jinja_none();
}
