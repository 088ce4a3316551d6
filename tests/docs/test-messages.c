/* test-messages.c - every message that docs/TROUBLESHOOTING.md, SECURITY.md
 * and ARCHITECTURE.md quote (each line of a ```text block) can be composed
 * from src/'s string literals the way printf composes it: the text between
 * the document's <placeholders> is made of literal fragments that meet only
 * at the source's conversions (%s, %d, ...). Also: the README links every
 * document, each document says whom it is for, and ARCHITECTURE.md names
 * every public function. */
// labels: unit
#include "docs-util.h"

#include <dirent.h>

#define MIN_SEGMENT 4   /* shorter source fragments must be whole between placeholders */
#define MIN_ANCHOR 12   /* a quoted message must have one literal piece this long */
#define PLACEHOLDER '\x01'

/* Every string literal of src/, each after a '\n', with its printf
 * conversions (and format macros such as PRId64) turned into PLACEHOLDER. */
static mm_buf literals;
static mm_buf current;   /* the literal being joined */

/* Append current to literals with its conversions made placeholders. */
static void flush_literal(void)
{
    const char *t = current.data ? current.data : "";
    for (size_t i = 0; i < current.len; i++) {
        char ch = t[i];
        if (ch == '\x02') {
            mm_buf_append(&literals, "\x01", 1);
        } else if (ch == '%' && t[i + 1] == '%') {
            mm_buf_append(&literals, "%", 1);
            i++;
        } else if (ch == '%') {
            /* flags, width, precision, length, conversion; a format macro
             * (PRId64) after the '%' is the rest of the conversion */
            size_t j = i + 1;
            j += strspn(t + j, "-+ #0");
            j += strspn(t + j, "*0123456789");
            if (t[j] == '.') {
                j++;
                j += strspn(t + j, "*0123456789");
            }
            j += strspn(t + j, "hlzjtL");
            if (t[j] && strchr("diouxXeEfgGcsp\x02", t[j]))
                j++;
            mm_buf_append(&literals, "\x01", 1);
            i = j - 1;
        } else {
            mm_buf_append(&literals, &ch, 1);
        }
    }
    mm_buf_puts(&literals, "\n");
    current.len = 0;
    if (current.data)
        current.data[0] = '\0';
}

/* Collect the string literals of C source text: a literal followed only by
 * blanks, comments or a macro name (PRIu64) before the next literal
 * continues it, as the compiler joins them. */
static void collect_literals(const char *c)
{
    bool open = false;   /* a joined literal is being collected */
    for (const char *p = c; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
        } else if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                char ch = *p;
                if (ch == '\\' && p[1]) {
                    p++;
                    ch = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
                }
                mm_buf_append(&current, &ch, 1);
            }
            if (*p)
                p++;
            open = true;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
        } else if (open && (*p == '_' || (*p >= 'A' && *p <= 'Z'))) {
            /* A format macro between two literals. */
            while (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                   (*p >= 'a' && *p <= 'z'))
                p++;
            mm_buf_append(&current, "\x02", 1);
        } else {
            if (open)
                flush_literal();
            open = false;
            if (*p == '\'') {
                /* A character constant: skip it, it may hold a quote. */
                p++;
                while (*p && *p != '\'')
                    p += p[0] == '\\' && p[1] ? 2 : 1;
            }
            if (*p)
                p++;
        }
    }
    if (open)
        flush_literal();
}

static void collect_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = strlen(e->d_name);
        if (len > 2 && strcmp(e->d_name + len - 2, ".c") == 0) {
            char *text = NULL;
            if (mm_file_read(path, 4u << 20, &text, NULL, NULL) == 0)
                collect_literals(text);
            free(text);
        } else if (!strchr(e->d_name, '.')) {
            collect_dir(path);
        }
    }
    closedir(d);
}

static bool seam(char c)
{
    return c == '\n' || c == PLACEHOLDER;
}

/* Whether piece can be composed of source fragments glued where a format
 * puts a placeholder: each segment is a run of one literal that ends where
 * that literal has a placeholder or ends (the last one may stop anywhere
 * unless bound_end) and starts after one (the first may start anywhere
 * unless bound_start); a segment shorter than MIN_SEGMENT must be bounded on
 * both sides. bound_start / bound_end: the piece sits next to a
 * <placeholder> of the document, which must be a seam in the source too.
 * One pass over the literals per reachable start, so it stays fast under
 * AddressSanitizer. */
static bool composed(const char *piece, bool bound_start, bool bound_end)
{
    size_t n = strlen(piece);
    bool reach[1100] = { false };
    if (n == 0)
        return true;
    if (n + 1 > sizeof reach)
        return false;
    reach[0] = true;
    const char *hay = literals.data, *end = literals.data + literals.len;
    for (size_t a = 0; a < n; a++) {
        if (!reach[a])
            continue;
        for (const char *h = hay + 1; h < end; h++) {
            h = memchr(h, piece[a], (size_t)(end - h));
            if (!h)
                break;
            size_t len = 0;
            while (a + len < n && h + len < end && h[len] == piece[a + len])
                len++;
            size_t b = a + len;
            bool short_seg = len < MIN_SEGMENT;
            bool need_left = a > 0 || bound_start || short_seg;
            bool need_right = b < n || bound_end || short_seg;
            if ((!need_left || seam(h[-1])) && (!need_right || (h + len < end && seam(h[len]))))
                reach[b] = true;
        }
    }
    return reach[n];
}

/* Check one quoted message: the pieces between <...> placeholders. */
static void check_message(const char *doc, int line, const char *quoted)
{
    const char *msg = quoted;
    while (*msg == ' ')
        msg++;
    if (strncmp(msg, "modelmgr: ", 10) == 0)
        msg += 10;
    if (strncmp(msg, "warn: ", 6) == 0)
        msg += 6;
    size_t longest = 0;
    char piece[1024];
    bool after_placeholder = false;
    for (const char *p = msg; *p;) {
        const char *lt = strchr(p, '<');
        const char *gt = lt ? strchr(lt, '>') : NULL;
        size_t len = lt && gt ? (size_t)(lt - p) : strlen(p);
        if (len >= sizeof piece)
            len = sizeof piece - 1;
        memcpy(piece, p, len);
        piece[len] = '\0';
        mmtest_checks++;
        if (!composed(piece, after_placeholder, lt && gt))
            mmtest_fail(doc, line, "\"%s\" is not composed of string literals under src/ "
                        "(quoted: %s)", piece, quoted);
        if (len > longest)
            longest = len;
        after_placeholder = true;
        p = lt && gt ? gt + 1 : p + strlen(p);
    }
    mmtest_checks++;
    if (longest < MIN_ANCHOR)
        mmtest_fail(doc, line, "too little literal text to check: %s", quoted);
}

/* Every non-blank line inside a ```text block of doc. Returns the count. */
static int check_document(const char *src, const char *rel)
{
    char *text = docs_read(src, rel);
    if (!text) {
        mmtest_fail(rel, 0, "document is missing");
        return 0;
    }
    char **lines = NULL;
    size_t n = docs_lines(text, &lines);
    bool in_text = false, in_other = false;
    int quoted = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(lines[i], "```", 3) == 0) {
            if (in_text || in_other)
                in_text = in_other = false;
            else if (strcmp(lines[i], "```text") == 0)
                in_text = true;
            else
                in_other = true;
            continue;
        }
        if (in_text && lines[i][strspn(lines[i], " ")]) {
            check_message(rel, (int)i + 1, lines[i]);
            quoted++;
        }
    }
    free(lines);
    free(text);
    return quoted;
}

/* The README's Documentation section links every document, and each
 * document opens with a line saying who it is for. */
static void check_links(const char *src)
{
    char *readme = docs_read(src, "README.md");
    CHECK(readme != NULL);
    if (!readme)
        return;
    const char *section = strstr(readme, "\n## Documentation\n");
    CHECK(section != NULL);
    char **docs = docs_list(src);
    CHECK(docs[1] != NULL);
    for (char **d = docs + 1; section && *d; d++) {
        char link[256];
        snprintf(link, sizeof link, "](%s)", *d);
        CHECK_CONTAINS(section, link);
        char *doc = docs_read(src, *d);
        CHECK(doc != NULL);
        /* "# Title", a blank line, then the audience line. */
        const char *second = doc ? strstr(doc, "\n\n") : NULL;
        if (second)
            CHECK(strncmp(second + 2, "*For ", 5) == 0);
        else
            mmtest_fail(*d, 1, "no audience line");
        free(doc);
    }
    docs_list_free(docs);
    free(readme);
}

/* docs/ARCHITECTURE.md names every function include/modelmgr.h declares. */
static void check_api(const char *src)
{
    char *header = docs_read(src, "include/modelmgr.h");
    char *arch = docs_read(src, "docs/ARCHITECTURE.md");
    CHECK(header != NULL && arch != NULL);
    int functions = 0;
    for (const char *p = header ? strstr(header, "mm_") : NULL; p; p = strstr(p + 1, "mm_")) {
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        bool word_start = p == header || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'));
        if (!word_start || p[len] != '(')
            continue;
        char name[128];
        if (len >= sizeof name)
            continue;
        memcpy(name, p, len);
        name[len] = '\0';
        bool named = false;
        for (const char *q = arch ? strstr(arch, name) : NULL; q && !named;
             q = strstr(q + 1, name)) {
            char after = q[len];
            named = !(after == '_' || (after >= 'a' && after <= 'z') || (after >= '0' && after <= '9'));
        }
        mmtest_checks++;
        if (!named)
            mmtest_fail("docs/ARCHITECTURE.md", 0, "the public function %s is not described", name);
        functions++;
    }
    printf("%d public function declarations checked\n", functions);
    CHECK(functions >= 30);
    free(header);
    free(arch);
}

int main(void)
{
    const char *src = docs_source_dir();
    mm_buf_init(&literals, 64u << 20);
    mm_buf_init(&current, 1u << 20);
    mm_buf_puts(&literals, "\n");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/src", src);
    collect_dir(dir);
    CHECK(!literals.failed && literals.len > 10000);
    /* The checker itself: a real message passes, made-up ones do not. */
    CHECK(composed("Revision must be explicitly pinned: pass a commit hash or tag (got '",
                   false, true));
    CHECK(!composed("Revision must be explicitly pinned: pass a branch", false, false));
    CHECK(!composed("this message does not exist anywhere in modelmgr", false, false));
    CHECK(!composed("Revision must be explicitly pined: pass a commit hash", false, false));
    /* Composed at a placeholder: "%s (environment): %s" + "expected ..." */
    CHECK(composed(" (environment): expected an integer from ", true, true));
    /* A seam that is no placeholder in the source is refused. */
    CHECK(!composed(" (environment): an integer from ", true, true));
    /* A <placeholder> in the doc where the source has fixed text is refused. */
    CHECK(!composed("must be explicitly pinned: pass a commit hash or tag (got '", true, true));

    int total = 0;
    total += check_document(src, "docs/TROUBLESHOOTING.md");
    total += check_document(src, "docs/SECURITY.md");
    total += check_document(src, "docs/ARCHITECTURE.md");
    printf("%d quoted messages checked against src/\n", total);
    CHECK(total >= 20);
    check_links(src);
    check_api(src);
    mm_buf_free(&literals);
    mm_buf_free(&current);
    return mmtest_finish();
}
