/* discover.c - finds models on disk: .gguf and .bin files below the models
 * directory, split GGUFs grouped into one model, and Hugging Face cache repos
 * (models--org--name/snapshots/<commit>/...) in the models directory and the
 * HF cache, whose safetensors make one record per snapshot. */
#include "catalog/catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

/* State shared by the scans of one catalog: the directories already visited
 * (so symlink loops and a cache inside models_dir are walked once) and the
 * budget of entries looked at. */
typedef struct scan_ctx {
    catalog_found_list *out;
    dir_id             *visited;
    size_t              n_visited;
    size_t              entries_seen;
    const char         *origin;
    char               *cache_real;  /* realpath of hf_cache: models_dir links into it are
                                        listed by the cache scan, not twice */
    bool                limit_logged;
    int                 rc;       /* first hard error (ENOMEM) */
    mm_error           *err;
} scan_ctx;

void catalog_found_clear(catalog_found *f)
{
    if (!f)
        return;
    free(f->key);
    free(f->repo);
    free(f->revision);
    free(f->commit);
    free(f->repo_path);
    free(f->repo_dir);
    for (size_t i = 0; i < f->n_paths; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->error);
    memset(f, 0, sizeof *f);
}

void catalog_found_list_free(catalog_found_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        catalog_found_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int list_push(catalog_found_list *list, catalog_found *f)
{
    if (list->count == list->cap) {
        size_t new_cap = list->cap ? list->cap * 2 : 16;
        catalog_found *grown = realloc(list->items, new_cap * sizeof *grown);
        if (!grown)
            return MM_ENOMEM;
        list->items = grown;
        list->cap = new_cap;
    }
    list->items[list->count++] = *f;
    memset(f, 0, sizeof *f);
    return 0;
}

static int add_path(catalog_found *f, const char *path)
{
    char **grown = realloc(f->paths, (f->n_paths + 1) * sizeof *grown);
    if (!grown)
        return MM_ENOMEM;
    f->paths = grown;
    if (!(f->paths[f->n_paths] = mm_strdup(path)))
        return MM_ENOMEM;
    f->n_paths++;
    return 0;
}

/* Format from the extension; a .bin that starts with the GGUF magic is GGUF
 * (older tools saved GGUF models as .bin). */
static mm_format format_of(const char *path)
{
    if (mm_str_has_suffix(path, ".gguf"))
        return MM_FORMAT_GGUF;
    if (mm_str_has_suffix(path, ".safetensors"))
        return MM_FORMAT_SAFETENSORS;
    if (!mm_str_has_suffix(path, ".bin"))
        return MM_FORMAT_UNKNOWN;
    unsigned char magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, magic, sizeof magic);
        close(fd);
        if (n == 4 && memcmp(magic, "GGUF", 4) == 0)
            return MM_FORMAT_GGUF;
    }
    return MM_FORMAT_BIN;
}

static bool is_regular(const char *path, struct stat *st)
{
    return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* The path of split part `part` next to the file named by path, whose base
 * name has a prefix of prefix_len bytes. Caller frees. */
static char *split_sibling(const char *path, size_t prefix_len, uint32_t part, uint32_t total)
{
    const char *base = strrchr(path, '/');
    size_t dir_len = base ? (size_t)(base - path) + 1 : 0;
    return mm_asprintf("%.*s%05u-of-%05u.gguf", (int)(dir_len + prefix_len + 1), path,
                       part, total);
}

/* Fill f with the parts of the split GGUF that path belongs to. */
static int fill_split(const char *path, size_t prefix_len, uint32_t total, catalog_found *f)
{
    uint32_t missing = 0, first_missing = 0;
    char *first_missing_path = NULL;
    for (uint32_t part = 1; part <= total; part++) {
        char *sibling = split_sibling(path, prefix_len, part, total);
        if (!sibling)
            goto oom;
        struct stat st;
        if (is_regular(sibling, &st)) {
            if (f->n_paths == 0) {
                f->dev = st.st_dev;
                f->ino = st.st_ino;
            }
            f->size_bytes += (uint64_t)st.st_size;
            if (add_path(f, sibling) != 0) {
                free(sibling);
                goto oom;
            }
            free(sibling);
        } else {
            if (missing++ == 0) {
                first_missing = part;
                first_missing_path = sibling;
            } else {
                free(sibling);
            }
        }
    }
    if (missing) {
        const char *name = strrchr(first_missing_path, '/');
        name = name ? name + 1 : first_missing_path;
        f->error = mm_asprintf("split model is incomplete: part %u of %u (%s) is missing%s",
                               first_missing, total, name,
                               missing > 1 ? ", and more parts after it" : "");
        free(first_missing_path);
        if (!f->error)
            return MM_ENOMEM;
    }
    return 0;
oom:
    free(first_missing_path);
    return MM_ENOMEM;
}

int catalog_file_record(const char *path, catalog_found *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (!is_regular(path, &st))
        return mm_error_set(err, MM_ENOTFOUND, "%s: not a regular file", path);
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    uint32_t part, total;
    size_t prefix_len;
    int rc;
    if (catalog_split_name(name, &part, &total, &prefix_len) && total <= CATALOG_SPLIT_MAX) {
        rc = fill_split(path, prefix_len, total, out);
    } else {
        out->dev = st.st_dev;
        out->ino = st.st_ino;
        out->size_bytes = (uint64_t)st.st_size;
        rc = add_path(out, path);
    }
    if (rc == 0) {
        out->source = MM_SOURCE_LOCAL;
        out->format = format_of(path);
        out->key = catalog_derive_key(name, true);
        if (!out->key)
            rc = MM_ENOMEM;
    }
    if (rc != 0) {
        catalog_found_clear(out);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    return 0;
}

/* Whether a split part should be reported from this file: only the lowest
 * part present stands for the group, so the group is listed once. */
static bool split_leader(const char *path, size_t prefix_len, uint32_t part, uint32_t total)
{
    for (uint32_t lower = 1; lower < part; lower++) {
        char *sibling = split_sibling(path, prefix_len, lower, total);
        struct stat st;
        bool present = sibling && is_regular(sibling, &st);
        free(sibling);
        if (present)
            return false;
    }
    return true;
}

/* Mark (dev, ino) visited; false when it already was, or when the budget of
 * directories is spent. */
static bool visit(scan_ctx *ctx, const struct stat *st)
{
    for (size_t i = 0; i < ctx->n_visited; i++)
        if (ctx->visited[i].dev == st->st_dev && ctx->visited[i].ino == st->st_ino)
            return false;
    if (ctx->n_visited == CATALOG_SCAN_DIRS_MAX) {
        if (!ctx->limit_logged)
            MM_LOG_WARN("catalog: stopped scanning after %u directories", CATALOG_SCAN_DIRS_MAX);
        ctx->limit_logged = true;
        return false;
    }
    dir_id *grown = realloc(ctx->visited, (ctx->n_visited + 1) * sizeof *grown);
    if (!grown) {
        ctx->rc = MM_ENOMEM;
        return false;
    }
    ctx->visited = grown;
    ctx->visited[ctx->n_visited].dev = st->st_dev;
    ctx->visited[ctx->n_visited].ino = st->st_ino;
    ctx->n_visited++;
    return true;
}

/* Calls fn for each entry of dir except dot-files; false when the budget of
 * entries is spent or the directory cannot be read. */
typedef void (*entry_fn)(scan_ctx *ctx, const char *path, const char *name,
                         const struct stat *st, void *user);

/* A models_dir entry that is a symlink into the HF cache (what `modelmgr
 * pull` makes): the cache scan lists that model with its repo and commit. */
static bool link_into_cache(const scan_ctx *ctx, const char *path)
{
    struct stat st;
    if (!ctx->cache_real || strcmp(ctx->origin, "models_dir") != 0 || lstat(path, &st) != 0 ||
        !S_ISLNK(st.st_mode))
        return false;
    char *real = realpath(path, NULL);
    size_t n = strlen(ctx->cache_real);
    bool inside = real && strncmp(real, ctx->cache_real, n) == 0 && real[n] == '/';
    if (inside)
        MM_LOG_DEBUG("catalog: %s links into the HF cache; listed from there", path);
    free(real);
    return inside;
}

static void each_entry(scan_ctx *ctx, const char *dir, entry_fn fn, void *user)
{
    DIR *d = opendir(dir);
    if (!d) {
        MM_LOG_DEBUG("catalog: cannot read %s: %s", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    while (ctx->rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (++ctx->entries_seen > CATALOG_SCAN_FILES_MAX) {
            if (!ctx->limit_logged)
                MM_LOG_WARN("catalog: stopped scanning after %u entries",
                            CATALOG_SCAN_FILES_MAX);
            ctx->limit_logged = true;
            break;
        }
        char *path = mm_path_join(dir, de->d_name);
        if (!path) {
            ctx->rc = MM_ENOMEM;
            break;
        }
        struct stat st;
        if (stat(path, &st) == 0 && !link_into_cache(ctx, path))
            fn(ctx, path, de->d_name, &st, user);   /* follows links; a dangling one is skipped */
        free(path);
    }
    closedir(d);
}

static void push_or_fail(scan_ctx *ctx, catalog_found *f)
{
    if (list_push(ctx->out, f) != 0) {
        catalog_found_clear(f);
        ctx->rc = MM_ENOMEM;
    }
}

/* A .gguf/.bin file outside any cache layout. */
static void scan_model_file(scan_ctx *ctx, const char *path, const char *name)
{
    uint32_t part, total;
    size_t prefix_len;
    if (catalog_split_name(name, &part, &total, &prefix_len) && total <= CATALOG_SPLIT_MAX &&
        !split_leader(path, prefix_len, part, total))
        return;
    catalog_found f;
    if (catalog_file_record(path, &f, NULL) != 0)
        return;   /* vanished since readdir, or OOM: the next scan sees it */
    f.origin = ctx->origin;
    push_or_fail(ctx, &f);
}

char *catalog_read_ref(const char *repo_dir, const char *revision)
{
    char *path = mm_asprintf("%s/refs/%s", repo_dir, revision);
    if (!path)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = mm_file_read(path, 256, &text, &len, NULL);
    free(path);
    if (rc != 0)
        return NULL;
    mm_str_trim(text);
    bool ok = strlen(text) == 40;
    for (size_t i = 0; ok && i < 40; i++)
        ok = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- Hugging Face cache repos ---- */

typedef struct snapshot_scan {
    const char *repo;          /* "org/name" */
    const char *repo_dir;
    const char *commit;
    const char *revision;      /* a ref naming commit, or NULL */
    size_t      root_len;      /* strlen of the snapshot dir + 1: repo_path offset */
    unsigned    depth;
    catalog_found safetensors; /* the snapshot's safetensors, gathered */
    bool        has_safetensors;
    catalog_found_list models; /* .gguf / .bin files, pushed at the end */
} snapshot_scan;

static int hf_fields(catalog_found *f, const snapshot_scan *s, const char *repo_path)
{
    f->source = MM_SOURCE_HF;
    f->repo = mm_strdup(s->repo);
    f->commit = mm_strdup(s->commit);
    f->repo_dir = mm_strdup(s->repo_dir);
    f->revision = s->revision ? mm_strdup(s->revision) : NULL;
    f->repo_path = repo_path ? mm_strdup(repo_path) : NULL;
    if (!f->repo || !f->commit || !f->repo_dir || (s->revision && !f->revision) ||
        (repo_path && !f->repo_path))
        return MM_ENOMEM;
    return 0;
}

static void snapshot_entry(scan_ctx *ctx, const char *path, const char *name,
                           const struct stat *st, void *user)
{
    snapshot_scan *s = user;
    if (S_ISDIR(st->st_mode)) {
        if (s->depth + 1 > CATALOG_SCAN_DEPTH || !visit(ctx, st))
            return;
        s->depth++;
        each_entry(ctx, path, snapshot_entry, s);
        s->depth--;
        return;
    }
    if (!S_ISREG(st->st_mode))
        return;
    if (mm_str_has_suffix(name, ".safetensors")) {
        if (add_path(&s->safetensors, path) != 0)
            ctx->rc = MM_ENOMEM;
        s->safetensors.size_bytes += (uint64_t)st->st_size;
        s->has_safetensors = true;
        return;
    }
    if (!mm_str_has_suffix(name, ".gguf") && !mm_str_has_suffix(name, ".bin"))
        return;
    uint32_t part, total;
    size_t prefix_len;
    if (catalog_split_name(name, &part, &total, &prefix_len) && total <= CATALOG_SPLIT_MAX &&
        !split_leader(path, prefix_len, part, total))
        return;
    catalog_found f;
    if (catalog_file_record(path, &f, NULL) != 0)
        return;
    f.origin = ctx->origin;
    if (hf_fields(&f, s, f.paths[0] + s->root_len) != 0 || list_push(&s->models, &f) != 0) {
        catalog_found_clear(&f);
        ctx->rc = MM_ENOMEM;
    }
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first ref (in name order) in refs/ that points at commit; refs
 * deeper than refs/<name> (refs/pr/1) are not looked at. Caller frees. */
static char *ref_for_commit(const char *repo_dir, const char *commit)
{
    char *refs_dir = mm_path_join(repo_dir, "refs");
    DIR *d = refs_dir ? opendir(refs_dir) : NULL;
    char *best = NULL;
    if (d) {
        struct dirent *de;
        unsigned seen = 0;
        while ((de = readdir(d)) != NULL && seen++ < 256) {
            if (de->d_name[0] == '.')
                continue;
            char *target = catalog_read_ref(repo_dir, de->d_name);
            if (target && strcmp(target, commit) == 0 &&
                (!best || strcmp(de->d_name, best) < 0)) {
                free(best);
                best = mm_strdup(de->d_name);
            }
            free(target);
        }
        closedir(d);
    }
    free(refs_dir);
    return best;
}

static void scan_snapshot(scan_ctx *ctx, const char *path, const char *name,
                          const struct stat *st, void *user)
{
    const catalog_found *repo_info = user;   /* repo and repo_dir only */
    if (!S_ISDIR(st->st_mode) || !visit(ctx, st))
        return;
    snapshot_scan s;
    memset(&s, 0, sizeof s);
    s.repo = repo_info->repo;
    s.repo_dir = repo_info->repo_dir;
    s.commit = name;
    s.root_len = strlen(path) + 1;
    s.depth = 3;   /* models--x/snapshots/<commit> below the scan root */
    char *revision = ref_for_commit(s.repo_dir, name);
    s.revision = revision;
    each_entry(ctx, path, snapshot_entry, &s);

    /* A snapshot with safetensors is a transformers checkpoint: its .bin
     * files are the same weights in PyTorch form, not another model. */
    for (size_t i = 0; i < s.models.count && ctx->rc == 0; i++) {
        catalog_found *m = &s.models.items[i];
        if (s.has_safetensors && m->format == MM_FORMAT_BIN)
            continue;
        push_or_fail(ctx, m);
    }
    if (s.has_safetensors && ctx->rc == 0) {
        catalog_found *f = &s.safetensors;
        qsort(f->paths, f->n_paths, sizeof *f->paths, cmp_str_ptr);
        f->format = MM_FORMAT_SAFETENSORS;
        f->origin = ctx->origin;
        f->key = catalog_derive_key(strchr(s.repo, '/') ? strchr(s.repo, '/') + 1 : s.repo,
                                    false);
        struct stat first;
        if (f->n_paths && stat(f->paths[0], &first) == 0) {
            f->dev = first.st_dev;
            f->ino = first.st_ino;
        }
        if (!f->key || hf_fields(f, &s, NULL) != 0)
            ctx->rc = MM_ENOMEM;
        else
            push_or_fail(ctx, f);
    }
    catalog_found_clear(&s.safetensors);
    catalog_found_list_free(&s.models);
    free(revision);
}

/* "models--org--name" -> "org/name"; NULL when the name is not a model repo. */
static char *repo_from_dir_name(const char *name)
{
    if (!mm_str_has_prefix(name, "models--"))
        return NULL;
    const char *rest = name + 8;
    const char *sep = strstr(rest, "--");
    char *repo = sep ? mm_asprintf("%.*s/%s", (int)(sep - rest), rest, sep + 2)
                     : mm_strdup(rest);
    char why[256];
    if (repo && strchr(repo, '/') && !catalog_repo_id_valid(repo, why, sizeof why)) {
        MM_LOG_DEBUG("catalog: ignoring %s: %s", name, why);
        free(repo);
        return NULL;
    }
    return repo;
}

static void scan_hf_repo(scan_ctx *ctx, const char *repo_dir, const char *name)
{
    catalog_found repo_info;
    memset(&repo_info, 0, sizeof repo_info);
    repo_info.repo = repo_from_dir_name(name);
    repo_info.repo_dir = mm_strdup(repo_dir);
    char *snapshots = mm_path_join(repo_dir, "snapshots");
    if (repo_info.repo && repo_info.repo_dir && snapshots)
        each_entry(ctx, snapshots, scan_snapshot, &repo_info);
    free(snapshots);
    catalog_found_clear(&repo_info);
}

typedef struct dir_scan {
    unsigned depth;
} dir_scan;

static void dir_entry(scan_ctx *ctx, const char *path, const char *name,
                      const struct stat *st, void *user)
{
    dir_scan *s = user;
    if (S_ISDIR(st->st_mode)) {
        if (s->depth + 1 > CATALOG_SCAN_DEPTH) {
            MM_LOG_DEBUG("catalog: not descending into %s: deeper than %u levels",
                         path, CATALOG_SCAN_DEPTH);
            return;
        }
        if (!visit(ctx, st))
            return;
        if (mm_str_has_prefix(name, "models--")) {
            scan_hf_repo(ctx, path, name);
            return;
        }
        /* Data sets and Spaces in an HF cache hold no models. */
        if (mm_str_has_prefix(name, "datasets--") || mm_str_has_prefix(name, "spaces--"))
            return;
        s->depth++;
        each_entry(ctx, path, dir_entry, s);
        s->depth--;
        return;
    }
    if (S_ISREG(st->st_mode) &&
        (mm_str_has_suffix(name, ".gguf") || mm_str_has_suffix(name, ".bin")))
        scan_model_file(ctx, path, name);
}

static void scan_root(scan_ctx *ctx, const char *root, const char *origin)
{
    struct stat st;
    if (!root || !*root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    if (!visit(ctx, &st))
        return;
    ctx->origin = origin;
    dir_scan s = { 0 };
    each_entry(ctx, root, dir_entry, &s);
}

int catalog_discover(const char *models_dir, const char *hf_cache,
                     catalog_found_list *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    scan_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = out;
    ctx.err = err;
    struct stat cst;
    if (hf_cache && *hf_cache && stat(hf_cache, &cst) == 0 && S_ISDIR(cst.st_mode))
        ctx.cache_real = realpath(hf_cache, NULL);
    scan_root(&ctx, models_dir, "models_dir");
    scan_root(&ctx, hf_cache, "hf_cache");
    free(ctx.cache_real);
    free(ctx.visited);
    if (ctx.rc != 0) {
        catalog_found_list_free(out);
        return mm_error_set(err, ctx.rc, "out of memory scanning for models");
    }
    return 0;
}
