/* cmd-show.c - `modelmgr show KEY`: one model's record (source, state, files,
 * size) and a summary of its GGUF metadata, as text or JSON. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const cli_option show_options[] = {
    { "json", NULL, "print a JSON object instead of text" },
    { NULL, NULL, NULL }
};

static const cli_spec show_spec = {
    .usage = "modelmgr show [--json] [options] MODEL",
    .description = "Show what the catalog knows about one model: where it comes from,\n"
                   "its files and size, and for GGUF models the architecture, parameter\n"
                   "count, context length, shape, vocabulary, quantization and whether\n"
                   "it has a chat template. MODEL is a key from 'modelmgr list'.",
    .options = show_options,
    .min_args = 1,
    .max_args = 1,
};

static void field(const char *name, const char *value)
{
    char text[4200];
    snprintf(text, sizeof text, "%s", value);
    cli_sanitize(text);
    printf("%-17s%s\n", name, text);
}

/* 8 -> "8", 1234567 -> "1.23M", 6738415616 -> "6.74B". */
static void format_count(uint64_t n, char *out, size_t size)
{
    if (n < 1000)
        snprintf(out, size, "%" PRIu64, n);
    else if (n < 1000000)
        snprintf(out, size, "%.2fK", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(out, size, "%.2fM", (double)n / 1e6);
    else
        snprintf(out, size, "%.2fB", (double)n / 1e9);
}

static void uint_field(const char *name, uint32_t value)
{
    char text[32];
    if (value)
        snprintf(text, sizeof text, "%" PRIu32, value);
    else
        snprintf(text, sizeof text, "-");
    field(name, text);
}

/* Which chat template a chat with m renders: the config.yaml override,
 * else the file's, else ChatML (what gen-common.c and the runtime do). */
static const char *template_source(const mm_config *cfg, const mm_model_info *m,
                                   const mm_model_override **o)
{
    *o = mm_config_model_override(cfg, m->key);
    if (*o && (*o)->chat_template)
        return "override";
    *o = NULL;
    return m->facts.has_chat_template ? "file" : "chatml";
}

static void print_facts(const mm_config *cfg, const mm_model_info *m)
{
    const mm_model_facts *f = &m->facts;
    char text[256], count[32];
    printf("\nmetadata:\n");
    field("  name:", f->name[0] ? f->name : "-");
    field("  architecture:", f->architecture[0] ? f->architecture : "-");
    format_count(f->n_params, count, sizeof count);
    snprintf(text, sizeof text, "%s (%" PRIu64 ")", count, f->n_params);
    field("  parameters:", text);
    uint_field("  context:", f->context_length);
    uint_field("  embedding:", f->embedding_length);
    uint_field("  layers:", f->block_count);
    uint_field("  heads:", f->head_count);
    uint_field("  kv heads:", f->head_count_kv);
    uint_field("  vocab:", f->vocab_size);
    if (f->file_type >= 0)
        snprintf(text, sizeof text, "%s (file type %" PRId32 ")",
                 f->file_type_name[0] ? f->file_type_name : "unknown", f->file_type);
    else
        snprintf(text, sizeof text, "%s", f->file_type_name[0] ? f->file_type_name : "-");
    field("  quantization:", text);
    field("  chat template:", f->has_chat_template ? "yes" : "no");
    char used[4096];
    const mm_model_override *o = NULL;
    const char *source = template_source(cfg, m, &o);
    if (o && o->chat_template_file)
        snprintf(used, sizeof used, "override (%s, file %s)", o->chat_template_where,
                 o->chat_template_file);
    else if (o)
        snprintf(used, sizeof used, "override (%s, inline)", o->chat_template_where);
    else
        snprintf(used, sizeof used, "%s", strcmp(source, "file") == 0
                 ? "the file's (tokenizer.chat_template)" : "ChatML (the file has none)");
    field("  template used:", used);
}

static void print_model(const mm_config *cfg, const mm_model_info *m)
{
    char text[256];
    field("key:", m->key);
    field("source:", mm_source_name(m->source));
    field("state:", mm_model_state_name(m->state));
    field("origin:", m->origin ? m->origin : "-");
    if (m->repo)
        field("repo:", m->repo);
    if (m->revision)
        field("revision:", m->revision);
    if (m->commit)
        field("commit:", m->commit);
    if (m->repo_path)
        field("repo path:", m->repo_path);
    field("format:", m->n_paths ? mm_format_name(m->format) : "-");
    if (m->n_paths) {
        char size[32];
        cli_format_size(m->size_bytes, size, sizeof size);
        snprintf(text, sizeof text, "%s (%" PRIu64 " bytes)", size, m->size_bytes);
        field("size:", text);
    }
    for (size_t i = 0; i < m->n_paths; i++)
        field(i == 0 ? (m->n_paths > 1 ? "paths:" : "path:") : "", m->paths[i]);
    if (m->error)
        field(m->state == MM_MODEL_INVALID ? "error:" : "note:", m->error);
    if (m->has_facts)
        print_facts(cfg, m);
    else if (m->state == MM_MODEL_NOT_DOWNLOADED)
        printf("\nmetadata: not available until the model is on disk%s\n",
               m->source == MM_SOURCE_HF ? " ('modelmgr pull' downloads it)" : "");
    else if (m->state == MM_MODEL_AVAILABLE) {
        if (m->facts.architecture[0])
            field("architecture:", m->facts.architecture);
        printf("\nmetadata: not available for %s files (only GGUF metadata is read); the "
               "built-in engine cannot run them\n", mm_format_name(m->format));
    }
}

int cmd_show(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&show_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    mm_catalog *cat = NULL;
    status = cli_catalog_open(args.cfg, &cat);
    if (status == CLI_OK) {
        const char *key = args.args[0];
        const mm_model_info *m = mm_catalog_find(cat, key);
        if (!m) {
            cli_error("no model '%s' in the catalog (see 'modelmgr list')", key);
            status = CLI_FAIL;
        } else if (cli_has(&args, "json")) {
            cJSON *obj = cli_model_json(m);
            const mm_model_override *o = NULL;
            const char *source = template_source(args.cfg, m, &o);
            if (obj && m->has_facts &&
                (!cJSON_AddStringToObject(obj, "chat_template_source", source) ||
                 (o && !cJSON_AddStringToObject(obj, "chat_template_override",
                                                o->chat_template_where)))) {
                cJSON_Delete(obj);
                obj = NULL;
            }
            status = cli_print_json(obj);
        } else {
            print_model(args.cfg, m);
        }
    }
    mm_catalog_close(cat);
    cli_args_free(&args);
    return status;
}
