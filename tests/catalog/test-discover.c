/* test-discover.c - the catalog built from a temporary tree: nested model
 * files, the Hugging Face cache layout (refs, snapshots, blobs), split GGUFs
 * complete and with a missing part, a symlink loop, the depth limit, .bin
 * and safetensors, models.txt entries on disk and not, and the default. */
#include "catalog/catalog.h"
#include "support/test.h"
#include "catalog/gguf-bytes.h"
#include "gguf/gguf.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMMIT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define COMMIT_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define COMMIT_C "cccccccccccccccccccccccccccccccccccccccc"
#define COMMIT_D "dddddddddddddddddddddddddddddddddddddddd"
#define COMMIT_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

static char *tmp;

static char *at(const char *rel)
{
    return mm_path_join(tmp, rel);
}

static void put(const char *rel, const char *content)
{
    char *p = at(rel);
    mmtest_write_file(p, content);
    free(p);
}

static size_t put_gguf(const char *rel, const char *arch)
{
    char *p = at(rel);
    size_t n = gguf_bytes_minimal(p, arch);
    free(p);
    return n;
}

static size_t put_rich_gguf(const char *rel)
{
    char *p = at(rel);
    size_t n = gguf_bytes_rich(p);
    free(p);
    return n;
}

static void link_rel(const char *target, const char *rel)
{
    char *p = at(rel);
    char *dir = mm_strdup(p);
    *strrchr(dir, '/') = '\0';
    mm_mkdirs(dir, NULL);
    CHECK_INT(symlink(target, p), 0);
    free(dir);
    free(p);
}

static mm_config make_cfg(const char *default_model)
{
    mm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.models_dir = at("models");
    cfg.models_file = at("models.txt");
    cfg.hf_cache = at("cache");
    cfg.default_model = default_model ? mm_strdup(default_model) : NULL;
    return cfg;
}

static void free_cfg(mm_config *cfg)
{
    free(cfg->models_dir);
    free(cfg->models_file);
    free(cfg->hf_cache);
    free(cfg->default_model);
}

static const mm_model_info *need(const mm_catalog *cat, const char *key)
{
    const mm_model_info *m = mm_catalog_find(cat, key);
    if (!m)
        mmtest_fail(__FILE__, __LINE__, "no model '%s' in the catalog", key);
    return m;
}

static size_t sizes[8];

/* One part of a split model made with the project's GGUF writer: an F32
 * tensor of n_elements (zeros), plus general.architecture in part 1. */
static void put_written_part(const char *rel, bool first, uint64_t n_elements)
{
    gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    if (!w)
        return;
    if (first) {
        gguf_writer_set_str(w, "general.architecture", "llama");
        gguf_writer_set_u32(w, "llama.context_length", 512);
    }
    float *data = calloc(n_elements, sizeof *data);
    uint64_t ne[1] = { n_elements };
    gguf_writer_add_tensor(w, first ? "a.weight" : "b.weight", GGML_TYPE_F32, 1, ne, data,
                           n_elements * sizeof *data);
    char *p = at(rel);
    char *dir = mm_strdup(p);
    *strrchr(dir, '/') = '\0';
    mm_mkdirs(dir, NULL);
    free(dir);
    mm_error err = { 0 };
    CHECK_INT(gguf_writer_write(w, p, &err), 0);
    free(p);
    free(data);
    gguf_writer_free(w);
}

static char *outside_path;

static void build_tree(void)
{
    /* models_dir: loose files, nesting, a .bin, splits, a loop, depth. */
    sizes[0] = put_gguf("models/a.gguf", "llama");
    put_gguf("models/nested/a.gguf", "llama");
    put_gguf("models/nested/deeper/b.gguf", "qwen2");
    put("models/old.bin", "lmgg-not-gguf");
    sizes[1] = put_gguf("models/split/big-00001-of-00003.gguf", "llama");
    sizes[3] = put_gguf("models/split/big-00002-of-00003.gguf", "llama");
    sizes[4] = put_gguf("models/split/big-00003-of-00003.gguf", "llama");
    sizes[5] = put_rich_gguf("models/rich.gguf");
    put("models/corrupt.gguf", "GGUF but then nothing valid");
    put_gguf("models/broken/part-00001-of-00003.gguf", "llama");
    put("models/broken/part-00003-of-00003.gguf", "p3");
    put("models/notes.txt", "not a model");
    put("models/loose.safetensors", "only counted inside an HF cache");
    put("models/.hidden.gguf", "dot files are skipped");
    link_rel("..", "models/nested/loop");          /* models/nested/loop -> models */
    put_gguf("models/d1/d2/d3/d4/d5/d6/d7/d8/deep8.gguf", "llama");
    put_gguf("models/d1/d2/d3/d4/d5/d6/d7/d8/d9/deep9.gguf", "llama");
    /* An HF cache layout inside models_dir. */
    put_gguf("models/hub/models--org--inmd/snapshots/" COMMIT_E "/x.gguf", "llama");

    /* hf_cache: blobs linked from snapshots, refs naming commits. */
    sizes[2] = put_gguf("cache/models--TheBloke--Llama-2-7B-GGUF/blobs/1234abcd", "llama");
    link_rel("../../blobs/1234abcd",
             "cache/models--TheBloke--Llama-2-7B-GGUF/snapshots/" COMMIT_A "/llama-2-7b.Q4_K_M.gguf");
    put("cache/models--TheBloke--Llama-2-7B-GGUF/refs/main", COMMIT_A);
    put("cache/models--org--st/refs/main", COMMIT_B);
    put("cache/models--org--st/snapshots/" COMMIT_B "/model-00001-of-00002.safetensors", "0123456789");
    put("cache/models--org--st/snapshots/" COMMIT_B "/model-00002-of-00002.safetensors", "01234");
    put("cache/models--org--st/snapshots/" COMMIT_B "/pytorch_model.bin", "same weights");
    put("cache/models--org--st/snapshots/" COMMIT_B "/config.json", "{}");
    put("cache/models--org--pinned/refs/v1", COMMIT_C "\n");
    put_gguf("cache/models--org--pinned/snapshots/" COMMIT_C "/sub/file.gguf", "llama");
    put_gguf("cache/models--org--pinned/snapshots/" COMMIT_D "/sub/file.gguf", "llama");
    put("cache/datasets--org--data/snapshots/" COMMIT_A "/data.bin", "not a model repo");

    /* Written by the project's writer: 32 + 16 parameters over two parts. */
    put_written_part("models/ws/ws-00001-of-00002.gguf", true, 32);
    put_written_part("models/ws/ws-00002-of-00002.gguf", false, 16);
    /* A local: entry outside models_dir, by absolute path. */
    sizes[6] = put_gguf("elsewhere/out.gguf", "llama");
    outside_path = at("elsewhere/out.gguf");
    char *extra = mm_asprintf("outside = local:%s\n", outside_path);
    char *doc = mm_asprintf("%s%s",
        "# models for the test\n"
        "TheBloke/Llama-2-7B-GGUF\n"
        "pinned = org/pinned@v1:sub/file.gguf\n"
        "bycommit = org/pinned@" COMMIT_D ":sub/file.gguf\n"
        "missing/Repo-GGUF   # never downloaded\n"
        "local:nested/deeper/b.gguf\n"
        "gone = local:nope.gguf\n"
        "old = other/old-repo\n", extra);
    put("models.txt", doc);
    free(extra);
    free(doc);
}

static void test_catalog(void)
{
    mm_config cfg = make_cfg("gpt4all-lora");
    mm_catalog *cat = NULL;
    mm_error err = { 0 };
    int rc = mm_catalog_open(&cfg, &cat, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.message);
        free_cfg(&cfg);
        return;
    }
    static const char *const keys[] = {
        "a", "a-2", "b", "big", "bycommit", "corrupt", "deep8", "gone", "llama-2-7b-gguf",
        "old", "outside", "part", "pinned", "repo-gguf", "rich", "st", "ws", "x"
    };
    CHECK_INT(mm_catalog_count(cat), MM_ARRAY_LEN(keys));
    for (size_t i = 0; i < MM_ARRAY_LEN(keys) && i < mm_catalog_count(cat); i++)
        CHECK_STR(mm_catalog_at(cat, i)->key, keys[i]);
    CHECK(mm_catalog_at(cat, MM_ARRAY_LEN(keys)) == NULL);
    CHECK(mm_catalog_find(cat, "deep9") == NULL);      /* below the depth limit */
    CHECK(mm_catalog_find(cat, "hidden") == NULL);
    CHECK(mm_catalog_find(cat, "loose") == NULL);

    const mm_model_info *m = need(cat, "a");
    if (m) {
        CHECK_INT(m->source, MM_SOURCE_LOCAL);
        CHECK_INT(m->format, MM_FORMAT_GGUF);
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_INT(m->n_paths, 1);
        char *expected = at("models/a.gguf");
        CHECK_STR(m->paths[0], expected);
        free(expected);
        CHECK_INT(m->size_bytes, sizes[0]);
        CHECK_STR(m->origin, "models_dir");
    }
    if (m) {
        CHECK(m->has_facts);
        CHECK_STR(m->facts.architecture, "llama");
        CHECK_INT(m->facts.file_type, -1);
    }
    m = need(cat, "rich");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK(m->has_facts);
        CHECK_STR(m->facts.architecture, "llama");
        CHECK_STR(m->facts.name, "Tiny Test");
        CHECK_INT(m->facts.n_params, 8);
        CHECK_INT(m->facts.context_length, 2048);
        CHECK_INT(m->facts.embedding_length, 64);
        CHECK_INT(m->facts.block_count, 2);
        CHECK_INT(m->facts.head_count, 4);
        CHECK_INT(m->facts.head_count_kv, 2);
        CHECK_INT(m->facts.file_type, 15);
        CHECK_STR(m->facts.file_type_name, "Q4_K_M");
        CHECK(m->facts.has_chat_template);
        CHECK_INT(m->facts.file_size, sizes[5]);
    }
    /* An unreadable GGUF is listed as invalid with the reader's reason. */
    m = need(cat, "corrupt");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_INVALID);
        CHECK(!m->has_facts);
        CHECK(m->error != NULL && m->error[0] != '\0');
        CHECK_INT(m->n_paths, 1);
    }
    m = need(cat, "ws");
    if (m) {
        CHECK_INT(m->n_paths, 2);
        CHECK(m->has_facts);
        CHECK_INT(m->facts.n_params, 32 + 16);
        CHECK_INT(m->facts.context_length, 512);
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
    }
    m = need(cat, "outside");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_STR(m->n_paths ? m->paths[0] : NULL, outside_path);
        CHECK_INT(m->size_bytes, sizes[6]);
        CHECK_STR(m->origin, "models.txt:9");
    }
    /* Same derived key: the later path gets "-2". */
    m = need(cat, "a-2");
    if (m)
        CHECK(mm_str_has_suffix(m->paths[0], "/models/nested/a.gguf"));

    m = need(cat, "b");   /* models.txt local entry merged with the scan */
    if (m) {
        CHECK_INT(m->source, MM_SOURCE_LOCAL);
        CHECK_STR(m->origin, "models.txt:6");
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_INT(m->n_paths, 1);
    }

    m = need(cat, "big");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_INT(m->n_paths, 3);
        if (m->n_paths == 3) {
            CHECK(mm_str_has_suffix(m->paths[0], "big-00001-of-00003.gguf"));
            CHECK(mm_str_has_suffix(m->paths[1], "big-00002-of-00003.gguf"));
            CHECK(mm_str_has_suffix(m->paths[2], "big-00003-of-00003.gguf"));
        }
        CHECK_INT(m->size_bytes, sizes[1] + sizes[3] + sizes[4]);
        CHECK(m->error == NULL);
    }
    m = need(cat, "part");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_INVALID);
        CHECK_INT(m->n_paths, 2);
        CHECK_CONTAINS(m->error, "part 2 of 3 (part-00002-of-00003.gguf) is missing");
    }

    m = need(cat, "old");   /* models.txt key matched by a discovered .bin */
    if (m) {
        CHECK_INT(m->source, MM_SOURCE_HF);
        CHECK_STR(m->repo, "other/old-repo");
        CHECK_INT(m->format, MM_FORMAT_BIN);
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_INT(m->size_bytes, 13);
    }

    m = need(cat, "llama-2-7b-gguf");   /* refs/main -> snapshot, not duplicated */
    if (m) {
        CHECK_INT(m->source, MM_SOURCE_HF);
        CHECK_STR(m->repo, "TheBloke/Llama-2-7B-GGUF");
        CHECK(m->revision == NULL);
        CHECK_STR(m->commit, COMMIT_A);
        CHECK_STR(m->origin, "models.txt:2");
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK_INT(m->size_bytes, sizes[2]);
        CHECK(m->n_paths == 1 &&
              mm_str_has_suffix(m->paths[0], "/snapshots/" COMMIT_A "/llama-2-7b.Q4_K_M.gguf"));
    }
    CHECK(mm_catalog_find(cat, "llama-2-7b.q4_k_m") == NULL);

    m = need(cat, "pinned");   /* refs/v1 -> commit C */
    if (m) {
        CHECK_STR(m->revision, "v1");
        CHECK_STR(m->commit, COMMIT_C);
        CHECK_STR(m->repo_path, "sub/file.gguf");
        CHECK(m->n_paths == 1 && strstr(m->paths[0], COMMIT_C) != NULL);
    }
    m = need(cat, "bycommit");   /* a commit revision names its snapshot */
    if (m) {
        CHECK_STR(m->commit, COMMIT_D);
        CHECK_INT(m->state, MM_MODEL_AVAILABLE);
        CHECK(m->n_paths == 1 && strstr(m->paths[0], COMMIT_D) != NULL);
    }
    CHECK(mm_catalog_find(cat, "file") == NULL);   /* both snapshots claimed */

    m = need(cat, "repo-gguf");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_NOT_DOWNLOADED);
        CHECK_INT(m->n_paths, 0);
        CHECK_STR(m->origin, "models.txt:5");
        CHECK_STR(mm_model_state_name(m->state), "not downloaded");
    }
    m = need(cat, "gone");
    if (m) {
        CHECK_INT(m->state, MM_MODEL_NOT_DOWNLOADED);
        CHECK_INT(m->source, MM_SOURCE_LOCAL);
        CHECK_CONTAINS(m->error, "/models/nope.gguf");
    }

    m = need(cat, "st");
    if (m) {
        CHECK_INT(m->format, MM_FORMAT_SAFETENSORS);
        CHECK_INT(m->source, MM_SOURCE_HF);
        CHECK_STR(m->repo, "org/st");
        CHECK_STR(m->revision, "main");
        CHECK_STR(m->commit, COMMIT_B);
        CHECK_INT(m->n_paths, 2);
        CHECK_INT(m->size_bytes, 15);
        CHECK_STR(m->origin, "hf_cache");
        CHECK(m->n_paths == 2 && mm_str_has_suffix(m->paths[0], "model-00001-of-00002.safetensors"));
    }
    CHECK(mm_catalog_find(cat, "pytorch_model") == NULL);

    m = need(cat, "x");   /* HF layout found inside models_dir */
    if (m) {
        CHECK_INT(m->source, MM_SOURCE_HF);
        CHECK_STR(m->repo, "org/inmd");
        CHECK_STR(m->commit, COMMIT_E);
        CHECK_STR(m->repo_path, "x.gguf");
        CHECK_STR(m->origin, "models_dir");
    }

    /* The configured default is absent: the first available model. */
    bool fallback = false;
    const mm_model_info *def = mm_catalog_default(cat, &fallback);
    CHECK(def != NULL && strcmp(def->key, "a") == 0);
    CHECK(fallback);
    mm_catalog_close(cat);
    free_cfg(&cfg);

    /* The configured default is present and available. */
    cfg = make_cfg("st");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    def = mm_catalog_default(cat, &fallback);
    CHECK(def != NULL && strcmp(def->key, "st") == 0);
    CHECK(!fallback);
    mm_catalog_close(cat);
    free_cfg(&cfg);

    /* Configured but not downloaded: fall back. */
    cfg = make_cfg("repo-gguf");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    def = mm_catalog_default(cat, &fallback);
    CHECK(def != NULL && strcmp(def->key, "a") == 0);
    CHECK(fallback);
    mm_catalog_close(cat);
    free_cfg(&cfg);
}

static void test_edges(void)
{
    mm_error err = { 0 };
    mm_catalog *cat = NULL;

    /* Nothing at all: an empty catalog, no default. */
    mm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.models_dir = at("nowhere");
    cfg.models_file = at("nowhere/models.txt");
    cfg.hf_cache = at("nowhere/cache");
    cfg.default_model = mm_strdup("gpt4all-lora");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    CHECK_INT(mm_catalog_count(cat), 0);
    bool fallback = true;
    CHECK(mm_catalog_default(cat, &fallback) == NULL);
    CHECK(!fallback);
    mm_catalog_close(cat);
    free_cfg(&cfg);

    /* A missing models.txt still lists what is on disk. */
    cfg = make_cfg(NULL);
    free(cfg.models_file);
    cfg.models_file = at("absent.txt");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    CHECK(mm_catalog_find(cat, "big") != NULL);
    CHECK(mm_catalog_find(cat, "repo-gguf") == NULL);
    CHECK(mm_catalog_find(cat, "llama-2-7b.q4_k_m") != NULL);  /* now unclaimed */
    mm_catalog_close(cat);
    free_cfg(&cfg);

    /* A malformed models.txt fails the catalog with its line. */
    put("bad/models.txt", "ok/model\n\nbad model line\n");
    cfg = make_cfg(NULL);
    free(cfg.models_file);
    cfg.models_file = at("bad/models.txt");
    cat = (mm_catalog *)&cfg;   /* must be reset to NULL */
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), MM_EFORMAT);
    CHECK(cat == NULL);
    CHECK_CONTAINS(err.message, "models.txt:3: ");
    free_cfg(&cfg);

    /* models.txt over 1 MiB is refused before it is parsed. */
    size_t big = CATALOG_MODELS_FILE_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, '#', big);
    huge[big] = '\0';
    put("huge/models.txt", huge);
    free(huge);
    cfg = make_cfg(NULL);
    free(cfg.models_file);
    cfg.models_file = at("huge/models.txt");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), MM_ELIMIT);
    CHECK_CONTAINS(err.message, "over the limit");
    free_cfg(&cfg);

    /* The HF cache inside models_dir is walked once. */
    cfg = make_cfg(NULL);
    free(cfg.hf_cache);
    cfg.hf_cache = at("models/hub");
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    size_t with_inner = mm_catalog_count(cat);
    const mm_model_info *x = mm_catalog_find(cat, "x");
    CHECK(x && strcmp(x->origin, "models_dir") == 0);
    CHECK(mm_catalog_find(cat, "x-2") == NULL);
    mm_catalog_close(cat);
    free(cfg.hf_cache);
    cfg.hf_cache = NULL;
    CHECK_INT(mm_catalog_open(&cfg, &cat, &err), 0);
    CHECK_INT(mm_catalog_count(cat), with_inner);
    mm_catalog_close(cat);
    free_cfg(&cfg);

    mm_catalog_close(NULL);
    CHECK_STR(mm_source_name(MM_SOURCE_REMOTE), "remote");
    CHECK_STR(mm_format_name(MM_FORMAT_SAFETENSORS), "safetensors");
}

int main(void)
{
    tmp = mmtest_tmpdir();
    build_tree();
    test_catalog();
    test_edges();
    mmtest_rmtree(tmp);
    free(tmp);
    free(outside_path);
    return mmtest_finish();
}
