/* fakesvc.c - the fake service of fakesvc.h. */
#include "support/fakesvc.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const ids[] = {
    "fake-model", "other-model", "slow-model", "busy-model", "nogen-model", "fail-model",
};

static int fk_list(void *ctx, server_model *out, size_t max, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && n < max; i++) {
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].id, sizeof out[n].id, "%s", ids[i]);
        snprintf(out[n].format, sizeof out[n].format, "gguf");
        snprintf(out[n].family, sizeof out[n].family, "llama");
        snprintf(out[n].quant, sizeof out[n].quant, "Q8_0");
        out[n].created = 1700000000 + (int64_t)i;
        out[n].size = 1000 * (i + 1);
        out[n].n_params = 3200000000ULL;
        out[n].context_length = 4096;
        out[n].loaded = i == 0;
        n++;
    }
    *n_out = n;
    return 0;
}

static int fk_find(void *ctx, const char *name, server_model *out, mm_error *err)
{
    server_model all[8];
    size_t n = 0;
    fk_list(ctx, all, 8, &n);
    if (!name) {
        *out = all[0];
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].id, name) == 0) {
            *out = all[i];
            return 0;
        }
    return mm_error_set(err, MM_ENOTFOUND, "The model `%s` does not exist", name);
}

static void fk_health(void *ctx, cJSON *services)
{
    cJSON *m = cJSON_AddObjectToObject(services, "models");
    cJSON_AddStringToObject(m, "status", "ok");
    cJSON *cache = cJSON_AddObjectToObject(services, "cache");
    cJSON_AddStringToObject(cache, "status", "ok");
    cJSON_AddNumberToObject(cache, "entries", 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int fk_generate(void *ctx, const char *model, const server_request *rq,
                       server_piece_fn on_piece, void *user, const atomic_bool *cancel,
                       server_gen_result *res, mm_error *err)
{
    fakesvc *f = ctx;
    atomic_fetch_add(&f->generations, 1);
    pthread_mutex_lock(&f->mu);
    f->last = *rq;
    snprintf(f->last_model, sizeof f->last_model, "%s", model);
    snprintf(f->last_stop0, sizeof f->last_stop0, "%s", rq->n_stop ? rq->stop[0] : "");
    pthread_mutex_unlock(&f->mu);
    memset(res, 0, sizeof *res);
    size_t prompt = rq->prompt ? strlen(rq->prompt) : 0;
    for (size_t i = 0; i < rq->n_messages; i++)
        prompt += strlen(rq->messages[i].content);
    res->prompt_tokens = (int64_t)prompt;

    if (strcmp(model, "busy-model") == 0)
        return mm_error_set(err, MM_EBUSY, "fake-busy: all instances are in use");
    if (strcmp(model, "nogen-model") == 0)
        return mm_error_set(err, MM_EUNSUPPORTED, "%s", SERVER_NO_ENGINE_MSG);
    atomic_fetch_add(&f->running, 1);
    int rc = 0;
    bool slow = strcmp(model, "slow-model") == 0;
    int64_t limit = slow ? 10000 : 5;
    res->finish = SERVER_FINISH_STOP;
    if (rq->max_tokens >= 0 && rq->max_tokens < limit) {
        limit = rq->max_tokens;
        res->finish = SERVER_FINISH_LENGTH;
    } else if (slow) {
        res->finish = SERVER_FINISH_LENGTH;
    }
    for (int64_t i = 0; i < limit; i++) {
        if (atomic_load(cancel)) {
            atomic_fetch_add(&f->cancels_seen, 1);
            rc = MM_ECANCELED;
            goto out;
        }
        if (strcmp(model, "fail-model") == 0 && i == 2) {
            rc = mm_error_set(err, MM_EINTERNAL, "fake failure");
            goto out;
        }
        char word[32], piece[40];
        snprintf(word, sizeof word, slow ? "s" : "tok%lld", (long long)i);
        bool stop_hit = false;
        for (size_t s = 0; s < rq->n_stop; s++)
            stop_hit |= strcmp(rq->stop[s], word) == 0;
        if (stop_hit) {
            res->finish = SERVER_FINISH_STOP;
            break;
        }
        if (slow)
            sleep_ms(20);
        snprintf(piece, sizeof piece, "%s ", word);
        res->completion_tokens++;
        if (on_piece(user, piece, strlen(piece)) != 0) {
            if (atomic_load(cancel))
                atomic_fetch_add(&f->cancels_seen, 1);
            rc = MM_ECANCELED;
            goto out;
        }
    }
out:
    atomic_fetch_sub(&f->running, 1);
    return rc;
}

void fakesvc_init(fakesvc *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->svc.ctx = f;
    f->svc.list_models = fk_list;
    f->svc.find_model = fk_find;
    f->svc.health = fk_health;
    f->svc.generate = fk_generate;
}

void fakesvc_destroy(fakesvc *f)
{
    pthread_mutex_destroy(&f->mu);
}

server_request fakesvc_last(fakesvc *f, char *model, size_t model_size)
{
    pthread_mutex_lock(&f->mu);
    server_request r = f->last;
    snprintf(model, model_size, "%s", f->last_model);
    pthread_mutex_unlock(&f->mu);
    r.messages = NULL;
    r.prompt = NULL;
    r.system = NULL;
    r.model = NULL;
    for (size_t i = 0; i < SERVER_STOP_MAX; i++)
        r.stop[i] = NULL;
    return r;
}
