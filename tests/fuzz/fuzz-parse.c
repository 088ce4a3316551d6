/* fuzz-parse.c - the strict parsers of src/core (mm_parse_i64, mm_parse_bool,
 * mm_parse_size) and secret redaction on arbitrary text. Accepted values are
 * checked against what the text says, and redaction must leave no
 * registered secret behind and never lengthen the text. */
#include "core/core.h"
#include "fuzz.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* No '*' inside, and no ending that a redacted form ("hf_***wxyz") could
 * complete, so a secret can only survive redaction if redaction is broken. */
static const char *const secrets[] = {
    "hf_Secret0Token9xyz",
    "sk-Another7Key4qrw",
    "pw12ab",
};

/* Whole text is [space]* [+-]? digit+ [space]*. */
static bool looks_decimal(const char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    if (*text == '+' || *text == '-')
        text++;
    if (!isdigit((unsigned char)*text))
        return false;
    while (isdigit((unsigned char)*text))
        text++;
    while (isspace((unsigned char)*text))
        text++;
    return *text == '\0';
}

/* What mm_parse_size documents: [space]* digit+ ('.' digit*)? [space]*
 * (K|M|G|T then an optional i)? B? [space]*, units in either case. */
static bool looks_size(const char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return false;
    while (isdigit((unsigned char)*text))
        text++;
    if (*text == '.')
        for (text++; isdigit((unsigned char)*text); text++) {}
    while (isspace((unsigned char)*text))
        text++;
    if (*text && strchr("KMGTkmgt", *text)) {
        text++;
        if (*text == 'i' || *text == 'I')
            text++;
    }
    if (*text == 'B' || *text == 'b')
        text++;
    while (isspace((unsigned char)*text))
        text++;
    return *text == '\0';
}

static void check_parsers(const char *text)
{
    int64_t v;
    if (mm_parse_i64(text, INT64_MIN, INT64_MAX, &v) == 0) {
        FUZZ_CHECK(looks_decimal(text));
        /* Round trip through the canonical form. */
        char canon[32];
        int64_t back;
        snprintf(canon, sizeof canon, "%lld", (long long)v);
        FUZZ_CHECK(mm_parse_i64(canon, INT64_MIN, INT64_MAX, &back) == 0 && back == v);
        int64_t small;
        int rc = mm_parse_i64(text, -100, 100, &small);
        FUZZ_CHECK((rc == 0) == (v >= -100 && v <= 100));
        if (rc == 0)
            FUZZ_CHECK(small == v);
    }
    bool b;
    if (mm_parse_bool(text, &b) == 0) {
        static const char *const words[] = { "1", "true", "yes", "on", "0", "false", "no", "off" };
        size_t i = 0;
        while (i < 8 && strcasecmp(text, words[i]) != 0)
            i++;
        FUZZ_CHECK(i < 8 && b == (i < 4));
    }
    uint64_t bytes;
    if (mm_parse_size(text, &bytes) == 0) {
        FUZZ_CHECK(looks_size(text));
        /* Plain integers mean bytes. */
        int64_t plain;
        if (mm_parse_i64(text, 0, INT64_MAX, &plain) == 0 && plain < (1ll << 53))
            FUZZ_CHECK(bytes == (uint64_t)plain);
    }
}

static void check_redaction(const char *text, size_t len)
{
    static bool registered;
    if (!registered) {
        for (size_t i = 0; i < MM_ARRAY_LEN(secrets); i++)
            FUZZ_CHECK(mm_log_add_secret(secrets[i]) == 0);
        registered = true;
    }
    char *copy = mm_strndup(text, len);
    FUZZ_CHECK(copy);
    mm_redact_secrets(copy);
    FUZZ_CHECK(strlen(copy) <= strlen(text));
    for (size_t i = 0; i < MM_ARRAY_LEN(secrets); i++)
        FUZZ_CHECK(strstr(copy, secrets[i]) == NULL);
    /* Redaction of already redacted text changes nothing. */
    char *again = mm_strdup(copy);
    FUZZ_CHECK(again);
    mm_redact_secrets(again);
    FUZZ_CHECK(strcmp(again, copy) == 0);
    free(again);
    free(copy);

    char out[24];
    mm_redact(text, out, sizeof out);
    FUZZ_CHECK(strlen(out) < sizeof out);
    if (strlen(text) >= 4)
        FUZZ_CHECK(strstr(out, text) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take C strings: the input up to its first NUL. */
    char *text = mm_strndup((const char *)data, size);
    FUZZ_CHECK(text);
    check_parsers(text);
    check_redaction(text, strlen(text));
    free(text);
    return 0;
}
