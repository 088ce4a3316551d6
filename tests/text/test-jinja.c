/* test-jinja.c - the chat-template interpreter on its own: every statement,
 * expression, filter, test and whitespace rule against outputs Python's
 * Jinja2 produced (jinja-unit-cases.inc), then errors, limits and the API
 * contract, checked by hand. */
#include "text/text.h"
#include "support/test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jinja-unit-cases.inc"

/* Render src with context (JSON text or NULL); returns rc, output in *out
 * (caller frees) and the error in *err. */
static int render(const char *src, const char *context_json, const text_tmpl_opts *opts,
                  char **out, mm_error *err)
{
    memset(err, 0, sizeof *err);
    *out = NULL;
    text_tmpl *t = NULL;
    int rc = text_tmpl_parse(src, strlen(src), &t, err);
    if (rc)
        return rc;
    cJSON *ctx = context_json ? cJSON_Parse(context_json) : NULL;
    mm_buf b;
    mm_buf_init(&b, 1u << 20);
    rc = text_tmpl_render(t, ctx, opts, &b, err);
    *out = b.data ? mm_buf_take(&b) : mm_strdup("");
    mm_buf_free(&b);
    cJSON_Delete(ctx);
    text_tmpl_free(t);
    return rc;
}

/* The rendered text, or "ERROR: message". Caller frees. */
static char *show(const char *src, const char *context_json)
{
    mm_error err;
    char *out = NULL;
    text_tmpl_opts opts = { .now_unix = 1721989800 };
    int rc = render(src, context_json, &opts, &out, &err);
    if (rc) {
        free(out);
        return mm_asprintf("ERROR: %s", err.message);
    }
    return out;
}

static void test_cases_from_jinja2(void)
{
    text_tmpl_opts opts = { .now_unix = UNIT_NOW_UNIX };
    int passed = 0;
    for (size_t i = 0; i < MM_ARRAY_LEN(UNIT_CASES); i++) {
        mm_error err;
        char *out = NULL;
        int rc = render(UNIT_CASES[i].src, UNIT_CONTEXT, &opts, &out, &err);
        mmtest_checks++;
        if (!UNIT_CASES[i].want) {   /* Jinja2 raised: so must we */
            if (rc == 0)
                mmtest_fail(__FILE__, __LINE__, "case %zu rendered but Jinja2 raised\n  template: %s",
                            i, UNIT_CASES[i].src);
            else
                passed++;
        } else if (rc != 0) {
            mmtest_fail(__FILE__, __LINE__, "case %zu failed: %s\n  template: %s", i, err.message,
                        UNIT_CASES[i].src);
        } else if (strcmp(out, UNIT_CASES[i].want) != 0) {
            mmtest_fail(__FILE__, __LINE__, "case %zu\n  template: %s\n  got:  [%s]\n  want: [%s]",
                        i, UNIT_CASES[i].src, out, UNIT_CASES[i].want);
        } else {
            passed++;
        }
        free(out);
    }
    printf("jinja2 cases: %d/%zu identical\n", passed, MM_ARRAY_LEN(UNIT_CASES));
}

/* Expect rc and a message containing each of the given parts. */
static void expect_error(const char *src, const char *context_json, int want_rc,
                         const char *part1, const char *part2)
{
    mm_error err;
    char *out = NULL;
    text_tmpl_opts opts = { .now_unix = 1721989800 };
    int rc = render(src, context_json, &opts, &out, &err);
    CHECK_INT(rc, want_rc);
    CHECK_INT(err.code, want_rc);
    if (part1)
        CHECK_CONTAINS(err.message, part1);
    if (part2)
        CHECK_CONTAINS(err.message, part2);
    free(out);
}

static void test_syntax_errors(void)
{
    expect_error("a\nb\n{% if %}", NULL, MM_EINVAL, "line 3", "expected an expression");
    expect_error("{% for x in xs %}\nbody", NULL, MM_EINVAL, "line 2", "missing {% endfor %}");
    expect_error("{% if x %}{% endfor %}", NULL, MM_EINVAL, "line 1", "unexpected {% endfor %}");
    expect_error("\n\n{% frobnicate %}", NULL, MM_EINVAL, "line 3", "unknown or unsupported tag 'frobnicate'");
    expect_error("{{ x", NULL, MM_EINVAL, "line 1", "missing '}}'");
    expect_error("{# never closed", NULL, MM_EINVAL, "line 1", "missing end of comment tag");
    expect_error("{% raw %}x", NULL, MM_EINVAL, "line 1", "endraw");
    expect_error("x\n{{ 'abc }}", NULL, MM_EINVAL, "line 2", "unterminated string");
    expect_error("{{ (1 + 2 }}", NULL, MM_EINVAL, "line 1", "unexpected '}'");
    expect_error("{{ 1 + }}", NULL, MM_EINVAL, "line 1", "expected an expression");
    expect_error("{{ x $ y }}", NULL, MM_EINVAL, "line 1", "unexpected character '$'");
    expect_error("one\ntwo {{ x|no_such_filter }}", NULL, MM_EINVAL, "line 2",
                 "no filter named 'no_such_filter'");
    expect_error("{{ x is no_such_test }}", NULL, MM_EINVAL, "line 1", "no test named 'no_such_test'");
    expect_error("{% macro m(a=1, b) %}{% endmacro %}", NULL, MM_EINVAL,
                 "non-default argument follows default argument", NULL);
    /* an unknown filter fails at parse time, except inside an if statement
     * or a conditional expression, where Jinja2 waits until it runs */
    expect_error("{% for x in [1] %}{% if false %}{% endif %}{{ x|nope }}{% endfor %}", NULL,
                 MM_EINVAL, "syntax error at line 1: no filter named 'nope'", NULL);
    expect_error("{% if true %}{% for x in [1] %}{{ x is nope }}{% endfor %}{% endif %}", NULL,
                 MM_EINVAL, "syntax error at line 1: no test named 'nope'", NULL);
    char *ok = show("{% if false %}{{ 1|nope }}{% for x in 1|nope %}{% endfor %}{% endif %}"
                    "{{ 2|nope if false else 3 }}", NULL);
    CHECK_STR(ok, "3");
    free(ok);
    ok = show("{% if false %}{% filter nope %}x{% endfilter %}{% endif %}", NULL);
    CHECK_STR(ok, "ERROR: chat template syntax error at line 1: no filter named 'nope'");
    free(ok);
    expect_error("{% if true %}\n{{ 1|nope }}{% endif %}", NULL, MM_EINVAL,
                 "chat template line 2: no filter named 'nope'", NULL);
    expect_error("{% for x in xs recursive %}{% endfor %}", NULL, MM_EINVAL, "not supported", NULL);
}

static void test_runtime_errors(void)
{
    /* raise_exception's message reaches the caller exactly */
    expect_error("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}",
                 NULL, MM_EINVAL, NULL, NULL);
    mm_error err;
    char *out = NULL;
    CHECK_INT(render("ok{% if messages|length > 1 %}{{ raise_exception('Only one message: got ' ~ messages|length) }}{% endif %}",
                     "{\"messages\": [1, 2]}", NULL, &out, &err), MM_EINVAL);
    CHECK_STR(err.message, "Only one message: got 2");
    free(out);

    expect_error("\n{{ 1 + 'a' }}", NULL, MM_EINVAL, "line 2", "unsupported operand type(s) for +: 'int' and 'str'");
    expect_error("{{ foo.bar }}", NULL, MM_EINVAL, "'foo' is undefined", NULL);
    expect_error("{{ foo() }}", NULL, MM_EINVAL, "'foo' is undefined", NULL);
    expect_error("{{ foo + 1 }}", NULL, MM_EINVAL, "'foo' is undefined", NULL);
    expect_error("{{ d.a.b }}", "{\"d\": {}}", MM_EINVAL, "'dict object' has no attribute 'a'", NULL);
    expect_error("{% for x in n %}{% endfor %}", "{\"n\": null}", MM_EINVAL, "'NoneType' object is not iterable", NULL);
    expect_error("{{ foo|tojson }}", NULL, MM_EINVAL, "not JSON serializable", NULL);
    expect_error("{{ 1 // 0 }}", NULL, MM_EINVAL, "division by zero", NULL);
    /* slices bypass the sandbox's getitem, so a bad one is an error */
    expect_error("{{ d[1:] }}", "{\"d\": {}}", MM_EINVAL, "'dict' object is not subscriptable", NULL);
    expect_error("{{ (x|map('string'))[1:] }}", "{\"x\": [1]}", MM_EINVAL, "'generator' object", NULL);
    expect_error("{{ 'a' < 1 }}", NULL, MM_EINVAL, "cannot compare", NULL);
    expect_error("{% set l = [1] %}{{ l.append(2) }}", NULL, MM_EINVAL, "unsafe", NULL);
    expect_error("{% set x = 1 %}{% set x.y = 2 %}", NULL, MM_EINVAL, "non-namespace", NULL);
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, MM_EINVAL, "takes not more than 1", NULL);
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", NULL, MM_EINVAL, "no keyword argument 'b'", NULL);
    expect_error("{{ 9223372036854775807 + 1 }}", NULL, MM_EINVAL, "integer overflow", NULL);
    expect_error("{{ [1,2]|map(attribute='x')|length }}", NULL, MM_EINVAL, "generator", NULL);
    /* the context must be an object */
    expect_error("x", "[1, 2]", MM_EINVAL, "JSON object", NULL);
}

static void test_limits(void)
{
    text_tmpl_opts opts = { .max_steps = 1000 };
    mm_error err;
    char *out = NULL;
    CHECK_INT(render("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
                     NULL, &opts, &out, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "more than 1000 steps");
    free(out);

    CHECK_INT(render("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", NULL, NULL, &out, &err),
              MM_ELIMIT);
    CHECK_CONTAINS(err.message, "macro calls nested deeper than 64");
    free(out);

    text_tmpl_opts small = { .max_output = 100 };
    CHECK_INT(render("{% for i in range(50) %}0123456789{% endfor %}", NULL, &small, &out, &err),
              MM_ELIMIT);
    CHECK_CONTAINS(err.message, "exceeds 100 bytes");
    free(out);

    text_tmpl_opts tiny = { .max_memory = 200000 };
    CHECK_INT(render("{% set ns = namespace(l=[]) %}{% for i in range(20000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
                     NULL, &tiny, &out, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "working memory");
    free(out);

    expect_error("{{ range(1000000)|length }}", NULL, MM_ELIMIT, "range too big", NULL);

    /* deeply nested expressions are a syntax error, not a stack overflow */
    char deep[2100];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ')';
    snprintf(deep + n, sizeof deep - n, " }}");
    expect_error(deep, NULL, MM_EINVAL, "nested too deeply", NULL);
    memset(deep, 0, sizeof deep);
    n = (size_t)snprintf(deep, sizeof deep, "{{ ");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "-");
    snprintf(deep + n, sizeof deep - n, "1 }}");
    expect_error(deep, NULL, MM_EINVAL, "nested deeper than", NULL);

    /* values nested 20000 deep: identical ones are equal at once (Python's
     * identity shortcut); distinct ones hit the nesting bound, not the stack */
    CHECK_INT(render("{% set ns = namespace(x=[], y=[]) %}{% for i in range(20000) %}"
                     "{% set ns.x = [ns.x] %}{% set ns.y = [ns.y] %}{% endfor %}"
                     "{{ ns.x == ns.x }} {{ [ns.x] < [ns.x] }} {{ ns.x == ns.y }}",
                     NULL, NULL, &out, &err), 0);
    CHECK_STR(out, "True False False");
    free(out);
    CHECK_INT(render("{% set ns = namespace(x=[], y=[]) %}{% for i in range(20000) %}"
                     "{% set ns.x = [ns.x] %}{% set ns.y = [ns.y] %}{% endfor %}{{ ns.x < ns.y }}",
                     NULL, NULL, &out, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "nested deeper than 1000");
    free(out);

    /* long chains (x|trim|trim|..., 1+1+...) nest the AST without brackets */
    mm_buf chain;
    mm_buf_init(&chain, 1u << 20);
    mm_buf_puts(&chain, "{{ x");
    for (int i = 0; i < 20000; i++)
        mm_buf_puts(&chain, "|trim");
    mm_buf_puts(&chain, " }}");
    expect_error(chain.data, NULL, MM_EINVAL, "nested deeper than 1000", NULL);
    mm_buf_free(&chain);

    /* deep statement nesting times deep macro recursion stays off the end
     * of the C stack */
    mm_buf nest;
    mm_buf_init(&nest, 1u << 20);
    mm_buf_puts(&nest, "{% macro r(n) %}");
    for (int i = 0; i < 150; i++)
        mm_buf_puts(&nest, "{% if true %}");
    mm_buf_puts(&nest, "{{ r(n + 1) }}");
    for (int i = 0; i < 150; i++)
        mm_buf_puts(&nest, "{% endif %}");
    mm_buf_puts(&nest, "{% endmacro %}{{ r(0) }}");
    CHECK_INT(render(nest.data, NULL, NULL, &out, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "deeper than");
    free(out);
    mm_buf_free(&nest);

    /* a source over 1 MiB is refused before parsing */
    size_t big_len = (1u << 20) + 1;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    text_tmpl *t = NULL;
    CHECK_INT(text_tmpl_parse(big, big_len, &t, &err), MM_ELIMIT);
    CHECK(t == NULL);
    free(big);
}

static void test_api(void)
{
    mm_error err = { 0 };
    text_tmpl_free(NULL);
    text_tmpl *t = NULL;
    const char *src = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}";
    CHECK_INT(text_tmpl_parse(src, strlen(src), &t, &err), 0);
    cJSON *ctx = cJSON_Parse("{\"bos_token\": \"<s>\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
    mm_buf b;
    mm_buf_init(&b, 1024);
    mm_buf_puts(&b, "prefix:");
    /* parse once, render many times; the output is appended */
    CHECK_INT(text_tmpl_render(t, ctx, NULL, &b, &err), 0);
    CHECK_INT(text_tmpl_render(t, ctx, NULL, &b, &err), 0);
    CHECK_STR(b.data, "prefix:<s>[user:hi]<s>[user:hi]");
    mm_buf_free(&b);

    /* an error leaves the output as it was */
    mm_buf_init(&b, 1024);
    mm_buf_puts(&b, "keep");
    cJSON *bad = cJSON_Parse("{\"bos_token\": \"<s>\", \"messages\": 5}");
    CHECK_INT(text_tmpl_render(t, bad, NULL, &b, &err), MM_EINVAL);
    CHECK_STR(b.data, "keep");
    /* an output buffer too small for the text is refused, and kept as it was */
    mm_buf small;
    mm_buf_init(&small, 4);
    CHECK_INT(text_tmpl_render(t, ctx, NULL, &small, &err), MM_ELIMIT);
    CHECK(small.len == 0);
    mm_buf_free(&small);
    mm_buf_free(&b);
    cJSON_Delete(bad);
    cJSON_Delete(ctx);
    text_tmpl_free(t);

    /* a NULL context renders with no variables */
    char *out = show("[{{ messages }}]{{ messages is defined }}", NULL);
    CHECK_STR(out, "[]False");
    free(out);

    /* strftime_now with the real clock gives a plausible year */
    text_tmpl_opts now = { 0 };
    CHECK_INT(render("{{ strftime_now('%Y')|int > 2000 }}", NULL, &now, &out, &err), 0);
    CHECK_STR(out, "True");
    free(out);

    /* a NUL byte inside the template is refused */
    CHECK_INT(text_tmpl_parse("a\0b", 3, &t, &err), MM_EINVAL);
}

typedef struct render_job {
    const text_tmpl *tmpl;
    int failures;
} render_job;

static void *render_many(void *arg)
{
    render_job *job = arg;
    cJSON *ctx = cJSON_Parse("{\"xs\": [1, 2, 3]}");
    for (int i = 0; i < 200; i++) {
        mm_buf b;
        mm_buf_init(&b, 1024);
        mm_error err;
        if (text_tmpl_render(job->tmpl, ctx, NULL, &b, &err) != 0 || strcmp(b.data, "1,2,3|6") != 0)
            job->failures++;
        mm_buf_free(&b);
    }
    cJSON_Delete(ctx);
    return NULL;
}

/* One parsed template rendered from several threads at once. */
static void test_threads(void)
{
    const char *src = "{{ xs|join(',') }}|{{ xs|sum }}";
    text_tmpl *t = NULL;
    mm_error err;
    CHECK_INT(text_tmpl_parse(src, strlen(src), &t, &err), 0);
    pthread_t th[4];
    render_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (render_job){ .tmpl = t };
        pthread_create(&th[i], NULL, render_many, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(jobs[i].failures, 0);
    }
    text_tmpl_free(t);
}

int main(void)
{
    test_cases_from_jinja2();
    test_syntax_errors();
    test_runtime_errors();
    test_limits();
    test_api();
    test_threads();
    return mmtest_finish();
}
