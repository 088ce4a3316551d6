/* cmd-chat.c - `modelmgr chat MODEL`: an interactive chat with the built-in
 * engine. Each turn renders the whole conversation with the model's chat
 * template and evaluates only the tokens after the prefix the KV cache
 * already holds, so a long conversation costs only its new tokens. */
#include "cli/cli.h"

#include "core/core.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "text/text.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAT_LINE_MAX     (64u << 10)   /* bytes of one input line */
#define CHAT_ANSWER_MAX   (4u << 20)    /* bytes of one answer's text */

static const cli_option chat_options[] = {
    { "system", "TEXT", "system prompt to start with (/system changes it)" },
    { "max-tokens", "N", "most tokens per answer (default 512)" },
    CLI_SAMPLING_OPTIONS,
    { NULL, NULL, NULL }
};

static const cli_spec chat_spec = {
    .usage = "modelmgr chat [options] MODEL",
    .description = "Chat with a model on the built-in CPU engine. Each line is a user turn;\n"
                   "the answer streams as it is made. The conversation is rendered with the\n"
                   "model's chat template every turn and only the new tokens are evaluated.\n"
                   "Ctrl-C stops the current answer, Ctrl-D (end of input) exits. Commands:\n"
                   "/reset, /system TEXT, /stats, /help. MODEL is a catalog key or a path to\n"
                   "a .gguf file. Threads: --threads N (configuration key 'threads').",
    .options = chat_options,
    .min_args = 1,
    .max_args = 1,
};

static const char chat_help[] =
    "/reset        forget the conversation (the system prompt stays)\n"
    "/system TEXT  set the system prompt and forget the conversation (no TEXT: none)\n"
    "/stats        turns, tokens in the context, cache reuse and speed of the last turn\n"
    "/help         this list\n"
    "//TEXT        send a line that starts with '/'\n"
    "Ctrl-C stops the current answer; Ctrl-D (end of input) exits.\n";

/* Set by SIGINT; polled between generated tokens. */
static volatile sig_atomic_t chat_interrupted;
static volatile sig_atomic_t chat_generating;
static volatile sig_atomic_t chat_tty;

static void on_sigint(int sig)
{
    (void)sig;
    chat_interrupted = 1;
    if (!chat_generating && chat_tty) {
        static const char hint[] = "\n(Ctrl-D exits)\n> ";
        ssize_t ignored = write(STDOUT_FILENO, hint, sizeof hint - 1);
        (void)ignored;
    }
}

typedef struct chat_stats {
    int64_t  turns;          /* answered since the last reset */
    uint32_t reused;         /* prompt tokens of the last turn found in the cache */
    uint32_t evaluated;      /* prompt tokens of the last turn evaluated */
    int64_t  prompt_us;
    int64_t  generated;      /* tokens of the last answer */
    int64_t  gen_us;
} chat_stats;

typedef struct chat_state {
    const cli_args *args;
    engine_model   *model;
    text_vocab     *vocab;
    engine_ctx     *ctx;
    engine_sampler *smp;
    int32_t        *cached;      /* (n_ctx) id at each position the KV cache holds */
    uint32_t        n_ctx;
    cJSON          *msgs;        /* the conversation, system message first */
    int64_t         max_tokens;
    bool            noted;       /* the ChatML note was printed */
    chat_stats      st;
    mm_buf          answer;      /* the answer being made */
    mm_buf          piece;
} chat_state;

static double per_second(int64_t n, int64_t us)
{
    return us > 0 ? (double)n * 1e6 / (double)us : 0.0;
}

/* A new conversation holding only the system message (if any). */
static int chat_reset(chat_state *c, const char *system)
{
    cJSON *msgs = cJSON_CreateArray();
    if (!msgs || (system && *system && !cli_chat_append(msgs, "system", system))) {
        cJSON_Delete(msgs);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cJSON_Delete(c->msgs);
    c->msgs = msgs;
    c->st.turns = 0;
    return CLI_OK;
}

static void print_stats(const chat_state *c)
{
    const chat_stats *s = &c->st;
    printf("turns: %" PRId64 "\n", s->turns);
    printf("context: %" PRIu32 " of %" PRIu32 " tokens\n", engine_ctx_pos(c->ctx), c->n_ctx);
    printf("reused: %" PRIu32 " tokens from the cache on the last turn (%" PRIu32
           " evaluated)\n", s->reused, s->evaluated);
    printf("prompt: %" PRIu32 " tokens, %.1f tokens/s\n", s->evaluated,
           per_second(s->evaluated, s->prompt_us));
    printf("generation: %" PRId64 " tokens, %.1f tokens/s\n", s->generated,
           per_second(s->generated, s->gen_us));
    fflush(stdout);
}

/* Decode t, print it and keep it in the answer. */
static int emit(chat_state *c, text_decoder *dec, int32_t t, bool flush)
{
    mm_error err = { 0 };
    c->piece.len = 0;
    int rc = flush ? text_decoder_flush(dec, &c->piece, &err)
                   : text_decoder_push(dec, t, &c->piece, &err);
    if (rc != 0) {
        cli_error("%s", err.message);
        return -1;
    }
    if (c->piece.len) {
        fwrite(c->piece.data, 1, c->piece.len, stdout);
        fflush(stdout);
        if (mm_buf_append(&c->answer, c->piece.data, c->piece.len) != 0) {
            cli_error("the answer is longer than %u bytes", CHAT_ANSWER_MAX);
            return -1;
        }
    }
    return 0;
}

/* Evaluate the prompt from the first position where it differs from what
 * the cache holds. At least its last token is evaluated: its logits are
 * the first answer token's. */
static int eval_prompt(chat_state *c, const int32_t *ids, uint32_t n)
{
    mm_error err = { 0 };
    uint32_t pos = engine_ctx_pos(c->ctx), same = 0;
    while (same < pos && same < n && c->cached[same] == ids[same])
        same++;
    if (same == n)
        same = n - 1;
    engine_ctx_truncate(c->ctx, same);
    int64_t t0 = mm_now_us();
    if (engine_eval(c->ctx, ids + same, n - same, &err) != 0) {
        cli_error("%s", err.message);
        return -1;
    }
    memcpy(c->cached + same, ids + same, (size_t)(n - same) * sizeof *ids);
    c->st.prompt_us = mm_now_us() - t0;
    c->st.reused = same;
    c->st.evaluated = n - same;
    return 0;
}

/* Sample and stream the answer until an end-of-generation token,
 * --max-tokens, a full context or Ctrl-C. -1 on an error. */
static int generate(chat_state *c, const int32_t *ids, uint32_t n)
{
    mm_error err = { 0 };
    text_decoder dec;
    text_decoder_init(&dec, c->vocab, false, false);
    engine_sampler_reset(c->smp);
    for (uint32_t i = 0; i < n; i++)
        engine_sampler_accept(c->smp, ids[i]);
    c->answer.len = 0;
    c->answer.failed = false;
    c->st.generated = 0;
    int64_t t0 = mm_now_us();
    const float *logits = engine_ctx_logits(c->ctx, c->st.evaluated - 1);
    const char *stopped = NULL;
    int rc = 0;
    for (int64_t i = 0; i < c->max_tokens; i++) {
        if (chat_interrupted) {
            stopped = "(stopped by Ctrl-C; the answer so far is kept)";
            break;
        }
        int32_t t = engine_sampler_sample(c->smp, logits);
        if (engine_model_is_eog(c->model, t))
            break;
        if (emit(c, &dec, t, false) != 0) {
            rc = -1;
            break;
        }
        c->st.generated++;
        engine_sampler_accept(c->smp, t);
        if (i + 1 == c->max_tokens)
            break;
        uint32_t pos = engine_ctx_pos(c->ctx);
        if (pos >= c->n_ctx) {
            stopped = "(stopped: the context is full; /reset starts over, --ctx-size makes "
                      "it larger)";
            break;
        }
        if (engine_eval(c->ctx, &t, 1, &err) != 0) {
            cli_error("%s", err.message);
            rc = -1;
            break;
        }
        c->cached[pos] = t;
        logits = engine_ctx_logits(c->ctx, 0);
    }
    if (emit(c, &dec, 0, true) != 0)
        rc = -1;
    c->st.gen_us = mm_now_us() - t0;
    printf("\n");
    fflush(stdout);
    if (stopped)
        fprintf(stderr, "%s\n", stopped);
    return rc;
}

/* Drop the conversation's last message (a user turn that failed). */
static void drop_last(chat_state *c)
{
    int n = cJSON_GetArraySize(c->msgs);
    if (n > 0)
        cJSON_DeleteItemFromArray(c->msgs, n - 1);
}

/* One user turn. CLI_OK, or CLI_FAIL after the error was printed (the
 * user's line is then forgotten and the chat goes on). */
static int chat_turn(chat_state *c, const char *line)
{
    int32_t *ids = NULL;
    uint32_t n = 0;
    int source = 0;
    if (!cli_chat_append(c->msgs, "user", line)) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    int status = cli_chat_tokenize(c->args->cfg, c->args->args[0], c->model->file, c->vocab,
                                   c->msgs, &ids, &n, &source);
    if (status != CLI_OK) {
        drop_last(c);
        return CLI_FAIL;
    }
    if (!c->noted)
        cli_chat_note(source);
    c->noted = true;
    status = CLI_FAIL;
    if (n >= c->n_ctx) {
        cli_error("the conversation has %" PRIu32 " tokens but the context holds %" PRIu32
                  ": /reset starts over (--ctx-size makes it larger)", n, c->n_ctx);
        drop_last(c);
        goto done;
    }
    chat_interrupted = 0;
    chat_generating = 1;
    if (eval_prompt(c, ids, n) != 0) {
        drop_last(c);
        goto done;
    }
    int rc = generate(c, ids, n);
    if (!cli_chat_append(c->msgs, "assistant", c->answer.data ? c->answer.data : "")) {
        cli_error("out of memory");
        drop_last(c);
        goto done;
    }
    c->st.turns++;
    status = rc == 0 ? CLI_OK : CLI_FAIL;
done:
    chat_generating = 0;
    free(ids);
    return status;
}

/* A line starting with '/' (not "//"). Returns the turn's status. */
static int chat_command(chat_state *c, const char *line)
{
    if (strcmp(line, "/reset") == 0) {
        cJSON *sys = cJSON_GetArrayItem(c->msgs, 0);
        const cJSON *role = sys ? cJSON_GetObjectItem(sys, "role") : NULL;
        char *system = NULL;
        if (cJSON_IsString(role) && strcmp(role->valuestring, "system") == 0)
            system = mm_strdup(cJSON_GetObjectItem(sys, "content")->valuestring);
        int status = chat_reset(c, system);
        free(system);
        if (status == CLI_OK)
            fprintf(stderr, "(the conversation is forgotten)\n");
        return status;
    }
    if (strcmp(line, "/system") == 0 || strncmp(line, "/system ", 8) == 0) {
        const char *text = line[7] ? line + 8 : "";
        int status = chat_reset(c, text);
        if (status == CLI_OK)
            fprintf(stderr, "%s\n", *text ? "(system prompt set; the conversation is forgotten)"
                                          : "(no system prompt; the conversation is forgotten)");
        return status;
    }
    if (strcmp(line, "/stats") == 0) {
        print_stats(c);
        return CLI_OK;
    }
    if (strcmp(line, "/help") == 0) {
        fputs(chat_help, stdout);
        fflush(stdout);
        return CLI_OK;
    }
    cli_error("unknown command '%.40s': /help lists the commands (//TEXT sends a line "
              "starting with '/')", line);
    return CLI_FAIL;
}

/* One line of stdin without its newline into buf (CHAT_LINE_MAX + 2
 * bytes). 1: a line, 0: end of input, -1: the line was too long (it is
 * skipped). */
static int read_line(char *buf, size_t size)
{
    if (!fgets(buf, (int)size, stdin))
        return 0;
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len && buf[len - 1] == '\r')
            buf[--len] = '\0';
        return 1;
    }
    if (len < size - 1)
        return 1;   /* the last line, without a newline */
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n')
        ;
    cli_error("a line is longer than %u bytes; it was skipped", CHAT_LINE_MAX);
    return -1;
}

static int chat_loop(chat_state *c)
{
    char *line = malloc(CHAT_LINE_MAX + 2);
    if (!line) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    bool failed = false;
    for (;;) {
        if (chat_tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        int got = read_line(line, CHAT_LINE_MAX + 2);
        if (got == 0)
            break;
        if (got < 0) {
            failed = true;
            continue;
        }
        if (line[0] == '\0')
            continue;
        int status = line[0] == '/' && line[1] != '/' ? chat_command(c, line)
                                                      : chat_turn(c, line[0] == '/' ? line + 1
                                                                                    : line);
        if (status != CLI_OK)
            failed = true;
    }
    if (chat_tty)
        fputs("\n", stdout);
    free(line);
    /* On a terminal the user saw each error; a script learns of them here. */
    return failed && !chat_tty ? CLI_FAIL : CLI_OK;
}

static int chat_open(chat_state *c, const char *path, int64_t n_ctx,
                     const engine_sampler_params *sp)
{
    mm_error err = { 0 };
    if (engine_model_load(path, &c->model, &err) != 0 ||
        text_vocab_load(c->model->file, &c->vocab, &err) != 0) {
        cli_error("%s", err.message);
        return CLI_FAIL;
    }
    engine_ctx_params cp;
    engine_ctx_default_params(&cp);
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_threads = c->args->cfg->threads;
    if (engine_ctx_new(c->model, &cp, &c->ctx, &err) != 0 ||
        engine_sampler_new(sp, c->model->hp.n_vocab, &c->smp, &err) != 0) {
        cli_error("%s", err.message);
        return CLI_FAIL;
    }
    c->n_ctx = engine_ctx_size(c->ctx);
    c->cached = calloc(c->n_ctx ? c->n_ctx : 1, sizeof *c->cached);
    if (!c->cached) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    return chat_reset(c, cli_value(c->args, "system"));
}

int cmd_chat(int argc, char **argv)
{
    cli_args args;
    int status = cli_parse(&chat_spec, argc, argv, &args);
    if (status != CLI_RUN)
        return status;
    chat_state c = { .args = &args, .max_tokens = 512 };
    mm_buf_init(&c.answer, CHAT_ANSWER_MAX);
    mm_buf_init(&c.piece, 1u << 16);
    char *path = NULL;
    engine_sampler_params sp;
    int64_t n_ctx = 0;
    struct sigaction old_int, sa;
    bool handler = false;
    status = CLI_USAGE;
    if (cli_sampling_params(&args, &sp) ||
        cli_int_option(&args, "max-tokens", 1, 1 << 20, &c.max_tokens) ||
        cli_int_option(&args, "ctx-size", 1, 1 << 20, &n_ctx))
        goto done;
    status = cli_model_path(args.cfg, args.args[0], &path);
    if (status != CLI_OK)
        goto done;
    status = chat_open(&c, path, n_ctx, &sp);
    if (status != CLI_OK)
        goto done;
    chat_tty = isatty(STDIN_FILENO) ? 1 : 0;
    chat_interrupted = 0;
    chat_generating = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   /* a read of stdin goes on after Ctrl-C */
    if (sigaction(SIGINT, &sa, &old_int) != 0) {
        cli_error("cannot handle Ctrl-C: %s", strerror(errno));
        status = CLI_FAIL;
        goto done;
    }
    handler = true;
    if (chat_tty)
        fprintf(stderr, "chatting with %s: /help lists the commands, Ctrl-C stops an answer, "
                "Ctrl-D exits\n", args.args[0]);
    status = chat_loop(&c);
done:
    if (handler)
        sigaction(SIGINT, &old_int, NULL);
    mm_buf_free(&c.answer);
    mm_buf_free(&c.piece);
    cJSON_Delete(c.msgs);
    free(c.cached);
    engine_sampler_free(c.smp);
    engine_ctx_free(c.ctx);
    text_vocab_free(c.vocab);
    engine_model_free(c.model);
    free(path);
    cli_args_free(&args);
    return status;
}
