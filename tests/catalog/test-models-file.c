/* test-models-file.c - the models.txt parser: every entry form, aliases,
 * comments, derived keys, and every error with its line number. */
#include "catalog/catalog.h"
#include "support/test.h"

#include <stdlib.h>

static int parse(const char *text, catalog_entries *out, mm_error *err)
{
    mm_error_clear(err);
    return catalog_parse_models(text, strlen(text), "models.txt", "/srv/models", out, err);
}

static void test_forms(void)
{
    const char *text =
        "# my models\n"
        "\n"
        "TheBloke/Llama-2-7B-GGUF\n"
        "   Qwen/Qwen2.5-0.5B-Instruct-GGUF@main   # pinned to a branch\n"
        "org/repo@0123456789abcdef0123456789abcdef01234567:sub/dir/Model.Q4_K_M.gguf\n"
        "local:models/Phi-3.gguf\n"
        "local:/opt/x/Abs-Model.bin\n"
        "fast = TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF@v1.0\n"
        "mine=local:a/../b/c.gguf\n"
        "\t\n"
        "shard = org/big@main:big-00001-of-00003.gguf\n";
    catalog_entries e;
    mm_error err;
    CHECK_INT(parse(text, &e, &err), 0);
    CHECK_INT(e.count, 8);
    if (e.count != 8) {
        catalog_entries_free(&e);
        return;
    }
    CHECK_STR(e.items[0].key, "llama-2-7b-gguf");
    CHECK_INT(e.items[0].source, MM_SOURCE_HF);
    CHECK_STR(e.items[0].repo, "TheBloke/Llama-2-7B-GGUF");
    CHECK(e.items[0].revision == NULL);
    CHECK(e.items[0].repo_path == NULL);
    CHECK_INT(e.items[0].line, 3);

    /* Dots inside a repo name are not an extension. */
    CHECK_STR(e.items[1].key, "qwen2.5-0.5b-instruct-gguf");
    CHECK_STR(e.items[1].revision, "main");
    CHECK_INT(e.items[1].line, 4);

    CHECK_STR(e.items[2].repo, "org/repo");
    CHECK_STR(e.items[2].revision, "0123456789abcdef0123456789abcdef01234567");
    CHECK_STR(e.items[2].repo_path, "sub/dir/Model.Q4_K_M.gguf");
    CHECK_STR(e.items[2].key, "model.q4_k_m");

    CHECK_INT(e.items[3].source, MM_SOURCE_LOCAL);
    CHECK_STR(e.items[3].key, "phi-3");
    CHECK_STR(e.items[3].local_path, "/srv/models/models/Phi-3.gguf");
    CHECK(e.items[3].repo == NULL);

    CHECK_STR(e.items[4].local_path, "/opt/x/Abs-Model.bin");
    CHECK_STR(e.items[4].key, "abs-model");

    CHECK_STR(e.items[5].key, "fast");
    CHECK_STR(e.items[5].repo, "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF");
    CHECK_STR(e.items[5].revision, "v1.0");

    /* "a/../b" stays inside the models directory. */
    CHECK_STR(e.items[6].key, "mine");
    CHECK_STR(e.items[6].local_path, "/srv/models/a/../b/c.gguf");

    CHECK_STR(e.items[7].key, "shard");
    CHECK_STR(e.items[7].repo_path, "big-00001-of-00003.gguf");
    CHECK_INT(e.items[7].line, 11);
    catalog_entries_free(&e);

    /* '=' inside a local path is part of the path; an alias may still
     * precede it. */
    CHECK_INT(parse("local:a=b.gguf\nk = local:c=d.gguf\n", &e, &err), 0);
    CHECK_INT(e.count, 2);
    if (e.count == 2) {
        CHECK_STR(e.items[0].key, "a-b");
        CHECK_STR(e.items[0].local_path, "/srv/models/a=b.gguf");
        CHECK_STR(e.items[1].key, "k");
        CHECK_STR(e.items[1].local_path, "/srv/models/c=d.gguf");
    }
    catalog_entries_free(&e);

    /* Without an alias a split file's key drops the part suffix. */
    CHECK_INT(parse("org/big@main:Big-Model-00001-of-00003.gguf\n", &e, &err), 0);
    CHECK_STR(e.count ? e.items[0].key : NULL, "big-model");
    catalog_entries_free(&e);

    /* Empty and comment-only documents, no final newline, CRLF lines. */
    CHECK_INT(parse("", &e, &err), 0);
    CHECK_INT(e.count, 0);
    CHECK_INT(parse("# nothing\n   # at all", &e, &err), 0);
    CHECK_INT(e.count, 0);
    CHECK_INT(parse("a/b\r\nlocal:x.gguf", &e, &err), 0);
    CHECK_INT(e.count, 2);
    if (e.count == 2) {
        CHECK_STR(e.items[0].repo, "a/b");
        CHECK_STR(e.items[1].key, "x");
    }
    catalog_entries_free(&e);
}

/* Each bad document fails with MM_EFORMAT and a message naming its line. */
static void expect_error(const char *text, const char *line_prefix, const char *what)
{
    catalog_entries e;
    mm_error err;
    int rc = parse(text, &e, &err);
    CHECK_INT(rc, MM_EFORMAT);
    CHECK_INT(err.code, MM_EFORMAT);
    CHECK(mm_str_has_prefix(err.message, line_prefix));
    if (!mm_str_has_prefix(err.message, line_prefix))
        fprintf(stderr, "  message was: %s (expected prefix %s)\n", err.message, line_prefix);
    CHECK_CONTAINS(err.message, what);
    CHECK_INT(e.count, 0);
    CHECK(e.items == NULL);
}

static void test_errors(void)
{
    expect_error("a/b\n\nx = c/d\n# c\nx = local:y.gguf\n", "models.txt:5: ",
                 "duplicate key 'x' (first defined on line 3)");
    expect_error("TheBloke/Llama-2-7B-GGUF\nother/llama-2-7b-gguf\n", "models.txt:2: ",
                 "duplicate key 'llama-2-7b-gguf' (first defined on line 1)");
    expect_error("ok/one\nbad repo\n", "models.txt:2: ", "unexpected space");
    expect_error("justaname\n", "models.txt:1: ", "expected a Hugging Face repo id");
    expect_error("a/b/c\n", "models.txt:1: ", "expected a Hugging Face repo id");
    expect_error("org/na$me\n", "models.txt:1: ", "character the Hub does not allow ('$')");
    expect_error("org/-name\n", "models.txt:1: ", "starts or ends with '-' or '.'");
    expect_error("org/name.\n", "models.txt:1: ", "starts or ends with '-' or '.'");
    expect_error("org/na..me\n", "models.txt:1: ", "contains '..'");
    expect_error("org/na--me\n", "models.txt:1: ", "contains '--'");
    expect_error("/name\n", "models.txt:1: ", "organisation is empty");
    expect_error("\n\nlocal:\n", "models.txt:3: ", "empty local path");
    expect_error("local:   # nothing\n", "models.txt:1: ", "empty local path");
    expect_error("local:../outside.gguf\n", "models.txt:1: ", "escapes the models directory");
    expect_error("local:a/../../outside.gguf\n", "models.txt:1: ", "escapes the models directory");
    expect_error("org/name@\n", "models.txt:1: ", "'@' without a revision");
    expect_error("org/name@:file.gguf\n", "models.txt:1: ", "'@' without a revision");
    expect_error("org/name@main:\n", "models.txt:1: ", "':' without a path");
    expect_error("org/name:file.gguf\n", "models.txt:1: ", "needs a revision first");
    expect_error("org/name@../x\n", "models.txt:1: ", "bad revision");
    expect_error("org/name@main:../x.gguf\n", "models.txt:1: ", "bad path in repo");
    expect_error("org/name@main:/etc/x.gguf\n", "models.txt:1: ", "bad path in repo");
    expect_error("key =\n", "models.txt:1: ", "alias 'key' has no value");
    expect_error("key =   # later\n", "models.txt:1: ", "alias 'key' has no value");
    expect_error("= org/name\n", "models.txt:1: ", "'=' without a key");
    expect_error("-bad = org/name\n", "models.txt:1: ", "bad key '-bad'");

    /* A 97-character repo name is over the Hub's limit; 96 is fine. */
    char text[256];
    snprintf(text, sizeof text, "org/%096d\n", 7);
    catalog_entries e;
    mm_error err;
    CHECK_INT(parse(text, &e, &err), 0);
    catalog_entries_free(&e);
    snprintf(text, sizeof text, "org/%097d\n", 7);
    expect_error(text, "models.txt:1: ", "longer than 96");

    /* A line over the bound is refused, not truncated into a valid entry. */
    size_t long_len = CATALOG_LINE_MAX + 10;
    char *long_doc = malloc(long_len + 16);
    memcpy(long_doc, "ok/one\n", 7);
    memset(long_doc + 7, 'a', long_len);
    memcpy(long_doc + 7 + long_len, "\n", 2);
    expect_error(long_doc, "models.txt:2: ", "longer than 4096 bytes");
    free(long_doc);
}

static void test_keys(void)
{
    char why[256];
    CHECK(catalog_repo_id_valid("TheBloke/Llama-2-7B-GGUF", why, sizeof why));
    CHECK(catalog_repo_id_valid("a_b/c.d-e", why, sizeof why));
    CHECK(!catalog_repo_id_valid("a/b c", why, sizeof why));
    CHECK(catalog_key_valid("qwen2.5"));
    CHECK(!catalog_key_valid(".hidden"));
    CHECK(!catalog_key_valid("with space"));

    char *k = catalog_derive_key("/x/y/My Model (v2).GGUF", true);
    CHECK_STR(k, "my-model--v2-");
    free(k);
    k = catalog_derive_key(".gguf", true);
    CHECK_STR(k, "gguf");
    free(k);

    uint32_t part = 0, total = 0;
    size_t prefix = 0;
    CHECK(catalog_split_name("m-00002-of-00003.gguf", &part, &total, &prefix));
    CHECK_INT(part, 2);
    CHECK_INT(total, 3);
    CHECK_INT(prefix, 1);
    CHECK(!catalog_split_name("m-00004-of-00003.gguf", &part, &total, &prefix));
    CHECK(!catalog_split_name("m-0002-of-00003.gguf", &part, &total, &prefix));
    CHECK(!catalog_split_name("-00001-of-00003.gguf", &part, &total, &prefix));
}

int main(void)
{
    test_forms();
    test_errors();
    test_keys();
    return mmtest_finish();
}
