/* backend-local.c - the built-in engine behind the router's backend vtable:
 * a routed request for a local model runs through mm_manager_generate with
 * no fallback of its own, so that the router's chain, not the manager,
 * decides what answers when the model cannot. */
#include "runtime/runtime.h"
#include "backends/backends.h"

#include <stdlib.h>
#include <string.h>

typedef struct local_backend {
    backend     base;        /* first: the router sees a backend * */
    mm_manager *mgr;         /* borrowed */
} local_backend;

/* Pieces of the manager relayed to the router's callback, timed for ttft. */
typedef struct local_relay {
    backend_token_fn on_token;
    void   *user;
    int64_t start_ms;
    double  ttft_ms;
    size_t  pieces;
    bool    stopped;         /* on_token asked to stop */
} local_relay;

static int relay_piece(const char *text, size_t len, void *user)
{
    local_relay *r = user;
    if (r->pieces++ == 0)
        r->ttft_ms = (double)(mm_now_ms() - r->start_ms);
    if (r->on_token && r->on_token(text, len, r->user) != 0) {
        r->stopped = true;
        return 1;
    }
    return 0;
}

static int local_generate(backend *b, const backend_request *req, backend_token_fn on_token,
                          void *user, const atomic_bool *cancel, backend_result *res,
                          mm_error *err)
{
    local_backend *lb = (local_backend *)b;
    memset(res, 0, sizeof *res);
    if (!req->model || !req->model[0])
        return mm_error_set(err, MM_EINVAL, "the built-in engine needs a model name");
    mm_gen_message *msgs = NULL;
    if (req->n_messages) {
        msgs = calloc(req->n_messages, sizeof *msgs);
        if (!msgs)
            return mm_error_set(err, MM_ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_messages; i++)
            msgs[i] = (mm_gen_message){ req->messages[i].role, req->messages[i].content };
    }
    local_relay relay = { on_token, user, mm_now_ms(), 0.0, 0, false };
    /* No limit asked: until a stop or the context end, as the server's own
     * endpoints promise (the engine's default would cut it shorter). */
    int64_t max_tokens = req->max_tokens <= 0 || req->max_tokens > INT32_MAX ? INT32_MAX
                                                                             : req->max_tokens;
    mm_gen_request g = {
        .model = req->model,
        .prompt = req->n_messages ? NULL : (req->prompt ? req->prompt : ""),
        .messages = msgs,
        .n_messages = req->n_messages,
        .temperature = req->temperature < 0 ? 0.0 : req->temperature,
        .top_p = req->top_p,
        .max_tokens = (int)max_tokens,
        .has_seed = req->has_seed,
        .seed = (uint64_t)req->seed,
        .presence_penalty = req->presence_penalty,
        .frequency_penalty = req->frequency_penalty,
        .stop = req->stop,
        .n_stop = req->n_stop,
        .on_piece = relay_piece,
        .piece_user = &relay,
        .cancel = cancel,
        .no_fallback = true,
    };
    mm_gen_result out;
    mm_error one = { 0 };
    int rc = mm_manager_generate(lb->mgr, &g, &out, &one);
    free(msgs);
    if (rc != 0) {
        mm_gen_result_clear(&out);
        /* The manager's codes already say what the router needs (see
         * runtime.h): passed on as they are. */
        mm_error_set(err, rc, "%s", one.message[0] ? one.message : mm_strerror(rc));
        return rc;
    }
    bool was_cancelled = strcmp(out.finish_reason, "cancelled") == 0;
    if (was_cancelled || relay.stopped) {
        mm_gen_result_clear(&out);
        return mm_error_set(err, MM_ECANCELED, "the generation was cancelled");
    }
    res->text = out.text;       /* taken */
    out.text = NULL;
    res->text_len = res->text ? strlen(res->text) : 0;
    res->prompt_tokens = out.prompt_tokens;
    res->completion_tokens = out.completion_tokens;
    mm_strlcpy(res->finish_reason, out.finish_reason, sizeof res->finish_reason);
    res->total_ms = (double)(mm_now_ms() - relay.start_ms);
    res->ttft_ms = relay.pieces ? relay.ttft_ms : res->total_ms;
    res->pieces_delivered = relay.pieces;
    mm_gen_result_clear(&out);
    return 0;
}

static void local_close(backend *b)
{
    free(b);
}

/* Only a full pool passes with time: an engine or worker failure would
 * fail again (a crashed worker restarts after seconds, not a back-off), so
 * the router should go down the chain at once instead of retrying here. */
static bool local_retryable(int code)
{
    return code == MM_EBUSY;
}

static const backend_ops local_ops = { "builtin", local_generate, local_close, local_retryable };

int rt_backend_local_open(mm_manager *mgr, backend **out, mm_error *err)
{
    *out = NULL;
    local_backend *lb = calloc(1, sizeof *lb);
    if (!lb)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    lb->base.ops = &local_ops;
    lb->base.name = "local";
    lb->mgr = mgr;
    *out = &lb->base;
    return 0;
}
