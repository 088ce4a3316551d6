/* jinja-stmt.c - parses template statements ({% if %}, {% for %}, {% set %},
 * {% macro %}, ...) into the AST on top of the expression parser, then
 * checks filter and test names where Jinja2's compiler does. */
#include "text/text.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

static jinja_node *parse_body(jinja_parser *ps, const char *const *end_tags, const char **found);

static void expect_block_end(jinja_parser *ps)
{
    if (jinja_tok_cur(ps)->type != JK_BLOCK_END)
        jinja_unexpected(ps, "end of statement block");
    jinja_tok_next(ps);
}

/* Names separated by commas, as after "for" or "set". */
static void parse_targets(jinja_parser *ps, jinja_node *n)
{
    jinja_svec names = { 0 };
    bool paren = jinja_skip_op(ps, "(");
    do {
        if (paren && jinja_is_op(ps, ")"))
            break;
        jinja_svec_push(ps, &names, jinja_expect_ident(ps));
    } while (jinja_skip_op(ps, ","));
    if (paren)
        jinja_expect_op(ps, ")");
    n->names = names.v;
    n->n_names = names.n;
}

static jinja_node *parse_for(jinja_parser *ps, int line)
{
    jinja_node *n = jinja_new_node(ps, JN_FOR, line);
    parse_targets(ps, n);
    if (!jinja_skip_name(ps, "in"))
        jinja_unexpected(ps, "'in'");
    /* the iterable is an or-expression: a trailing "if" filters the loop */
    jinja_node *iter = jinja_parse_or(ps);
    if (jinja_is_op(ps, ",")) {
        jinja_nvec items = { 0 };
        jinja_nvec_push(ps, &items, iter);
        while (jinja_skip_op(ps, ",") && !jinja_is_name(ps, "if") && jinja_tok_cur(ps)->type != JK_BLOCK_END)
            jinja_nvec_push(ps, &items, jinja_parse_or(ps));
        iter = jinja_new_node(ps, JN_TUPLE, line);
        iter->kids = items.v;
        iter->n_kids = items.n;
    }
    n->a = iter;
    if (jinja_skip_name(ps, "if"))
        n->d = jinja_parse_expr(ps);
    if (jinja_is_name(ps, "recursive"))
        jinja_perr(ps, line, "recursive loops are not supported");
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

static jinja_node *parse_if(jinja_parser *ps, int line)
{
    jinja_node *n = jinja_new_node(ps, JN_IF, line);
    n->a = jinja_parse_tuple(ps, false);
    expect_block_end(ps);
    static const char *const ends[] = { "endif", "elif", "else", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    if (strcmp(found, "elif") == 0) {
        /* parse_body stopped after "elif": the rest is a nested if */
        n->c = parse_if(ps, jinja_tok_cur(ps)->line);
    } else if (strcmp(found, "else") == 0) {
        static const char *const ends2[] = { "endif", NULL };
        n->c = parse_body(ps, ends2, &found);
    }
    return n;
}

static jinja_node *parse_filter_chain(jinja_parser *ps)
{
    jinja_node *f = jinja_parse_filter(ps, NULL);
    while (jinja_skip_op(ps, "|"))
        f = jinja_parse_filter(ps, f);
    return f;
}

static jinja_node *parse_set(jinja_parser *ps, int line)
{
    jinja_node *n = jinja_new_node(ps, JN_SET, line);
    if (jinja_tok_cur(ps)->type == JK_NAME && jinja_tok_is(jinja_tok_peek(ps, 1), JK_OP, ".")) {
        n->name = jinja_expect_ident(ps);
        jinja_tok_next(ps);
        n->attr = jinja_expect_ident(ps);
    } else {
        parse_targets(ps, n);
    }
    if (jinja_skip_op(ps, "=")) {
        n->a = jinja_parse_tuple(ps, true);
        expect_block_end(ps);
        return n;
    }
    if (n->attr || n->n_names != 1)
        jinja_unexpected(ps, "'='");
    n->kind = JN_SETBLOCK;
    n->name = n->names[0];
    if (jinja_skip_op(ps, "|"))
        n->d = parse_filter_chain(ps);
    expect_block_end(ps);
    static const char *const ends[] = { "endset", NULL };
    const char *found = NULL;
    n->b = parse_body(ps, ends, &found);
    return n;
}

static jinja_node *parse_macro(jinja_parser *ps, int line)
{
    jinja_node *n = jinja_new_node(ps, JN_MACRO, line);
    n->name = jinja_expect_ident(ps);
    jinja_svec params = { 0 };
    jinja_nvec defaults = { 0 };
    bool seen_default = false;
    jinja_expect_op(ps, "(");
    while (!jinja_is_op(ps, ")")) {
        if (params.n)
            jinja_expect_op(ps, ",");
        if (jinja_is_op(ps, ")"))
            break;
        jinja_svec_push(ps, &params, jinja_expect_ident(ps));
        if (jinja_skip_op(ps, "=")) {
            jinja_nvec_push(ps, &defaults, jinja_parse_expr(ps));
            seen_default = true;
        } else if (seen_default) {
            jinja_perr(ps, line, "non-default argument follows default argument");
        } else {
            jinja_nvec_push(ps, &defaults, NULL);
        }
    }
    jinja_expect_op(ps, ")");
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

static jinja_node *parse_statement(jinja_parser *ps)
{
    jinja_token *t = jinja_tok_cur(ps);
    int line = t->line;
    if (t->type != JK_NAME)
        jinja_unexpected(ps, "a statement name");
    jinja_tok_next(ps);
    if (jinja_tok_is(t, JK_NAME, "if"))
        return parse_if(ps, line);
    if (jinja_tok_is(t, JK_NAME, "for"))
        return parse_for(ps, line);
    if (jinja_tok_is(t, JK_NAME, "set"))
        return parse_set(ps, line);
    if (jinja_tok_is(t, JK_NAME, "macro"))
        return parse_macro(ps, line);
    if (jinja_tok_is(t, JK_NAME, "break") || jinja_tok_is(t, JK_NAME, "continue")) {
        jinja_node *n = jinja_new_node(ps, jinja_tok_is(t, JK_NAME, "break") ? JN_BREAK : JN_CONTINUE, line);
        expect_block_end(ps);
        return n;
    }
    if (jinja_tok_is(t, JK_NAME, "filter")) {
        jinja_node *n = jinja_new_node(ps, JN_FILTERBLOCK, line);
        n->a = parse_filter_chain(ps);
        expect_block_end(ps);
        static const char *const ends[] = { "endfilter", NULL };
        const char *found = NULL;
        n->b = parse_body(ps, ends, &found);
        return n;
    }
    if (jinja_tok_is(t, JK_NAME, "with")) {
        /* {% with a = 1, b = x %}: values from the outer scope, a scope of its own */
        jinja_node *n = jinja_new_node(ps, JN_WITH, line);
        jinja_svec names = { 0 };
        jinja_nvec values = { 0 };
        while (jinja_tok_cur(ps)->type != JK_BLOCK_END) {
            if (names.n)
                jinja_expect_op(ps, ",");
            jinja_svec_push(ps, &names, jinja_expect_ident(ps));
            jinja_expect_op(ps, "=");
            jinja_nvec_push(ps, &values, jinja_parse_expr(ps));
        }
        expect_block_end(ps);
        n->names = names.v;
        n->n_names = names.n;
        n->kids = values.v;
        n->n_kids = values.n;
        static const char *const ends[] = { "endwith", NULL };
        const char *found = NULL;
        n->b = parse_body(ps, ends, &found);
        return n;
    }
    if (jinja_tok_is(t, JK_NAME, "generation")) {
        /* transformers' {% generation %} marks assistant text; renders as is */
        expect_block_end(ps);
        static const char *const ends[] = { "endgeneration", NULL };
        const char *found = NULL;
        return parse_body(ps, ends, &found);
    }
    jinja_perr(ps, line, "unknown or unsupported tag '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
}

/* Statements until one of end_tags (NULL: end of template). The end tag's
 * block is consumed, except that after "elif" the condition follows. */
static jinja_node *parse_body(jinja_parser *ps, const char *const *end_tags, const char **found)
{
    int line = jinja_tok_cur(ps)->line;
    jinja_enter(ps);
    jinja_nvec stmts = { 0 };
    for (;;) {
        jinja_token *t = jinja_tok_cur(ps);
        if (t->type == JK_EOF) {
            if (end_tags)
                jinja_perr(ps, t->line, "unexpected end of template: missing {%% %s %%}", end_tags[0]);
            break;
        }
        if (t->type == JK_DATA) {
            jinja_node *n = jinja_new_node(ps, JN_TEXT, t->line);
            n->lit = jinja_str(t->p, t->len);
            jinja_nvec_push(ps, &stmts, n);
            jinja_tok_next(ps);
        } else if (t->type == JK_VAR_BEGIN) {
            jinja_tok_next(ps);
            jinja_node *n = jinja_new_node(ps, JN_OUTPUT, t->line);
            n->a = jinja_parse_tuple(ps, true);
            if (jinja_tok_cur(ps)->type != JK_VAR_END)
                jinja_unexpected(ps, "end of print statement");
            jinja_tok_next(ps);
            jinja_nvec_push(ps, &stmts, n);
        } else if (t->type == JK_BLOCK_BEGIN) {
            jinja_token *name = jinja_tok_peek(ps, 1);
            const char *hit = NULL;
            for (size_t k = 0; end_tags && end_tags[k]; k++)
                if (jinja_tok_is(name, JK_NAME, end_tags[k]))
                    hit = end_tags[k];
            if (hit) {
                jinja_tok_next(ps);
                jinja_tok_next(ps);
                *found = hit;
                if (strcmp(hit, "elif") != 0)
                    expect_block_end(ps);
                break;
            }
            if (name->type == JK_NAME && name->len > 3 && memcmp(name->p, "end", 3) == 0)
                jinja_perr(ps, name->line, "unexpected {%% %.*s %%}", (int)name->len, name->p);
            jinja_tok_next(ps);
            jinja_nvec_push(ps, &stmts, parse_statement(ps));
        } else {
            jinja_unexpected(ps, "template text or a tag");
        }
    }
    ps->depth--;
    jinja_node *body = jinja_new_node(ps, JN_BODY, line);
    body->kids = stmts.v;
    body->n_kids = stmts.n;
    return body;
}

/* Jinja2 reports an unknown filter or test when it compiles the template,
 * except inside an if statement or a conditional expression (a "soft"
 * frame), where the error waits until the filter or test runs. Loops,
 * macros, filter blocks and block sets open frames that are not soft. */
static void check_names(jinja_parser *ps, const jinja_node *n, bool soft, int depth)
{
    if (!n)
        return;
    /* chains (a + b + ..., x|f|g|...) nest without bound at parse time */
    if (depth > JINJA_MAX_NESTING)
        jinja_perr(ps, n->line, "expression nested deeper than %d levels", JINJA_MAX_NESTING);
    if ((n->kind == JN_FILTER || n->kind == JN_TEST) && n->op < 0 && !soft)
        jinja_perr(ps, n->line, "no %s named '%s'", n->kind == JN_FILTER ? "filter" : "test", n->name);
    bool inner = soft;
    switch (n->kind) {
    case JN_IF: case JN_COND:
        inner = true;
        break;
    case JN_FOR:
        check_names(ps, n->a, soft, depth + 1);
        inner = false;
        break;
    case JN_MACRO: case JN_SETBLOCK:
        inner = false;
        break;
    case JN_WITH:
        for (size_t i = 0; i < n->n_kids; i++)
            check_names(ps, n->kids[i], soft, depth + 1);
        check_names(ps, n->b, false, depth + 1);
        return;
    case JN_FILTERBLOCK:
        check_names(ps, n->a, false, depth + 1);
        check_names(ps, n->b, false, depth + 1);
        return;
    default:
        break;
    }
    if (n->kind != JN_FOR)
        check_names(ps, n->a, inner, depth + 1);
    check_names(ps, n->b, inner, depth + 1);
    check_names(ps, n->c, inner, depth + 1);
    check_names(ps, n->d, inner, depth + 1);
    for (size_t i = 0; i < n->n_kids; i++)
        check_names(ps, n->kids[i], inner, depth + 1);
    for (size_t i = 0; i < n->n_names && n->kw_vals; i++)
        check_names(ps, n->kw_vals[i], inner, depth + 1);
}

int jinja_parse(const char *src, size_t len, jinja_arena *arena,
                jinja_node **out, mm_error *err)
{
    jinja_token *toks = NULL;
    size_t n = 0;
    int rc = jinja_lex(src, len, arena, &toks, &n, err);
    if (rc)
        return rc;
    jinja_parser ps = { .t = toks, .n = n, .arena = arena, .err = err };
    if (setjmp(ps.jmp))
        return ps.code;
    const char *found = NULL;
    *out = parse_body(&ps, NULL, &found);
    check_names(&ps, *out, false, 0);
    return 0;
}
