/* fakesvc.h - a fake server_service for the server tests: a few models with
 * fixed behaviours and deterministic generated text, recording what the
 * server handed it (the last request, cancellations). */
#ifndef MM_TEST_FAKESVC_H
#define MM_TEST_FAKESVC_H

#include "server/server.h"

#include <pthread.h>
#include <stdatomic.h>

/* Models the fake serves (ids as listed by list_models, in this order):
 *   "fake-model"  default; generates "tok0 tok1 ... " (5 pieces unless
 *                 max_tokens is smaller: finish "length"); a stop string
 *                 equal to a piece's word ends before that piece ("stop")
 *   "other-model" the same text, not the default
 *   "slow-model"  one piece "s " every 20 ms until max_tokens (or 10000),
 *                 checking the cancel flag before each piece
 *   "busy-model"  MM_EBUSY;  "nogen-model" MM_EUNSUPPORTED
 *   "fail-model"  two pieces, then MM_EINTERNAL ("fake failure")
 * prompt_tokens is the total byte length of the prompt/message contents. */
typedef struct fakesvc {
    server_service svc;
    atomic_int     cancels_seen;    /* generations that observed *cancel */
    atomic_int     generations;     /* generate() calls */
    atomic_int     running;         /* generate() calls in progress */
    pthread_mutex_t mu;
    server_request last;            /* copy of the last request's scalars */
    char           last_model[SERVER_MODEL_NAME_MAX];
    char           last_stop0[SERVER_STOP_LEN_MAX + 1];
} fakesvc;

void fakesvc_init(fakesvc *f);
void fakesvc_destroy(fakesvc *f);
/* Snapshot of the last request's scalar fields (no pointers). */
server_request fakesvc_last(fakesvc *f, char *model, size_t model_size);

#endif /* MM_TEST_FAKESVC_H */
