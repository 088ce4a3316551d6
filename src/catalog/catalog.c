/* catalog.c - builds the catalog: models.txt entries matched with what
 * discovery found on disk, one record per model, keys made unique, GGUF
 * facts read, sorted by key; and the default-model rule. */
#include "catalog/catalog.h"
#include "gguf/gguf.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct mm_catalog {
    mm_model_info *models;       /* sorted by key */
    size_t         count;
    char          *default_model; /* configured default, or NULL */
};

static void info_clear(mm_model_info *m)
{
    free((void *)m->key);
    free((void *)m->repo);
    free((void *)m->revision);
    free((void *)m->commit);
    free((void *)m->repo_path);
    for (size_t i = 0; i < m->n_paths; i++)
        free((void *)m->paths[i]);
    free((void *)m->paths);
    free((void *)m->origin);
    free((void *)m->error);
    memset(m, 0, sizeof *m);
}

void mm_catalog_close(mm_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->count; i++)
        info_clear(&cat->models[i]);
    free(cat->models);
    free(cat->default_model);
    free(cat);
}

/* Move what was found on disk into m (f keeps its key and origin). */
static void take_found(mm_model_info *m, catalog_found *f)
{
    m->paths = (const char **)f->paths;
    m->n_paths = f->n_paths;
    f->paths = NULL;
    f->n_paths = 0;
    m->format = f->format;
    m->size_bytes = f->size_bytes;
    if (!m->commit) {
        m->commit = f->commit;
        f->commit = NULL;
    }
    m->error = f->error;
    f->error = NULL;
}

/* The on-disk record for an HF entry: a snapshot of the same repo whose
 * commit is what the entry's revision names (refs/<revision>, or the
 * revision itself as a commit; no revision means refs/main), holding the
 * entry's repo_path, or any GGUF when none was given (safetensors or .bin
 * when the snapshot has no GGUF). Returns an index into found or -1. */
static long match_hf(const catalog_entry *e, const catalog_found_list *found, const bool *taken)
{
    const char *rev = e->revision ? e->revision : "main";
    long best = -1;
    int best_rank = 0;
    for (size_t i = 0; i < found->count; i++) {
        const catalog_found *f = &found->items[i];
        if (taken[i] || f->source != MM_SOURCE_HF || !f->repo || strcasecmp(f->repo, e->repo) != 0)
            continue;
        char *commit = catalog_read_ref(f->repo_dir, rev);
        bool same = commit ? strcmp(commit, f->commit) == 0 : strcmp(rev, f->commit) == 0;
        free(commit);
        if (!same)
            continue;
        int rank;
        if (e->repo_path)
            rank = f->repo_path && strcmp(f->repo_path, e->repo_path) == 0 ? 3 : 0;
        else
            rank = f->format == MM_FORMAT_GGUF ? 3 : 1;
        /* Among equals, the first repo_path in name order wins. */
        if (rank > best_rank ||
            (rank == best_rank && rank > 0 && f->repo_path && found->items[best].repo_path &&
             strcmp(f->repo_path, found->items[best].repo_path) < 0)) {
            best = (long)i;
            best_rank = rank;
        }
    }
    return best;
}

static long match_local(const catalog_entry *e, const catalog_found_list *found, const bool *taken)
{
    struct stat st;
    if (stat(e->local_path, &st) != 0)
        return -1;
    for (size_t i = 0; i < found->count; i++) {
        const catalog_found *f = &found->items[i];
        if (!taken[i] && f->n_paths && f->dev == st.st_dev && f->ino == st.st_ino)
            return (long)i;
    }
    return -1;
}

/* label is the models.txt base name: origins read "models.txt:3". */
static int entry_to_info(const catalog_entry *e, const char *label, catalog_found_list *found,
                         bool *taken, mm_model_info *m)
{
    memset(m, 0, sizeof *m);
    m->key = mm_strdup(e->key);
    m->source = e->source;
    m->repo = mm_strdup(e->repo);
    m->revision = mm_strdup(e->revision);
    m->repo_path = mm_strdup(e->repo_path);
    m->origin = mm_asprintf("%s:%d", label, e->line);
    if (!m->key || !m->origin || (e->repo && !m->repo) || (e->revision && !m->revision) ||
        (e->repo_path && !m->repo_path))
        return MM_ENOMEM;
    long hit = e->source == MM_SOURCE_HF ? match_hf(e, found, taken) : match_local(e, found, taken);
    if (hit >= 0) {
        taken[hit] = true;
        take_found(m, &found->items[hit]);
        return 0;
    }
    /* Not on disk (yet): the format its name promises. */
    const char *name = e->source == MM_SOURCE_LOCAL ? e->local_path : e->repo_path;
    if (name && mm_str_has_suffix(name, ".gguf"))
        m->format = MM_FORMAT_GGUF;
    else if (name && mm_str_has_suffix(name, ".bin"))
        m->format = MM_FORMAT_BIN;
    else if (name && mm_str_has_suffix(name, ".safetensors"))
        m->format = MM_FORMAT_SAFETENSORS;
    if (e->source == MM_SOURCE_LOCAL) {
        catalog_found f;
        if (catalog_file_record(e->local_path, &f, NULL) == 0) {
            take_found(m, &f);
            catalog_found_clear(&f);
            return 0;
        }
        m->error = mm_asprintf("no file at %s", e->local_path);
        if (!m->error)
            return MM_ENOMEM;
    }
    return 0;
}

static bool key_used(const mm_model_info *models, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(models[i].key, key) == 0)
            return true;
    return false;
}

static int cmp_found_path(const void *a, const void *b)
{
    const catalog_found *fa = a, *fb = b;
    int c = strcmp(fa->key, fb->key);
    if (c != 0)
        return c;
    const char *pa = fa->n_paths ? fa->paths[0] : "", *pb = fb->n_paths ? fb->paths[0] : "";
    return strcmp(pa, pb);
}

static int cmp_info_key(const void *a, const void *b)
{
    return strcmp(((const mm_model_info *)a)->key, ((const mm_model_info *)b)->key);
}

/* A discovered model that no models.txt entry claimed. Its key is its
 * derived key, or the first free "<key>-2", "<key>-3", ... when that is
 * taken: found items are handled in (key, first path) order, so the rule
 * is deterministic. */
static int found_to_info(catalog_found *f, mm_model_info *models, size_t count, mm_model_info *m)
{
    memset(m, 0, sizeof *m);
    char *key = mm_strdup(f->key);
    for (unsigned n = 2; key && key_used(models, count, key); n++) {
        free(key);
        key = mm_asprintf("%s-%u", f->key, n);
    }
    m->key = key;
    m->source = f->source;
    m->repo = f->repo;
    m->revision = f->revision;
    m->repo_path = f->repo_path;
    f->repo = f->revision = f->repo_path = NULL;
    m->origin = mm_strdup(f->origin);
    take_found(m, f);
    return m->key && m->origin ? 0 : MM_ENOMEM;
}

/* Facts of a GGUF model from its first part; the parameter count adds the
 * tensors of every part. An unreadable part makes the model invalid with the
 * reader's message; the catalog itself still opens. */
/* A transformers model's architecture from the config.json beside its
 * safetensors: model_type ("llama"), else architectures[0]. Left "" when
 * the file is missing or malformed: it is a hint, not a requirement. */
#define CONFIG_JSON_MAX (256u << 10)

static void read_config_json(mm_model_info *m)
{
    char *dir = mm_strdup(m->paths[0]);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (!slash) {
        free(dir);
        return;
    }
    *slash = '\0';
    char *path = mm_path_join(dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    mm_error err = { 0 };
    cJSON *doc = NULL;
    if (path && mm_file_read(path, CONFIG_JSON_MAX, &text, &len, &err) == 0)
        doc = cJSON_ParseWithLength(text, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "model_type");
    if (!cJSON_IsString(type))
        type = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "architectures"), 0);
    if (cJSON_IsString(type))
        mm_strlcpy(m->facts.architecture, type->valuestring, sizeof m->facts.architecture);
    cJSON_Delete(doc);
    free(text);
    free(path);
    free(dir);
}

static int read_facts(mm_model_info *m)
{
    if (m->format == MM_FORMAT_SAFETENSORS && m->n_paths && !m->error)
        read_config_json(m);
    if (m->format != MM_FORMAT_GGUF || m->n_paths == 0 || m->error)
        return 0;
    uint64_t n_params = 0;
    for (size_t i = 0; i < m->n_paths; i++) {
        gguf_file *f = NULL;
        mm_error err = { 0 };
        if (gguf_open(m->paths[i], &f, &err) != 0) {
            MM_LOG_DEBUG("catalog: %s: %s", m->key, err.message);
            m->error = mm_strdup(err.message);
            m->has_facts = false;
            return m->error ? 0 : MM_ENOMEM;
        }
        if (i == 0) {
            gguf_model_facts(f, &m->facts);
            n_params = m->facts.n_params;
        } else {
            for (size_t t = 0; t < gguf_tensor_count(f); t++) {
                uint64_t n = gguf_tensor_at(f, t)->n_elements;
                n_params = n_params > UINT64_MAX - n ? UINT64_MAX : n_params + n;
            }
        }
        gguf_close(f);
    }
    m->facts.n_params = n_params;
    m->facts.file_size = m->size_bytes;
    m->has_facts = true;
    return 0;
}

static void set_state(mm_model_info *m)
{
    if (m->error && m->n_paths)
        m->state = MM_MODEL_INVALID;
    else if (m->n_paths == 0)
        m->state = MM_MODEL_NOT_DOWNLOADED;
    else
        m->state = MM_MODEL_AVAILABLE;
}

/* models.txt: missing is fine (discovery alone); anything else that stops
 * reading it is an error. */
static int load_entries(const mm_config *cfg, const char *label, catalog_entries *entries,
                        mm_error *err)
{
    memset(entries, 0, sizeof *entries);
    const char *path = cfg->models_file ? cfg->models_file : "models.txt";
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    char *text = NULL;
    size_t len = 0;
    int rc = mm_file_read(path, CATALOG_MODELS_FILE_MAX, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = catalog_parse_models(text, len, label, cfg->models_dir ? cfg->models_dir : ".",
                              entries, err);
    free(text);
    return rc;
}

/* A discovered file whose key names an entry that is not on disk
 * (models/gpt4all-lora.bin for "gpt4all-lora = org/repo") is that entry's
 * file. */
static void claim_by_key(mm_catalog *cat, catalog_found_list *found, bool *taken)
{
    for (size_t i = 0; i < cat->count; i++) {
        mm_model_info *m = &cat->models[i];
        if (m->n_paths)
            continue;
        for (size_t j = 0; j < found->count; j++) {
            if (!taken[j] && strcmp(found->items[j].key, m->key) == 0) {
                taken[j] = true;
                free((void *)m->error);
                m->error = NULL;
                take_found(m, &found->items[j]);
                break;
            }
        }
    }
}

/* Drop the claimed records and sort the rest by (key, first path), the
 * order found_to_info hands out keys in. */
static void keep_unclaimed(catalog_found_list *found, const bool *taken)
{
    size_t n_left = 0;
    for (size_t j = 0; j < found->count; j++) {
        if (taken[j])
            catalog_found_clear(&found->items[j]);
        else
            found->items[n_left++] = found->items[j];
    }
    found->count = n_left;
    if (found->count > 1)
        qsort(found->items, found->count, sizeof *found->items, cmp_found_path);
}

int mm_catalog_open(const mm_config *cfg, mm_catalog **out, mm_error *err)
{
    *out = NULL;
    if (!cfg)
        return mm_error_set(err, MM_EINVAL, "mm_catalog_open: no configuration");
    const char *models_file = cfg->models_file ? cfg->models_file : "models.txt";
    const char *origin_label = strrchr(models_file, '/') ? strrchr(models_file, '/') + 1
                                                         : models_file;
    catalog_entries entries;
    catalog_found_list found;
    memset(&found, 0, sizeof found);
    bool *taken = NULL;
    int rc = MM_ENOMEM;
    mm_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    if ((rc = load_entries(cfg, models_file, &entries, err)) != 0)
        goto fail;
    if ((rc = catalog_discover(cfg->models_dir, cfg->hf_cache, &found, err)) != 0)
        goto fail;
    rc = MM_ENOMEM;
    taken = calloc(found.count + 1, sizeof *taken);
    cat->models = calloc(entries.count + found.count + 1, sizeof *cat->models);
    if (!taken || !cat->models)
        goto fail_oom;
    if (cfg->default_model && !(cat->default_model = mm_strdup(cfg->default_model)))
        goto fail_oom;

    for (size_t i = 0; i < entries.count; i++) {
        cat->count++;
        if (entry_to_info(&entries.items[i], origin_label, &found, taken,
                          &cat->models[cat->count - 1]) != 0)
            goto fail_oom;
    }
    claim_by_key(cat, &found, taken);
    keep_unclaimed(&found, taken);
    for (size_t j = 0; j < found.count; j++) {
        cat->count++;
        if (found_to_info(&found.items[j], cat->models, cat->count - 1,
                          &cat->models[cat->count - 1]) != 0)
            goto fail_oom;
    }
    for (size_t i = 0; i < cat->count; i++) {
        if (read_facts(&cat->models[i]) != 0)
            goto fail_oom;
        set_state(&cat->models[i]);
    }
    qsort(cat->models, cat->count, sizeof *cat->models, cmp_info_key);
    catalog_found_list_free(&found);
    catalog_entries_free(&entries);
    free(taken);
    *out = cat;
    return 0;

fail_oom:
    rc = mm_error_set(err, MM_ENOMEM, "out of memory building the model catalog");
fail:
    catalog_found_list_free(&found);
    catalog_entries_free(&entries);
    free(taken);
    mm_catalog_close(cat);
    return rc;
}

size_t mm_catalog_count(const mm_catalog *cat)
{
    return cat ? cat->count : 0;
}

const mm_model_info *mm_catalog_at(const mm_catalog *cat, size_t i)
{
    return cat && i < cat->count ? &cat->models[i] : NULL;
}

const mm_model_info *mm_catalog_find(const mm_catalog *cat, const char *key)
{
    if (!cat || !key)
        return NULL;
    size_t lo = 0, hi = cat->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cat->models[mid].key, key);
        if (c == 0)
            return &cat->models[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const mm_model_info *mm_catalog_default(const mm_catalog *cat, bool *is_fallback)
{
    if (is_fallback)
        *is_fallback = false;
    const mm_model_info *configured = cat ? mm_catalog_find(cat, cat->default_model) : NULL;
    if (configured && configured->state == MM_MODEL_AVAILABLE)
        return configured;
    /* A GGUF model first: the built-in engine can serve it. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; cat && i < cat->count; i++) {
            const mm_model_info *m = &cat->models[i];
            if (m->state == MM_MODEL_AVAILABLE && (pass == 1 || m->format == MM_FORMAT_GGUF)) {
                if (is_fallback)
                    *is_fallback = true;
                return m;
            }
        }
    }
    return NULL;
}

const char *mm_source_name(mm_source source)
{
    switch (source) {
    case MM_SOURCE_HF:     return "hf";
    case MM_SOURCE_LOCAL:  return "local";
    case MM_SOURCE_REMOTE: return "remote";
    }
    return "unknown";
}

const char *mm_format_name(mm_format format)
{
    switch (format) {
    case MM_FORMAT_GGUF:        return "gguf";
    case MM_FORMAT_BIN:         return "bin";
    case MM_FORMAT_SAFETENSORS: return "safetensors";
    case MM_FORMAT_UNKNOWN:     break;
    }
    return "unknown";
}

const char *mm_model_state_name(mm_model_state state)
{
    switch (state) {
    case MM_MODEL_AVAILABLE:      return "available";
    case MM_MODEL_NOT_DOWNLOADED: return "not downloaded";
    case MM_MODEL_INVALID:        return "invalid";
    }
    return "unknown";
}
