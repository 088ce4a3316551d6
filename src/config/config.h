/* config.h - internal interface of the configuration subsystem: the key
 * table (config-keys.c), the layered loader (config.c), the YAML reader
 * (config-yaml.c, the only user of libyaml) and the computed defaults
 * (config-defaults.c). */
#ifndef MM_CONFIG_INTERNAL_H
#define MM_CONFIG_INTERNAL_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on every input the loader accepts. */
#define CFG_FILE_MAX      (1024 * 1024) /* config.yaml size */
#define CFG_VALUE_MAX     4096          /* one string value */
#define CFG_TEMPLATE_MAX  (1u << 20)     /* a models: chat_template, inline or its file */
#define CFG_LIST_MAX      64            /* items in a list value */
#define CFG_KEY_MAX       128           /* a (dotted) yaml key */
#define CFG_WHERE_MAX     512           /* "path/config.yaml:12" */
#define CFG_TOKEN_FILE_MAX 4096         /* $HF_HOME/token */

typedef enum cfg_type {
    CFG_STRING,  /* any text; empty clears an optional key */
    CFG_PATH,    /* text; a leading "~/" becomes $HOME/ */
    CFG_BOOL,    /* mm_parse_bool into a bool field */
    CFG_INT,     /* mm_parse_i64 within [min, max] into an int or int64_t field */
    CFG_SIZE,    /* mm_parse_size, at least min bytes, into a uint64_t field */
    CFG_ENUM,    /* one of `choices` ("a|b|c"); its index into an int-sized field */
    CFG_FLOAT,   /* a decimal number within [fmin, fmax] into a double field */
    CFG_LIST     /* comma string or yaml sequence into char ** + size_t count */
} cfg_type;

/* The environment the loader reads (injected by tests, else environ). */
typedef struct cfg_env {
    const char *const *vars;   /* NULL-terminated "NAME=value" */
} cfg_env;

/* Value of NAME in env, or NULL when unset. An empty value counts as unset:
 * `export MODELS_DIR=` should not turn a key into "". Borrowed. */
const char *config_getenv(const cfg_env *env, const char *name);

/* A computed default (physical cores, 75% of RAM, the HF token file...).
 * Sets *text (caller frees; NULL: leave the key unset), *origin and where.
 * Runs only when no layer set the key. 0 or a negative MM_E*. */
typedef int (*cfg_default_fn)(const cfg_env *env, char **text, mm_origin *origin,
                              char *where, size_t where_size, mm_error *err);

/* One configuration key. Adding a scalar key is one row in config-keys.c
 * plus one field in struct mm_config. A dotted key ("router.strategy") is
 * read from the nested yaml mapping `router: {strategy: ...}`. */
typedef struct cfg_key {
    const char    *key;          /* config.yaml key, also the "key=value" flag form */
    const char    *env;          /* environment variable, or NULL */
    const char    *flag;         /* long command-line flag ("--pool-size") */
    cfg_type       type;
    size_t         offset;       /* of the field in mm_config */
    size_t         size;         /* sizeof the field */
    size_t         count_offset; /* CFG_LIST: offset of the size_t count */
    const char    *def;          /* default as text; NULL: unset or computed */
    cfg_default_fn compute;      /* computed default when def is NULL, or NULL */
    int64_t        min, max;     /* CFG_INT bounds; CFG_SIZE uses min */
    double         fmin, fmax;   /* CFG_FLOAT bounds */
    const char    *choices;      /* CFG_ENUM: "error|warn|info|debug" */
    bool           secret;       /* never echoed; registered with the logger */
    const char    *help;         /* one line */
} cfg_key;

#define CFG_FIELD(f) .offset = offsetof(mm_config, f), .size = sizeof(((mm_config *)0)->f)
#define CFG_LIST_FIELD(f, n) CFG_FIELD(f), .count_offset = offsetof(mm_config, n)

extern const cfg_key config_keys[];
extern const size_t config_n_keys;

/* The table row for a yaml key, or NULL. */
const cfg_key *config_key_find(const char *key);
/* True when some key lives under section ("router" for "router.strategy"). */
bool config_key_is_section(const char *section);

/* Where each value came from; one slot per table row. */
typedef struct cfg_slot {
    mm_origin origin;
    char      where[CFG_WHERE_MAX];
} cfg_slot;

struct mm_config_meta {
    char    *config_path;  /* the config.yaml that was read, or NULL */
    const cfg_env *loading_env; /* only while mm_config_load runs: ~ expansion */
    cfg_slot slots[];      /* config_n_keys entries, in table order */
};

/* Parse text as key k's type and store it in cfg, recording origin and where
 * (the file:line, env var or flag). On a bad value returns MM_ECONFIG with the
 * house message "<name>=<value> (<origin>): expected ...". */
int config_apply_text(mm_config *cfg, const cfg_key *k, const char *text,
                      mm_origin origin, const char *where, mm_error *err);
/* Store a list value (a yaml sequence) for a CFG_LIST key. */
int config_apply_list(mm_config *cfg, const cfg_key *k, const char *const *items,
                      size_t n_items, mm_origin origin, const char *where, mm_error *err);
/* Error for a value of the wrong shape (a yaml list or mapping given for a
 * scalar key). */
int config_shape_error(const cfg_key *k, const char *got, const char *where, mm_error *err);

/* The `models:` and `remotes:` sections (config-sections.c): lists of
 * mappings, read from config.yaml only. node is the yaml sequence; doc is
 * the yaml_document_t (void * keeps libyaml out of this header). */
int config_yaml_models(mm_config *cfg, void *doc, void *node, const char *path, mm_error *err);
int config_yaml_remotes(mm_config *cfg, void *doc, void *node, const char *path, mm_error *err);
/* Free what the sections hold. */
void config_sections_free(mm_config *cfg);

/* Read config.yaml at path into cfg (the file layer). Unknown keys are
 * logged as warnings naming path:line; malformed YAML and bad values are
 * errors naming path:line. */
int config_yaml_load(mm_config *cfg, const char *path, mm_error *err);

/* Computed defaults (config-defaults.c). */
int config_default_threads(const cfg_env *env, char **text, mm_origin *origin,
                           char *where, size_t where_size, mm_error *err);
int config_default_memory(const cfg_env *env, char **text, mm_origin *origin,
                          char *where, size_t where_size, mm_error *err);
int config_default_hf_cache(const cfg_env *env, char **text, mm_origin *origin,
                            char *where, size_t where_size, mm_error *err);
int config_default_hf_token(const cfg_env *env, char **text, mm_origin *origin,
                            char *where, size_t where_size, mm_error *err);
/* $HF_HOME, else $XDG_CACHE_HOME/huggingface, else $HOME/.cache/huggingface;
 * NULL when none of those is set. Caller frees. */
char *config_hf_home(const cfg_env *env);

/* Physical cores: distinct (package, core) pairs under sys_cpu_dir
 * ("/sys/devices/system/cpu"), else distinct (physical id, core id) in
 * cpuinfo_path; 0 when neither answers. Paths are parameters for tests. */
int config_count_physical_cores(const char *sys_cpu_dir, const char *cpuinfo_path);

#endif /* MM_CONFIG_INTERNAL_H */
