/* jinja-ops.c - Python semantics for what expressions do to values:
 * attribute and item access as the sandbox does them (a missing key is
 * undefined, an undefined base is an error), slicing, iteration, arithmetic
 * and comparison operators. */
#include "text/text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- attribute and item access (the sandbox's getattr/getitem) ---- */

void jinja_fail_undefined(jinja_ctx *c, jinja_val u)
{
    if (u.u.s.len)
        jinja_fail(c, MM_EINVAL, "'%.*s' is undefined", (int)u.u.s.len, u.u.s.p);
    jinja_fail(c, MM_EINVAL, "a value is undefined");
}

static jinja_val missing(jinja_ctx *c, jinja_val obj, const char *what, const char *p, size_t len)
{
    char msg[200];
    snprintf(msg, sizeof msg, "'%s object' has no %s '%.*s'", jinja_type_name(obj), what,
             (int)(len > 100 ? 100 : len), p);
    jinja_val u = jinja_str_copy(c, msg, strlen(msg));
    u.type = JT_UNDEF;
    return u;
}

static bool in_list(const char *const *names, const char *name, size_t len)
{
    for (; *names; names++)
        if (strlen(*names) == len && memcmp(*names, name, len) == 0)
            return true;
    return false;
}

/* Python attributes of dicts, lists and strings (their methods). Python's
 * getattr finds them before a dict key of the same name, so d.items is a
 * (truthy) method even when d has a key "items"; the sandbox turns the
 * mutating ones into undefined. Calls obj.name(...) never get here. */
static bool python_attr(jinja_ctx *c, jinja_val obj, const char *name, size_t len, jinja_val *out)
{
    static const char *const dict_safe[] = { "copy", "fromkeys", "get", "items", "keys",
                                             "values", NULL };
    static const char *const dict_unsafe[] = { "clear", "pop", "popitem", "setdefault",
                                               "update", NULL };
    static const char *const list_safe[] = { "copy", "count", "index", NULL };
    static const char *const list_unsafe[] = { "append", "clear", "extend", "insert", "pop",
                                               "remove", "reverse", "sort", NULL };
    static const char *const str_safe[] = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs",
        "find", "format", "format_map", "index", "isalnum", "isalpha", "isascii",
        "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
        "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "swapcase", "title", "translate", "upper", "zfill", NULL };
    const char *const *safe = obj.type == JT_DICT ? dict_safe : obj.type == JT_STR ? str_safe :
                              obj.type == JT_LIST && !obj.u.list->is_tuple ? list_safe : NULL;
    const char *const *unsafe = obj.type == JT_DICT ? dict_unsafe :
                                obj.type == JT_LIST && !obj.u.list->is_tuple ? list_unsafe : NULL;
    if (safe && in_list(safe, name, len)) {
        *out = (jinja_val){ .type = JT_FUNC };
        out->u.func = JF_METHOD;
        return true;
    }
    if (unsafe && in_list(unsafe, name, len)) {
        char msg[160];
        snprintf(msg, sizeof msg, "access to attribute '%.*s' of '%s' object is unsafe",
                 (int)(len > 40 ? 40 : len), name, jinja_type_name(obj));
        *out = jinja_str_copy(c, msg, strlen(msg));
        out->type = JT_UNDEF;
        return true;
    }
    return false;
}

jinja_val jinja_getattr(jinja_ctx *c, jinja_val obj, const char *name, size_t len)
{
    if (obj.type == JT_UNDEF)
        jinja_fail_undefined(c, obj);
    jinja_val m;
    if (python_attr(c, obj, name, len, &m))
        return m;
    if (obj.type == JT_DICT || obj.type == JT_NS) {
        jinja_val *v = jinja_dict_get(obj.u.dict, jinja_str(name, len));
        if (v)
            return *v;
    }
    return missing(c, obj, "attribute", name, len);
}

static bool py_index(jinja_ctx *c, jinja_val key, size_t len, size_t *out)
{
    if (key.type != JT_INT && key.type != JT_BOOL)
        return false;
    int64_t i = key.type == JT_INT ? key.u.i : key.u.b;
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return false;
    *out = (size_t)i;
    return true;
}

jinja_val jinja_getitem(jinja_ctx *c, jinja_val obj, jinja_val key)
{
    size_t idx;
    switch (obj.type) {
    case JT_UNDEF:
        jinja_fail_undefined(c, obj);
    case JT_DICT: case JT_NS: {
        jinja_val *v = jinja_dict_get(obj.u.dict, key);
        if (v)
            return *v;
        break;
    }
    case JT_LIST:               /* a generator's TypeError becomes undefined */
        if (!obj.u.list->is_gen && py_index(c, key, obj.u.list->len, &idx))
            return obj.u.list->items[idx];
        break;
    case JT_STR: {
        size_t n = jinja_utf8_len(obj.u.s.p, obj.u.s.len);
        if (py_index(c, key, n, &idx)) {
            size_t a = jinja_utf8_offset(obj.u.s.p, obj.u.s.len, idx);
            size_t b = jinja_utf8_offset(obj.u.s.p, obj.u.s.len, idx + 1);
            return jinja_str(obj.u.s.p + a, b - a);
        }
        break;
    }
    default:
        break;
    }
    jinja_val m;
    if (key.type == JT_STR && python_attr(c, obj, key.u.s.p, key.u.s.len, &m))
        return m;
    if (key.type == JT_STR)
        return missing(c, obj, "attribute", key.u.s.p, key.u.s.len);
    return jinja_undef("item");
}

jinja_list *jinja_iterable(jinja_ctx *c, jinja_val v)
{
    jinja_val l;
    switch (v.type) {
    case JT_LIST:
        if (v.u.list->fail_msg)
            jinja_fail(c, MM_EINVAL, "%s", v.u.list->fail_msg);
        return v.u.list;
    case JT_UNDEF:
        return jinja_new_list(c).u.list;
    case JT_DICT:
        l = jinja_new_list(c);
        for (size_t i = 0; i < v.u.dict->len; i++)
            jinja_list_push(c, l.u.list, v.u.dict->keys[i]);
        return l.u.list;
    case JT_STR: {
        l = jinja_new_list(c);
        size_t i = 0;
        while (i < v.u.s.len) {
            size_t j = jinja_utf8_offset(v.u.s.p + i, v.u.s.len - i, 1);
            jinja_list_push(c, l.u.list, jinja_str(v.u.s.p + i, j));
            i += j;
        }
        return l.u.list;
    }
    default:
        jinja_fail(c, MM_EINVAL, "'%s' object is not iterable", jinja_type_name(v));
    }
}

/* ---- operators ---- */

_Noreturn static void bad_operands(jinja_ctx *c, const char *op, jinja_val a, jinja_val b)
{
    if (a.type == JT_UNDEF)
        jinja_fail_undefined(c, a);
    if (b.type == JT_UNDEF)
        jinja_fail_undefined(c, b);
    jinja_fail(c, MM_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", op,
               jinja_type_name(a), jinja_type_name(b));
}

static jinja_val repeat(jinja_ctx *c, jinja_val seq, int64_t times)
{
    if (seq.type == JT_STR) {
        mm_buf *b = jinja_buf_new(c);
        for (int64_t k = 0; k < times; k++)
            jinja_buf_put(c, b, seq.u.s.p, seq.u.s.len);
        return jinja_buf_to_str(c, b);
    }
    jinja_val out = jinja_new_list(c);
    for (int64_t k = 0; k < times; k++) {
        jinja_step(c);
        for (size_t i = 0; i < seq.u.list->len; i++)
            jinja_list_push(c, out.u.list, seq.u.list->items[i]);
    }
    return out;
}

/* Python's printf-style "fmt % args": a tuple gives positional values, a
 * dict (or anything with items: a list, undefined) may be used by %(key)s,
 * anything else is the one value. Covers the conversions s r a d i u x X o
 * c e E f F g G with flags, width and precision. */
static jinja_val str_format(jinja_ctx *c, jinja_val fmt, jinja_val args)
{
    bool is_tuple = args.type == JT_LIST && args.u.list->is_tuple;
    bool is_map = !is_tuple && (args.type == JT_DICT || args.type == JT_LIST || args.type == JT_UNDEF);
    size_t next = 0, n_args = is_tuple ? args.u.list->len : 1;
    const char *f = fmt.u.s.p;
    size_t len = fmt.u.s.len;
    mm_buf *b = jinja_buf_new(c);
    for (size_t i = 0; i < len; i++) {
        if (f[i] != '%') {
            jinja_buf_put(c, b, f + i, 1);
            continue;
        }
        size_t start = i++;
        jinja_val v = { .type = JT_NONE };
        bool have_value = false;
        if (i < len && f[i] == '(') {
            size_t k = i + 1;
            while (k < len && f[k] != ')')
                k++;
            if (k >= len)
                jinja_fail(c, MM_EINVAL, "incomplete format key");
            if (!is_map)
                jinja_fail(c, MM_EINVAL, "format requires a mapping");
            v = jinja_getitem(c, args, jinja_str(f + i + 1, k - i - 1));
            if (v.type == JT_UNDEF && args.type == JT_DICT)
                jinja_fail(c, MM_EINVAL, "KeyError: '%.*s'", (int)(k - i - 1), f + i + 1);
            have_value = true;
            i = k + 1;
        }
        char spec[32];
        size_t sp = 0;
        spec[sp++] = '%';
        while (i < len && strchr("-+ #0", f[i]) && sp < 8)
            spec[sp++] = f[i++];
        while (i < len && f[i] >= '0' && f[i] <= '9' && sp < 16)
            spec[sp++] = f[i++];
        int prec = -1;
        if (i < len && f[i] == '.') {
            spec[sp++] = f[i++];
            prec = 0;
            while (i < len && f[i] >= '0' && f[i] <= '9' && sp < 24) {
                prec = prec * 10 + (f[i] - '0');
                spec[sp++] = f[i++];
            }
        }
        while (i < len && strchr("hlL", f[i]))
            i++;
        if (i >= len)
            jinja_fail(c, MM_EINVAL, "incomplete format");
        char conv = f[i];
        if (conv == '%') {
            jinja_buf_put(c, b, "%", 1);
            continue;
        }
        if (!have_value) {
            if (is_tuple && next < n_args)
                v = args.u.list->items[next++];
            else if (!is_tuple && next == 0)
                v = args, next = 1;
            else
                jinja_fail(c, MM_EINVAL, "not enough arguments for format string");
        }
        char out[512];
        if (strchr("sra", conv)) {
            mm_buf *t = jinja_buf_new(c);
            if (conv == 's')
                jinja_write_str(c, t, v);
            else
                jinja_write_repr(c, t, v);
            jinja_val text = jinja_buf_to_str(c, t);
            size_t cut = prec >= 0 ? jinja_utf8_offset(text.u.s.p, text.u.s.len, (size_t)prec)
                                   : text.u.s.len;
            size_t width = 0;
            bool left = false;
            for (size_t k = 1; k < sp && spec[k] != '.'; k++) {
                if (spec[k] == '-')
                    left = true;
                else if (spec[k] >= '0' && spec[k] <= '9')
                    width = width * 10 + (size_t)(spec[k] - '0');
            }
            size_t cps = jinja_utf8_len(text.u.s.p, cut);
            for (size_t k = cps; !left && k < width; k++)
                jinja_buf_put(c, b, " ", 1);
            jinja_buf_put(c, b, text.u.s.p, cut);
            for (size_t k = cps; left && k < width; k++)
                jinja_buf_put(c, b, " ", 1);
            continue;
        }
        if (!jinja_is_number(v))
            jinja_fail(c, MM_EINVAL, "%%%c format: a real number is required, not %s", conv,
                       jinja_type_name(v));
        if (strchr("diuxXoc", conv)) {
            if (v.type == JT_FLOAT && conv != 'd' && conv != 'i' && conv != 'u')
                jinja_fail(c, MM_EINVAL, "%%%c format: an integer is required, not float", conv);
            double d = jinja_as_double(v);
            if (v.type == JT_FLOAT && !(fabs(d) < 9.2e18))
                jinja_fail(c, MM_EINVAL, "cannot convert float to integer");
            long long iv = v.type == JT_INT ? (long long)v.u.i : (long long)d;
            if (conv == 'c') {
                char ch[4];
                if (iv < 0 || iv > 0x10FFFF)
                    jinja_fail(c, MM_EINVAL, "%%c arg not in range(0x110000)");
                jinja_buf_put(c, b, ch, jinja_utf8_encode(ch, (uint32_t)iv));
                continue;
            }
            if (strchr("xXo", conv) && iv < 0) {
                /* Python prints the sign before the digits: -0x1f is "-1f" */
                spec[sp++] = 'l';
                spec[sp++] = 'l';
                spec[sp++] = conv;
                spec[sp] = '\0';
                snprintf(out, sizeof out, spec, (unsigned long long)(-iv));
                jinja_buf_put(c, b, "-", 1);
                jinja_buf_put(c, b, out, strlen(out));
                continue;
            }
            spec[sp++] = 'l';
            spec[sp++] = 'l';
            spec[sp++] = conv == 'u' || conv == 'i' ? 'd' : conv;
            spec[sp] = '\0';
            snprintf(out, sizeof out, spec, iv);
        } else if (strchr("eEfFgG", conv)) {
            spec[sp++] = conv;
            spec[sp] = '\0';
            snprintf(out, sizeof out, spec, jinja_as_double(v));
        } else {
            jinja_fail(c, MM_EINVAL, "unsupported format character '%c' (0x%x) at index %zu",
                       conv, (unsigned char)conv, start + (i - start));
        }
        jinja_buf_put(c, b, out, strlen(out));
    }
    if (!is_map && next < n_args)
        jinja_fail(c, MM_EINVAL, "not all arguments converted during string formatting");
    return jinja_buf_to_str(c, b);
}

jinja_val jinja_arith(jinja_ctx *c, int op, jinja_val a, jinja_val b)
{
    static const char *const names[] = { "", "+", "-", "*", "/", "//", "%", "**" };
    bool nums = jinja_is_number(a) && jinja_is_number(b);
    bool ints = nums && a.type != JT_FLOAT && b.type != JT_FLOAT;
    int64_t x = 0, y = 0, r;
    if (ints) {
        x = a.type == JT_INT ? a.u.i : a.u.b;
        y = b.type == JT_INT ? b.u.i : b.u.b;
    }
    double fx = nums ? jinja_as_double(a) : 0, fy = nums ? jinja_as_double(b) : 0;
    switch (op) {
    case JOP_ADD:
        if (ints) {
            if (__builtin_add_overflow(x, y, &r))
                jinja_fail(c, MM_EINVAL, "integer overflow");
            return jinja_int(r);
        }
        if (nums)
            return jinja_float(fx + fy);
        if (a.type == JT_STR && b.type == JT_STR) {
            bool safe = a.safe || b.safe;
            if (safe) {         /* Markup + str escapes the plain side */
                a = jinja_escape(c, a);
                b = jinja_escape(c, b);
            }
            size_t len = a.u.s.len + b.u.s.len;
            char *s = jinja_alloc(c, len + 1);
            memcpy(s, a.u.s.p, a.u.s.len);
            memcpy(s + a.u.s.len, b.u.s.p, b.u.s.len);
            jinja_val sum = jinja_str(s, len);
            sum.safe = safe;
            return sum;
        }
        if (a.type == JT_LIST && b.type == JT_LIST && a.u.list->is_tuple == b.u.list->is_tuple) {
            jinja_val out = jinja_new_list(c);
            out.u.list->is_tuple = a.u.list->is_tuple;
            for (size_t i = 0; i < a.u.list->len; i++)
                jinja_list_push(c, out.u.list, a.u.list->items[i]);
            for (size_t i = 0; i < b.u.list->len; i++)
                jinja_list_push(c, out.u.list, b.u.list->items[i]);
            return out;
        }
        break;
    case JOP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(x, y, &r))
                jinja_fail(c, MM_EINVAL, "integer overflow");
            return jinja_int(r);
        }
        if (nums)
            return jinja_float(fx - fy);
        break;
    case JOP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(x, y, &r))
                jinja_fail(c, MM_EINVAL, "integer overflow");
            return jinja_int(r);
        }
        if (nums)
            return jinja_float(fx * fy);
        if ((a.type == JT_STR || a.type == JT_LIST) && (b.type == JT_INT || b.type == JT_BOOL))
            return repeat(c, a, b.type == JT_INT ? b.u.i : b.u.b);
        if ((b.type == JT_STR || b.type == JT_LIST) && (a.type == JT_INT || a.type == JT_BOOL))
            return repeat(c, b, a.type == JT_INT ? a.u.i : a.u.b);
        break;
    case JOP_DIV:
        if (nums) {
            if (fy == 0)
                jinja_fail(c, MM_EINVAL, "division by zero");
            return jinja_float(fx / fy);
        }
        break;
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (op == JOP_MOD && a.type == JT_STR)
            return str_format(c, a, b);
        if (nums && fy == 0)
            jinja_fail(c, MM_EINVAL, op == JOP_MOD ? "modulo by zero" : "division by zero");
        if (ints) {
            if (x == INT64_MIN && y == -1)
                jinja_fail(c, MM_EINVAL, "integer overflow");
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            return jinja_int(op == JOP_MOD ? m : q);
        }
        if (nums) {
            double m = fmod(fx, fy);
            if (m != 0 && ((m < 0) != (fy < 0)))
                m += fy;
            return jinja_float(op == JOP_MOD ? m : floor((fx - m) / fy + 0.5));
        }
        break;
    case JOP_POW:
        if (ints && y >= 0) {
            int64_t acc = 1;
            for (int64_t k = 0; k < y; k++) {
                if (__builtin_mul_overflow(acc, x, &acc))
                    jinja_fail(c, MM_EINVAL, "integer overflow");
                if (acc == 0 || acc == 1)
                    break;
            }
            return jinja_int(acc);
        }
        if (nums)
            return jinja_float(pow(fx, fy));
        break;
    default:
        break;
    }
    bad_operands(c, names[op], a, b);
}

static bool contains(jinja_ctx *c, jinja_val container, jinja_val item)
{
    switch (container.type) {
    case JT_STR:
        if (item.type != JT_STR)
            jinja_fail(c, MM_EINVAL, "'in <string>' requires string as left operand, not %s",
                       jinja_type_name(item));
        if (item.u.s.len == 0)
            return true;
        for (size_t i = 0; i + item.u.s.len <= container.u.s.len; i++)
            if (memcmp(container.u.s.p + i, item.u.s.p, item.u.s.len) == 0)
                return true;
        return false;
    case JT_LIST:
        for (size_t i = 0; i < container.u.list->len; i++)
            if (jinja_equal(container.u.list->items[i], item))
                return true;
        return false;
    case JT_DICT:
        return jinja_dict_get(container.u.dict, item) != NULL;
    case JT_UNDEF:
        return false;
    default:
        jinja_fail(c, MM_EINVAL, "argument of type '%s' is not iterable",
                   jinja_type_name(container));
    }
}

bool jinja_compare_op(jinja_ctx *c, int op, jinja_val a, jinja_val b)
{
    switch (op) {
    case JOP_EQ: return jinja_equal(a, b);
    case JOP_NE: return !jinja_equal(a, b);
    case JOP_LT: return jinja_compare(c, a, b) < 0;
    case JOP_LE: return jinja_compare(c, a, b) <= 0;
    case JOP_GT: return jinja_compare(c, a, b) > 0;
    case JOP_GE: return jinja_compare(c, a, b) >= 0;
    case JOP_IN: return contains(c, b, a);
    default: return !contains(c, b, a);
    }
}

/* obj[start:stop:step] with Python's slice.indices() clamping; has[k] is
 * false for a bound left out or None. */
jinja_val jinja_slice(jinja_ctx *c, jinja_val obj, const bool has[3], const int64_t bound[3])
{
    bool has_start = has[0], has_stop = has[1];
    int64_t start = bound[0], stop = bound[1], step = has[2] ? bound[2] : 1;
    if (step == 0)
        jinja_fail(c, MM_EINVAL, "slice step cannot be zero");
    if (obj.type == JT_UNDEF)
        jinja_fail_undefined(c, obj);
    /* slices bypass the sandbox's getitem: Python's TypeError stays an error */
    if ((obj.type != JT_LIST && obj.type != JT_STR) || (obj.type == JT_LIST && obj.u.list->is_gen))
        jinja_fail(c, MM_EINVAL, "'%s' object is not subscriptable", jinja_type_name(obj));
    int64_t len = obj.type == JT_LIST ? (int64_t)obj.u.list->len
                                      : (int64_t)jinja_utf8_len(obj.u.s.p, obj.u.s.len);
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
    if (!has_start) {
        start = step < 0 ? hi : lo;
    } else {
        if (start < 0)
            start += len;
        start = start < lo ? lo : start > hi ? hi : start;
    }
    if (!has_stop) {
        stop = step < 0 ? lo : hi;
    } else {
        if (stop < 0)
            stop += len;
        stop = stop < lo ? lo : stop > hi ? hi : stop;
    }
    if (obj.type == JT_LIST) {
        jinja_val out = jinja_new_list(c);
        out.u.list->is_tuple = obj.u.list->is_tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            jinja_list_push(c, out.u.list, obj.u.list->items[i]);
        return out;
    }
    const char *s = obj.u.s.p;
    size_t sl = obj.u.s.len;
    if (step == 1) {
        if (stop <= start)
            return jinja_str("", 0);
        size_t a = jinja_utf8_offset(s, sl, (size_t)start);
        size_t b = jinja_utf8_offset(s, sl, (size_t)stop);
        return jinja_str(s + a, b - a);
    }
    mm_buf *b = jinja_buf_new(c);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        size_t x = jinja_utf8_offset(s, sl, (size_t)i), y = jinja_utf8_offset(s, sl, (size_t)i + 1);
        jinja_buf_put(c, b, s + x, y - x);
    }
    return jinja_buf_to_str(c, b);
}

