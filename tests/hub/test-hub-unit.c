/* test-hub-unit.c - the Hub client's pieces that need no server: digests
 * against published test vectors, name validation, URL encoding, origins,
 * back-off bounds, and options resolved from the environment. */
#include "hub/hub.h"
#include "support/test.h"

#include <stdlib.h>

static void digest(const char *text, char sha256[65], char sha1[41])
{
    hub_hasher *hs = NULL;
    CHECK_INT(hub_hasher_new(strlen(text), &hs), 0);
    /* Fed in two pieces: streaming must not change the result. */
    size_t half = strlen(text) / 2;
    hub_hasher_update(hs, text, half);
    hub_hasher_update(hs, text + half, strlen(text) - half);
    CHECK_INT(hub_hasher_final(hs, sha256, sha1), 0);
    hub_hasher_free(hs);
}

static void test_hashes(void)
{
    char sha256[65], sha1[41];
    /* FIPS 180-2 "abc"; git hash-object of an empty file and of "hello\n". */
    digest("abc", sha256, sha1);
    CHECK_STR(sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest("", sha256, sha1);
    CHECK_STR(sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha1, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    digest("hello\n", sha256, sha1);
    CHECK_STR(sha1, "ce013625030ba8dba906f756967f9e9ca394464a");

    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/hello", dir);
    mmtest_write_file(path, "hello\n");
    mm_error err = { 0 };
    CHECK_INT(hub_hash_file(path, sha256, sha1, &err), 0);
    CHECK_STR(sha1, "ce013625030ba8dba906f756967f9e9ca394464a");
    CHECK_INT(hub_hash_file("/nonexistent/x", sha256, sha1, &err), MM_EIO);
    hub_hasher_free(NULL);
    mmtest_rmtree(dir);
    free(dir);
}

static void test_names(void)
{
    CHECK(hub_valid_repo("org/name"));
    CHECK(hub_valid_repo("gpt2"));
    CHECK(hub_valid_repo("Qwen/Qwen2.5-0.5B-Instruct-GGUF"));
    CHECK(!hub_valid_repo("a/b/c"));
    CHECK(!hub_valid_repo("org/.."));
    CHECK(!hub_valid_repo("../x"));
    CHECK(!hub_valid_repo("org/na me"));
    CHECK(!hub_valid_repo("org/"));
    CHECK(!hub_valid_repo(""));
    CHECK(!hub_valid_repo(NULL));
    CHECK(hub_valid_filename("model.gguf"));
    CHECK(hub_valid_filename("sub/dir/x.bin"));
    CHECK(!hub_valid_filename("../x"));
    CHECK(!hub_valid_filename("a/../x"));
    CHECK(!hub_valid_filename("a//x"));
    CHECK(!hub_valid_filename("/etc/passwd"));
    CHECK(!hub_valid_filename("a/./x"));
    CHECK(!hub_valid_filename("a\nb"));
    CHECK(hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
    CHECK(!hub_is_commit("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!hub_is_commit("0123456789abcdef"));
    CHECK(!hub_is_commit("main"));
}

static void test_urls(void)
{
    char *s = hub_url_encode("refs/pr/1", false);
    CHECK_STR(s, "refs%2Fpr%2F1");
    free(s);
    s = hub_url_encode("dir/a b+c.gguf", true);
    CHECK_STR(s, "dir/a%20b%2Bc.gguf");
    free(s);
    CHECK(hub_same_origin("http://127.0.0.1:80/a", "http://127.0.0.1:80/b?x"));
    CHECK(hub_same_origin("https://HuggingFace.co/a", "https://huggingface.co"));
    CHECK(!hub_same_origin("http://127.0.0.1:80/a", "http://127.0.0.1:81/a"));
    CHECK(!hub_same_origin("https://huggingface.co/a", "https://cdn-lfs.hf.co/a"));
    CHECK(!hub_same_origin("http://huggingface.co/a", "https://huggingface.co/a"));
    CHECK(!hub_same_origin("https://huggingface.co.evil.com/", "https://huggingface.co/"));
}

static void test_backoff(void)
{
    hub_options o;
    hub_options_init(&o);
    o.use_env = false;
    o.token = "";
    o.cache_dir = "/tmp/unused";
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_STR(hub_endpoint(h), "https://huggingface.co");
    for (int i = 0; i < 20; i++) {
        int64_t first = hub_http_backoff_ms(h, 0, NULL);
        int64_t late = hub_http_backoff_ms(h, 6, NULL);
        CHECK(first >= 1000 && first < 1250);
        CHECK(late >= 8000 && late < 10000);
    }
    hub_http_response rs;
    hub_http_response_init(&rs);
    rs.status = 429;
    mm_strlcpy(rs.retry_after, "3", sizeof rs.retry_after);
    CHECK_INT(hub_http_backoff_ms(h, 0, &rs), 4000);
    mm_strlcpy(rs.ratelimit, "\"api\";r=0;t=10", sizeof rs.ratelimit);
    CHECK_INT(hub_http_backoff_ms(h, 0, &rs), 11000);
    mm_strlcpy(rs.ratelimit, "\"api\";r=0;t=86400", sizeof rs.ratelimit);
    CHECK_INT(hub_http_backoff_ms(h, 0, &rs), 60000);   /* bounded */
    hub_http_response_free(&rs);
    hub_close(h);

    o.max_retries = -1;
    CHECK_INT(hub_open(&o, &h, &err), MM_EINVAL);
    CHECK(h == NULL);
    hub_close(NULL);
}

static void test_environment(void)
{
    char *dir = mmtest_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/token", dir);
    mmtest_write_file(path, "  hf_fromFILEtoken1234567\n");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
    setenv("HF_HOME", dir, 1);
    setenv("HF_ENDPOINT", "http://mirror.example/", 1);
    hub_options o;
    hub_options_init(&o);
    hub *h = NULL;
    mm_error err = { 0 };
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_STR(h->token, "hf_fromFILEtoken1234567");
    CHECK_STR(hub_endpoint(h), "http://mirror.example");
    snprintf(path, sizeof path, "%s/hub", dir);
    CHECK_STR(hub_cache_dir(h), path);
    CHECK(!h->offline);
    hub_close(h);

    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacyTOKEN000000001", 1);
    setenv("HF_HUB_CACHE", "/somewhere/else", 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_STR(h->token, "hf_legacyTOKEN000000001");
    CHECK_STR(hub_cache_dir(h), "/somewhere/else");
    CHECK(h->offline);
    CHECK_INT(h->opts.request_timeout_ms, 10000);
    setenv("HF_HUB_ETAG_TIMEOUT", "3", 1);
    setenv("HF_HUB_DOWNLOAD_TIMEOUT", "45", 1);
    hub_close(h);
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_INT(h->opts.request_timeout_ms, 3000);
    CHECK_INT(h->opts.stall_timeout_ms, 45000);
    hub_close(h);
    setenv("HF_HUB_ETAG_TIMEOUT", "soon", 1);
    CHECK_INT(hub_open(&o, &h, &err), MM_ECONFIG);
    CHECK_CONTAINS(err.message, "HF_HUB_ETAG_TIMEOUT='soon'");
    unsetenv("HF_HUB_ETAG_TIMEOUT");
    unsetenv("HF_HUB_DOWNLOAD_TIMEOUT");

    setenv("HF_TOKEN", "   ", 1);   /* blank: falls through to the next source */
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK_STR(h->token, "hf_legacyTOKEN000000001");
    hub_close(h);

    o.token = "";                  /* explicit "no token" */
    CHECK_INT(hub_open(&o, &h, &err), 0);
    CHECK(h->token == NULL);
    hub_close(h);

    setenv("HF_HUB_OFFLINE", "maybe", 1);
    CHECK_INT(hub_open(&o, &h, &err), MM_ECONFIG);
    CHECK_CONTAINS(err.message, "HF_HUB_OFFLINE");
    setenv("HF_ENDPOINT", "ftp://x", 1);
    unsetenv("HF_HUB_OFFLINE");
    CHECK_INT(hub_open(&o, &h, &err), MM_ECONFIG);
    CHECK_CONTAINS(err.message, "must start with https://");
    for (const char *const *v = (const char *const[]){ "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
             "HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT", NULL }; *v; v++)
        unsetenv(*v);
    mmtest_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_hashes();
    test_names();
    test_urls();
    test_backoff();
    test_environment();
    return mmtest_finish();
}
