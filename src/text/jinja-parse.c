/* jinja-parse.c - recursive-descent parser for template expressions, with
 * the grammar and operator precedence of Jinja2's parser, and the token
 * helpers the statement parser (jinja-stmt.c) shares. */
#include "text/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Noreturn void jinja_perr(jinja_parser *ps, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ps->code = mm_error_set(ps->err, MM_EINVAL, "chat template syntax error at line %d: %s",
                            line, msg);
    longjmp(ps->jmp, 1);
}

void *jinja_palloc(jinja_parser *ps, size_t size)
{
    void *p = jinja_arena_alloc(ps->arena, size);
    if (!p) {
        ps->code = mm_error_set(ps->err, MM_ELIMIT, "chat template too large to parse");
        longjmp(ps->jmp, 1);
    }
    return p;
}

jinja_token *jinja_tok_cur(jinja_parser *ps) { return &ps->t[ps->i]; }
jinja_token *jinja_tok_peek(jinja_parser *ps, size_t k)
{
    return ps->i + k < ps->n ? &ps->t[ps->i + k] : &ps->t[ps->n - 1];
}
jinja_token *jinja_tok_next(jinja_parser *ps)
{
    jinja_token *t = jinja_tok_cur(ps);
    if (ps->i < ps->n - 1)
        ps->i++;
    return t;
}

bool jinja_tok_is(const jinja_token *t, jinja_tok_type type, const char *text)
{
    if (t->type != type)
        return false;
    return !text || (strlen(text) == t->len && memcmp(t->p, text, t->len) == 0);
}

bool jinja_is_op(jinja_parser *ps, const char *op)
{
    return jinja_tok_is(jinja_tok_cur(ps), JK_OP, op);
}

bool jinja_is_name(jinja_parser *ps, const char *name)
{
    return jinja_tok_is(jinja_tok_cur(ps), JK_NAME, name);
}

bool jinja_skip_op(jinja_parser *ps, const char *op)
{
    if (!jinja_is_op(ps, op))
        return false;
    jinja_tok_next(ps);
    return true;
}
bool jinja_skip_name(jinja_parser *ps, const char *name)
{
    if (!jinja_is_name(ps, name))
        return false;
    jinja_tok_next(ps);
    return true;
}

static const char *describe(const jinja_token *t)
{
    switch (t->type) {
    case JK_EOF: return "end of template";
    case JK_BLOCK_END: return "end of statement block";
    case JK_VAR_END: return "end of print statement";
    case JK_STRING: return "string";
    case JK_INT: case JK_FLOAT: return "number";
    default: return NULL;
    }
}

_Noreturn void jinja_unexpected(jinja_parser *ps, const char *wanted)
{
    jinja_token *t = jinja_tok_cur(ps);
    const char *d = describe(t);
    if (d)
        jinja_perr(ps, t->line, "expected %s, got %s", wanted, d);
    jinja_perr(ps, t->line, "expected %s, got '%.*s'", wanted, (int)(t->len > 40 ? 40 : t->len), t->p);
}

void jinja_expect_op(jinja_parser *ps, const char *op)
{
    if (!jinja_skip_op(ps, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        jinja_unexpected(ps, w);
    }
}

static const char *copy_name(jinja_parser *ps, const jinja_token *t)
{
    char *s = jinja_palloc(ps, t->len + 1);
    memcpy(s, t->p, t->len);
    return s;
}

const char *jinja_expect_ident(jinja_parser *ps)
{
    if (jinja_tok_cur(ps)->type != JK_NAME)
        jinja_unexpected(ps, "a name");
    return copy_name(ps, jinja_tok_next(ps));
}

jinja_node *jinja_new_node(jinja_parser *ps, jinja_kind kind, int line)
{
    jinja_node *n = jinja_palloc(ps, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

void jinja_nvec_push(jinja_parser *ps, jinja_nvec *a, jinja_node *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        jinja_node **v = jinja_palloc(ps, cap * sizeof *v);
        if (a->n)
            memcpy(v, a->v, a->n * sizeof *v);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}
void jinja_svec_push(jinja_parser *ps, jinja_svec *a, const char *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        const char **v = jinja_palloc(ps, cap * sizeof *v);
        if (a->n)
            memcpy(v, a->v, a->n * sizeof *v);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static jinja_node *parse_unary(jinja_parser *ps, bool with_filter);
static jinja_node *parse_primary(jinja_parser *ps);
static jinja_node *parse_postfix(jinja_parser *ps, jinja_node *n);

void jinja_enter(jinja_parser *ps)
{
    if (++ps->depth > JINJA_PARSE_MAX_DEPTH)
        jinja_perr(ps, jinja_tok_cur(ps)->line, "expression nested deeper than %d levels", JINJA_PARSE_MAX_DEPTH);
}

/* "(" args ")": positional arguments then name=value keywords. */
static void parse_call_args(jinja_parser *ps, jinja_node *n)
{
    jinja_nvec pos = { 0 }, kwv = { 0 };
    jinja_svec kwn = { 0 };
    jinja_expect_op(ps, "(");
    while (!jinja_is_op(ps, ")")) {
        if (pos.n + kwv.n > 0)
            jinja_expect_op(ps, ",");
        if (jinja_is_op(ps, ")"))
            break;
        if (jinja_tok_cur(ps)->type == JK_NAME && jinja_tok_is(jinja_tok_peek(ps, 1), JK_OP, "=")) {
            jinja_svec_push(ps, &kwn, copy_name(ps, jinja_tok_next(ps)));
            jinja_tok_next(ps);
            jinja_nvec_push(ps, &kwv, jinja_parse_expr(ps));
        } else {
            if (kwv.n)
                jinja_perr(ps, jinja_tok_cur(ps)->line, "positional argument after keyword argument");
            jinja_nvec_push(ps, &pos, jinja_parse_expr(ps));
        }
    }
    jinja_expect_op(ps, ")");
    n->kids = pos.v;
    n->n_kids = pos.n;
    n->names = kwn.v;
    n->kw_vals = kwv.v;
    n->n_names = kwn.n;
}

jinja_node *jinja_parse_filter(jinja_parser *ps, jinja_node *operand)
{
    int line = jinja_tok_cur(ps)->line;
    const char *name = jinja_expect_ident(ps);
    while (jinja_skip_op(ps, ".")) {          /* dotted filter names are one name */
        const char *part = jinja_expect_ident(ps);
        char *joined = jinja_palloc(ps, strlen(name) + strlen(part) + 2);
        snprintf(joined, strlen(name) + strlen(part) + 2, "%s.%s", name, part);
        name = joined;
    }
    jinja_node *f = jinja_new_node(ps, JN_FILTER, line);
    f->a = operand;
    f->name = name;
    f->op = jinja_filter_id(name);     /* -1: see check_names() */
    if (jinja_is_op(ps, "("))
        parse_call_args(ps, f);
    return f;
}

static jinja_node *parse_test(jinja_parser *ps, jinja_node *operand)
{
    int line = jinja_tok_cur(ps)->line;
    jinja_tok_next(ps);                        /* "is" */
    bool negated = jinja_skip_name(ps, "not");
    const char *name = jinja_expect_ident(ps);
    while (jinja_skip_op(ps, ".")) {          /* dotted test names are one name */
        const char *part = jinja_expect_ident(ps);
        size_t size = strlen(name) + strlen(part) + 2;
        char *joined = jinja_palloc(ps, size);
        snprintf(joined, size, "%s.%s", name, part);
        name = joined;
    }
    jinja_node *t = jinja_new_node(ps, JN_TEST, line);
    t->a = operand;
    t->name = name;
    t->op = jinja_test_id(name);
    jinja_token *c = jinja_tok_cur(ps);
    if (jinja_is_op(ps, "(")) {
        parse_call_args(ps, t);
    } else if ((c->type == JK_NAME || c->type == JK_STRING || c->type == JK_INT ||
                c->type == JK_FLOAT || jinja_is_op(ps, "[") || jinja_is_op(ps, "{")) &&
               !jinja_is_name(ps, "else") && !jinja_is_name(ps, "or") && !jinja_is_name(ps, "and")) {
        if (jinja_is_name(ps, "is"))
            jinja_perr(ps, c->line, "you cannot chain multiple tests with is");
        jinja_node *arg = parse_postfix(ps, parse_primary(ps));
        t->kids = jinja_palloc(ps, sizeof *t->kids);
        t->kids[0] = arg;
        t->n_kids = 1;
    }
    if (negated) {
        jinja_node *n = jinja_new_node(ps, JN_NOT, line);
        n->a = t;
        return n;
    }
    return t;
}

static jinja_node *parse_filter_expr(jinja_parser *ps, jinja_node *n)
{
    for (;;) {
        if (jinja_skip_op(ps, "|")) {
            n = jinja_parse_filter(ps, n);
        } else if (jinja_is_name(ps, "is")) {
            n = parse_test(ps, n);
        } else if (jinja_is_op(ps, "(")) {
            jinja_node *call = jinja_new_node(ps, JN_CALL, jinja_tok_cur(ps)->line);
            call->a = n;
            parse_call_args(ps, call);
            n = call;
        } else {
            return n;
        }
    }
}

/* One subscript inside [ ]: an expression or a slice a:b:c. */
static jinja_node *parse_subscribed(jinja_parser *ps, jinja_node *obj, int line)
{
    jinja_node *parts[3] = { NULL, NULL, NULL };
    bool is_slice = false;
    if (!jinja_is_op(ps, ":"))
        parts[0] = jinja_parse_expr(ps);
    if (jinja_skip_op(ps, ":")) {
        is_slice = true;
        if (!jinja_is_op(ps, "]") && !jinja_is_op(ps, ":"))
            parts[1] = jinja_parse_expr(ps);
        if (jinja_skip_op(ps, ":") && !jinja_is_op(ps, "]"))
            parts[2] = jinja_parse_expr(ps);
    }
    jinja_node *n = jinja_new_node(ps, is_slice ? JN_SLICE : JN_ITEM, line);
    n->a = obj;
    n->b = parts[0];
    if (is_slice) {
        n->c = parts[1];
        n->d = parts[2];
    }
    return n;
}

static jinja_node *parse_postfix(jinja_parser *ps, jinja_node *n)
{
    for (;;) {
        int line = jinja_tok_cur(ps)->line;
        if (jinja_skip_op(ps, ".")) {
            if (jinja_tok_cur(ps)->type == JK_INT) {
                jinja_node *it = jinja_new_node(ps, JN_ITEM, line);
                it->a = n;
                it->b = jinja_new_node(ps, JN_LIT, line);
                it->b->lit = jinja_int(jinja_tok_next(ps)->i);
                n = it;
                continue;
            }
            jinja_node *at = jinja_new_node(ps, JN_ATTR, line);
            at->a = n;
            at->name = jinja_expect_ident(ps);
            n = at;
        } else if (jinja_skip_op(ps, "[")) {
            if (jinja_skip_op(ps, "]")) {     /* x[]: the key is an empty tuple */
                jinja_node *it = jinja_new_node(ps, JN_ITEM, line);
                it->a = n;
                it->b = jinja_new_node(ps, JN_TUPLE, line);
                n = it;
                continue;
            }
            jinja_node *sub = parse_subscribed(ps, n, line);
            if (jinja_is_op(ps, ",") && sub->kind == JN_SLICE)
                jinja_perr(ps, line, "tuples of slices are not supported");
            if (jinja_is_op(ps, ",")) {   /* x[a, b]: the key is a tuple */
                jinja_nvec items = { 0 };
                jinja_nvec_push(ps, &items, sub->b);
                while (jinja_skip_op(ps, ",") && !jinja_is_op(ps, "]"))
                    jinja_nvec_push(ps, &items, jinja_parse_expr(ps));
                sub->b = jinja_new_node(ps, JN_TUPLE, line);
                sub->b->kids = items.v;
                sub->b->n_kids = items.n;
            }
            n = sub;
            jinja_expect_op(ps, "]");
        } else if (jinja_is_op(ps, "(")) {
            jinja_node *call = jinja_new_node(ps, JN_CALL, line);
            call->a = n;
            parse_call_args(ps, call);
            n = call;
        } else {
            return n;
        }
    }
}

static jinja_node *lit(jinja_parser *ps, int line, jinja_val v)
{
    jinja_node *n = jinja_new_node(ps, JN_LIT, line);
    n->lit = v;
    return n;
}

static jinja_node *parse_primary(jinja_parser *ps)
{
    jinja_token *t = jinja_tok_cur(ps);
    int line = t->line;
    if (t->type == JK_NAME) {
        jinja_tok_next(ps);
        if (jinja_tok_is(t, JK_NAME, "true") || jinja_tok_is(t, JK_NAME, "True"))
            return lit(ps, line, jinja_bool(true));
        if (jinja_tok_is(t, JK_NAME, "false") || jinja_tok_is(t, JK_NAME, "False"))
            return lit(ps, line, jinja_bool(false));
        if (jinja_tok_is(t, JK_NAME, "none") || jinja_tok_is(t, JK_NAME, "None"))
            return lit(ps, line, jinja_none());
        jinja_node *n = jinja_new_node(ps, JN_NAME, line);
        n->name = copy_name(ps, t);
        return n;
    }
    if (t->type == JK_STRING) {
        /* adjacent string literals concatenate */
        size_t total = 0, k = ps->i;
        while (ps->t[k].type == JK_STRING)
            total += ps->t[k++].len;
        char *s = jinja_palloc(ps, total + 1);
        size_t o = 0;
        while (jinja_tok_cur(ps)->type == JK_STRING) {
            jinja_token *st = jinja_tok_next(ps);
            memcpy(s + o, st->p, st->len);
            o += st->len;
        }
        return lit(ps, line, jinja_str(s, total));
    }
    if (t->type == JK_INT) {
        jinja_tok_next(ps);
        return lit(ps, line, jinja_int(t->i));
    }
    if (t->type == JK_FLOAT) {
        jinja_tok_next(ps);
        return lit(ps, line, jinja_float(t->f));
    }
    if (jinja_skip_op(ps, "(")) {
        if (jinja_skip_op(ps, ")"))
            return jinja_new_node(ps, JN_TUPLE, line);
        jinja_enter(ps);
        jinja_node *first = jinja_parse_expr(ps);
        if (!jinja_is_op(ps, ",")) {
            jinja_expect_op(ps, ")");
            ps->depth--;
            return first;
        }
        jinja_nvec items = { 0 };
        jinja_nvec_push(ps, &items, first);
        while (jinja_skip_op(ps, ",") && !jinja_is_op(ps, ")"))
            jinja_nvec_push(ps, &items, jinja_parse_expr(ps));
        jinja_expect_op(ps, ")");
        ps->depth--;
        jinja_node *n = jinja_new_node(ps, JN_TUPLE, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (jinja_skip_op(ps, "[")) {
        jinja_enter(ps);
        jinja_nvec items = { 0 };
        while (!jinja_is_op(ps, "]")) {
            if (items.n)
                jinja_expect_op(ps, ",");
            if (jinja_is_op(ps, "]"))
                break;
            jinja_nvec_push(ps, &items, jinja_parse_expr(ps));
        }
        jinja_expect_op(ps, "]");
        ps->depth--;
        jinja_node *n = jinja_new_node(ps, JN_LIST, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (jinja_skip_op(ps, "{")) {
        jinja_enter(ps);
        jinja_nvec items = { 0 };
        while (!jinja_is_op(ps, "}")) {
            if (items.n)
                jinja_expect_op(ps, ",");
            if (jinja_is_op(ps, "}"))
                break;
            jinja_nvec_push(ps, &items, jinja_parse_expr(ps));
            jinja_expect_op(ps, ":");
            jinja_nvec_push(ps, &items, jinja_parse_expr(ps));
        }
        jinja_expect_op(ps, "}");
        ps->depth--;
        jinja_node *n = jinja_new_node(ps, JN_DICT, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    jinja_unexpected(ps, "an expression");
}

static jinja_node *parse_unary(jinja_parser *ps, bool with_filter)
{
    int line = jinja_tok_cur(ps)->line;
    jinja_node *n;
    jinja_enter(ps);
    if (jinja_skip_op(ps, "-")) {
        n = jinja_new_node(ps, JN_NEG, line);
        n->a = parse_unary(ps, false);
    } else if (jinja_skip_op(ps, "+")) {
        n = jinja_new_node(ps, JN_POS, line);
        n->a = parse_unary(ps, false);
    } else {
        n = parse_primary(ps);
    }
    n = parse_postfix(ps, n);
    if (with_filter)
        n = parse_filter_expr(ps, n);
    ps->depth--;
    return n;
}

static jinja_node *binary(jinja_parser *ps, int op, jinja_node *l, jinja_node *r, int line)
{
    jinja_node *n = jinja_new_node(ps, JN_BIN, line);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jinja_node *parse_pow(jinja_parser *ps)
{
    jinja_node *n = parse_unary(ps, true);
    while (jinja_is_op(ps, "**")) {
        int line = jinja_tok_next(ps)->line;
        n = binary(ps, JOP_POW, n, parse_unary(ps, true), line);
    }
    return n;
}

static jinja_node *parse_math2(jinja_parser *ps)
{
    jinja_node *n = parse_pow(ps);
    for (;;) {
        int op = jinja_is_op(ps, "*") ? JOP_MUL : jinja_is_op(ps, "/") ? JOP_DIV :
                 jinja_is_op(ps, "//") ? JOP_FLOORDIV : jinja_is_op(ps, "%") ? JOP_MOD : 0;
        if (!op)
            return n;
        int line = jinja_tok_next(ps)->line;
        n = binary(ps, op, n, parse_pow(ps), line);
    }
}

static jinja_node *parse_concat(jinja_parser *ps)
{
    jinja_node *n = parse_math2(ps);
    while (jinja_is_op(ps, "~")) {
        int line = jinja_tok_next(ps)->line;
        n = binary(ps, JOP_CONCAT, n, parse_math2(ps), line);
    }
    return n;
}

static jinja_node *parse_math1(jinja_parser *ps)
{
    jinja_node *n = parse_concat(ps);
    for (;;) {
        int op = jinja_is_op(ps, "+") ? JOP_ADD : jinja_is_op(ps, "-") ? JOP_SUB : 0;
        if (!op)
            return n;
        int line = jinja_tok_next(ps)->line;
        n = binary(ps, op, n, parse_concat(ps), line);
    }
}

static jinja_node *parse_compare(jinja_parser *ps)
{
    int line = jinja_tok_cur(ps)->line;
    jinja_node *first = parse_math1(ps);
    jinja_nvec operands = { 0 };
    int ops[16];
    size_t n_ops = 0;
    for (;;) {
        int op = jinja_is_op(ps, "==") ? JOP_EQ : jinja_is_op(ps, "!=") ? JOP_NE :
                 jinja_is_op(ps, "<") ? JOP_LT : jinja_is_op(ps, "<=") ? JOP_LE :
                 jinja_is_op(ps, ">") ? JOP_GT : jinja_is_op(ps, ">=") ? JOP_GE : 0;
        if (op) {
            jinja_tok_next(ps);
        } else if (jinja_skip_name(ps, "in")) {
            op = JOP_IN;
        } else if (jinja_is_name(ps, "not") && jinja_tok_is(jinja_tok_peek(ps, 1), JK_NAME, "in")) {
            jinja_tok_next(ps);
            jinja_tok_next(ps);
            op = JOP_NOTIN;
        } else {
            break;
        }
        if (n_ops == MM_ARRAY_LEN(ops))
            jinja_perr(ps, line, "too many chained comparisons");
        if (!operands.n)
            jinja_nvec_push(ps, &operands, first);
        ops[n_ops++] = op;
        jinja_nvec_push(ps, &operands, parse_math1(ps));
    }
    if (!n_ops)
        return first;
    jinja_node *n = jinja_new_node(ps, JN_CMP, line);
    n->kids = operands.v;
    n->n_kids = operands.n;
    n->ops = jinja_palloc(ps, n_ops * sizeof *n->ops);
    memcpy(n->ops, ops, n_ops * sizeof *ops);
    return n;
}

static jinja_node *parse_not(jinja_parser *ps)
{
    if (jinja_is_name(ps, "not")) {
        int line = jinja_tok_next(ps)->line;
        jinja_enter(ps);
        jinja_node *n = jinja_new_node(ps, JN_NOT, line);
        n->a = parse_not(ps);
        ps->depth--;
        return n;
    }
    return parse_compare(ps);
}

static jinja_node *parse_and(jinja_parser *ps)
{
    jinja_node *n = parse_not(ps);
    while (jinja_is_name(ps, "and")) {
        jinja_node *a = jinja_new_node(ps, JN_AND, jinja_tok_next(ps)->line);
        a->a = n;
        a->b = parse_not(ps);
        n = a;
    }
    return n;
}

jinja_node *jinja_parse_or(jinja_parser *ps)
{
    jinja_node *n = parse_and(ps);
    while (jinja_is_name(ps, "or")) {
        jinja_node *o = jinja_new_node(ps, JN_OR, jinja_tok_next(ps)->line);
        o->a = n;
        o->b = parse_and(ps);
        n = o;
    }
    return n;
}

/* or_expr ("if" or_expr ("else" cond_expr)?)* */
jinja_node *jinja_parse_expr(jinja_parser *ps)
{
    jinja_enter(ps);
    jinja_node *n = jinja_parse_or(ps);
    while (jinja_is_name(ps, "if")) {
        jinja_node *c = jinja_new_node(ps, JN_COND, jinja_tok_next(ps)->line);
        c->a = jinja_parse_or(ps);
        c->b = n;
        if (jinja_skip_name(ps, "else"))
            c->c = jinja_parse_expr(ps);
        n = c;
    }
    ps->depth--;
    return n;
}

/* Expressions separated by commas form a tuple, as in {{ a, b }}. An if
 * statement's condition admits no "a if b else c" (with_cond false). */
jinja_node *jinja_parse_tuple(jinja_parser *ps, bool with_cond)
{
    int line = jinja_tok_cur(ps)->line;
    jinja_node *first = with_cond ? jinja_parse_expr(ps) : jinja_parse_or(ps);
    if (!jinja_is_op(ps, ","))
        return first;
    jinja_nvec items = { 0 };
    jinja_nvec_push(ps, &items, first);
    while (jinja_skip_op(ps, ",")) {
        if (jinja_tok_cur(ps)->type == JK_VAR_END || jinja_tok_cur(ps)->type == JK_BLOCK_END)
            break;
        jinja_nvec_push(ps, &items, with_cond ? jinja_parse_expr(ps) : jinja_parse_or(ps));
    }
    jinja_node *n = jinja_new_node(ps, JN_TUPLE, line);
    n->kids = items.v;
    n->n_kids = items.n;
    return n;
}
