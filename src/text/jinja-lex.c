/* jinja-lex.c - splits a chat template into tokens the way Jinja2's lexer
 * does with trim_blocks and lstrip_blocks on: newlines normalised, one
 * trailing newline dropped, "-"/"+" whitespace control, raw blocks. */
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    const char *s;           /* normalised source, NUL-terminated */
    size_t len, pos;
    int line;
    bool line_starting;      /* the previous match ended with a newline */
    jinja_arena *arena;
    jinja_token *toks;
    size_t n, cap;
    mm_error *err;
} lexer;

/* Python's str.isspace() for ASCII: what rstrip() and \s remove. */
static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
           ch == '\f' || (ch >= 0x1c && ch <= 0x1f);
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_name_char(char ch) { return is_name_start(ch) || is_digit(ch); }

static int count_newlines(const char *p, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] == '\n';
    return n;
}

static jinja_token *push(lexer *lx, jinja_tok_type type, const char *p, size_t len)
{
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        jinja_token *t = jinja_arena_alloc(lx->arena, cap * sizeof *t);
        if (!t)
            return NULL;
        if (lx->n)
            memcpy(t, lx->toks, lx->n * sizeof *t);
        lx->toks = t;
        lx->cap = cap;
    }
    jinja_token *t = &lx->toks[lx->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->line = lx->line;
    t->p = p;
    t->len = len;
    return t;
}

static int fail(lexer *lx, const char *msg)
{
    return mm_error_set(lx->err, MM_EINVAL, "chat template syntax error at line %d: %s",
                        lx->line, msg);
}

static int oom(lexer *lx)
{
    return mm_error_set(lx->err, MM_ELIMIT, "chat template too large to parse");
}

/* Emit template data before a tag, applying the tag's whitespace control:
 * sign '-' strips all trailing whitespace; otherwise lstrip_blocks removes
 * the indentation of a block or comment tag that starts its line. */
static int emit_data(lexer *lx, const char *text, size_t len, char sign, bool lstrip_ok)
{
    size_t keep = len;
    if (sign == '-') {
        for (size_t n; keep > 0 && (n = jinja_space_len_back(text, keep)) > 0;)
            keep -= n;
    } else if (sign != '+' && lstrip_ok) {
        size_t l_pos = len;
        while (l_pos > 0 && text[l_pos - 1] != '\n')
            l_pos--;
        if ((l_pos > 0 || lx->line_starting) && l_pos < len) {
            bool all_ws = true;
            for (size_t i = l_pos, n; i < len && all_ws; i += n)
                all_ws = (n = jinja_space_len(text + i, len - i)) > 0;
            if (all_ws)
                keep = l_pos;
        }
    }
    if (keep > 0 && !push(lx, JK_DATA, text, keep))
        return oom(lx);
    lx->line += count_newlines(text, len);
    return 0;
}

/* After a tag's closing delimiter: "-" eats all whitespace, a plain block
 * or comment end eats one newline (trim_blocks). */
static void after_end(lexer *lx, char sign, bool trim)
{
    if (sign == '-') {
        for (size_t n; lx->pos < lx->len &&
                       (n = jinja_space_len(lx->s + lx->pos, lx->len - lx->pos)) > 0;) {
            lx->line += lx->s[lx->pos] == '\n';
            lx->pos += n;
        }
    } else if (sign != '+' && trim && lx->s[lx->pos] == '\n') {
        lx->pos++;
        lx->line++;
    }
    lx->line_starting = lx->pos > 0 && lx->s[lx->pos - 1] == '\n';
}

static size_t skip_ws(const char *s, size_t pos)
{
    while (is_space(s[pos]))
        pos++;
    return pos;
}

/* "{%" sign? ws "name" ws ("-%}" ws* | "+%}" | "%}"): length of the match
 * (0 when s does not start so), the sign before the name and the one
 * before "%}". */
static size_t match_word_tag(const char *s, const char *name, char *open_sign, char *close_sign)
{
    if (s[0] != '{' || s[1] != '%')
        return 0;
    size_t i = 2;
    *open_sign = 0;
    if (s[i] == '-' || s[i] == '+')
        *open_sign = s[i++];
    i = skip_ws(s, i);
    size_t nl = strlen(name);
    if (strncmp(s + i, name, nl) != 0 || is_name_char(s[i + nl]))
        return 0;
    i = skip_ws(s, i + nl);
    *close_sign = 0;
    if ((s[i] == '-' || s[i] == '+') && s[i + 1] == '%' && s[i + 2] == '}') {
        *close_sign = s[i];
        return i + 3;
    }
    if (s[i] == '%' && s[i + 1] == '}')
        return i + 2;
    return 0;
}

static int hex_val(char ch)
{
    if (is_digit(ch)) return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int lex_string(lexer *lx)
{
    const char *s = lx->s;
    char quote = s[lx->pos];
    size_t i = lx->pos + 1;
    while (s[i] && s[i] != quote) {
        if (s[i] == '\\' && s[i + 1])
            i++;
        i++;
    }
    if (s[i] != quote)
        return fail(lx, "unterminated string literal");
    size_t body = lx->pos + 1, body_len = i - body;
    char *out = jinja_arena_alloc(lx->arena, body_len + 1);
    if (!out)
        return oom(lx);
    size_t o = 0;
    for (size_t k = body; k < i; k++) {
        if (s[k] != '\\') {
            out[o++] = s[k];
            continue;
        }
        char e = s[++k];
        int digits = 0;
        switch (e) {
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'v': out[o++] = '\v'; break;
        case '\n': break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = 0;
                int n = 0;
                while (n < 3 && s[k] >= '0' && s[k] <= '7')
                    cp = cp * 8 + (uint32_t)(s[k++] - '0'), n++;
                k--;
                o += jinja_utf8_encode(out + o, cp);
            } else {
                out[o++] = '\\';
                out[o++] = e;
            }
        }
        if (digits) {
            uint32_t cp = 0;
            for (int d = 0; d < digits; d++) {
                int h = hex_val(s[k + 1 + d]);
                if (h < 0)
                    return fail(lx, "truncated \\x, \\u or \\U escape in a string literal");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF)
                return fail(lx, "illegal Unicode escape in a string literal");
            k += (size_t)digits;
            o += jinja_utf8_encode(out + o, cp);
        }
    }
    out[o] = '\0';
    jinja_token *t = push(lx, JK_STRING, out, o);
    if (!t)
        return oom(lx);
    lx->line += count_newlines(s + lx->pos, i + 1 - lx->pos);
    lx->pos = i + 1;
    return 0;
}

static int lex_number(lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->pos;
    char buf[128];
    size_t b = 0;
    bool is_float = false;
    while (is_digit(s[i]) || (s[i] == '_' && is_digit(s[i + 1]))) {
        if (s[i] != '_' && b < sizeof buf - 1) buf[b++] = s[i];
        i++;
    }
    bool after_dot = lx->pos > 0 && s[lx->pos - 1] == '.';
    if (!after_dot && s[i] == '.' && is_digit(s[i + 1])) {
        is_float = true;
        if (b < sizeof buf - 1) buf[b++] = s[i];
        i++;
        while (is_digit(s[i]) || (s[i] == '_' && is_digit(s[i + 1]))) {
            if (s[i] != '_' && b < sizeof buf - 1) buf[b++] = s[i];
            i++;
        }
    }
    if (!after_dot && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (is_digit(s[j])) {
            is_float = true;
            while (i < j && b < sizeof buf - 1)
                buf[b++] = s[i++];
            while (is_digit(s[i]) || (s[i] == '_' && is_digit(s[i + 1]))) {
                if (s[i] != '_' && b < sizeof buf - 1) buf[b++] = s[i];
                i++;
            }
        }
    }
    buf[b] = '\0';
    jinja_token *t = push(lx, is_float ? JK_FLOAT : JK_INT, s + lx->pos, i - lx->pos);
    if (!t)
        return oom(lx);
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else if (mm_parse_i64(buf, INT64_MIN, INT64_MAX, &t->i) != 0) {
        return fail(lx, "integer literal out of range");
    }
    lx->pos = i;
    return 0;
}

static const char *const OPS2[] = { "//", "**", "==", "!=", ">=", "<=" };
static const char OPS1[] = "+-/*%~[](){}><=.:|,;";

/* Tokens inside {{ }} or {% %} until the closing delimiter. */
static int lex_tag(lexer *lx, bool is_block)
{
    char stack[64];
    int depth = 0;
    const char *s = lx->s;
    for (;;) {
        size_t p = lx->pos;
        if (depth == 0) {
            char close = is_block ? '%' : '}';
            char sign = 0;
            size_t q = p;
            if ((s[q] == '-' || (is_block && s[q] == '+')) && s[q + 1] == close && s[q + 2] == '}')
                sign = s[q++];
            if (s[q] == close && s[q + 1] == '}') {
                if (!push(lx, is_block ? JK_BLOCK_END : JK_VAR_END, s + p, q + 2 - p))
                    return oom(lx);
                lx->pos = q + 2;
                after_end(lx, sign, is_block);
                return 0;
            }
        }
        if (s[p] == '\0')
            return fail(lx, is_block ? "unexpected end of template: missing '%}'"
                                     : "unexpected end of template: missing '}}'");
        if (is_space(s[p])) {
            lx->line += s[p] == '\n';
            lx->pos++;
            continue;
        }
        int rc = 0;
        if (is_digit(s[p])) {
            rc = lex_number(lx);
        } else if (is_name_start(s[p])) {
            size_t e = p;
            while (is_name_char(s[e]))
                e++;
            if (!push(lx, JK_NAME, s + p, e - p))
                return oom(lx);
            lx->pos = e;
        } else if (s[p] == '\'' || s[p] == '"') {
            rc = lex_string(lx);
        } else {
            size_t oplen = 0;
            for (size_t k = 0; k < MM_ARRAY_LEN(OPS2); k++)
                if (s[p] == OPS2[k][0] && s[p + 1] == OPS2[k][1])
                    oplen = 2;
            if (!oplen && strchr(OPS1, s[p]))
                oplen = 1;
            if (!oplen) {
                char msg[64];
                snprintf(msg, sizeof msg, "unexpected character '%c'", s[p]);
                return fail(lx, msg);
            }
            if (oplen == 1 && (s[p] == '(' || s[p] == '[' || s[p] == '{')) {
                if (depth == (int)sizeof stack)
                    return fail(lx, "brackets nested too deeply");
                stack[depth++] = s[p] == '(' ? ')' : s[p] == '[' ? ']' : '}';
            } else if (oplen == 1 && (s[p] == ')' || s[p] == ']' || s[p] == '}')) {
                char msg[64];
                if (depth == 0) {
                    snprintf(msg, sizeof msg, "unexpected '%c'", s[p]);
                    return fail(lx, msg);
                }
                if (stack[depth - 1] != s[p]) {
                    snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", s[p], stack[depth - 1]);
                    return fail(lx, msg);
                }
                depth--;
            }
            if (!push(lx, JK_OP, s + p, oplen))
                return oom(lx);
            lx->pos += oplen;
        }
        if (rc)
            return rc;
    }
}

/* Skip a comment; the opener and its sign are already consumed. */
static int lex_comment(lexer *lx)
{
    const char *s = lx->s;
    for (size_t i = lx->pos; s[i]; i++) {
        char sign = 0;
        size_t q = i;
        if ((s[q] == '+' || s[q] == '-') && s[q + 1] == '#' && s[q + 2] == '}')
            sign = s[q++];
        if (s[q] == '#' && s[q + 1] == '}') {
            lx->line += count_newlines(s + lx->pos, q - lx->pos);
            lx->pos = q + 2;
            after_end(lx, sign, true);
            return 0;
        }
    }
    return fail(lx, "missing end of comment tag '#}'");
}

/* The body of {% raw %} up to {% endraw %}, emitted as data. */
static int lex_raw(lexer *lx)
{
    const char *s = lx->s;
    for (size_t i = lx->pos; s[i]; i++) {
        char open_sign, close_sign;
        size_t m = match_word_tag(s + i, "endraw", &open_sign, &close_sign);
        if (!m)
            continue;
        int rc = emit_data(lx, s + lx->pos, i - lx->pos, open_sign, true);
        if (rc)
            return rc;
        lx->line += count_newlines(s + i, m);
        lx->pos = i + m;
        if (close_sign == '-') {
            lx->pos = i + m;
            after_end(lx, '-', true);
        } else {
            after_end(lx, close_sign, true);
        }
        return 0;
    }
    return fail(lx, "missing {% endraw %} for {% raw %}");
}

static int lex_root(lexer *lx)
{
    const char *s = lx->s;
    while (lx->pos < lx->len) {
        size_t i = lx->pos;
        while (i < lx->len && !(s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')))
            i++;
        if (i >= lx->len) {
            if (!push(lx, JK_DATA, s + lx->pos, lx->len - lx->pos))
                return oom(lx);
            lx->line += count_newlines(s + lx->pos, lx->len - lx->pos);
            lx->pos = lx->len;
            break;
        }
        char kind = s[i + 1];
        char sign = (s[i + 2] == '-' || s[i + 2] == '+') ? s[i + 2] : 0;
        char raw_open, raw_close;
        size_t raw_len = kind == '%' ? match_word_tag(s + i, "raw", &raw_open, &raw_close) : 0;
        int rc = emit_data(lx, s + lx->pos, i - lx->pos, sign, kind != '{');
        if (rc)
            return rc;
        if (raw_len) {
            lx->line += count_newlines(s + i, raw_len);
            lx->pos = i + raw_len;
            if (raw_close == '-')
                after_end(lx, '-', false);
            lx->line_starting = s[lx->pos - 1] == '\n';
            rc = lex_raw(lx);
        } else {
            lx->pos = i + 2 + (sign ? 1 : 0);
            lx->line_starting = false;
            if (kind == '#') {
                rc = lex_comment(lx);
            } else {
                if (!push(lx, kind == '%' ? JK_BLOCK_BEGIN : JK_VAR_BEGIN, s + i, 2))
                    return oom(lx);
                rc = lex_tag(lx, kind == '%');
            }
        }
        if (rc)
            return rc;
    }
    if (!push(lx, JK_EOF, s + lx->len, 0))
        return oom(lx);
    return 0;
}

int jinja_lex(const char *src, size_t len, jinja_arena *arena,
              jinja_token **out, size_t *n_out, mm_error *err)
{
    char *norm = jinja_arena_alloc(arena, len + 1);
    if (!norm)
        return mm_error_set(err, MM_ELIMIT, "chat template too large to parse");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else if (src[i] == '\0') {
            return mm_error_set(err, MM_EINVAL, "chat template contains a NUL byte");
        } else {
            norm[n++] = src[i];
        }
    }
    if (n > 0 && norm[n - 1] == '\n')
        n--;                     /* keep_trailing_newline=False */
    norm[n] = '\0';
    lexer lx = { .s = norm, .len = n, .line = 1, .line_starting = true,
                 .arena = arena, .err = err };
    int rc = lex_root(&lx);
    if (rc)
        return rc;
    *out = lx.toks;
    *n_out = lx.n;
    return 0;
}
