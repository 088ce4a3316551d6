/* catalog.h - internals of the model catalog: the models.txt parser, the
 * discovery of model files in the models directory and the Hugging Face
 * cache, and the helpers both share. Only the catalog sources include it. */
#ifndef MM_CATALOG_H
#define MM_CATALOG_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds on every input the catalog reads. */
#define CATALOG_MODELS_FILE_MAX (1u << 20)  /* models.txt: 1 MiB */
#define CATALOG_LINE_MAX        4096u       /* one models.txt line, bytes */
#define CATALOG_ENTRIES_MAX     10000u      /* models.txt entries */
#define CATALOG_KEY_MAX         96u         /* a catalog key, bytes */
#define CATALOG_REPO_PART_MAX   96u         /* org or name of a repo id */
#define CATALOG_REVISION_MAX    256u
#define CATALOG_PATH_MAX        1024u       /* repo_path / local path text */
#define CATALOG_SCAN_DEPTH      8u          /* directory levels below a scan root */
#define CATALOG_SCAN_DIRS_MAX   4096u       /* directories visited per catalog */
#define CATALOG_SCAN_FILES_MAX  100000u     /* directory entries looked at */
#define CATALOG_SPLIT_MAX       1024u       /* parts of one split GGUF */

/* ---- models.txt ---- */

/* One models.txt line. */
typedef struct catalog_entry {
    char     *key;         /* alias, or derived from the repo / file name */
    mm_source source;      /* MM_SOURCE_HF or MM_SOURCE_LOCAL */
    char     *repo;        /* HF: "org/name" */
    char     *revision;    /* HF: after '@', or NULL */
    char     *repo_path;   /* HF: after ':', or NULL */
    char     *local_path;  /* LOCAL: resolved against models_dir when relative */
    int       line;        /* 1-based line number */
} catalog_entry;

typedef struct catalog_entries {
    catalog_entry *items;
    size_t         count;
} catalog_entries;

/* Parse a models.txt document of len bytes. label names the file in error
 * messages ("models.txt:LINE: ..."); relative local paths resolve against
 * models_dir. On error returns MM_EFORMAT (or MM_ELIMIT / MM_ENOMEM) and
 * leaves *out empty. Caller owns *out (catalog_entries_free). */
int catalog_parse_models(const char *text, size_t len, const char *label,
                         const char *models_dir, catalog_entries *out, mm_error *err);
void catalog_entries_free(catalog_entries *entries);

/* Whether id is a repo id the Hugging Face Hub accepts ("org/name"); when
 * not, why says what is wrong. */
bool catalog_repo_id_valid(const char *id, char *why, size_t why_size);

/* A catalog key from a name: its base name, lowercased, with the extension
 * and any split suffix ("-00001-of-00003") dropped when drop_ext is set, and
 * characters outside [a-z0-9._-] replaced by '-'. Caller frees; NULL on OOM. */
char *catalog_derive_key(const char *name, bool drop_ext);

/* Whether key is a valid alias: 1-96 of [A-Za-z0-9._-], not starting with
 * '.' or '-'. */
bool catalog_key_valid(const char *key);

/* ---- discovery ---- */

/* A model found on disk. */
typedef struct catalog_found {
    char       *key;          /* derived key */
    mm_source   source;       /* HF inside a cache layout, else LOCAL */
    char       *repo;         /* HF: "org/name" */
    char       *revision;     /* HF: a ref that points at commit, or NULL */
    char       *commit;       /* HF: the snapshot directory name */
    char       *repo_path;    /* HF: path inside the snapshot (NULL for safetensors) */
    char       *repo_dir;     /* HF: .../models--org--name */
    char      **paths;        /* files in part order */
    size_t      n_paths;
    mm_format   format;
    uint64_t    size_bytes;
    dev_t       dev;          /* identity of paths[0] (0/0 when none) */
    ino_t       ino;
    const char *origin;       /* static: "models_dir" or "hf_cache" */
    char       *error;        /* why it is invalid (a missing split part), or NULL */
} catalog_found;

typedef struct catalog_found_list {
    catalog_found *items;
    size_t         count;
    size_t         cap;
} catalog_found_list;

/* Scan models_dir and hf_cache (either may be NULL or missing) for models:
 * .gguf and .bin files, split GGUFs grouped, Hugging Face cache repos
 * (models--org--name/snapshots/<commit>/...) with their safetensors. Scans
 * follow symlinks but visit each directory (dev, inode) once and stop
 * CATALOG_SCAN_DEPTH levels down. Caller owns *out (catalog_found_list_free). */
int catalog_discover(const char *models_dir, const char *hf_cache,
                     catalog_found_list *out, mm_error *err);

/* A record for one file outside any scan (a models.txt local: path): split
 * siblings grouped, format from the extension or the GGUF magic, sizes. The
 * file must exist: MM_ENOTFOUND otherwise. Caller owns out's fields. */
int catalog_file_record(const char *path, catalog_found *out, mm_error *err);

void catalog_found_clear(catalog_found *f);
void catalog_found_list_free(catalog_found_list *list);

/* Parse "<prefix>-NNNNN-of-MMMMM.gguf" (the llama.cpp split naming, five
 * digits each). Returns true and fills part, total and prefix_len. */
bool catalog_split_name(const char *name, uint32_t *part, uint32_t *total,
                        size_t *prefix_len);

/* Read models--x--y/refs/<revision> and return the 40-hex commit it holds
 * (caller frees), or NULL when absent or malformed. */
char *catalog_read_ref(const char *repo_dir, const char *revision);

#endif /* MM_CATALOG_H */
