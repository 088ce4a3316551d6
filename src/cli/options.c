/* options.c - the option parser every command shares: the command's own
 * options, one long flag per configuration key, --config and --help; it then
 * loads the configuration. See the usage example in cli.h. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on the command line: more than this is a usage error. */
#define CLI_ARGS_MAX  1024
#define CLI_FLAGS_MAX 256

static size_t count_options(const cli_spec *spec)
{
    size_t n = 0;
    while (spec->options && spec->options[n].name)
        n++;
    return n;
}

/* --name or --name=value: does arg name this long option? */
static bool option_matches(const char *arg, const char *name, const char **inline_value)
{
    size_t len = strlen(name);
    if (strncmp(arg + 2, name, len) != 0)
        return false;
    if (arg[2 + len] == '\0') {
        *inline_value = NULL;
        return true;
    }
    if (arg[2 + len] == '=') {
        *inline_value = arg + 3 + len;
        return true;
    }
    return false;
}

static const char *placeholder(const mm_config_item *item)
{
    if (strcmp(item->type, "bool") == 0)   return "[=BOOL]";
    if (strcmp(item->type, "int") == 0)    return " N";
    if (strcmp(item->type, "size") == 0)   return " SIZE";
    if (strcmp(item->type, "path") == 0)   return " PATH";
    if (strcmp(item->type, "list") == 0)   return " A,B,...";
    if (strcmp(item->type, "enum") == 0)   return " LEVEL";
    return " TEXT";
}

static void print_help(const cli_spec *spec)
{
    printf("usage: %s\n", spec->usage);
    if (spec->description)
        printf("\n%s\n", spec->description);
    printf("\noptions:\n");
    for (size_t i = 0; spec->options && spec->options[i].name; i++) {
        const cli_option *o = &spec->options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "--config PATH", "config.yaml to read (else MODELMGR_CONFIG, ./config.yaml,");
    printf("  %-26s %s\n", "", "$XDG_CONFIG_HOME/modelmgr/config.yaml)");
    printf("  %-26s %s\n", "-h, --help", "show this help");
    printf("\nconfiguration (flag, environment variable: meaning; see 'modelmgr config'):\n");
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        mm_config_item item;
        if (mm_config_item_get(NULL, i, &item) != 0)
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s", item.flag, placeholder(&item));
        printf("  %-26s %s: %s\n", left, item.env ? item.env : "-", item.help);
    }
    printf("\nPrecedence: built-in defaults < config.yaml < environment < flags.\n");
}

static bool is_bool_key(const mm_config_item *item)
{
    return strcmp(item->type, "bool") == 0;
}

/* A configuration flag: append "key=value" to args->flags. Returns 1 when
 * arg was one, 0 when not, CLI_USAGE on error. *consumed_next is set when
 * the value was the next argv entry. */
static int take_config_flag(cli_args *args, const char *arg, const char *next,
                            bool *consumed_next)
{
    for (size_t i = 0; i < mm_config_key_count(); i++) {
        mm_config_item item;
        const char *value;
        if (mm_config_item_get(NULL, i, &item) != 0 || !option_matches(arg, item.flag + 2, &value))
            continue;
        if (!value && is_bool_key(&item)) {
            value = "true";
        } else if (!value) {
            if (!next) {
                cli_error("option %s needs a value", item.flag);
                return CLI_USAGE;
            }
            value = next;
            *consumed_next = true;
        }
        if (args->n_flags == CLI_FLAGS_MAX) {
            cli_error("too many options (more than %d)", CLI_FLAGS_MAX);
            return CLI_USAGE;
        }
        size_t size = strlen(item.key) + strlen(value) + 2;
        char *kv = malloc(size);
        if (!kv) {
            cli_error("out of memory");
            return CLI_USAGE;
        }
        snprintf(kv, size, "%s=%s", item.key, value);
        args->flags[args->n_flags++] = kv;
        return 1;
    }
    return 0;
}

/* One of the command's own options. Same return convention as above. */
static int take_own_option(cli_args *args, const char *arg, const char *next,
                           bool *consumed_next)
{
    const cli_spec *spec = args->spec;
    for (size_t i = 0; spec->options && spec->options[i].name; i++) {
        const cli_option *o = &spec->options[i];
        const char *value;
        if (!option_matches(arg, o->name, &value))
            continue;
        if (!o->arg && value) {
            cli_error("option --%s takes no value", o->name);
            return CLI_USAGE;
        }
        if (o->arg && !value) {
            if (!next) {
                cli_error("option --%s needs a value (%s)", o->name, o->arg);
                return CLI_USAGE;
            }
            value = next;
            *consumed_next = true;
        }
        args->values[i] = o->arg ? value : "";
        return 1;
    }
    return 0;
}

static int parse_argv(cli_args *args, int argc, char **argv, const char **config_path)
{
    const char *cmd = argv[0];
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool consumed = false;
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (args->n_args == CLI_ARGS_MAX) {
                cli_error("too many arguments (more than %d)", CLI_ARGS_MAX);
                return CLI_USAGE;
            }
            args->args[args->n_args++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help(args->spec);
            return CLI_OK;
        }
        const char *value;
        if (arg[1] == '-' && option_matches(arg, "config", &value)) {
            if (!value && !next) {
                cli_error("option --config needs a value (PATH)");
                return CLI_USAGE;
            }
            *config_path = value ? value : next;
            i += value ? 0 : 1;
            continue;
        }
        int rc = arg[1] == '-' ? take_own_option(args, arg, next, &consumed) : 0;
        if (rc == 0 && arg[1] == '-')
            rc = take_config_flag(args, arg, next, &consumed);
        if (rc == 0) {
            cli_error("unknown option '%s' for '%s' (see 'modelmgr %s --help')", arg, cmd, cmd);
            return CLI_USAGE;
        }
        if (rc != 1)
            return rc;
        i += consumed ? 1 : 0;
    }
    if (args->n_args < args->spec->min_args || args->n_args > args->spec->max_args) {
        if (args->spec->max_args == 0)
            cli_error("'%s' takes no arguments (see 'modelmgr %s --help')", cmd, cmd);
        else
            cli_error("wrong number of arguments; usage: %s", args->spec->usage);
        return CLI_USAGE;
    }
    return CLI_RUN;
}

/* Lines logged while the configuration loads are held back until its
 * log_level is known, so that --log-level error also silences config
 * warnings. Bounded: a config file cannot flood memory. */
#define HELD_LINES_MAX 64

typedef struct held_log {
    mm_log_level level[HELD_LINES_MAX];
    char        *line[HELD_LINES_MAX];
    size_t       n;
    size_t       dropped;
} held_log;

static void hold_line(mm_log_level level, const char *line, void *user)
{
    held_log *held = user;
    char *copy = held->n < HELD_LINES_MAX ? malloc(strlen(line) + 1) : NULL;
    if (!copy) {
        held->dropped++;
        return;
    }
    memcpy(copy, line, strlen(line) + 1);
    held->level[held->n] = level;
    held->line[held->n++] = copy;
}

/* Print what was held at the level now in force (the default logger's format). */
static void release_lines(held_log *held)
{
    for (size_t i = 0; i < held->n; i++) {
        if (held->level[i] <= mm_log_get_level())
            fprintf(stderr, "modelmgr: %s: %s\n", mm_log_level_name(held->level[i]), held->line[i]);
        free(held->line[i]);
    }
    if (held->dropped && mm_log_get_level() >= MM_LOG_LEVEL_WARN)
        fprintf(stderr, "modelmgr: warn: %zu more log lines while loading the configuration\n",
                held->dropped);
    held->n = 0;
}

static int load_config(const char *config_path, cli_args *out)
{
    mm_config_sources src = {
        .config_path = config_path,
        .env = NULL,
        .flags = (const char *const *)out->flags,
    };
    mm_error err = { 0 };
    held_log held = { .n = 0 };
    mm_log_set_callback(hold_line, &held);
    int rc = mm_config_load(&src, &out->cfg, &err);
    mm_log_set_callback(NULL, NULL);
    if (rc == 0)
        mm_log_set_level(out->cfg->log_level);
    release_lines(&held);
    if (rc != 0) {
        cli_error("%s", err.message);
        return CLI_USAGE;
    }
    return CLI_RUN;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *out)
{
    memset(out, 0, sizeof *out);
    out->spec = spec;
    if (count_options(spec) > CLI_OPTIONS_MAX) {
        cli_error("internal error: '%s' declares too many options", argv[0]);
        return CLI_USAGE;
    }
    out->args = calloc((size_t)argc + 1, sizeof *out->args);
    out->flags = calloc(CLI_FLAGS_MAX + 1, sizeof *out->flags);
    if (!out->args || !out->flags) {
        cli_error("out of memory");
        cli_args_free(out);
        return CLI_USAGE;
    }
    const char *config_path = NULL;
    int status = parse_argv(out, argc, argv, &config_path);
    if (status != CLI_RUN) {
        cli_args_free(out);
        return status;
    }
    out->config_path = config_path;
    status = load_config(config_path, out);
    if (status != CLI_RUN)
        cli_args_free(out);
    return status;
}

static int option_index(const cli_args *args, const char *name)
{
    for (size_t i = 0; args->spec && args->spec->options && args->spec->options[i].name; i++)
        if (strcmp(args->spec->options[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool cli_has(const cli_args *args, const char *name)
{
    int i = option_index(args, name);
    return i >= 0 && args->values[i] != NULL;
}

const char *cli_value(const cli_args *args, const char *name)
{
    int i = option_index(args, name);
    return i >= 0 ? args->values[i] : NULL;
}

void cli_args_free(cli_args *args)
{
    if (!args)
        return;
    mm_config_free(args->cfg);
    for (size_t i = 0; i < args->n_flags; i++)
        free(args->flags[i]);
    free(args->flags);
    free(args->args);
    memset(args, 0, sizeof *args);
}
