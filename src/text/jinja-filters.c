/* jinja-filters.c - the Jinja2 filters chat templates use, with Jinja2's
 * semantics (filters.py), and transformers' tojson (json.dumps that keeps
 * non-ASCII text). */
#include "text/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef jinja_val (*filter_fn)(jinja_ctx *c, jinja_val v, const jinja_args *a);

/* Argument pos (0 = first after the value) or keyword name, else def. */
static jinja_val arg(const jinja_args *a, size_t pos, const char *name, jinja_val def)
{
    for (size_t k = 0; k < a->n_kw; k++)
        if (name && strcmp(a->kw_names[k], name) == 0)
            return a->kw_vals[k];
    return pos < a->n_pos ? a->pos[pos] : def;
}

static jinja_val str_arg(jinja_ctx *c, const jinja_args *a, size_t pos, const char *name,
                         const char *def)
{
    jinja_val v = arg(a, pos, name, jinja_undef(NULL));
    if (v.type == JT_UNDEF)
        return def ? jinja_str(def, strlen(def)) : v;
    return jinja_to_str(c, v);
}

static jinja_val change_case(jinja_ctx *c, jinja_val v, int mode)
{
    return jinja_change_case(c, jinja_to_str(c, v), mode);
}

static int64_t len_of(jinja_ctx *c, jinja_val v)
{
    switch (v.type) {
    case JT_STR: return (int64_t)jinja_utf8_len(v.u.s.p, v.u.s.len);
    case JT_LIST:
        if (!v.u.list->is_gen)
            return (int64_t)v.u.list->len;
        break;
    case JT_DICT: case JT_NS: return (int64_t)v.u.dict->len;
    case JT_UNDEF: return 0;
    default:
        break;
    }
    {
        jinja_fail(c, MM_EINVAL, "object of type '%s' has no len()", jinja_type_name(v));
    }
}

static jinja_val f_length(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return jinja_int(len_of(c, v));
}

static jinja_val f_upper(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return change_case(c, v, 'U');
}

static jinja_val f_lower(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return change_case(c, v, 'L');
}

static jinja_val f_capitalize(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return change_case(c, v, 'C');
}

/* Jinja's title: each piece split at runs of [-\s({[<] gets its first
 * character upper-cased and the rest lower-cased. */
static jinja_val f_title(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return change_case(c, v, 'J');
}

static jinja_val trim_chars(jinja_ctx *c, jinja_val v, jinja_val chars, bool left, bool right)
{
    v = jinja_to_str(c, v);
    size_t b = 0, e = v.u.s.len;
    const char *set = NULL;
    size_t set_len = 0;
    if (chars.type == JT_STR) {
        set = chars.u.s.p;
        set_len = chars.u.s.len;
    }
    const char *s = v.u.s.p;
    for (size_t n; left && b < e; b += n)
        if (!(n = set ? (memchr(set, s[b], set_len) != NULL) : jinja_space_len(s + b, e - b)))
            break;
    for (size_t n; right && e > b; e -= n)
        if (!(n = set ? (memchr(set, s[e - 1], set_len) != NULL) : jinja_space_len_back(s + b, e - b)))
            break;
    return jinja_str(s + b, e - b);
}

static jinja_val f_trim(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return trim_chars(c, v, arg(a, 0, "chars", jinja_none()), true, true);
}

static jinja_val f_string(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return jinja_to_str(c, v);
}

static jinja_val f_safe(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    v = jinja_to_str(c, v);
    v.safe = true;
    return v;
}

/* A generator-like result: lazily-evaluated in Jinja2 (map, select, ...). */
static jinja_val gen(jinja_val l)
{
    l.u.list->is_gen = true;
    return l;
}

jinja_val jinja_escape(jinja_ctx *c, jinja_val v)
{
    if (v.type == JT_STR && v.safe)
        return v;
    v = jinja_to_str(c, v);
    mm_buf *b = jinja_buf_new(c);
    for (size_t i = 0; i < v.u.s.len; i++) {
        char ch = v.u.s.p[i];
        const char *rep = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" :
                          ch == '"' ? "&#34;" : ch == '\'' ? "&#39;" : NULL;
        if (rep)
            jinja_buf_put(c, b, rep, strlen(rep));
        else
            jinja_buf_put(c, b, &ch, 1);
    }
    v = jinja_buf_to_str(c, b);
    v.safe = true;
    return v;
}

static jinja_val f_escape(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return jinja_escape(c, v);
}

static jinja_val f_tojson(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val ensure_ascii = arg(a, 0, "ensure_ascii", jinja_bool(false));
    jinja_val indent = arg(a, 1, "indent", jinja_none());
    jinja_val seps = arg(a, 2, "separators", jinja_none());
    jinja_val sort_keys = arg(a, 3, "sort_keys", jinja_bool(false));
    char spaces[64];
    const char *ind = NULL;
    if (indent.type == JT_INT || indent.type == JT_BOOL) {
        int64_t i = indent.type == JT_INT ? indent.u.i : indent.u.b;
        int64_t n = i < 0 ? 0 : i > 32 ? 32 : i;
        memset(spaces, ' ', (size_t)n);
        spaces[n] = '\0';
        ind = spaces;
    } else if (indent.type == JT_STR) {
        ind = jinja_str_copy(c, indent.u.s.p, indent.u.s.len).u.s.p;
    } else if (indent.type != JT_NONE) {
        jinja_fail(c, MM_EINVAL, "tojson indent must be an integer, a string or none");
    }
    const char *item_sep = NULL, *key_sep = NULL;
    if (seps.type != JT_NONE) {  /* item_separator, key_separator = separators */
        jinja_list *l = jinja_iterable(c, seps);
        if (l->len != 2)
            jinja_fail(c, MM_EINVAL, "%s values to unpack (expected 2, got %zu)",
                       l->len > 2 ? "too many" : "not enough", l->len);
        for (int k = 0; k < 2; k++) {
            if (l->items[k].type != JT_STR)
                jinja_fail(c, MM_EINVAL, "tojson separators must be strings");
            const char *sep = jinja_str_copy(c, l->items[k].u.s.p, l->items[k].u.s.len).u.s.p;
            *(k ? &key_sep : &item_sep) = sep;
        }
    }
    mm_buf *b = jinja_buf_new(c);
    jinja_write_json(c, b, v, jinja_truthy(ensure_ascii), ind, item_sep, key_sep,
                     jinja_truthy(sort_keys));
    return jinja_buf_to_str(c, b);
}

static jinja_val f_items(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val out = gen(jinja_new_list(c));
    if (v.type == JT_UNDEF)
        return out;
    if (v.type != JT_DICT) {    /* a generator: the error comes when it is iterated */
        out.u.list->fail_msg = "can only get item pairs from a mapping";
        return out;
    }
    for (size_t i = 0; i < v.u.dict->len; i++) {
        jinja_val pair = jinja_new_list(c);
        pair.u.list->is_tuple = true;
        jinja_list_push(c, pair.u.list, v.u.dict->keys[i]);
        jinja_list_push(c, pair.u.list, v.u.dict->vals[i]);
        jinja_list_push(c, out.u.list, pair);
    }
    return out;
}

/* Attribute path "a.b.0" looked up with getitem, as make_attrgetter does. */
static jinja_val get_path(jinja_ctx *c, jinja_val item, jinja_val attr)
{
    if (attr.type != JT_STR)
        return jinja_getitem(c, item, attr);
    const char *p = attr.u.s.p, *end = p + attr.u.s.len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        int64_t idx;
        char tmp[24];
        jinja_val key = jinja_str(p, n);
        if (n > 0 && n < sizeof tmp) {
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            if (tmp[0] >= '0' && tmp[0] <= '9' && mm_parse_i64(tmp, 0, INT64_MAX, &idx) == 0)
                key = jinja_int(idx);
        }
        item = jinja_getitem(c, item, key);
        if (!dot)
            break;
        p = dot + 1;
    }
    return item;
}

static jinja_val f_join(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val sep = str_arg(c, a, 0, "d", "");
    jinja_val attr = arg(a, 1, "attribute", jinja_none());
    jinja_list *l = jinja_iterable(c, v);
    mm_buf *b = jinja_buf_new(c);
    for (size_t i = 0; i < l->len; i++) {
        jinja_step(c);
        if (i)
            jinja_buf_put(c, b, sep.u.s.p, sep.u.s.len);
        jinja_val item = attr.type == JT_NONE ? l->items[i] : get_path(c, l->items[i], attr);
        jinja_write_str(c, b, item);
    }
    return jinja_buf_to_str(c, b);
}

static jinja_val f_first(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_list *l = jinja_iterable(c, v);
    return l->len ? l->items[0] : jinja_undef("no first item, sequence was empty");
}

static jinja_val f_last(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    if (v.type == JT_LIST && v.u.list->is_gen)
        jinja_fail(c, MM_EINVAL, "'generator' object is not reversible");
    jinja_list *l = jinja_iterable(c, v);
    return l->len ? l->items[l->len - 1] : jinja_undef("no last item, sequence was empty");
}

static jinja_val f_list(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_list *l = jinja_iterable(c, v);
    jinja_val out = jinja_new_list(c);
    for (size_t i = 0; i < l->len; i++)
        jinja_list_push(c, out.u.list, l->items[i]);
    return out;
}

static jinja_val f_default(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val def = arg(a, 0, "default_value", jinja_str("", 0));
    bool boolean = jinja_truthy(arg(a, 1, "boolean", jinja_bool(false)));
    if (v.type == JT_UNDEF || (boolean && !jinja_truthy(v)))
        return def;
    return v;
}

static jinja_val f_replace(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val old = str_arg(c, a, 0, "old", "");
    jinja_val rep = str_arg(c, a, 1, "new", "");
    jinja_val count = arg(a, 2, "count", jinja_none());
    jinja_args m = { 0 };
    jinja_val pos[3] = { old, rep, count.type == JT_NONE ? jinja_int(-1) : count };
    m.pos = pos;
    m.n_pos = 3;
    bool found;
    return jinja_call_method(c, jinja_to_str(c, v), "replace", &m, &found);
}

static jinja_val f_int(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val def = arg(a, 0, "default", jinja_int(0));
    if (v.type == JT_INT)
        return v;
    if (v.type == JT_BOOL)
        return jinja_int(v.u.b);
    if (v.type == JT_FLOAT)
        return isfinite(v.u.f) && fabs(v.u.f) < 9.2e18 ? jinja_int((int64_t)v.u.f) : def;
    if (v.type == JT_STR) {
        char tmp[64];
        jinja_val t = trim_chars(c, v, jinja_none(), true, true);
        if (t.u.s.len == 0 || t.u.s.len >= sizeof tmp)
            return def;
        size_t o = 0;
        for (size_t i = 0; i < t.u.s.len; i++)
            if (t.u.s.p[i] != '_')
                tmp[o++] = t.u.s.p[i];
        tmp[o] = '\0';
        int64_t n;
        if (mm_parse_i64(tmp[0] == '+' ? tmp + 1 : tmp, INT64_MIN, INT64_MAX, &n) == 0)
            return jinja_int(n);
        char *end;
        double d = strtod(tmp, &end);
        if (*end == '\0' && isfinite(d) && fabs(d) < 9.2e18)
            return jinja_int((int64_t)d);
    }
    return def;
}

static jinja_val f_float(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val def = arg(a, 0, "default", jinja_float(0.0));
    if (jinja_is_number(v))
        return jinja_float(jinja_as_double(v));
    if (v.type == JT_STR) {
        char tmp[64];
        jinja_val t = trim_chars(c, v, jinja_none(), true, true);
        if (t.u.s.len == 0 || t.u.s.len >= sizeof tmp)
            return def;
        memcpy(tmp, t.u.s.p, t.u.s.len);
        tmp[t.u.s.len] = '\0';
        char *end;
        double d = strtod(tmp, &end);
        if (*end == '\0')
            return jinja_float(d);
    }
    return def;
}

static jinja_val f_abs(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    if (v.type == JT_INT && v.u.i != INT64_MIN)
        return jinja_int(v.u.i < 0 ? -v.u.i : v.u.i);
    if (v.type == JT_BOOL)
        return jinja_int(v.u.b);
    if (v.type == JT_FLOAT)
        return jinja_float(fabs(v.u.f));
    jinja_fail(c, MM_EINVAL, "bad operand type for abs(): '%s'", jinja_type_name(v));
}

static jinja_val f_round(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val prec = arg(a, 0, "precision", jinja_int(0));
    jinja_val method = str_arg(c, a, 1, "method", "common");
    if (!jinja_is_number(v) || prec.type != JT_INT)
        jinja_fail(c, MM_EINVAL, "round needs a number and an integer precision");
    double x = jinja_as_double(v), scale = pow(10.0, (double)prec.u.i);
    if (method.u.s.len == 4 && memcmp(method.u.s.p, "ceil", 4) == 0)
        return jinja_float(ceil(x * scale) / scale);
    if (method.u.s.len == 5 && memcmp(method.u.s.p, "floor", 5) == 0)
        return jinja_float(floor(x * scale) / scale);
    if (!(method.u.s.len == 6 && memcmp(method.u.s.p, "common", 6) == 0))
        jinja_fail(c, MM_EINVAL, "method must be common, ceil or floor");
    if (v.type != JT_FLOAT) {   /* round(int, n) stays an int in Python */
        int64_t i = v.type == JT_INT ? v.u.i : v.u.b;
        if (prec.u.i >= 0)
            return jinja_int(i);
        if (prec.u.i < -18)
            return jinja_int(0);
        int64_t p = 1;
        for (int64_t k = 0; k < -prec.u.i; k++)
            p *= 10;
        int64_t q = i / p, r = i % p;
        if (r < 0) {
            q--;
            r += p;
        }
        if (2 * r > p || (2 * r == p && (q & 1)))
            q++;
        return jinja_int(q * p);
    }
    if (!isfinite(x) || prec.u.i > 300 || prec.u.i < -300)
        return jinja_float(x);
    /* Python's round(): correctly rounded, ties to even, as printf does */
    char tmp[400];
    if (prec.u.i >= 0) {
        snprintf(tmp, sizeof tmp, "%.*f", (int)prec.u.i, x);
        return jinja_float(strtod(tmp, NULL));
    }
    double r = nearbyint(x * scale) / scale;
    return jinja_float(r);
}

static jinja_val f_indent(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val width = arg(a, 0, "width", jinja_int(4));
    bool first = jinja_truthy(arg(a, 1, "first", jinja_bool(false)));
    bool blank = jinja_truthy(arg(a, 2, "blank", jinja_bool(false)));
    jinja_val ind;
    if (width.type == JT_STR) {
        ind = width;
    } else if (width.type == JT_INT) {
        mm_buf *b = jinja_buf_new(c);
        for (int64_t k = 0; k < width.u.i && k < 1000; k++)
            jinja_buf_put(c, b, " ", 1);
        ind = jinja_buf_to_str(c, b);
    } else {
        jinja_fail(c, MM_EINVAL, "indent width must be an integer or a string");
    }
    /* Jinja2 starts with s += "\n", which only a string survives */
    if (v.type == JT_UNDEF)
        jinja_fail_undefined(c, v);
    if (v.type != JT_STR)
        jinja_fail(c, MM_EINVAL, "indent needs a string, not '%s'", jinja_type_name(v));
    /* then split into lines as str.splitlines() does */
    size_t n = v.u.s.len + 1;
    char *s = jinja_alloc(c, n + 1);
    memcpy(s, v.u.s.p, v.u.s.len);
    s[n - 1] = '\n';
    mm_buf *b = jinja_buf_new(c);
    if (first)
        jinja_buf_put(c, b, ind.u.s.p, ind.u.s.len);
    size_t i = 0, line_no = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n' && s[e] != '\r' && s[e] != '\v' && s[e] != '\f' &&
               !(s[e] >= 0x1c && s[e] <= 0x1e))
            e++;
        if (line_no > 0) {
            jinja_buf_put(c, b, "\n", 1);
            if (blank || e > i)
                jinja_buf_put(c, b, ind.u.s.p, ind.u.s.len);
        }
        jinja_buf_put(c, b, s + i, e - i);
        line_no++;
        if (e >= n)
            break;
        i = e + ((s[e] == '\r' && e + 1 < n && s[e + 1] == '\n') ? 2 : 1);
    }
    return jinja_buf_to_str(c, b);
}

/* Stable merge sort of items by key, comparing with Python's ordering. */
static void sort_vals(jinja_ctx *c, jinja_val *items, jinja_val *keys, size_t n, bool reverse)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_vals(c, items, keys, h, reverse);
    sort_vals(c, items + h, keys + h, n - h, reverse);
    jinja_val *ti = jinja_alloc(c, n * sizeof *ti), *tk = jinja_alloc(c, n * sizeof *tk);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        jinja_step(c);
        int cmp = jinja_compare(c, keys[j], keys[i]);
        bool take_right = reverse ? cmp > 0 : cmp < 0;
        size_t k = take_right ? j++ : i++;
        ti[o] = items[k];
        tk[o++] = keys[k];
    }
    for (; i < h; i++, o++) { ti[o] = items[i]; tk[o] = keys[i]; }
    for (; j < n; j++, o++) { ti[o] = items[j]; tk[o] = keys[j]; }
    memcpy(items, ti, n * sizeof *ti);
    memcpy(keys, tk, n * sizeof *tk);
}

static jinja_val sort_key(jinja_ctx *c, jinja_val item, jinja_val attr, bool case_sensitive)
{
    jinja_val k = attr.type == JT_NONE ? item : get_path(c, item, attr);
    if (!case_sensitive && k.type == JT_STR)
        k = change_case(c, k, 'L');
    return k;
}

static jinja_val f_sort(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val rev = arg(a, 0, "reverse", jinja_bool(false));
    if (rev.type != JT_BOOL && rev.type != JT_INT)   /* sorted(reverse=) wants an int */
        jinja_fail(c, MM_EINVAL, "'%s' object cannot be interpreted as an integer",
                   jinja_type_name(rev));
    bool reverse = jinja_truthy(rev);
    bool cs = jinja_truthy(arg(a, 1, "case_sensitive", jinja_bool(false)));
    jinja_val attr = arg(a, 2, "attribute", jinja_none());
    jinja_val out = f_list(c, v, a);
    jinja_list *l = out.u.list;
    jinja_val *keys = jinja_alloc(c, (l->len + 1) * sizeof *keys);
    for (size_t i = 0; i < l->len; i++)
        keys[i] = sort_key(c, l->items[i], attr, cs);
    sort_vals(c, l->items, keys, l->len, reverse);
    return out;
}

static jinja_val f_dictsort(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    bool cs = jinja_truthy(arg(a, 0, "case_sensitive", jinja_bool(false)));
    jinja_val by = str_arg(c, a, 1, "by", "key");
    bool reverse = jinja_truthy(arg(a, 2, "reverse", jinja_bool(false)));
    bool by_value = by.u.s.len == 5 && memcmp(by.u.s.p, "value", 5) == 0;
    if (v.type != JT_DICT && v.type != JT_UNDEF)
        jinja_fail(c, MM_EINVAL, "can only sort a mapping by key or value");
    jinja_args none = { 0 };
    jinja_val out = f_items(c, v, &none);
    jinja_list *l = out.u.list;
    l->is_gen = false;
    jinja_val *keys = jinja_alloc(c, (l->len + 1) * sizeof *keys);
    for (size_t i = 0; i < l->len; i++)
        keys[i] = sort_key(c, l->items[i].u.list->items[by_value ? 1 : 0], jinja_none(), cs);
    sort_vals(c, l->items, keys, l->len, reverse);
    return out;
}

static jinja_val f_unique(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    bool cs = jinja_truthy(arg(a, 0, "case_sensitive", jinja_bool(false)));
    jinja_val attr = arg(a, 1, "attribute", jinja_none());
    jinja_list *l = jinja_iterable(c, v);
    jinja_val out = jinja_new_list(c), seen = jinja_new_list(c);
    for (size_t i = 0; i < l->len; i++) {
        jinja_step(c);
        jinja_val k = sort_key(c, l->items[i], attr, cs);
        bool dup = false;
        for (size_t j = 0; j < seen.u.list->len && !dup; j++)
            dup = jinja_equal(seen.u.list->items[j], k);
        if (!dup) {
            jinja_list_push(c, seen.u.list, k);
            jinja_list_push(c, out.u.list, l->items[i]);
        }
    }
    return gen(out);
}

static jinja_val f_reverse(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_list *l = jinja_iterable(c, v);
    jinja_val out = jinja_new_list(c);
    for (size_t i = l->len; i > 0; i--)
        jinja_list_push(c, out.u.list, l->items[i - 1]);
    /* reversed() of a list or dict is an iterator; a generator cannot be
     * reversed, so Jinja2 falls back to a reversed list */
    if (v.type == JT_LIST && v.u.list->is_gen)
        return out;
    if (v.type != JT_STR)
        return gen(out);
    mm_buf *b = jinja_buf_new(c);
    for (size_t i = 0; i < out.u.list->len; i++)
        jinja_write_str(c, b, out.u.list->items[i]);
    return jinja_buf_to_str(c, b);
}

/* The rest of the args, after skipping the first `skip` positionals. */
static jinja_args rest_args(const jinja_args *a, size_t skip)
{
    jinja_args r = *a;
    r.pos = a->n_pos > skip ? a->pos + skip : NULL;
    r.n_pos = a->n_pos > skip ? a->n_pos - skip : 0;
    return r;
}

static int id_from_arg(jinja_ctx *c, jinja_val name, bool is_test)
{
    if (name.type != JT_STR || name.u.s.len >= 64)
        jinja_fail(c, MM_EINVAL, "%s name must be a string", is_test ? "test" : "filter");
    char tmp[64];
    memcpy(tmp, name.u.s.p, name.u.s.len);
    tmp[name.u.s.len] = '\0';
    int id = is_test ? jinja_test_id(tmp) : jinja_filter_id(tmp);
    if (id < 0)
        jinja_fail(c, MM_EINVAL, "no %s named '%s'", is_test ? "test" : "filter", tmp);
    return id;
}

static jinja_val f_map(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val out = gen(jinja_new_list(c));
    if (!jinja_truthy(v))       /* Jinja2 checks "if value:" before iterating */
        return out;
    jinja_list *l = jinja_iterable(c, v);
    jinja_val attr = arg(a, 99, "attribute", jinja_undef(NULL));
    if (attr.type != JT_UNDEF) {
        jinja_val def = arg(a, 99, "default", jinja_undef(NULL));
        for (size_t i = 0; i < l->len; i++) {
            jinja_step(c);
            jinja_val x = get_path(c, l->items[i], attr);
            jinja_list_push(c, out.u.list, x.type == JT_UNDEF && def.type != JT_UNDEF ? def : x);
        }
        return out;
    }
    if (a->n_pos == 0)
        jinja_fail(c, MM_EINVAL, "map requires a filter name or attribute=");
    int id = id_from_arg(c, a->pos[0], false);
    jinja_args rest = rest_args(a, 1);
    for (size_t i = 0; i < l->len; i++) {
        jinja_step(c);
        jinja_list_push(c, out.u.list, jinja_apply_filter(c, id, l->items[i], &rest));
    }
    return out;
}

/* select/reject (attr == false) and selectattr/rejectattr (attr == true). */
static jinja_val select_common(jinja_ctx *c, jinja_val v, const jinja_args *a, bool attr, bool keep)
{
    jinja_val out = gen(jinja_new_list(c));
    if (!jinja_truthy(v))
        return out;
    jinja_list *l = jinja_iterable(c, v);
    size_t skip = attr ? 1 : 0;
    if (attr && a->n_pos == 0)
        jinja_fail(c, MM_EINVAL, "missing parameter for attribute name");
    int id = a->n_pos > skip ? id_from_arg(c, a->pos[skip], true) : -1;
    jinja_args rest = rest_args(a, skip + 1);
    for (size_t i = 0; i < l->len; i++) {
        jinja_step(c);
        jinja_val x = attr ? get_path(c, l->items[i], a->pos[0]) : l->items[i];
        bool ok = id < 0 ? jinja_truthy(x) : jinja_apply_test(c, id, x, &rest);
        if (ok == keep)
            jinja_list_push(c, out.u.list, l->items[i]);
    }
    return out;
}

static jinja_val f_select(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return select_common(c, v, a, false, true);
}
static jinja_val f_reject(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return select_common(c, v, a, false, false);
}
static jinja_val f_selectattr(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return select_common(c, v, a, true, true);
}
static jinja_val f_rejectattr(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    return select_common(c, v, a, true, false);
}

static jinja_val f_sum(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    jinja_val attr = arg(a, 0, "attribute", jinja_none());
    jinja_val total = arg(a, 1, "start", jinja_int(0));
    jinja_list *l = jinja_iterable(c, v);
    for (size_t i = 0; i < l->len; i++) {
        jinja_val x = attr.type == JT_NONE ? l->items[i] : get_path(c, l->items[i], attr);
        if (!jinja_is_number(x) || !jinja_is_number(total))
            jinja_fail(c, MM_EINVAL, "sum needs numbers, got '%s'", jinja_type_name(x));
        if (x.type == JT_FLOAT || total.type == JT_FLOAT)
            total = jinja_float(jinja_as_double(total) + jinja_as_double(x));
        else
            total = jinja_int((int64_t)jinja_as_double(total) + (int64_t)jinja_as_double(x));
    }
    return total;
}

static jinja_val min_max(jinja_ctx *c, jinja_val v, const jinja_args *a, int sign)
{
    bool cs = jinja_truthy(arg(a, 0, "case_sensitive", jinja_bool(false)));
    jinja_val attr = arg(a, 1, "attribute", jinja_none());
    jinja_list *l = jinja_iterable(c, v);
    if (l->len == 0)
        return jinja_undef("no aggregated item, sequence was empty");
    size_t best = 0;
    jinja_val bk = sort_key(c, l->items[0], attr, cs);
    for (size_t i = 1; i < l->len; i++) {
        jinja_val k = sort_key(c, l->items[i], attr, cs);
        if (jinja_compare(c, k, bk) * sign > 0) {
            best = i;
            bk = k;
        }
    }
    return l->items[best];
}

static jinja_val f_min(jinja_ctx *c, jinja_val v, const jinja_args *a) { return min_max(c, v, a, -1); }
static jinja_val f_max(jinja_ctx *c, jinja_val v, const jinja_args *a) { return min_max(c, v, a, 1); }

static jinja_val f_wordcount(jinja_ctx *c, jinja_val v, const jinja_args *a)
{
    v = jinja_to_str(c, v);
    int64_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < v.u.s.len; i++) {
        unsigned char ch = (unsigned char)v.u.s.p[i];
        bool w = ch >= 0x80 || ch == '_' || (ch >= '0' && ch <= '9') ||
                 (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        n += w && !in_word;
        in_word = w;
    }
    return jinja_int(n);
}

/* Parameters after the value, as Jinja2 (and transformers' tojson) declare
 * them: a call with more positionals or an unknown keyword is an error, as
 * Python's TypeError is. "*": takes any arguments (checked by the filter). */
static const struct { const char *name; filter_fn fn; const char *params; } FILTERS[] = {
    { "abs", f_abs, "" }, { "capitalize", f_capitalize, "" }, { "count", f_length, "" },
    { "d", f_default, "default_value boolean" }, { "default", f_default, "default_value boolean" },
    { "dictsort", f_dictsort, "case_sensitive by reverse" }, { "e", f_escape, "" },
    { "escape", f_escape, "" }, { "first", f_first, "" }, { "float", f_float, "default" },
    { "indent", f_indent, "width first blank" }, { "int", f_int, "default base" },
    { "items", f_items, "" }, { "join", f_join, "d attribute" }, { "last", f_last, "" },
    { "length", f_length, "" }, { "list", f_list, "" }, { "lower", f_lower, "" },
    { "map", f_map, "*" }, { "max", f_max, "case_sensitive attribute" },
    { "min", f_min, "case_sensitive attribute" }, { "reject", f_reject, "*" },
    { "rejectattr", f_rejectattr, "*" }, { "replace", f_replace, "old new count" },
    { "reverse", f_reverse, "" }, { "round", f_round, "precision method" },
    { "safe", f_safe, "" }, { "select", f_select, "*" }, { "selectattr", f_selectattr, "*" },
    { "sort", f_sort, "reverse case_sensitive attribute" }, { "string", f_string, "" },
    { "sum", f_sum, "attribute start" }, { "title", f_title, "" },
    { "tojson", f_tojson, "ensure_ascii indent separators sort_keys" },
    { "trim", f_trim, "chars" }, { "unique", f_unique, "case_sensitive attribute" },
    { "upper", f_upper, "" }, { "wordcount", f_wordcount, "" },
};

/* Index of name among the space-separated params, or -1. */
static int param_index(const char *params, const char *name)
{
    size_t n = strlen(name);
    int i = 0;
    for (const char *p = params; *p; i++) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return i;
        if (!e)
            break;
        p = e + 1;
    }
    return -1;
}

static void check_signature(jinja_ctx *c, int id, const jinja_args *a)
{
    const char *params = FILTERS[id].params;
    if (strcmp(params, "*") == 0)
        return;
    int n_params = params[0] ? 1 : 0;
    for (const char *p = params; *p; p++)
        n_params += *p == ' ';
    if (a->n_pos > (size_t)n_params)
        jinja_fail(c, MM_EINVAL, "filter '%s' takes %d argument(s) but %zu were given",
                   FILTERS[id].name, n_params, a->n_pos);
    for (size_t k = 0; k < a->n_kw; k++) {
        int at = param_index(params, a->kw_names[k]);
        if (at < 0)
            jinja_fail(c, MM_EINVAL, "filter '%s' got an unexpected keyword argument '%s'",
                       FILTERS[id].name, a->kw_names[k]);
        if ((size_t)at < a->n_pos)
            jinja_fail(c, MM_EINVAL, "filter '%s' got multiple values for argument '%s'",
                       FILTERS[id].name, a->kw_names[k]);
    }
}

int jinja_filter_id(const char *name)
{
    for (size_t i = 0; i < MM_ARRAY_LEN(FILTERS); i++)
        if (strcmp(FILTERS[i].name, name) == 0)
            return (int)i;
    return -1;
}

jinja_val jinja_apply_filter(jinja_ctx *c, int id, jinja_val v, const jinja_args *args)
{
    MM_ASSERT(id >= 0 && (size_t)id < MM_ARRAY_LEN(FILTERS));
    check_signature(c, id, args);
    return FILTERS[id].fn(c, v, args);
}
