/* main.c - modelmgr's entry point: global flags and subcommand dispatch. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    { "config", "show every configuration value and where it came from", cmd_config },
    { "health", "the model manager's health: status, memory, cache, one row per model", cmd_health },
    { "list",   "list the models in the catalog and the default model", cmd_list },
    { "show",   "show one model's facts and metadata", cmd_show },
    { "pull",   "download a model from the Hugging Face Hub (pinned, verified)", cmd_pull },
    { "route",  "show which model the router picks for a prompt, and why", cmd_route },
    { "run",    "generate text (streamed) with the built-in engine", cmd_run },
    { "chat",   "chat with a model in the terminal (streamed, keeps the conversation)", cmd_chat },
    { "tokenize", "split a text into the model's tokens", cmd_tokenize },
    { "template", "render chat messages with the model's chat template", cmd_template },
    { "bench",  "measure prompt and generation speed of the built-in engine", cmd_bench },
    { "serve",  "serve the OpenAI- and Ollama-compatible HTTP API", cmd_serve },
    { "worker", "run one model for 'serve' in its own process (started by serve)", cmd_worker },
    { "verify", "re-hash pulled files against models.lock", cmd_verify },
    { "rm",     "remove a pulled model (or one revision) from the Hugging Face cache", cmd_rm },
    { "update", "check pulled models for newer commits on their branch (--apply pulls them)",
      cmd_update },
    { "audit",  "show the audit log of pulls, verifications and removals", cmd_audit },
    { NULL, NULL, NULL }
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("modelmgr: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: modelmgr <command> [options]\n"
            "       modelmgr <command> --help\n"
            "       modelmgr --version\n\n"
            "modelmgr %s - model manager and inference server for LLMs\n\n"
            "commands:\n", mm_version());
    for (const cli_command *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("modelmgr %s\n", mm_version());
        return CLI_OK;
    }
    for (const cli_command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'modelmgr --help')", name);
    return CLI_USAGE;
}
