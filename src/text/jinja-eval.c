/* jinja-eval.c - renders a parsed chat template: expression evaluation with
 * Python semantics, statements with Jinja2's scoping (a for loop body gets a
 * fresh scope each iteration; a macro sees the template's top level), and
 * the public text_tmpl_* entry points. */
#include "text/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPL_MAX_SOURCE   (1u << 20)
#define TMPL_PARSE_MEMORY (64u << 20)

struct text_tmpl {
    jinja_arena *arena;
    jinja_node *root;
};

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static void exec_body(jinja_ctx *c, jinja_frame *f, const jinja_node *body, mm_buf *out, int *flow);
static jinja_val eval(jinja_ctx *c, jinja_frame *f, const jinja_node *n);

/* ---- errors and resources ---- */

void jinja_fail(jinja_ctx *c, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mm_error_set(c->err, code, "chat template line %d: %s", c->line, msg);
    c->code = code;
    longjmp(*c->jmp, 1);
}

void jinja_raise(jinja_ctx *c, const char *msg, size_t len)
{
    int n = len > MM_ERROR_MSG_MAX - 1 ? MM_ERROR_MSG_MAX - 1 : (int)len;
    c->code = mm_error_set(c->err, MM_EINVAL, "%.*s", n, msg);
    longjmp(*c->jmp, 1);
}

void jinja_step(jinja_ctx *c)
{
    if (++c->steps > c->opts.max_steps)
        jinja_fail(c, MM_ELIMIT, "template ran more than %llu steps (loop iterations, "
                   "macro calls, filter items); it may loop without end",
                   (unsigned long long)c->opts.max_steps);
}

void *jinja_alloc(jinja_ctx *c, size_t size)
{
    void *p = jinja_arena_alloc(c->arena, size);
    if (!p)
        jinja_fail(c, MM_ELIMIT, "template used more than %zu bytes of working memory",
                   c->opts.max_memory);
    return p;
}

/* ---- variables ---- */

static jinja_val name_val(const char *name) { return jinja_str(name, strlen(name)); }

static jinja_frame *new_frame(jinja_ctx *c, jinja_frame *parent)
{
    jinja_frame *f = jinja_alloc(c, sizeof *f);
    f->vars = jinja_new_dict(c).u.dict;
    f->parent = parent;
    return f;
}

static jinja_val lookup(jinja_ctx *c, jinja_frame *f, const char *name)
{
    jinja_val key = name_val(name);
    for (; f; f = f->parent) {
        jinja_val *v = jinja_dict_get(f->vars, key);
        if (v)
            return *v;
    }
    jinja_val g;
    if (jinja_global(name, &g))
        return g;
    return jinja_undef(name);
}

static void set_var(jinja_ctx *c, jinja_frame *f, const char *name, jinja_val v)
{
    jinja_dict_set(c, f->vars, name_val(name), v);
}

static int64_t slice_bound(jinja_ctx *c, jinja_frame *f, const jinja_node *n, bool *given)
{
    *given = false;
    if (!n)
        return 0;
    jinja_val v = eval(c, f, n);
    if (v.type == JT_NONE)
        return 0;
    if (v.type != JT_INT && v.type != JT_BOOL)
        jinja_fail(c, MM_EINVAL, "slice indices must be integers or None, not %s",
                   jinja_type_name(v));
    *given = true;
    return v.type == JT_INT ? v.u.i : v.u.b;
}

/* Python's slice.indices(): clamp start/stop for a sequence of len items. */
static jinja_val eval_slice(jinja_ctx *c, jinja_frame *f, const jinja_node *n)
{
    jinja_val obj = eval(c, f, n->a);
    bool has[3];
    int64_t bound[3];
    bound[0] = slice_bound(c, f, n->b, &has[0]);
    bound[1] = slice_bound(c, f, n->c, &has[1]);
    bound[2] = slice_bound(c, f, n->d, &has[2]);
    c->line = n->line;
    return jinja_slice(c, obj, has, bound);
}

/* ---- calls ---- */

static void eval_args(jinja_ctx *c, jinja_frame *f, const jinja_node *n, jinja_args *args)
{
    memset(args, 0, sizeof *args);
    if (n->n_kids) {
        args->pos = jinja_alloc(c, n->n_kids * sizeof *args->pos);
        for (size_t i = 0; i < n->n_kids; i++)
            args->pos[i] = eval(c, f, n->kids[i]);
        args->n_pos = n->n_kids;
    }
    if (n->n_names) {
        args->kw_vals = jinja_alloc(c, n->n_names * sizeof *args->kw_vals);
        for (size_t i = 0; i < n->n_names; i++)
            args->kw_vals[i] = eval(c, f, n->kw_vals[i]);
        args->kw_names = n->names;
        args->n_kw = n->n_names;
    }
}

static jinja_val call_value(jinja_ctx *c, jinja_val callee, const jinja_args *args)
{
    if (callee.type == JT_MACRO)
        return jinja_call_macro(c, callee.u.macro, args);
    if (callee.type == JT_FUNC)
        return jinja_call_func(c, callee.u.func, args);
    if (callee.type == JT_UNDEF)
        jinja_fail_undefined(c, callee);
    jinja_fail(c, MM_EINVAL, "'%s' object is not callable", jinja_type_name(callee));
}

static jinja_val eval_call(jinja_ctx *c, jinja_frame *f, const jinja_node *n)
{
    jinja_args args;
    if (n->a->kind == JN_ATTR) {
        jinja_val obj = eval(c, f, n->a->a);
        eval_args(c, f, n, &args);
        c->line = n->line;
        if (obj.type == JT_DICT && obj.u.dict->is_loop && strcmp(n->a->name, "cycle") == 0) {
            if (args.n_pos == 0)
                jinja_fail(c, MM_EINVAL, "no items for cycling given");
            jinja_val *i0 = jinja_dict_get_str(obj.u.dict, "index0");
            return args.pos[(size_t)i0->u.i % args.n_pos];
        }
        bool found = false;
        jinja_val r = jinja_call_method(c, obj, n->a->name, &args, &found);
        if (found)
            return r;
        return call_value(c, jinja_getattr(c, obj, n->a->name, strlen(n->a->name)), &args);
    }
    jinja_val callee = eval(c, f, n->a);
    eval_args(c, f, n, &args);
    c->line = n->line;
    return call_value(c, callee, &args);
}

jinja_val jinja_call_macro(jinja_ctx *c, const jinja_node *m, const jinja_args *args)
{
    if (c->depth >= c->opts.max_depth)
        jinja_fail(c, MM_ELIMIT, "macro calls nested deeper than %d", c->opts.max_depth);
    jinja_step(c);
    if (args->n_pos > m->n_names)
        jinja_fail(c, MM_EINVAL, "macro '%s' takes not more than %zu argument(s)", m->name,
                   m->n_names);
    jinja_frame *f = new_frame(c, c->root);
    for (size_t k = 0; k < args->n_kw; k++) {
        bool known = false;
        for (size_t p = 0; p < m->n_names; p++)
            known = known || strcmp(m->names[p], args->kw_names[k]) == 0;
        if (!known)
            jinja_fail(c, MM_EINVAL, "macro '%s' takes no keyword argument '%s'", m->name,
                       args->kw_names[k]);
    }
    for (size_t p = 0; p < m->n_names; p++) {
        jinja_val v = jinja_undef(m->names[p]);
        bool given = p < args->n_pos;
        if (given)
            v = args->pos[p];
        for (size_t k = 0; k < args->n_kw; k++) {
            if (strcmp(m->names[p], args->kw_names[k]) == 0) {
                if (given)
                    jinja_fail(c, MM_EINVAL, "macro '%s' got multiple values for argument '%s'",
                               m->name, m->names[p]);
                v = args->kw_vals[k];
                given = true;
            }
        }
        if (!given && m->kids[p])
            v = eval(c, f, m->kids[p]);
        set_var(c, f, m->names[p], v);
    }
    mm_buf *b = jinja_buf_new(c);
    int flow = FLOW_NORMAL;
    int line = c->line;
    c->depth++;
    exec_body(c, f, m->b, b, &flow);
    c->depth--;
    c->line = line;
    return jinja_buf_to_str(c, b);
}

/* ---- expressions ---- */

static jinja_val eval_node(jinja_ctx *c, jinja_frame *f, const jinja_node *n);

/* The C stack grows with expression and statement nesting times macro
 * depth; bound the product so no template can overflow it. */
static void enter(jinja_ctx *c)
{
    if (++c->nesting > JINJA_MAX_NESTING)
        jinja_fail(c, MM_ELIMIT, "template nests expressions, statements and macro calls "
                   "deeper than %d", JINJA_MAX_NESTING);
}

static jinja_val eval(jinja_ctx *c, jinja_frame *f, const jinja_node *n)
{
    enter(c);
    jinja_val v = eval_node(c, f, n);
    c->nesting--;
    return v;
}

static jinja_val eval_node(jinja_ctx *c, jinja_frame *f, const jinja_node *n)
{
    c->line = n->line;
    switch (n->kind) {
    case JN_LIT:
        return n->lit;
    case JN_NAME:
        return lookup(c, f, n->name);
    case JN_LIST: case JN_TUPLE: {
        jinja_val l = jinja_new_list(c);
        l.u.list->is_tuple = n->kind == JN_TUPLE;
        for (size_t i = 0; i < n->n_kids; i++)
            jinja_list_push(c, l.u.list, eval(c, f, n->kids[i]));
        return l;
    }
    case JN_DICT: {
        jinja_val d = jinja_new_dict(c);
        for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
            jinja_val k = eval(c, f, n->kids[i]);
            jinja_dict_set(c, d.u.dict, k, eval(c, f, n->kids[i + 1]));
        }
        return d;
    }
    case JN_ATTR: {
        jinja_val obj = eval(c, f, n->a);
        c->line = n->line;
        return jinja_getattr(c, obj, n->name, strlen(n->name));
    }
    case JN_ITEM: {
        jinja_val obj = eval(c, f, n->a);
        jinja_val key = eval(c, f, n->b);
        c->line = n->line;
        return jinja_getitem(c, obj, key);
    }
    case JN_SLICE:
        return eval_slice(c, f, n);
    case JN_CALL:
        return eval_call(c, f, n);
    case JN_FILTER: {
        jinja_val v = eval(c, f, n->a);
        jinja_args args;
        eval_args(c, f, n, &args);
        c->line = n->line;
        if (n->op < 0)
            jinja_fail(c, MM_EINVAL, "no filter named '%s'", n->name);
        return jinja_apply_filter(c, n->op, v, &args);
    }
    case JN_TEST: {
        jinja_val v = eval(c, f, n->a);
        jinja_args args;
        eval_args(c, f, n, &args);
        c->line = n->line;
        if (n->op < 0)
            jinja_fail(c, MM_EINVAL, "no test named '%s'", n->name);
        return jinja_bool(jinja_apply_test(c, n->op, v, &args));
    }
    case JN_NEG: case JN_POS: {
        jinja_val v = eval(c, f, n->a);
        c->line = n->line;
        if (v.type == JT_BOOL)
            v = jinja_int(v.u.b);
        if (v.type == JT_INT && n->kind == JN_NEG) {
            if (v.u.i == INT64_MIN)
                jinja_fail(c, MM_EINVAL, "integer overflow");
            return jinja_int(-v.u.i);
        }
        if (v.type == JT_FLOAT && n->kind == JN_NEG)
            return jinja_float(-v.u.f);
        if (v.type == JT_INT || v.type == JT_FLOAT)
            return v;
        if (v.type == JT_UNDEF)
            jinja_fail_undefined(c, v);
        jinja_fail(c, MM_EINVAL, "bad operand type for unary %s: '%s'",
                   n->kind == JN_NEG ? "-" : "+", jinja_type_name(v));
    }
    case JN_NOT:
        return jinja_bool(!jinja_truthy(eval(c, f, n->a)));
    case JN_BIN: {
        jinja_val a = eval(c, f, n->a);
        jinja_val b = eval(c, f, n->b);
        c->line = n->line;
        if (n->op == JOP_CONCAT) {
            mm_buf *buf = jinja_buf_new(c);
            jinja_write_str(c, buf, a);
            jinja_write_str(c, buf, b);
            return jinja_buf_to_str(c, buf);
        }
        return jinja_arith(c, n->op, a, b);
    }
    case JN_CMP: {
        jinja_val left = eval(c, f, n->kids[0]);
        for (size_t i = 1; i < n->n_kids; i++) {
            jinja_val right = eval(c, f, n->kids[i]);
            c->line = n->line;
            if (!jinja_compare_op(c, n->ops[i - 1], left, right))
                return jinja_bool(false);
            left = right;
        }
        return jinja_bool(true);
    }
    case JN_AND: {
        jinja_val a = eval(c, f, n->a);
        return jinja_truthy(a) ? eval(c, f, n->b) : a;
    }
    case JN_OR: {
        jinja_val a = eval(c, f, n->a);
        return jinja_truthy(a) ? a : eval(c, f, n->b);
    }
    case JN_COND:
        if (jinja_truthy(eval(c, f, n->a)))
            return eval(c, f, n->b);
        return n->c ? eval(c, f, n->c) : jinja_undef(NULL);
    default:
        jinja_fail(c, MM_EINTERNAL, "node %d is not an expression", (int)n->kind);
    }
}

/* ---- statements ---- */

static void assign_targets(jinja_ctx *c, jinja_frame *f, const jinja_node *n, jinja_val v)
{
    if (n->n_names == 1) {
        set_var(c, f, n->names[0], v);
        return;
    }
    if (v.type == JT_STR || v.type == JT_DICT)
        v.u.list = jinja_iterable(c, v), v.type = JT_LIST;
    if (v.type != JT_LIST)
        jinja_fail(c, MM_EINVAL, "cannot unpack non-iterable %s object", jinja_type_name(v));
    if (v.u.list->len != n->n_names)
        jinja_fail(c, MM_EINVAL, "%s values to unpack (expected %zu, got %zu)",
                   v.u.list->len > n->n_names ? "too many" : "not enough", n->n_names,
                   v.u.list->len);
    for (size_t i = 0; i < n->n_names; i++)
        set_var(c, f, n->names[i], v.u.list->items[i]);
}

/* Apply a filter chain whose innermost operand (a == NULL) is v. */
static jinja_val apply_chain(jinja_ctx *c, jinja_frame *f, const jinja_node *chain, jinja_val v)
{
    if (chain->a)
        v = apply_chain(c, f, chain->a, v);
    jinja_args args;
    eval_args(c, f, chain, &args);
    c->line = chain->line;
    if (chain->op < 0)
        jinja_fail(c, MM_EINVAL, "no filter named '%s'", chain->name);
    return jinja_apply_filter(c, chain->op, v, &args);
}

static jinja_val capture(jinja_ctx *c, jinja_frame *f, const jinja_node *body)
{
    mm_buf *b = jinja_buf_new(c);
    int flow = FLOW_NORMAL;
    exec_body(c, new_frame(c, f), body, b, &flow);
    return jinja_buf_to_str(c, b);
}

static void set_loop(jinja_ctx *c, jinja_dict *loop, jinja_list *items, size_t i, int depth)
{
    size_t n = items->len;
    jinja_dict_set(c, loop, jinja_str("index", 5), jinja_int((int64_t)i + 1));
    jinja_dict_set(c, loop, jinja_str("index0", 6), jinja_int((int64_t)i));
    jinja_dict_set(c, loop, jinja_str("revindex", 8), jinja_int((int64_t)(n - i)));
    jinja_dict_set(c, loop, jinja_str("revindex0", 9), jinja_int((int64_t)(n - i - 1)));
    jinja_dict_set(c, loop, jinja_str("first", 5), jinja_bool(i == 0));
    jinja_dict_set(c, loop, jinja_str("last", 4), jinja_bool(i + 1 == n));
    jinja_dict_set(c, loop, jinja_str("length", 6), jinja_int((int64_t)n));
    jinja_dict_set(c, loop, jinja_str("depth", 5), jinja_int(depth));
    jinja_dict_set(c, loop, jinja_str("depth0", 6), jinja_int(depth - 1));
    jinja_dict_set(c, loop, jinja_str("previtem", 8),
                   i > 0 ? items->items[i - 1] : jinja_undef("there is no previous item"));
    jinja_dict_set(c, loop, jinja_str("nextitem", 8),
                   i + 1 < n ? items->items[i + 1] : jinja_undef("there is no next item"));
}

static void exec_for(jinja_ctx *c, jinja_frame *f, const jinja_node *n, mm_buf *out)
{
    jinja_val seq = eval(c, f, n->a);
    c->line = n->line;
    jinja_list *items = jinja_iterable(c, seq);
    jinja_frame *scope = new_frame(c, f);
    if (n->d) {                 /* {% for x in xs if cond %}: filter first */
        jinja_list *kept = jinja_new_list(c).u.list;
        for (size_t i = 0; i < items->len; i++) {
            jinja_step(c);
            scope->vars->len = 0;
            assign_targets(c, scope, n, items->items[i]);
            if (jinja_truthy(eval(c, scope, n->d)))
                jinja_list_push(c, kept, items->items[i]);
        }
        items = kept;
    }
    jinja_dict *loop = jinja_new_dict(c).u.dict;
    loop->is_loop = true;
    jinja_val loop_val = { .type = JT_DICT };
    loop_val.u.dict = loop;
    jinja_val *outer_loop = NULL;
    for (jinja_frame *p = f; p && !outer_loop; p = p->parent)
        outer_loop = jinja_dict_get_str(p->vars, "loop");
    int depth = 1;
    if (outer_loop && outer_loop->type == JT_DICT) {
        jinja_val *d = jinja_dict_get_str(outer_loop->u.dict, "depth");
        depth = d && d->type == JT_INT ? (int)d->u.i + 1 : 1;
    }
    for (size_t i = 0; i < items->len; i++) {
        jinja_step(c);
        scope->vars->len = 0;   /* a fresh scope each iteration */
        set_loop(c, loop, items, i, depth);
        set_var(c, scope, "loop", loop_val);
        assign_targets(c, scope, n, items->items[i]);
        int flow = FLOW_NORMAL;
        exec_body(c, scope, n->b, out, &flow);
        if (flow == FLOW_BREAK)
            break;
    }
    if (items->len == 0 && n->c) {
        int flow = FLOW_NORMAL;
        exec_body(c, new_frame(c, f), n->c, out, &flow);
    }
}

static void exec_set(jinja_ctx *c, jinja_frame *f, const jinja_node *n)
{
    jinja_val v = eval(c, f, n->a);
    c->line = n->line;
    if (!n->attr) {
        assign_targets(c, f, n, v);
        return;
    }
    jinja_val ns = lookup(c, f, n->name);
    if (ns.type != JT_NS)
        jinja_fail(c, MM_EINVAL, "cannot assign attribute on non-namespace object '%s'", n->name);
    jinja_dict_set(c, ns.u.dict, name_val(n->attr), v);
}

static void exec_node(jinja_ctx *c, jinja_frame *f, const jinja_node *n, mm_buf *out, int *flow);

static void exec_stmt(jinja_ctx *c, jinja_frame *f, const jinja_node *n, mm_buf *out, int *flow)
{
    enter(c);
    exec_node(c, f, n, out, flow);
    c->nesting--;
}

static void exec_node(jinja_ctx *c, jinja_frame *f, const jinja_node *n, mm_buf *out, int *flow)
{
    c->line = n->line;
    switch (n->kind) {
    case JN_TEXT:
        jinja_buf_put(c, out, n->lit.u.s.p, n->lit.u.s.len);
        break;
    case JN_OUTPUT:
        jinja_write_str(c, out, eval(c, f, n->a));
        break;
    case JN_IF: {
        const jinja_node *branch = jinja_truthy(eval(c, f, n->a)) ? n->b : n->c;
        if (branch && branch->kind == JN_IF)
            exec_stmt(c, f, branch, out, flow);
        else if (branch)
            exec_body(c, f, branch, out, flow);
        break;
    }
    case JN_FOR:
        exec_for(c, f, n, out);
        break;
    case JN_SET:
        exec_set(c, f, n);
        break;
    case JN_SETBLOCK: {
        jinja_val v = capture(c, f, n->b);
        if (n->d)
            v = apply_chain(c, f, n->d, v);
        set_var(c, f, n->name, v);
        break;
    }
    case JN_MACRO: {
        jinja_val m = { .type = JT_MACRO };
        m.u.macro = n;
        set_var(c, f, n->name, m);
        break;
    }
    case JN_FILTERBLOCK: {
        jinja_val v = apply_chain(c, f, n->a, capture(c, f, n->b));
        jinja_write_str(c, out, v);
        break;
    }
    case JN_WITH: {
        jinja_frame *scope = new_frame(c, f);
        for (size_t i = 0; i < n->n_kids; i++)
            set_var(c, scope, n->names[i], eval(c, f, n->kids[i]));
        exec_body(c, scope, n->b, out, flow);
        break;
    }
    case JN_BREAK:
        *flow = FLOW_BREAK;
        break;
    case JN_CONTINUE:
        *flow = FLOW_CONTINUE;
        break;
    case JN_BODY:
        exec_body(c, f, n, out, flow);
        break;
    default:
        jinja_fail(c, MM_EINTERNAL, "node %d is not a statement", (int)n->kind);
    }
}

static void exec_body(jinja_ctx *c, jinja_frame *f, const jinja_node *body, mm_buf *out, int *flow)
{
    for (size_t i = 0; i < body->n_kids && *flow == FLOW_NORMAL; i++)
        exec_stmt(c, f, body->kids[i], out, flow);
}

/* ---- public API ---- */

int text_tmpl_parse(const char *src, size_t len, text_tmpl **out, mm_error *err)
{
    *out = NULL;
    if (!src)
        return mm_error_set(err, MM_EINVAL, "chat template is missing");
    if (len > TMPL_MAX_SOURCE)
        return mm_error_set(err, MM_ELIMIT, "chat template is %zu bytes, more than the %u allowed",
                            len, TMPL_MAX_SOURCE);
    text_tmpl *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(err, MM_ENOMEM, "out of memory parsing the chat template");
    t->arena = jinja_arena_new(TMPL_PARSE_MEMORY);
    if (!t->arena) {
        free(t);
        return mm_error_set(err, MM_ENOMEM, "out of memory parsing the chat template");
    }
    int rc = jinja_parse(src, len, t->arena, &t->root, err);
    if (rc) {
        text_tmpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void text_tmpl_free(text_tmpl *tmpl)
{
    if (!tmpl)
        return;
    jinja_arena_free(tmpl->arena);
    free(tmpl);
}

int text_tmpl_render(const text_tmpl *tmpl, const cJSON *context,
                     const text_tmpl_opts *opts, mm_buf *out, mm_error *err)
{
    if (!tmpl || !out)
        return mm_error_set(err, MM_EINVAL, "chat template render: missing template or output");
    if (context && !cJSON_IsObject(context))
        return mm_error_set(err, MM_EINVAL, "chat template context must be a JSON object");
    /* heap-allocated so its fields stay valid after longjmp */
    jinja_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return mm_error_set(err, MM_ENOMEM, "out of memory rendering the chat template");
    if (opts)
        c->opts = *opts;
    if (!c->opts.max_output)
        c->opts.max_output = 4u << 20;
    if (!c->opts.max_memory)
        c->opts.max_memory = 64u << 20;
    if (!c->opts.max_steps)
        c->opts.max_steps = 1000000;
    if (c->opts.max_depth <= 0)
        c->opts.max_depth = 64;
    c->err = err;
    c->line = 1;
    c->arena = jinja_arena_new(c->opts.max_memory);
    mm_buf *text = calloc(1, sizeof *text);
    jmp_buf jmp;
    c->jmp = &jmp;
    int rc = 0;
    if (!c->arena || !text) {
        rc = mm_error_set(err, MM_ENOMEM, "out of memory rendering the chat template");
        goto fail;
    }
    mm_buf_init(text, c->opts.max_output);
    if (setjmp(jmp)) {
        rc = c->code;
        goto fail;
    }
    c->root = new_frame(c, NULL);
    for (const cJSON *it = context ? context->child : NULL; it; it = it->next)
        set_var(c, c->root, it->string, jinja_from_json(c, it, 0));
    int flow = FLOW_NORMAL;
    exec_body(c, c->root, tmpl->root, text, &flow);
    rc = mm_buf_append(out, text->data ? text->data : "", text->len);
    if (rc)
        rc = mm_error_set(err, rc, "rendered chat template (%zu bytes) does not fit the output "
                          "buffer", text->len);
fail:
    while (c->n_tmp > 0)
        mm_buf_free(&c->tmp[--c->n_tmp]);
    if (text)
        mm_buf_free(text);
    free(text);
    jinja_arena_free(c->arena);
    free(c);
    return rc;
}
