/* test-core.c - errors, redaction, buffers, strict parsing, atomic files. */
#include "core/core.h"
#include "support/test.h"

#include <stdlib.h>
#include <sys/stat.h>

static char captured[4096];
static void capture(mm_log_level level, const char *line, void *user)
{
    (void)level; (void)user;
    snprintf(captured, sizeof captured, "%s", line);
}

static void test_errors(void)
{
    mm_error err = { 0 };
    CHECK_INT(mm_error_set(&err, MM_EFORMAT, "bad %s at %d", "field", 7), MM_EFORMAT);
    CHECK_INT(err.code, MM_EFORMAT);
    CHECK_STR(err.message, "bad field at 7");
    mm_error_prefix(&err, "file.gguf");
    CHECK_STR(err.message, "file.gguf: bad field at 7");
    CHECK_STR(mm_strerror(MM_EPINNING), "EPINNING");
    CHECK_INT(mm_error_set(NULL, MM_EIO, "ignored"), MM_EIO);
}

static void test_redaction(void)
{
    char red[64];
    mm_redact("hf_abcdefghijklmnopWXYZ", red, sizeof red);
    CHECK_STR(red, "hf_***WXYZ");
    mm_redact("short", red, sizeof red);
    CHECK_STR(red, "***");
    mm_redact("plainsecretvalue1234", red, sizeof red);
    CHECK_STR(red, "***1234");

    CHECK_INT(mm_log_add_secret("hf_secretTOKENvalue9876"), 0);
    mm_log_set_callback(capture, NULL);
    MM_LOG_WARN("token is %s, twice %s.", "hf_secretTOKENvalue9876", "hf_secretTOKENvalue9876");
    CHECK_STR(captured, "token is hf_***9876, twice hf_***9876.");
    mm_error err;
    mm_error_set(&err, MM_EAUTH, "refused hf_secretTOKENvalue9876");
    CHECK_STR(err.message, "refused hf_***9876");

    /* Many secrets (a router with many remotes, a reloaded config): every
     * one stays redacted, the first as well as the last. */
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "sk-many%04dsecret", i);
        CHECK_INT(mm_log_add_secret(key), 0);
    }
    mm_error_set(&err, MM_EAUTH, "keys sk-many0000secret sk-many0099secret");
    CHECK_STR(err.message, "keys sk-***cret sk-***cret");

    captured[0] = '\0';
    mm_log_set_level(MM_LOG_LEVEL_WARN);
    MM_LOG_INFO("dropped");
    CHECK_STR(captured, "");
    mm_log_set_level(MM_LOG_LEVEL_INFO);
    mm_log_set_callback(NULL, NULL);

    mm_log_level lvl;
    CHECK_INT(mm_log_level_parse("DEBUG", &lvl), 0);
    CHECK_INT(lvl, MM_LOG_LEVEL_DEBUG);
    CHECK_INT(mm_log_level_parse("loud", &lvl), MM_EINVAL);
}

static void test_buf(void)
{
    mm_buf b;
    mm_buf_init(&b, 16);
    CHECK_INT(mm_buf_puts(&b, "hello "), 0);
    CHECK_INT(mm_buf_printf(&b, "%d", 42), 0);
    CHECK_STR(b.data, "hello 42");
    CHECK_INT(mm_buf_puts(&b, "this is too long"), MM_ELIMIT);
    CHECK(b.failed);
    mm_buf_free(&b);

    char s[] = "  \t padded \n";
    CHECK_STR(mm_str_trim(s), "padded");
    char *joined = mm_path_join("dir/", "file.gguf");
    CHECK_STR(joined, "dir/file.gguf");
    free(joined);
    joined = mm_path_join("dir", "/abs/file");
    CHECK_STR(joined, "/abs/file");
    free(joined);
    char small[4];
    CHECK_INT(mm_strlcpy(small, "abcdef", sizeof small), 6);
    CHECK_STR(small, "abc");
}

static void test_parse(void)
{
    uint64_t count = 7;
    CHECK(mm_double_to_count(0.0, 10, &count) && count == 0);
    CHECK(mm_double_to_count(9007199254740992.0, UINT64_MAX, &count) && count == MM_COUNT_MAX);
    CHECK(!mm_double_to_count(6.66667e+44, UINT64_MAX, &count));   /* found by fuzz-hub */
    CHECK(!mm_double_to_count(-1.0, 10, &count));
    CHECK(!mm_double_to_count(1.5, 10, &count));
    CHECK(!mm_double_to_count(11.0, 10, &count));
    CHECK(!mm_double_to_count(0.0 / 0.0, 10, &count));
    CHECK_INT((int)count, (int)(MM_COUNT_MAX & 0x7fffffff));

    int64_t v;
    CHECK_INT(mm_parse_i64("42", 1, 100, &v), 0);
    CHECK_INT(v, 42);
    CHECK_INT(mm_parse_i64("abc", 1, 100, &v), MM_EINVAL);
    CHECK_INT(mm_parse_i64("12x", 1, 100, &v), MM_EINVAL);
    CHECK_INT(mm_parse_i64("101", 1, 100, &v), MM_EINVAL);
    CHECK_INT(mm_parse_i64("", 1, 100, &v), MM_EINVAL);
    CHECK_INT(mm_parse_i64("99999999999999999999", 1, INT64_MAX, &v), MM_EINVAL);

    bool b;
    const char *truths[] = { "1", "true", "YES", "On" };
    const char *lies[] = { "0", "False", "no", "OFF" };
    for (size_t i = 0; i < 4; i++) {
        CHECK(mm_parse_bool(truths[i], &b) == 0 && b);
        CHECK(mm_parse_bool(lies[i], &b) == 0 && !b);
    }
    CHECK_INT(mm_parse_bool("maybe", &b), MM_EINVAL);

    uint64_t size;
    CHECK(mm_parse_size("1024", &size) == 0 && size == 1024);
    CHECK(mm_parse_size("512K", &size) == 0 && size == 512 * 1024);
    CHECK(mm_parse_size("2G", &size) == 0 && size == 2ull << 30);
    CHECK(mm_parse_size("1.5GiB", &size) == 0 && size == 3ull << 29);
    CHECK(mm_parse_size("800MB", &size) == 0 && size == 800ull << 20);
    CHECK_INT(mm_parse_size("-1G", &size), MM_EINVAL);
    CHECK_INT(mm_parse_size("12Q", &size), MM_EINVAL);
    CHECK_INT(mm_parse_size("G", &size), MM_EINVAL);
    /* Found by tests/fuzz/fuzz-parse.c: strtod's hex and exponent forms
     * were accepted ("0x10" was 16 bytes, "1e3" 1000). */
    CHECK_INT(mm_parse_size("0x10", &size), MM_EINVAL);
    CHECK_INT(mm_parse_size("1e3", &size), MM_EINVAL);
    CHECK_INT(mm_parse_size("1E3K", &size), MM_EINVAL);
    CHECK_INT(mm_parse_size("0x1p4", &size), MM_EINVAL);
    CHECK(mm_parse_size("2.", &size) == 0 && size == 2);
    CHECK(mm_parse_size(" 3 k ", &size) == 0 && size == 3 * 1024);
}

static void test_files(void)
{
    char *dir = mmtest_tmpdir();
    char *sub = mm_path_join(dir, "a/b/c");
    CHECK_INT(mm_mkdirs(sub, NULL), 0);
    char *path = mm_path_join(sub, "stamp");
    CHECK_INT(mm_file_write_atomic(path, "one", 3, NULL), 0);
    CHECK_INT(mm_file_write_atomic(path, "two!", 4, NULL), 0);
    char *data = NULL;
    size_t len = 0;
    CHECK_INT(mm_file_read(path, 100, &data, &len, NULL), 0);
    CHECK_STR(data, "two!");
    CHECK_INT(len, 4);
    free(data);
    mm_error err;
    CHECK_INT(mm_file_read(path, 2, &data, &len, &err), MM_ELIMIT);
    char *missing = mm_path_join(dir, "missing");
    CHECK_INT(mm_file_read(missing, 100, &data, &len, &err), MM_ENOTFOUND);
    CHECK_CONTAINS(err.message, "missing");
    free(missing);
    free(path);
    free(sub);
    mmtest_rmtree(dir);
    free(dir);

    char when[32];
    mm_time_rfc3339(0, when, sizeof when);
    CHECK_STR(when, "1970-01-01T00:00:00Z");
}

int main(void)
{
    test_errors();
    test_redaction();
    test_buf();
    test_parse();
    test_files();
    return mmtest_finish();
}
