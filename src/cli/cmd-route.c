/* cmd-route.c - `modelmgr route "prompt"`: shows how the router would decide
 * for a prompt (features, every candidate with its figures or why it is
 * excluded, the choice, the fallback chain) without running anything. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

static const cli_option route_options[] = {
    { "json", NULL, "print a JSON object instead of text" },
    { "probe", NULL, "probe every remote once first, so their health is known (default: "
                     "not probed, shown as unknown)" },
    { "strategy", "S", "auto, cost, latency, least-busy, round-robin or fixed "
                       "(default: router.strategy)" },
    { "model", "MODEL", "the model for --strategy fixed (default: default_model)" },
    { "max-tokens", "N", "tokens the answer may take (default 256)" },
    { "prompt-tokens", "N", "the prompt's token count, if known (default: estimated from bytes)" },
    { "messages", "N", "conversation depth the prompt stands for (default 1)" },
    { "capabilities", "LIST", "needed capabilities: chat, completion, embeddings, tools, "
                              "json, vision (default chat)" },
    { NULL, NULL, NULL }
};

static const cli_spec route_spec = {
    .usage = "modelmgr route [--json] [--probe] [--strategy S] [options] PROMPT",
    .description = "Show which model the router would pick for PROMPT and why: the\n"
                   "request's features and complexity signals, every candidate (catalog\n"
                   "models and configured remotes) with its figures or the reason it is\n"
                   "excluded, the choice and the fallback chain. Nothing is run.\n"
                   "Exit status 1 when no model meets the request's requirements.",
    .options = route_options,
    .min_args = 1,
    .max_args = 1,
};

static int int_option(const cli_args *args, const char *name, int64_t max, int64_t *out)
{
    const char *text = cli_value(args, name);
    *out = 0;
    if (!text)
        return 0;
    /* Bounded parse without the library's internals: digits only. */
    int64_t v = 0;
    const char *p = text;
    if (!*p)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > max / 10)
            goto bad;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    cli_error("--%s %.40s: expected an integer from 1 to %lld", name, text, (long long)max);
    return -1;
}

int cmd_route(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&route_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    mm_catalog *cat = NULL;
    mm_router *router = NULL;
    char *text = NULL;
    int64_t max_tokens, prompt_tokens, messages;
    if (int_option(&args, "max-tokens", 100000000, &max_tokens) != 0 ||
        int_option(&args, "prompt-tokens", 100000000, &prompt_tokens) != 0 ||
        int_option(&args, "messages", 100000, &messages) != 0) {
        status = CLI_USAGE;
        goto out;
    }
    status = cli_catalog_open(args.cfg, &cat);
    if (status != CLI_OK)
        goto out;
    mm_error err = { 0 };
    int rc = mm_router_open(args.cfg, cat, &router, &err);
    if (rc != 0) {
        cli_error("%s", err.message);
        status = rc == MM_ECONFIG ? CLI_USAGE : CLI_FAIL;
        goto out;
    }
    if (cli_has(&args, "probe"))
        mm_router_probe(router);
    mm_route_request req = {
        .prompt = args.args[0], .prompt_tokens = prompt_tokens, .max_tokens = max_tokens,
        .n_messages = (int)messages, .capabilities = cli_value(&args, "capabilities"),
        .strategy = cli_value(&args, "strategy"), .model = cli_value(&args, "model"),
    };
    rc = mm_router_explain(router, &req, cli_has(&args, "json"), &text, &err);
    if (text)
        printf("%s%s", text, cli_has(&args, "json") ? "\n" : "");
    if (rc == MM_EINVAL) {
        cli_error("%s", err.message);
        status = CLI_USAGE;
    } else if (rc != 0) {
        cli_error("%s", err.message);
        status = CLI_FAIL;
    }
out:
    free(text);
    mm_router_close(router);
    mm_catalog_close(cat);
    cli_args_free(&args);
    return status;
}
