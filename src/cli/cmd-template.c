/* cmd-template.c - `modelmgr template MODEL --messages FILE.json`: print the
 * prompt the model's chat template makes of a conversation, so a user can
 * see exactly what the engine will be fed. */
#include "cli/cli.h"

#include "core/core.h"
#include "gguf/gguf.h"
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>

#define TEMPLATE_MAX_MESSAGES_FILE (4u << 20)

static const cli_option template_options[] = {
    { "messages", "FILE", "a JSON array of {\"role\", \"content\"} messages (required)" },
    { "no-generation-prompt", NULL, "leave out the assistant header that asks for a reply" },
    { NULL, NULL, NULL }
};

static const cli_spec template_spec = {
    .usage = "modelmgr template [options] MODEL --messages FILE.json",
    .description = "Render chat messages with the model's chat template (the `models:`\n"
                   "entry's chat_template in config.yaml, else the GGUF key\n"
                   "tokenizer.chat_template, else ChatML) and print the prompt text.\n"
                   "MODEL is a catalog key or a path to a GGUF file.",
    .options = template_options,
    .min_args = 1,
    .max_args = 1,
};

int cmd_template(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&template_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    gguf_file *file = NULL;
    text_vocab *vocab = NULL;
    cJSON *messages = NULL;
    char *json = NULL;
    size_t json_len = 0;
    mm_buf out;
    mm_buf_init(&out, 4u << 20);
    mm_error err = { 0 };
    const char *mpath = cli_value(&args, "messages");
    status = CLI_USAGE;
    if (!mpath) {
        cli_error("give the conversation with --messages FILE.json (a JSON array of "
                  "{\"role\", \"content\"} objects)");
        goto done;
    }
    if (mm_file_read(mpath, TEMPLATE_MAX_MESSAGES_FILE, &json, &json_len, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    messages = cJSON_ParseWithLength(json, json_len);
    if (!cJSON_IsArray(messages)) {
        cli_error("%s: not a JSON array of {\"role\", \"content\"} messages", mpath);
        goto done;
    }
    status = cli_load_vocab(&args, args.args[0], &file, &vocab);
    if (status != CLI_OK)
        goto done;
    status = CLI_FAIL;
    const char *origin = NULL;
    const char *override = cli_chat_override(args.cfg, args.args[0], &origin);
    text_chat_source source = TEXT_CHAT_GGUF;
    if (text_chat_render_with(file, override, origin, vocab, messages,
                              !cli_has(&args, "no-generation-prompt"), &out, &source, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    cli_chat_note((int)source);
    if (out.len)
        fwrite(out.data, 1, out.len, stdout);
    status = CLI_OK;
done:
    mm_buf_free(&out);
    cJSON_Delete(messages);
    free(json);
    text_vocab_free(vocab);
    gguf_close(file);
    cli_args_free(&args);
    return status;
}
