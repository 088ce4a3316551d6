/* jinja-parse.c - recursive-descent parser from tokens to the template AST,
 * following the grammar and operator precedence of Jinja2's parser. Filter
 * and test names are resolved here so a misspelt one fails at parse time,
 * as Jinja2 reports it at compile time. */
#include "text/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PARSE_MAX_DEPTH 200

typedef struct parser {
    jinja_token *t;
    size_t n, i;
    jinja_arena *arena;
    mm_error *err;
    jmp_buf jmp;
    int depth;
    int code;                /* the error code perr/palloc unwound with */
} parser;

_Noreturn static void perr(parser *ps, int line, const char *fmt, ...) MM_PRINTF(3, 4);
_Noreturn static void perr(parser *ps, int line, const char *fmt, ...)
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

static void *palloc(parser *ps, size_t size)
{
    void *p = jinja_arena_alloc(ps->arena, size);
    if (!p) {
        ps->code = mm_error_set(ps->err, MM_ELIMIT, "chat template too large to parse");
        longjmp(ps->jmp, 1);
    }
    return p;
}

static jinja_token *cur(parser *ps) { return &ps->t[ps->i]; }
static jinja_token *peek(parser *ps, size_t k)
{
    return ps->i + k < ps->n ? &ps->t[ps->i + k] : &ps->t[ps->n - 1];
}
static jinja_token *advance(parser *ps)
{
    jinja_token *t = cur(ps);
    if (ps->i < ps->n - 1)
        ps->i++;
    return t;
}

static bool tok_is(const jinja_token *t, jinja_tok_type type, const char *text)
{
    if (t->type != type)
        return false;
    return !text || (strlen(text) == t->len && memcmp(t->p, text, t->len) == 0);
}
static bool is_op(parser *ps, const char *op) { return tok_is(cur(ps), JK_OP, op); }
static bool is_name(parser *ps, const char *name) { return tok_is(cur(ps), JK_NAME, name); }

static bool skip_op(parser *ps, const char *op)
{
    if (!is_op(ps, op))
        return false;
    advance(ps);
    return true;
}
static bool skip_name(parser *ps, const char *name)
{
    if (!is_name(ps, name))
        return false;
    advance(ps);
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

_Noreturn static void unexpected(parser *ps, const char *wanted)
{
    jinja_token *t = cur(ps);
    const char *d = describe(t);
    if (d)
        perr(ps, t->line, "expected %s, got %s", wanted, d);
    perr(ps, t->line, "expected %s, got '%.*s'", wanted, (int)(t->len > 40 ? 40 : t->len), t->p);
}

static void expect_op(parser *ps, const char *op)
{
    if (!skip_op(ps, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        unexpected(ps, w);
    }
}

static const char *copy_name(parser *ps, const jinja_token *t)
{
    char *s = palloc(ps, t->len + 1);
    memcpy(s, t->p, t->len);
    return s;
}

static const char *expect_ident(parser *ps)
{
    if (cur(ps)->type != JK_NAME)
        unexpected(ps, "a name");
    return copy_name(ps, advance(ps));
}

static jinja_node *node(parser *ps, jinja_kind kind, int line)
{
    jinja_node *n = palloc(ps, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

/* A growable array of node pointers in the arena. */
typedef struct nvec { jinja_node **v; size_t n, cap; } nvec;
static void nvec_push(parser *ps, nvec *a, jinja_node *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        jinja_node **v = palloc(ps, cap * sizeof *v);
        if (a->n)
            memcpy(v, a->v, a->n * sizeof *v);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}
typedef struct svec { const char **v; size_t n, cap; } svec;
static void svec_push(parser *ps, svec *a, const char *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        const char **v = palloc(ps, cap * sizeof *v);
        if (a->n)
            memcpy(v, a->v, a->n * sizeof *v);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static jinja_node *parse_expr(parser *ps);
static jinja_node *parse_or(parser *ps);
static jinja_node *parse_unary(parser *ps, bool with_filter);
static jinja_node *parse_primary(parser *ps);
static jinja_node *parse_postfix(parser *ps, jinja_node *n);

static void enter(parser *ps)
{
    if (++ps->depth > PARSE_MAX_DEPTH)
        perr(ps, cur(ps)->line, "expression nested deeper than %d levels", PARSE_MAX_DEPTH);
}

/* "(" args ")": positional arguments then name=value keywords. */
static void parse_call_args(parser *ps, jinja_node *n)
{
    nvec pos = { 0 }, kwv = { 0 };
    svec kwn = { 0 };
    expect_op(ps, "(");
    while (!is_op(ps, ")")) {
        if (pos.n + kwv.n > 0)
            expect_op(ps, ",");
        if (is_op(ps, ")"))
            break;
        if (cur(ps)->type == JK_NAME && tok_is(peek(ps, 1), JK_OP, "=")) {
            svec_push(ps, &kwn, copy_name(ps, advance(ps)));
            advance(ps);
            nvec_push(ps, &kwv, parse_expr(ps));
        } else {
            if (kwv.n)
                perr(ps, cur(ps)->line, "positional argument after keyword argument");
            nvec_push(ps, &pos, parse_expr(ps));
        }
    }
    expect_op(ps, ")");
    n->kids = pos.v;
    n->n_kids = pos.n;
    n->names = kwn.v;
    n->kw_vals = kwv.v;
    n->n_names = kwn.n;
}

static jinja_node *parse_filter(parser *ps, jinja_node *operand)
{
    int line = cur(ps)->line;
    const char *name = expect_ident(ps);
    while (skip_op(ps, ".")) {          /* dotted filter names are one name */
        const char *part = expect_ident(ps);
        char *joined = palloc(ps, strlen(name) + strlen(part) + 2);
        snprintf(joined, strlen(name) + strlen(part) + 2, "%s.%s", name, part);
        name = joined;
    }
    jinja_node *f = node(ps, JN_FILTER, line);
    f->a = operand;
    f->name = name;
    f->op = jinja_filter_id(name);     /* -1: see check_names() */
    if (is_op(ps, "("))
        parse_call_args(ps, f);
    return f;
}

static jinja_node *parse_test(parser *ps, jinja_node *operand)
{
    int line = cur(ps)->line;
    advance(ps);                        /* "is" */
    bool negated = skip_name(ps, "not");
    const char *name = expect_ident(ps);
    while (skip_op(ps, ".")) {          /* dotted test names are one name */
        const char *part = expect_ident(ps);
        size_t size = strlen(name) + strlen(part) + 2;
        char *joined = palloc(ps, size);
        snprintf(joined, size, "%s.%s", name, part);
        name = joined;
    }
    jinja_node *t = node(ps, JN_TEST, line);
    t->a = operand;
    t->name = name;
    t->op = jinja_test_id(name);
    jinja_token *c = cur(ps);
    if (is_op(ps, "(")) {
        parse_call_args(ps, t);
    } else if ((c->type == JK_NAME || c->type == JK_STRING || c->type == JK_INT ||
                c->type == JK_FLOAT || is_op(ps, "[") || is_op(ps, "{")) &&
               !is_name(ps, "else") && !is_name(ps, "or") && !is_name(ps, "and")) {
        if (is_name(ps, "is"))
            perr(ps, c->line, "you cannot chain multiple tests with is");
        jinja_node *arg = parse_postfix(ps, parse_primary(ps));
        t->kids = palloc(ps, sizeof *t->kids);
        t->kids[0] = arg;
        t->n_kids = 1;
    }
    if (negated) {
        jinja_node *n = node(ps, JN_NOT, line);
        n->a = t;
        return n;
    }
    return t;
}

static jinja_node *parse_filter_expr(parser *ps, jinja_node *n)
{
    for (;;) {
        if (skip_op(ps, "|")) {
            n = parse_filter(ps, n);
        } else if (is_name(ps, "is")) {
            n = parse_test(ps, n);
        } else if (is_op(ps, "(")) {
            jinja_node *call = node(ps, JN_CALL, cur(ps)->line);
            call->a = n;
            parse_call_args(ps, call);
            n = call;
        } else {
            return n;
        }
    }
}

/* One subscript inside [ ]: an expression or a slice a:b:c. */
static jinja_node *parse_subscribed(parser *ps, jinja_node *obj, int line)
{
    jinja_node *parts[3] = { NULL, NULL, NULL };
    bool is_slice = false;
    if (!is_op(ps, ":"))
        parts[0] = parse_expr(ps);
    if (skip_op(ps, ":")) {
        is_slice = true;
        if (!is_op(ps, "]") && !is_op(ps, ":"))
            parts[1] = parse_expr(ps);
        if (skip_op(ps, ":") && !is_op(ps, "]"))
            parts[2] = parse_expr(ps);
    }
    jinja_node *n = node(ps, is_slice ? JN_SLICE : JN_ITEM, line);
    n->a = obj;
    n->b = parts[0];
    if (is_slice) {
        n->c = parts[1];
        n->d = parts[2];
    }
    return n;
}

static jinja_node *parse_postfix(parser *ps, jinja_node *n)
{
    for (;;) {
        int line = cur(ps)->line;
        if (skip_op(ps, ".")) {
            if (cur(ps)->type == JK_INT) {
                jinja_node *it = node(ps, JN_ITEM, line);
                it->a = n;
                it->b = node(ps, JN_LIT, line);
                it->b->lit = jinja_int(advance(ps)->i);
                n = it;
                continue;
            }
            jinja_node *at = node(ps, JN_ATTR, line);
            at->a = n;
            at->name = expect_ident(ps);
            n = at;
        } else if (skip_op(ps, "[")) {
            if (skip_op(ps, "]")) {     /* x[]: the key is an empty tuple */
                jinja_node *it = node(ps, JN_ITEM, line);
                it->a = n;
                it->b = node(ps, JN_TUPLE, line);
                n = it;
                continue;
            }
            jinja_node *sub = parse_subscribed(ps, n, line);
            if (is_op(ps, ",") && sub->kind == JN_SLICE)
                perr(ps, line, "tuples of slices are not supported");
            if (is_op(ps, ",")) {   /* x[a, b]: the key is a tuple */
                nvec items = { 0 };
                nvec_push(ps, &items, sub->b);
                while (skip_op(ps, ",") && !is_op(ps, "]"))
                    nvec_push(ps, &items, parse_expr(ps));
                sub->b = node(ps, JN_TUPLE, line);
                sub->b->kids = items.v;
                sub->b->n_kids = items.n;
            }
            n = sub;
            expect_op(ps, "]");
        } else if (is_op(ps, "(")) {
            jinja_node *call = node(ps, JN_CALL, line);
            call->a = n;
            parse_call_args(ps, call);
            n = call;
        } else {
            return n;
        }
    }
}

static jinja_node *lit(parser *ps, int line, jinja_val v)
{
    jinja_node *n = node(ps, JN_LIT, line);
    n->lit = v;
    return n;
}

static jinja_node *parse_primary(parser *ps)
{
    jinja_token *t = cur(ps);
    int line = t->line;
    if (t->type == JK_NAME) {
        advance(ps);
        if (tok_is(t, JK_NAME, "true") || tok_is(t, JK_NAME, "True"))
            return lit(ps, line, jinja_bool(true));
        if (tok_is(t, JK_NAME, "false") || tok_is(t, JK_NAME, "False"))
            return lit(ps, line, jinja_bool(false));
        if (tok_is(t, JK_NAME, "none") || tok_is(t, JK_NAME, "None"))
            return lit(ps, line, jinja_none());
        jinja_node *n = node(ps, JN_NAME, line);
        n->name = copy_name(ps, t);
        return n;
    }
    if (t->type == JK_STRING) {
        /* adjacent string literals concatenate */
        size_t total = 0, k = ps->i;
        while (ps->t[k].type == JK_STRING)
            total += ps->t[k++].len;
        char *s = palloc(ps, total + 1);
        size_t o = 0;
        while (cur(ps)->type == JK_STRING) {
            jinja_token *st = advance(ps);
            memcpy(s + o, st->p, st->len);
            o += st->len;
        }
        return lit(ps, line, jinja_str(s, total));
    }
    if (t->type == JK_INT) {
        advance(ps);
        return lit(ps, line, jinja_int(t->i));
    }
    if (t->type == JK_FLOAT) {
        advance(ps);
        return lit(ps, line, jinja_float(t->f));
    }
    if (skip_op(ps, "(")) {
        if (skip_op(ps, ")"))
            return node(ps, JN_TUPLE, line);
        enter(ps);
        jinja_node *first = parse_expr(ps);
        if (!is_op(ps, ",")) {
            expect_op(ps, ")");
            ps->depth--;
            return first;
        }
        nvec items = { 0 };
        nvec_push(ps, &items, first);
        while (skip_op(ps, ",") && !is_op(ps, ")"))
            nvec_push(ps, &items, parse_expr(ps));
        expect_op(ps, ")");
        ps->depth--;
        jinja_node *n = node(ps, JN_TUPLE, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (skip_op(ps, "[")) {
        enter(ps);
        nvec items = { 0 };
        while (!is_op(ps, "]")) {
            if (items.n)
                expect_op(ps, ",");
            if (is_op(ps, "]"))
                break;
            nvec_push(ps, &items, parse_expr(ps));
        }
        expect_op(ps, "]");
        ps->depth--;
        jinja_node *n = node(ps, JN_LIST, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (skip_op(ps, "{")) {
        enter(ps);
        nvec items = { 0 };
        while (!is_op(ps, "}")) {
            if (items.n)
                expect_op(ps, ",");
            if (is_op(ps, "}"))
                break;
            nvec_push(ps, &items, parse_expr(ps));
            expect_op(ps, ":");
            nvec_push(ps, &items, parse_expr(ps));
        }
        expect_op(ps, "}");
        ps->depth--;
        jinja_node *n = node(ps, JN_DICT, line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    unexpected(ps, "an expression");
}

static jinja_node *parse_unary(parser *ps, bool with_filter)
{
    int line = cur(ps)->line;
    jinja_node *n;
    enter(ps);
    if (skip_op(ps, "-")) {
        n = node(ps, JN_NEG, line);
        n->a = parse_unary(ps, false);
    } else if (skip_op(ps, "+")) {
        n = node(ps, JN_POS, line);
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

static jinja_node *binary(parser *ps, int op, jinja_node *l, jinja_node *r, int line)
{
    jinja_node *n = node(ps, JN_BIN, line);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jinja_node *parse_pow(parser *ps)
{
    jinja_node *n = parse_unary(ps, true);
    while (is_op(ps, "**")) {
        int line = advance(ps)->line;
        n = binary(ps, JOP_POW, n, parse_unary(ps, true), line);
    }
    return n;
}

static jinja_node *parse_math2(parser *ps)
{
    jinja_node *n = parse_pow(ps);
    for (;;) {
        int op = is_op(ps, "*") ? JOP_MUL : is_op(ps, "/") ? JOP_DIV :
                 is_op(ps, "//") ? JOP_FLOORDIV : is_op(ps, "%") ? JOP_MOD : 0;
        if (!op)
            return n;
        int line = advance(ps)->line;
        n = binary(ps, op, n, parse_pow(ps), line);
    }
}

static jinja_node *parse_concat(parser *ps)
{
    jinja_node *n = parse_math2(ps);
    while (is_op(ps, "~")) {
        int line = advance(ps)->line;
        n = binary(ps, JOP_CONCAT, n, parse_math2(ps), line);
    }
    return n;
}

static jinja_node *parse_math1(parser *ps)
{
    jinja_node *n = parse_concat(ps);
    for (;;) {
        int op = is_op(ps, "+") ? JOP_ADD : is_op(ps, "-") ? JOP_SUB : 0;
        if (!op)
            return n;
        int line = advance(ps)->line;
        n = binary(ps, op, n, parse_concat(ps), line);
    }
}

static jinja_node *parse_compare(parser *ps)
{
    int line = cur(ps)->line;
    jinja_node *first = parse_math1(ps);
    nvec operands = { 0 };
    int ops[16];
    size_t n_ops = 0;
    for (;;) {
        int op = is_op(ps, "==") ? JOP_EQ : is_op(ps, "!=") ? JOP_NE :
                 is_op(ps, "<") ? JOP_LT : is_op(ps, "<=") ? JOP_LE :
                 is_op(ps, ">") ? JOP_GT : is_op(ps, ">=") ? JOP_GE : 0;
        if (op) {
            advance(ps);
        } else if (skip_name(ps, "in")) {
            op = JOP_IN;
        } else if (is_name(ps, "not") && tok_is(peek(ps, 1), JK_NAME, "in")) {
            advance(ps);
            advance(ps);
            op = JOP_NOTIN;
        } else {
            break;
        }
        if (n_ops == MM_ARRAY_LEN(ops))
            perr(ps, line, "too many chained comparisons");
        if (!operands.n)
            nvec_push(ps, &operands, first);
        ops[n_ops++] = op;
        nvec_push(ps, &operands, parse_math1(ps));
    }
    if (!n_ops)
        return first;
    jinja_node *n = node(ps, JN_CMP, line);
    n->kids = operands.v;
    n->n_kids = operands.n;
    n->ops = palloc(ps, n_ops * sizeof *n->ops);
    memcpy(n->ops, ops, n_ops * sizeof *ops);
    return n;
}

static jinja_node *parse_not(parser *ps)
{
    if (is_name(ps, "not")) {
        int line = advance(ps)->line;
        enter(ps);
        jinja_node *n = node(ps, JN_NOT, line);
        n->a = parse_not(ps);
        ps->depth--;
        return n;
    }
    return parse_compare(ps);
}

static jinja_node *parse_and(parser *ps)
{
    jinja_node *n = parse_not(ps);
    while (is_name(ps, "and")) {
        jinja_node *a = node(ps, JN_AND, advance(ps)->line);
        a->a = n;
        a->b = parse_not(ps);
        n = a;
    }
    return n;
}

static jinja_node *parse_or(parser *ps)
{
    jinja_node *n = parse_and(ps);
    while (is_name(ps, "or")) {
        jinja_node *o = node(ps, JN_OR, advance(ps)->line);
        o->a = n;
        o->b = parse_and(ps);
        n = o;
    }
    return n;
}

/* or_expr ("if" or_expr ("else" cond_expr)?)* */
static jinja_node *parse_expr(parser *ps)
{
    enter(ps);
    jinja_node *n = parse_or(ps);
    while (is_name(ps, "if")) {
        jinja_node *c = node(ps, JN_COND, advance(ps)->line);
        c->a = parse_or(ps);
        c->b = n;
        if (skip_name(ps, "else"))
            c->c = parse_expr(ps);
        n = c;
    }
    ps->depth--;
    return n;
}

/* Expressions separated by commas form a tuple, as in {{ a, b }}. An if
 * statement's condition admits no "a if b else c" (with_cond false). */
static jinja_node *parse_tuple(parser *ps, bool with_cond)
{
    int line = cur(ps)->line;
    jinja_node *first = with_cond ? parse_expr(ps) : parse_or(ps);
    if (!is_op(ps, ","))
        return first;
    nvec items = { 0 };
    nvec_push(ps, &items, first);
    while (skip_op(ps, ",")) {
        if (cur(ps)->type == JK_VAR_END || cur(ps)->type == JK_BLOCK_END)
            break;
        nvec_push(ps, &items, with_cond ? parse_expr(ps) : parse_or(ps));
    }
    jinja_node *n = node(ps, JN_TUPLE, line);
    n->kids = items.v;
    n->n_kids = items.n;
    return n;
}

/* ---- statements ---- */

static jinja_node *parse_body(parser *ps, const char *const *end_tags, const char **found);

static void expect_block_end(parser *ps)
{
    if (cur(ps)->type != JK_BLOCK_END)
        unexpected(ps, "end of statement block");
    advance(ps);
}

/* Names separated by commas, as after "for" or "set". */
static void parse_targets(parser *ps, jinja_node *n)
{
    svec names = { 0 };
    bool paren = skip_op(ps, "(");
    do {
        if (paren && is_op(ps, ")"))
            break;
        svec_push(ps, &names, expect_ident(ps));
    } while (skip_op(ps, ","));
    if (paren)
        expect_op(ps, ")");
    n->names = names.v;
    n->n_names = names.n;
}

static jinja_node *parse_for(parser *ps, int line)
{
    jinja_node *n = node(ps, JN_FOR, line);
    parse_targets(ps, n);
    if (!skip_name(ps, "in"))
        unexpected(ps, "'in'");
    /* the iterable is an or-expression: a trailing "if" filters the loop */
    jinja_node *iter = parse_or(ps);
    if (is_op(ps, ",")) {
        nvec items = { 0 };
        nvec_push(ps, &items, iter);
        while (skip_op(ps, ",") && !is_name(ps, "if") && cur(ps)->type != JK_BLOCK_END)
            nvec_push(ps, &items, parse_or(ps));
        iter = node(ps, JN_TUPLE, line);
        iter->kids = items.v;
        iter->n_kids = items.n;
    }
    n->a = iter;
    if (skip_name(ps, "if"))
        n->d = parse_expr(ps);
    if (is_name(ps, "recursive"))
        perr(ps, line, "recursive loops are not supported");
    expect_block_end(ps);
    static const char *const ends[] = { "endfor", "else", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    if (strcmp(found, "else") == 0) {
        static const char *const ends2[] = { "endfor", NULL };
        n->c = parse_body(ps, ends2, &found);
    }
    return n;
}

static jinja_node *parse_if(parser *ps, int line)
{
    jinja_node *n = node(ps, JN_IF, line);
    n->a = parse_tuple(ps, false);
    expect_block_end(ps);
    static const char *const ends[] = { "endif", "elif", "else", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    if (strcmp(found, "elif") == 0) {
        /* parse_body stopped after "elif": the rest is a nested if */
        n->c = parse_if(ps, cur(ps)->line);
    } else if (strcmp(found, "else") == 0) {
        static const char *const ends2[] = { "endif", NULL };
        n->c = parse_body(ps, ends2, &found);
    }
    return n;
}

static jinja_node *parse_filter_chain(parser *ps)
{
    jinja_node *f = parse_filter(ps, NULL);
    while (skip_op(ps, "|"))
        f = parse_filter(ps, f);
    return f;
}

static jinja_node *parse_set(parser *ps, int line)
{
    jinja_node *n = node(ps, JN_SET, line);
    if (cur(ps)->type == JK_NAME && tok_is(peek(ps, 1), JK_OP, ".")) {
        n->name = expect_ident(ps);
        advance(ps);
        n->attr = expect_ident(ps);
    } else {
        parse_targets(ps, n);
    }
    if (skip_op(ps, "=")) {
        n->a = parse_tuple(ps, true);
        expect_block_end(ps);
        return n;
    }
    if (n->attr || n->n_names != 1)
        unexpected(ps, "'='");
    n->kind = JN_SETBLOCK;
    n->name = n->names[0];
    if (skip_op(ps, "|"))
        n->d = parse_filter_chain(ps);
    expect_block_end(ps);
    static const char *const ends[] = { "endset", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    return n;
}

static jinja_node *parse_macro(parser *ps, int line)
{
    jinja_node *n = node(ps, JN_MACRO, line);
    n->name = expect_ident(ps);
    svec params = { 0 };
    nvec defaults = { 0 };
    bool seen_default = false;
    expect_op(ps, "(");
    while (!is_op(ps, ")")) {
        if (params.n)
            expect_op(ps, ",");
        if (is_op(ps, ")"))
            break;
        svec_push(ps, &params, expect_ident(ps));
        if (skip_op(ps, "=")) {
            nvec_push(ps, &defaults, parse_expr(ps));
            seen_default = true;
        } else if (seen_default) {
            perr(ps, line, "non-default argument follows default argument");
        } else {
            nvec_push(ps, &defaults, NULL);
        }
    }
    expect_op(ps, ")");
    expect_block_end(ps);
    n->names = params.v;
    n->n_names = params.n;
    n->kids = defaults.v;
    n->n_kids = defaults.n;
    static const char *const ends[] = { "endmacro", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    return n;
}

static jinja_node *parse_statement(parser *ps)
{
    jinja_token *t = cur(ps);
    int line = t->line;
    if (t->type != JK_NAME)
        unexpected(ps, "a statement name");
    advance(ps);
    if (tok_is(t, JK_NAME, "if"))
        return parse_if(ps, line);
    if (tok_is(t, JK_NAME, "for"))
        return parse_for(ps, line);
    if (tok_is(t, JK_NAME, "set"))
        return parse_set(ps, line);
    if (tok_is(t, JK_NAME, "macro"))
        return parse_macro(ps, line);
    if (tok_is(t, JK_NAME, "break") || tok_is(t, JK_NAME, "continue")) {
        jinja_node *n = node(ps, tok_is(t, JK_NAME, "break") ? JN_BREAK : JN_CONTINUE, line);
        expect_block_end(ps);
        return n;
    }
    if (tok_is(t, JK_NAME, "filter")) {
        jinja_node *n = node(ps, JN_FILTERBLOCK, line);
        n->a = parse_filter_chain(ps);
        expect_block_end(ps);
        static const char *const ends[] = { "endfilter", NULL };
        const char *found = NULL;
        n->b = parse_body(ps, ends, &found);
        return n;
    }
    if (tok_is(t, JK_NAME, "generation")) {
        /* transformers' {% generation %} marks assistant text; renders as is */
        expect_block_end(ps);
        static const char *const ends[] = { "endgeneration", NULL };
        const char *found = NULL;
        return parse_body(ps, ends, &found);
    }
    perr(ps, line, "unknown or unsupported tag '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
}

/* Statements until one of end_tags (NULL: end of template). The end tag's
 * block is consumed, except that after "elif" the condition follows. */
static jinja_node *parse_body(parser *ps, const char *const *end_tags, const char **found)
{
    int line = cur(ps)->line;
    enter(ps);
    nvec stmts = { 0 };
    for (;;) {
        jinja_token *t = cur(ps);
        if (t->type == JK_EOF) {
            if (end_tags)
                perr(ps, t->line, "unexpected end of template: missing {%% %s %%}", end_tags[0]);
            break;
        }
        if (t->type == JK_DATA) {
            jinja_node *n = node(ps, JN_TEXT, t->line);
            n->lit = jinja_str(t->p, t->len);
            nvec_push(ps, &stmts, n);
            advance(ps);
        } else if (t->type == JK_VAR_BEGIN) {
            advance(ps);
            jinja_node *n = node(ps, JN_OUTPUT, t->line);
            n->a = parse_tuple(ps, true);
            if (cur(ps)->type != JK_VAR_END)
                unexpected(ps, "end of print statement");
            advance(ps);
            nvec_push(ps, &stmts, n);
        } else if (t->type == JK_BLOCK_BEGIN) {
            jinja_token *name = peek(ps, 1);
            const char *hit = NULL;
            for (size_t k = 0; end_tags && end_tags[k]; k++)
                if (tok_is(name, JK_NAME, end_tags[k]))
                    hit = end_tags[k];
            if (hit) {
                advance(ps);
                advance(ps);
                *found = hit;
                if (strcmp(hit, "elif") != 0)
                    expect_block_end(ps);
                break;
            }
            if (name->type == JK_NAME && name->len > 3 && memcmp(name->p, "end", 3) == 0)
                perr(ps, name->line, "unexpected {%% %.*s %%}", (int)name->len, name->p);
            advance(ps);
            nvec_push(ps, &stmts, parse_statement(ps));
        } else {
            unexpected(ps, "template text or a tag");
        }
    }
    ps->depth--;
    jinja_node *body = node(ps, JN_BODY, line);
    body->kids = stmts.v;
    body->n_kids = stmts.n;
    return body;
}

/* Jinja2 reports an unknown filter or test when it compiles the template,
 * except inside an if statement or a conditional expression (a "soft"
 * frame), where the error waits until the filter or test runs. Loops,
 * macros, filter blocks and block sets open frames that are not soft. */
static void check_names(parser *ps, const jinja_node *n, bool soft)
{
    if (!n)
        return;
    if ((n->kind == JN_FILTER || n->kind == JN_TEST) && n->op < 0 && !soft)
        perr(ps, n->line, "no %s named '%s'", n->kind == JN_FILTER ? "filter" : "test", n->name);
    bool inner = soft;
    switch (n->kind) {
    case JN_IF: case JN_COND:
        inner = true;
        break;
    case JN_FOR:
        check_names(ps, n->a, soft);
        inner = false;
        break;
    case JN_MACRO: case JN_SETBLOCK:
        inner = false;
        break;
    case JN_FILTERBLOCK:
        check_names(ps, n->a, false);
        check_names(ps, n->b, false);
        return;
    default:
        break;
    }
    if (n->kind != JN_FOR)
        check_names(ps, n->a, inner);
    check_names(ps, n->b, inner);
    check_names(ps, n->c, inner);
    check_names(ps, n->d, inner);
    for (size_t i = 0; i < n->n_kids; i++)
        check_names(ps, n->kids[i], inner);
    for (size_t i = 0; i < n->n_names && n->kw_vals; i++)
        check_names(ps, n->kw_vals[i], inner);
}

int jinja_parse(const char *src, size_t len, jinja_arena *arena,
                jinja_node **out, mm_error *err)
{
    jinja_token *toks = NULL;
    size_t n = 0;
    int rc = jinja_lex(src, len, arena, &toks, &n, err);
    if (rc)
        return rc;
    parser ps = { .t = toks, .n = n, .arena = arena, .err = err };
    if (setjmp(ps.jmp))
        return ps.code;
    const char *found = NULL;
    *out = parse_body(&ps, NULL, &found);
    check_names(&ps, *out, false);
    return 0;
}
