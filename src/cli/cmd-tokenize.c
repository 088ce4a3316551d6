/* cmd-tokenize.c - `modelmgr tokenize MODEL "text"`: the model's tokenizer
 * on a text, one "id -> 'piece'" line per token (as llama.cpp's
 * llama-tokenize), or only the ids with --ids. Uses the text subsystem's
 * internal header: there is no public tokenizer API. */
#include "cli/cli.h"

#include "core/core.h"
#include "gguf/gguf.h"
#include "text/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_option tokenize_options[] = {
    { "ids", NULL, "print only the ids as [id, id, ...]" },
    { "no-bos", NULL, "add no BOS/EOS tokens (as llama-tokenize --no-bos)" },
    { "parse-special", NULL, "match control tokens written in the text (<|im_start|>, <s>, ...)" },
    { NULL, NULL, NULL }
};

static const cli_spec tokenize_spec = {
    .usage = "modelmgr tokenize [options] MODEL TEXT",
    .description = "Split TEXT into the model's tokens. MODEL is a catalog key or a path to a\n"
                   "GGUF file (a vocabulary-only file is enough).",
    .options = tokenize_options,
    .min_args = 2,
    .max_args = 2,
};

/* Load the vocabulary of the model named on the command line; the file
 * stays open for the caller (the vocabulary does not borrow it). */
int cli_load_vocab(const cli_args *args, const char *model, gguf_file **file, text_vocab **vocab)
{
    char *path = NULL;
    mm_error err = { 0 };
    int status = cli_model_path(args->cfg, model, &path);
    if (status != CLI_OK)
        return status;
    status = CLI_FAIL;
    if (gguf_open(path, file, &err) != 0 || text_vocab_load(*file, vocab, &err) != 0) {
        cli_error("%s", err.message);
        gguf_close(*file);
        *file = NULL;
        goto done;
    }
    status = CLI_OK;
done:
    free(path);
    return status;
}

static void print_piece_line(const text_vocab *v, int32_t id)
{
    const char *piece = "";
    size_t len = 0;
    text_token_piece(v, id, true, &piece, &len);
    printf("%6" PRId32 " -> '%.*s'\n", id, (int)len, piece);
}

int cmd_tokenize(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&tokenize_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    gguf_file *file = NULL;
    text_vocab *vocab = NULL;
    int32_t *ids = NULL;
    mm_error err = { 0 };
    status = cli_load_vocab(&args, args.args[0], &file, &vocab);
    if (status != CLI_OK)
        goto done;
    status = CLI_FAIL;
    const char *text = args.args[1];
    size_t len = strlen(text);
    /* at most one token per byte, plus BOS, EOS and a space prefix */
    size_t max_ids = len + 4, n = 0;
    ids = malloc(max_ids * sizeof *ids);
    if (!ids) {
        cli_error("out of memory");
        goto done;
    }
    if (text_tokenize(vocab, text, len, !cli_has(&args, "no-bos"), cli_has(&args, "parse-special"),
                      ids, max_ids, &n, &err) != 0) {
        cli_error("%s", err.message);
        goto done;
    }
    if (cli_has(&args, "ids")) {
        printf("[");
        for (size_t i = 0; i < n; i++)
            printf("%s%" PRId32, i ? ", " : "", ids[i]);
        printf("]\n");
    } else {
        for (size_t i = 0; i < n; i++)
            print_piece_line(vocab, ids[i]);
    }
    status = CLI_OK;
done:
    free(ids);
    text_vocab_free(vocab);
    gguf_close(file);
    cli_args_free(&args);
    return status;
}
