/* jinja-builtins.c - Jinja2's tests (is defined, is string, ...), the Python
 * str and dict methods templates call, and the globals transformers
 * provides (range, namespace, dict, raise_exception, strftime_now). */
#include "text/text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RANGE_MAX 100000          /* the sandbox's MAX_RANGE */

static jinja_val arg(const jinja_args *a, size_t pos, const char *name, jinja_val def)
{
    for (size_t k = 0; k < a->n_kw; k++)
        if (name && strcmp(a->kw_names[k], name) == 0)
            return a->kw_vals[k];
    return pos < a->n_pos ? a->pos[pos] : def;
}

static jinja_val need_arg(jinja_ctx *c, const jinja_args *a, size_t pos, const char *name,
                          const char *what)
{
    jinja_val v = arg(a, pos, name, jinja_undef(NULL));
    if (v.type == JT_UNDEF && v.u.s.p == NULL)
        jinja_fail(c, MM_EINVAL, "%s: missing argument '%s'", what, name);
    return v;
}

/* ---- tests ---- */

enum {
    T_BOOLEAN, T_CALLABLE, T_DEFINED, T_DIVISIBLEBY, T_EQ, T_ESCAPED, T_EVEN, T_FALSE,
    T_FLOAT, T_GE, T_GT, T_IN, T_INTEGER, T_ITERABLE, T_LE, T_LOWER, T_LT, T_MAPPING, T_NE,
    T_NONE, T_NUMBER, T_ODD, T_SAMEAS, T_SEQUENCE, T_STRING, T_TRUE, T_UNDEFINED, T_UPPER
};

static const struct { const char *name; int id; } TESTS[] = {
    { "boolean", T_BOOLEAN }, { "callable", T_CALLABLE }, { "defined", T_DEFINED },
    { "divisibleby", T_DIVISIBLEBY }, { "eq", T_EQ }, { "equalto", T_EQ }, { "==", T_EQ },
    { "escaped", T_ESCAPED }, { "even", T_EVEN }, { "false", T_FALSE }, { "float", T_FLOAT },
    { "ge", T_GE }, { ">=", T_GE }, { "gt", T_GT }, { ">", T_GT }, { "greaterthan", T_GT },
    { "in", T_IN }, { "integer", T_INTEGER }, { "iterable", T_ITERABLE }, { "le", T_LE },
    { "<=", T_LE }, { "lower", T_LOWER }, { "lt", T_LT }, { "<", T_LT },
    { "lessthan", T_LT }, { "mapping", T_MAPPING }, { "ne", T_NE }, { "!=", T_NE },
    { "none", T_NONE }, { "number", T_NUMBER }, { "odd", T_ODD }, { "sameas", T_SAMEAS },
    { "sequence", T_SEQUENCE }, { "string", T_STRING }, { "true", T_TRUE },
    { "undefined", T_UNDEFINED }, { "upper", T_UPPER },
};

int jinja_test_id(const char *name)
{
    for (size_t i = 0; i < MM_ARRAY_LEN(TESTS); i++)
        if (strcmp(TESTS[i].name, name) == 0)
            return TESTS[i].id;
    return -1;
}

static int64_t int_of(jinja_ctx *c, jinja_val v, const char *what)
{
    if (v.type == JT_INT)
        return v.u.i;
    if (v.type == JT_BOOL)
        return v.u.b;
    if (v.type == JT_UNDEF)
        jinja_fail(c, MM_EINVAL, "'%.*s' is undefined", (int)v.u.s.len, v.u.s.p ? v.u.s.p : "");
    jinja_fail(c, MM_EINVAL, "%s needs an integer, got '%s'", what, jinja_type_name(v));
}

/* The one parameter a test takes after the value, or NULL for none. */
static const char *test_param(int id)
{
    switch (id) {
    case T_DIVISIBLEBY: return "num";
    case T_EQ: case T_NE: case T_GE: case T_GT: case T_LE: case T_LT: case T_SAMEAS:
        return "other";
    case T_IN: return "seq";
    default: return NULL;
    }
}

bool jinja_apply_test(jinja_ctx *c, int id, jinja_val v, const jinja_args *a)
{
    const char *param = test_param(id);
    size_t given = a->n_pos + a->n_kw;
    if (given > (param ? 1u : 0u))
        jinja_fail(c, MM_EINVAL, "test takes %d argument(s) but %zu were given", param ? 1 : 0,
                   given);
    /* the comparison tests are Python's operator functions: no keywords */
    bool is_operator = id == T_EQ || id == T_NE || id == T_GE || id == T_GT || id == T_LE ||
                       id == T_LT;
    if (a->n_kw && (is_operator || strcmp(a->kw_names[0], param) != 0))
        jinja_fail(c, MM_EINVAL, "test got an unexpected keyword argument '%s'", a->kw_names[0]);
    switch (id) {
    case T_BOOLEAN: return v.type == JT_BOOL;
    case T_CALLABLE:            /* Jinja2's Undefined has a __call__ (that fails) */
        return v.type == JT_MACRO || v.type == JT_FUNC || v.type == JT_UNDEF;
    case T_DEFINED: return v.type != JT_UNDEF;
    case T_UNDEFINED: return v.type == JT_UNDEF;
    case T_DIVISIBLEBY: {
        jinja_val n = need_arg(c, a, 0, "num", "divisibleby");
        if (v.type == JT_FLOAT || n.type == JT_FLOAT) {
            double d = jinja_as_double(n);
            if (d == 0)
                jinja_fail(c, MM_EINVAL, "modulo by zero");
            return fmod(jinja_as_double(v), d) == 0;
        }
        int64_t d = int_of(c, n, "divisibleby");
        if (d == 0)
            jinja_fail(c, MM_EINVAL, "integer division or modulo by zero");
        return d == -1 || int_of(c, v, "divisibleby") % d == 0;
    }
    case T_EQ: return jinja_equal(v, need_arg(c, a, 0, "other", "eq"));
    case T_NE: return !jinja_equal(v, need_arg(c, a, 0, "other", "ne"));
    case T_GE: return jinja_compare(c, v, need_arg(c, a, 0, "other", "ge")) >= 0;
    case T_GT: return jinja_compare(c, v, need_arg(c, a, 0, "other", "gt")) > 0;
    case T_LE: return jinja_compare(c, v, need_arg(c, a, 0, "other", "le")) <= 0;
    case T_LT: return jinja_compare(c, v, need_arg(c, a, 0, "other", "lt")) < 0;
    case T_ESCAPED: return false;
    case T_EVEN: return int_of(c, v, "even") % 2 == 0;
    case T_ODD: return int_of(c, v, "odd") % 2 != 0;
    case T_FALSE: return v.type == JT_BOOL && !v.u.b;
    case T_TRUE: return v.type == JT_BOOL && v.u.b;
    case T_FLOAT: return v.type == JT_FLOAT;
    case T_INTEGER: return v.type == JT_INT;
    case T_NUMBER: return jinja_is_number(v);
    case T_NONE: return v.type == JT_NONE;
    case T_STRING: return v.type == JT_STR;
    case T_MAPPING: return v.type == JT_DICT;
    case T_ITERABLE: case T_SEQUENCE:
        return v.type == JT_STR || v.type == JT_LIST || v.type == JT_DICT || v.type == JT_UNDEF;
    case T_LOWER: return v.type == JT_STR && jinja_has_case(v, false);
    case T_UPPER: return v.type == JT_STR && jinja_has_case(v, true);
    case T_SAMEAS: {
        jinja_val o = need_arg(c, a, 0, "other", "sameas");
        if (v.type != o.type)
            return false;
        if (v.type == JT_LIST)
            return v.u.list == o.u.list;
        if (v.type == JT_DICT || v.type == JT_NS)
            return v.u.dict == o.u.dict;
        return jinja_equal(v, o);
    }
    case T_IN: {
        jinja_val seq = need_arg(c, a, 0, "seq", "in");
        if (seq.type == JT_STR && v.type == JT_STR) {
            for (size_t i = 0; i + v.u.s.len <= seq.u.s.len; i++)
                if (memcmp(seq.u.s.p + i, v.u.s.p, v.u.s.len) == 0)
                    return true;
            return false;
        }
        if (seq.type == JT_DICT)
            return jinja_dict_get(seq.u.dict, v) != NULL;
        jinja_list *l = jinja_iterable(c, seq);
        for (size_t i = 0; i < l->len; i++)
            if (jinja_equal(l->items[i], v))
                return true;
        return false;
    }
    default:
        jinja_fail(c, MM_EINTERNAL, "unknown test id %d", id);
    }
}

/* ---- str methods ---- */

static bool name_is(const char *name, const char *want) { return strcmp(name, want) == 0; }

static jinja_val str_of(jinja_ctx *c, jinja_val v, const char *method)
{
    if (v.type != JT_STR)
        jinja_fail(c, MM_EINVAL, "%s() argument must be str, not %s", method, jinja_type_name(v));
    return v;
}

static jinja_val strip(jinja_ctx *c, jinja_val s, const jinja_args *a, bool left, bool right)
{
    jinja_val chars = arg(a, 0, "chars", jinja_none());
    const char *set = chars.type == JT_STR ? chars.u.s.p : NULL;
    size_t set_len = chars.type == JT_STR ? chars.u.s.len : 0;
    size_t b = 0, e = s.u.s.len;
    const char *p = s.u.s.p;
    for (size_t n; left && b < e; b += n)
        if (!(n = set ? (memchr(set, p[b], set_len) != NULL) : jinja_space_len(p + b, e - b)))
            break;
    for (size_t n; right && e > b; e -= n)
        if (!(n = set ? (memchr(set, p[e - 1], set_len) != NULL) : jinja_space_len_back(p + b, e - b)))
            break;
    return jinja_str(p + b, e - b);
}

static const char *find_sub(const char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0)
        return h;
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

static jinja_val split(jinja_ctx *c, jinja_val s, const jinja_args *a)
{
    jinja_val sep = arg(a, 0, "sep", jinja_none());
    jinja_val maxv = arg(a, 1, "maxsplit", jinja_int(-1));
    int64_t max = maxv.type == JT_INT ? maxv.u.i : -1;
    jinja_val out = jinja_new_list(c);
    const char *p = s.u.s.p, *end = p + s.u.s.len;
    if (sep.type == JT_NONE) {
        while (p < end) {
            for (size_t n; p < end && (n = jinja_space_len(p, (size_t)(end - p))) > 0;)
                p += n;
            if (p == end)
                break;
            if (max >= 0 && (int64_t)out.u.list->len == max) {
                const char *e = end;
                for (size_t n; e > p && (n = jinja_space_len_back(p, (size_t)(e - p))) > 0;)
                    e -= n;
                jinja_list_push(c, out.u.list, jinja_str(p, (size_t)(e - p)));
                break;
            }
            const char *w = p;
            while (p < end && jinja_space_len(p, (size_t)(end - p)) == 0)
                p++;
            jinja_list_push(c, out.u.list, jinja_str(w, (size_t)(p - w)));
        }
        return out;
    }
    sep = str_of(c, sep, "split");
    if (sep.u.s.len == 0)
        jinja_fail(c, MM_EINVAL, "empty separator");
    for (;;) {
        jinja_step(c);
        const char *hit = (max < 0 || (int64_t)out.u.list->len < max)
                              ? find_sub(p, (size_t)(end - p), sep.u.s.p, sep.u.s.len) : NULL;
        if (!hit) {
            jinja_list_push(c, out.u.list, jinja_str(p, (size_t)(end - p)));
            return out;
        }
        jinja_list_push(c, out.u.list, jinja_str(p, (size_t)(hit - p)));
        p = hit + sep.u.s.len;
    }
}

static bool affix_match(jinja_val s, jinja_val x, bool prefix)
{
    if (x.u.s.len > s.u.s.len)
        return false;
    const char *at = prefix ? s.u.s.p : s.u.s.p + s.u.s.len - x.u.s.len;
    return memcmp(at, x.u.s.p, x.u.s.len) == 0;
}

static bool affix(jinja_ctx *c, jinja_val s, const jinja_args *a, bool prefix)
{
    jinja_val x = need_arg(c, a, 0, "prefix", prefix ? "startswith" : "endswith");
    if (x.type == JT_LIST && x.u.list->is_tuple) {
        for (size_t i = 0; i < x.u.list->len; i++)
            if (affix_match(s, str_of(c, x.u.list->items[i], "startswith"), prefix))
                return true;
        return false;
    }
    return affix_match(s, str_of(c, x, prefix ? "startswith" : "endswith"), prefix);
}

static jinja_val replace(jinja_ctx *c, jinja_val s, const jinja_args *a)
{
    jinja_val old = str_of(c, need_arg(c, a, 0, "old", "replace"), "replace");
    jinja_val rep = str_of(c, need_arg(c, a, 1, "new", "replace"), "replace");
    jinja_val cnt = arg(a, 2, "count", jinja_int(-1));
    int64_t left = cnt.type == JT_INT ? cnt.u.i : -1;
    mm_buf *b = jinja_buf_new(c);
    const char *p = s.u.s.p, *end = p + s.u.s.len;
    if (old.u.s.len == 0) {     /* Python inserts new between characters */
        while (left != 0) {
            jinja_buf_put(c, b, rep.u.s.p, rep.u.s.len);
            left--;
            if (p == end)
                break;
            size_t n = jinja_utf8_offset(p, (size_t)(end - p), 1);
            jinja_buf_put(c, b, p, n);
            p += n;
        }
        jinja_buf_put(c, b, p, (size_t)(end - p));
        return jinja_buf_to_str(c, b);
    }
    while (left != 0) {
        const char *hit = find_sub(p, (size_t)(end - p), old.u.s.p, old.u.s.len);
        if (!hit)
            break;
        jinja_buf_put(c, b, p, (size_t)(hit - p));
        jinja_buf_put(c, b, rep.u.s.p, rep.u.s.len);
        p = hit + old.u.s.len;
        left--;
    }
    jinja_buf_put(c, b, p, (size_t)(end - p));
    return jinja_buf_to_str(c, b);
}

/* Python's TypeError for a method called with too many arguments or with
 * keywords it does not take (split's sep/maxsplit are the only ones). */
static void check_method_args(jinja_ctx *c, const char *name, const jinja_args *a)
{
    static const struct { const char *name; size_t max_pos; } ARITY[] = {
        { "strip", 1 }, { "lstrip", 1 }, { "rstrip", 1 }, { "split", 2 }, { "startswith", 1 },
        { "endswith", 1 }, { "upper", 0 }, { "lower", 0 }, { "title", 0 }, { "capitalize", 0 },
        { "replace", 3 }, { "find", 1 }, { "count", 1 }, { "join", 1 }, { "get", 2 },
        { "items", 0 }, { "keys", 0 }, { "values", 0 },
    };
    for (size_t i = 0; i < MM_ARRAY_LEN(ARITY); i++) {
        if (!name_is(name, ARITY[i].name))
            continue;
        if (a->n_pos > ARITY[i].max_pos)
            jinja_fail(c, MM_EINVAL, "%s() takes at most %zu argument(s) (%zu given)", name,
                       ARITY[i].max_pos, a->n_pos);
        for (size_t k = 0; k < a->n_kw; k++)
            if (!name_is(name, "split") || !(name_is(a->kw_names[k], "sep") ||
                                              name_is(a->kw_names[k], "maxsplit")))
                jinja_fail(c, MM_EINVAL, "%s() takes no keyword argument '%s'", name,
                           a->kw_names[k]);
    }
}

static jinja_val str_method(jinja_ctx *c, jinja_val s, const char *name, const jinja_args *a,
                            bool *found)
{
    check_method_args(c, name, a);
    *found = true;
    if (name_is(name, "strip")) return strip(c, s, a, true, true);
    if (name_is(name, "lstrip")) return strip(c, s, a, true, false);
    if (name_is(name, "rstrip")) return strip(c, s, a, false, true);
    if (name_is(name, "split")) return split(c, s, a);
    if (name_is(name, "startswith")) return jinja_bool(affix(c, s, a, true));
    if (name_is(name, "endswith")) return jinja_bool(affix(c, s, a, false));
    if (name_is(name, "upper")) return jinja_change_case(c, s, 'U');
    if (name_is(name, "lower")) return jinja_change_case(c, s, 'L');
    if (name_is(name, "title")) return jinja_change_case(c, s, 'T');
    if (name_is(name, "capitalize")) return jinja_change_case(c, s, 'C');
    if (name_is(name, "replace")) return replace(c, s, a);
    if (name_is(name, "find") || name_is(name, "count")) {
        jinja_val sub = str_of(c, need_arg(c, a, 0, "sub", name), name);
        int64_t n = 0;
        const char *p = s.u.s.p, *end = p + s.u.s.len;
        for (;;) {
            const char *hit = find_sub(p, (size_t)(end - p), sub.u.s.p, sub.u.s.len);
            if (name_is(name, "find"))
                return jinja_int(hit ? (int64_t)jinja_utf8_len(s.u.s.p, (size_t)(hit - s.u.s.p)) : -1);
            if (!hit || p > end)
                return jinja_int(n);
            n++;
            p = hit + (sub.u.s.len ? sub.u.s.len : 1);
        }
    }
    if (name_is(name, "join")) {
        jinja_list *l = jinja_iterable(c, need_arg(c, a, 0, "iterable", "join"));
        mm_buf *b = jinja_buf_new(c);
        for (size_t i = 0; i < l->len; i++) {
            if (i)
                jinja_buf_put(c, b, s.u.s.p, s.u.s.len);
            jinja_val x = str_of(c, l->items[i], "join");
            jinja_buf_put(c, b, x.u.s.p, x.u.s.len);
        }
        return jinja_buf_to_str(c, b);
    }
    *found = false;
    return jinja_none();
}

/* ---- dict methods ---- */

static jinja_val dict_method(jinja_ctx *c, jinja_val d, const char *name, const jinja_args *a,
                             bool *found)
{
    check_method_args(c, name, a);
    *found = true;
    jinja_dict *dict = d.u.dict;
    if (name_is(name, "get")) {
        jinja_val *v = jinja_dict_get(dict, need_arg(c, a, 0, "key", "get"));
        return v ? *v : arg(a, 1, "default", jinja_none());
    }
    if (name_is(name, "items") || name_is(name, "keys") || name_is(name, "values")) {
        jinja_val out = jinja_new_list(c);
        for (size_t i = 0; i < dict->len; i++) {
            jinja_val x = name_is(name, "keys") ? dict->keys[i] : dict->vals[i];
            if (name_is(name, "items")) {
                x = jinja_new_list(c);
                x.u.list->is_tuple = true;
                jinja_list_push(c, x.u.list, dict->keys[i]);
                jinja_list_push(c, x.u.list, dict->vals[i]);
            }
            jinja_list_push(c, out.u.list, x);
        }
        return out;
    }
    *found = false;
    return jinja_none();
}

jinja_val jinja_call_method(jinja_ctx *c, jinja_val obj, const char *name,
                            const jinja_args *args, bool *found)
{
    *found = false;
    if (obj.type == JT_STR)
        return str_method(c, obj, name, args, found);
    if (obj.type == JT_DICT)
        return dict_method(c, obj, name, args, found);
    if (obj.type == JT_LIST || obj.type == JT_DICT) {
        static const char *const mutators[] = { "append", "extend", "insert", "pop", "remove",
                                                "clear", "sort", "reverse", "update",
                                                "setdefault", "popitem" };
        for (size_t i = 0; i < MM_ARRAY_LEN(mutators); i++)
            if (name_is(name, mutators[i]))
                jinja_fail(c, MM_EINVAL, "access to attribute '%s' of '%s' object is unsafe",
                           name, jinja_type_name(obj));
    }
    return jinja_none();
}

/* ---- globals ---- */

static const char *const GLOBALS[JF__COUNT] = {
    [JF_RANGE] = "range", [JF_NAMESPACE] = "namespace", [JF_DICT] = "dict",
    [JF_RAISE] = "raise_exception", [JF_STRFTIME] = "strftime_now",
};

bool jinja_global(const char *name, jinja_val *out)
{
    for (int i = 0; i < JF__COUNT; i++) {
        if (strcmp(GLOBALS[i], name) == 0) {
            *out = (jinja_val){ .type = JT_FUNC };
            out->u.func = i;
            return true;
        }
    }
    return false;
}

static jinja_val make_range(jinja_ctx *c, const jinja_args *a)
{
    int64_t start = 0, stop, step = 1;
    if (a->n_pos == 1) {
        stop = int_of(c, a->pos[0], "range");
    } else if (a->n_pos == 2 || a->n_pos == 3) {
        start = int_of(c, a->pos[0], "range");
        stop = int_of(c, a->pos[1], "range");
        if (a->n_pos == 3)
            step = int_of(c, a->pos[2], "range");
    } else {
        jinja_fail(c, MM_EINVAL, "range expected 1 to 3 arguments, got %zu", a->n_pos);
    }
    if (step == 0)
        jinja_fail(c, MM_EINVAL, "range() arg 3 must not be zero");
    double count = ceil(((double)stop - (double)start) / (double)step);
    if (count > RANGE_MAX)
        jinja_fail(c, MM_ELIMIT, "range too big: the sandbox blocks ranges larger than %d",
                   RANGE_MAX);
    jinja_val out = jinja_new_list(c);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        jinja_list_push(c, out.u.list, jinja_int(i));
    return out;
}

static jinja_val make_dict(jinja_ctx *c, const jinja_args *a, jinja_type type)
{
    jinja_val d = jinja_new_dict(c);
    d.type = type;
    if (a->n_pos > 1)
        jinja_fail(c, MM_EINVAL, "expected at most 1 positional argument, got %zu", a->n_pos);
    if (a->n_pos == 1) {
        jinja_val src = a->pos[0];
        if (src.type == JT_UNDEF)   /* dict() asks it for .keys, which fails */
            jinja_fail_undefined(c, src);
        if (src.type == JT_DICT) {
            for (size_t i = 0; i < src.u.dict->len; i++)
                jinja_dict_set(c, d.u.dict, src.u.dict->keys[i], src.u.dict->vals[i]);
        } else {
            jinja_list *l = jinja_iterable(c, src);
            for (size_t i = 0; i < l->len; i++) {
                jinja_val p = l->items[i];
                if (p.type != JT_LIST || p.u.list->len != 2)
                    jinja_fail(c, MM_EINVAL, "dictionary update sequence element has wrong length");
                jinja_dict_set(c, d.u.dict, p.u.list->items[0], p.u.list->items[1]);
            }
        }
    }
    for (size_t k = 0; k < a->n_kw; k++)
        jinja_dict_set(c, d.u.dict, jinja_str(a->kw_names[k], strlen(a->kw_names[k])),
                       a->kw_vals[k]);
    return d;
}

static jinja_val strftime_now(jinja_ctx *c, const jinja_args *a)
{
    jinja_val fmt = jinja_to_str(c, need_arg(c, a, 0, "format", "strftime_now"));
    char f[256], out[512];
    if (fmt.u.s.len >= sizeof f)
        jinja_fail(c, MM_ELIMIT, "strftime_now format longer than %zu bytes", sizeof f - 1);
    memcpy(f, fmt.u.s.p, fmt.u.s.len);
    f[fmt.u.s.len] = '\0';
    struct tm tm;
    time_t t;
    if (c->opts.now_unix) {
        t = (time_t)c->opts.now_unix;
        gmtime_r(&t, &tm);
    } else {
        t = time(NULL);
        localtime_r(&t, &tm);
    }
    size_t n = f[0] ? strftime(out, sizeof out, f, &tm) : 0;
    if (n == 0 && f[0])
        jinja_fail(c, MM_EINVAL, "strftime_now: format gives no text or more than %zu bytes",
                   sizeof out);
    return jinja_str_copy(c, out, n);
}

jinja_val jinja_call_func(jinja_ctx *c, int func, const jinja_args *a)
{
    jinja_step(c);
    switch (func) {
    case JF_RANGE: return make_range(c, a);
    case JF_NAMESPACE: return make_dict(c, a, JT_NS);
    case JF_DICT: return make_dict(c, a, JT_DICT);
    case JF_RAISE: {
        jinja_val msg = jinja_to_str(c, arg(a, 0, "message", jinja_str("", 0)));
        jinja_raise(c, msg.u.s.p, msg.u.s.len);
    }
    case JF_STRFTIME: return strftime_now(c, a);
    case JF_METHOD:
        jinja_fail(c, MM_EINVAL, "calling a method kept in a variable is not supported; "
                   "call it directly, as in x.items()");
    default:
        jinja_fail(c, MM_EINTERNAL, "unknown function %d", func);
    }
}
