/* cli.h - the command-line tool: one file per subcommand, dispatched by
 * main.c. The CLI uses only the public API in modelmgr.h. */
#ifndef MM_CLI_H
#define MM_CLI_H

#include "modelmgr.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses shared by every command. */
enum {
    CLI_OK    = 0,  /* success */
    CLI_FAIL  = 1,  /* the operation failed */
    CLI_USAGE = 2   /* bad usage or configuration */
};

typedef struct cli_command {
    const char *name;
    const char *summary;               /* one line for `modelmgr --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* The commands, one file each (cmd-<name>.c); argv[0] is the command name. */
int cmd_config(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_route(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_chat(int argc, char **argv);

/* Print "modelmgr: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Shared option parsing (options.c) ----------------------------------
 *
 * Every command parses its argv with cli_parse. It accepts, in any order:
 * the command's own options (from its cli_spec), one long flag per
 * configuration key (--models-dir DIR, --models-dir=DIR, --pool-size 2; a
 * bool key alone, --offline, means true), --config PATH, -h/--help, "--"
 * (everything after it is positional) and positional arguments. It then loads
 * the configuration (defaults < config.yaml < environment < those flags) and
 * applies its log_level.
 *
 * How a command uses it (src/cli/cmd-config.c is a complete example):
 *
 *     static const cli_option show_options[] = {
 *         { "json", NULL, "print JSON instead of text" },
 *         { "format", "FMT", "output format" },
 *         { NULL, NULL, NULL }
 *     };
 *     static const cli_spec show_spec = {
 *         .usage = "modelmgr show [options] MODEL",
 *         .description = "Show what the catalog knows about one model.",
 *         .options = show_options, .min_args = 1, .max_args = 1,
 *     };
 *
 *     int cmd_show(int argc, char **argv)
 *     {
 *         cli_args args;
 *         int status = cli_parse(&show_spec, argc, argv, &args);
 *         if (status != CLI_RUN)
 *             return status;          // --help printed, or usage/config error
 *         bool json = cli_has(&args, "json");
 *         const char *fmt = cli_value(&args, "format");   // NULL when absent
 *         const char *model = args.args[0];
 *         ... use args.cfg (the loaded mm_config) ...
 *         cli_args_free(&args);
 *         return CLI_OK;
 *     }
 */

/* An option of one command (configuration flags need no entry). */
typedef struct cli_option {
    const char *name;   /* long name without dashes: "json" */
    const char *arg;    /* placeholder of its value in --help ("FILE"); NULL: takes no value */
    const char *help;   /* one line */
} cli_option;

#define CLI_OPTIONS_MAX 32

typedef struct cli_spec {
    const char       *usage;        /* "modelmgr config [--json]" */
    const char       *description;  /* a sentence or two for --help; may be NULL */
    const cli_option *options;      /* ended by { NULL, NULL, NULL }; NULL: none.
                                       At most CLI_OPTIONS_MAX. */
    size_t            min_args;     /* positional arguments accepted */
    size_t            max_args;
} cli_spec;

typedef struct cli_args {
    mm_config  *cfg;       /* the loaded configuration; owned, freed by cli_args_free */
    char      **args;      /* positional arguments, borrowed from argv */
    size_t      n_args;
    /* Internal: per spec option its value ("" for a given flag) or NULL. */
    const char *values[CLI_OPTIONS_MAX];
    const cli_spec *spec;
    char      **flags;     /* "key=value" for mm_config_sources.flags */
    size_t      n_flags;
    const char *config_path; /* --config's value (borrowed from argv), or NULL */
} cli_args;

/* cli_parse's "go on and run the command" answer. */
#define CLI_RUN (-1)

/* Parse argv (argv[0] is the command name) against spec and load the
 * configuration into out->cfg. Returns CLI_RUN when the command should run
 * (then call cli_args_free), else the exit status to return at once:
 * CLI_OK after printing --help to stdout, CLI_USAGE after printing
 * "modelmgr: <message>" to stderr for bad usage or a configuration error
 * (out is then already cleaned up). Not thread-safe (sets the log level). */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *out);
/* True when the command's option `name` was given. */
bool cli_has(const cli_args *args, const char *name);
/* The value of the command's option `name`, or NULL when absent. Borrowed from argv. */
const char *cli_value(const cli_args *args, const char *name);
/* Frees what cli_parse allocated (the config, the arrays). NULL is a no-op. */
void cli_args_free(cli_args *args);

/* ---- Model files for run and bench (model-path.c) ---- */

/* The GGUF file MODEL names: a path to an existing .gguf file, or a catalog
 * key whose model is one GGUF file on disk. Prints the error and returns
 * CLI_FAIL / CLI_USAGE, or CLI_OK with *path owned by the caller (free). */
int cli_model_path(const mm_config *cfg, const char *model, char **path);

struct gguf_file;
struct text_vocab;
/* Open the GGUF MODEL names and load its vocabulary (cmd-tokenize.c): prints
 * the error and returns the exit status, or CLI_OK with *file (gguf_close)
 * and *vocab (text_vocab_free) owned by the caller. */
int cli_load_vocab(const cli_args *args, const char *model, struct gguf_file **file,
                   struct text_vocab **vocab);

/* ---- Generation shared by run and chat (gen-common.c) ---- */

/* The sampling flags both commands take, for their cli_option tables
 * (read back with cli_sampling_params). */
#define CLI_SAMPLING_OPTIONS \
    { "temperature", "T", "sampling temperature; 0 = greedy (default 0.8)" }, \
    { "top-k", "K", "keep the K most likely tokens; 0 = off (default 40)" }, \
    { "top-p", "P", "nucleus: smallest set with probability >= P; 1 = off (default 0.95)" }, \
    { "min-p", "P", "drop tokens below P x the top probability; 0 = off (default 0.05)" }, \
    { "repeat-penalty", "R", "penalize tokens of the last --repeat-last-n (default 1 = off)" }, \
    { "repeat-last-n", "N", "penalty window (default 64)" }, \
    { "presence-penalty", "F", "subtract F from seen tokens (default 0)" }, \
    { "frequency-penalty", "F", "subtract F x count from seen tokens (default 0)" }, \
    { "seed", "N", "random seed; the same seed gives the same tokens (default 4294967295)" }, \
    { "ctx-size", "N", "context length (default: min(model's, 4096))" }

/* Bytes of one rendered or given prompt. */
#define CLI_MAX_PROMPT_BYTES (256u << 10)

struct engine_sampler_params;
struct cJSON;
/* --NAME as an integer in [min, max] into *out (left alone when absent).
 * Prints the error and returns -1 when malformed. */
int cli_int_option(const cli_args *args, const char *name, int64_t min, int64_t max,
                   int64_t *out);
/* The CLI_SAMPLING_OPTIONS flags over the engine's defaults; -1 after
 * printing the error. */
int cli_sampling_params(const cli_args *args, struct engine_sampler_params *sp);
/* The config.yaml `chat_template` override for MODEL (as given on the
 * command line), or NULL; *origin (may be NULL) gets "config.yaml:N".
 * Borrowed from cfg. */
const char *cli_chat_override(const mm_config *cfg, const char *model, const char **origin);
/* Render msgs (a JSON messages array) with MODEL's chat template and a
 * generation prompt, and tokenize it (BOS unless the template wrote one,
 * control tokens parsed). Prints the error and returns the exit status, or
 * CLI_OK with *out (free) owned by the caller; *source (may be NULL) gets
 * the text_chat_source used. */
int cli_chat_tokenize(const mm_config *cfg, const char *model, const struct gguf_file *file,
                      const struct text_vocab *vocab, const struct cJSON *msgs, int32_t **out,
                      uint32_t *n_out, int *source);
/* Tokenize a prompt of len bytes (at most CLI_MAX_PROMPT_BYTES; control
 * tokens parsed, BOS when add_special). Prints the error and returns the
 * exit status (an empty result is CLI_USAGE), or CLI_OK with *out (free). */
int cli_tokenize_prompt(const struct text_vocab *vocab, const char *text, size_t len,
                        bool add_special, int32_t **out, uint32_t *n_out);
/* Append {"role": role, "content": content} (copied) to the array msgs;
 * false when out of memory (msgs unchanged). */
bool cli_chat_append(struct cJSON *msgs, const char *role, const char *content);
/* The note that ChatML stands in for a missing template (source is
 * TEXT_CHAT_CHATML), else nothing. */
void cli_chat_note(int source);

/* ---- Catalog views shared by list and show (catalog-view.c) ---- */

struct cJSON;

/* mm_catalog_open for a command: prints the error and returns the exit
 * status (CLI_USAGE for a malformed models.txt, CLI_FAIL otherwise), or
 * CLI_OK with *out owned by the caller (mm_catalog_close). */
int cli_catalog_open(const mm_config *cfg, mm_catalog **out);
/* Replace control characters (in place) so a file name cannot send escape
 * sequences to the terminal. */
void cli_sanitize(char *text);
/* "512 B", "1.5 KiB", "3.8 GiB". */
void cli_format_size(uint64_t bytes, char *out, size_t out_size);
/* A model record as a JSON object (caller owns; NULL on OOM). */
struct cJSON *cli_model_json(const mm_model_info *m);
/* Print root (pretty) to stdout and free it; CLI_OK, or CLI_FAIL on OOM
 * (root may be NULL: that is the OOM case). */
int cli_print_json(struct cJSON *root);

/* ---- Pull progress (progress.c) ---- */

#define CLI_PROGRESS_FILES_MAX 64

typedef struct cli_progress_file {
    char    name[256];       /* repo path, control characters replaced */
    size_t  line;            /* its line, counted from the first one drawn */
    int64_t started_ms;      /* monotonic */
    bool    finished;
} cli_progress_file;

/* Set up with cli_progress_init, end with cli_progress_end. */
typedef struct cli_progress {
    FILE             *out;    /* stderr */
    bool              tty;    /* redraw lines in place; else a line at start and end */
    size_t            cols;   /* terminal width: longer lines are cut to fit */
    pthread_mutex_t   mu;     /* progress and log lines come from several threads */
    cli_progress_file files[CLI_PROGRESS_FILES_MAX];
    size_t            n_files;
    size_t            n_lines; /* rows written since the first, log lines included */
} cli_progress;

/* Progress to out; on a terminal the log is routed through p too, so that a
 * log line in between does not throw the redraws off (undone by _end). */
void cli_progress_init(cli_progress *p, FILE *out);
void cli_progress_end(cli_progress *p);
/* An mm_pull_progress_fn; user is a cli_progress. Thread-safe. */
void cli_progress_update(const char *repo_path, uint64_t done, uint64_t total, double rate,
                         void *user);

/* ---- MODEL arguments (repo-arg.c) ---- */

/* The Hub repo a MODEL argument names: "org/name" as it is, else a catalog
 * key whose model comes from the Hub. Prints the error and returns
 * CLI_USAGE / CLI_FAIL, or CLI_OK with repo filled. */
int cli_model_repo(const mm_config *cfg, const char *model, char *repo, size_t repo_size);
/* The start of a command over models.lock: with one argument (MODEL), its
 * repo as cli_model_repo finds it, in repo, and *selected = repo; without,
 * *selected = NULL (every locked model). *lock_path: models.lock's path
 * (caller frees, also on failure). Prints the error and returns CLI_USAGE /
 * CLI_FAIL, or CLI_OK. */
int cli_lock_target(const cli_args *args, char *repo, size_t repo_size, const char **selected,
                    char **lock_path);
/* A library call failed with rc: print err's message; CLI_USAGE for
 * MM_EINVAL (the command line was wrong), else CLI_FAIL. */
int cli_library_error(int rc, const mm_error *err);

#endif /* MM_CLI_H */
