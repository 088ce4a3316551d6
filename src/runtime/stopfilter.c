/* stopfilter.c - the stop-string filter between a factory's decoded pieces
 * and the caller: text that could still become a stop string is held back,
 * the output ends before the first stop string found (even one spanning
 * pieces), and everything passed on is also collected as the answer. */
#define _GNU_SOURCE   /* memmem */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

void rt_stop_filter_init(rt_stop_filter *f, const mm_gen_request *req, size_t max_bytes)
{
    memset(f, 0, sizeof *f);
    f->on_piece = req->on_piece;
    f->user = req->piece_user;
    for (size_t i = 0; req->stop && i < req->n_stop && i < MM_GEN_STOP_MAX; i++)
        if (req->stop[i] && req->stop[i][0])
            f->stop[f->n_stop++] = req->stop[i];
    mm_buf_init(&f->hold, max_bytes);
    mm_buf_init(&f->text, max_bytes);
}

void rt_stop_filter_free(rt_stop_filter *f)
{
    if (!f)
        return;
    mm_buf_free(&f->hold);
    mm_buf_free(&f->text);
}

/* Pass n bytes of hold on (to the answer and the callback) and drop them. */
static void emit(rt_stop_filter *f, size_t n)
{
    if (n == 0)
        return;
    mm_buf_append(&f->text, f->hold.data, n);
    if (f->on_piece && !f->halted && f->on_piece(f->hold.data, n, f->user) != 0)
        f->halted = true;
    memmove(f->hold.data, f->hold.data + n, f->hold.len - n);
    f->hold.len -= n;
    f->hold.data[f->hold.len] = '\0';
}

/* The longest suffix of hold that is a proper prefix of some stop string:
 * it may still grow into one, so it is not passed on yet. */
static size_t held_back(const rt_stop_filter *f)
{
    size_t best = 0;
    for (size_t i = 0; i < f->n_stop; i++) {
        size_t sl = strlen(f->stop[i]);
        size_t k = sl - 1 < f->hold.len ? sl - 1 : f->hold.len;
        for (; k > best; k--)
            if (memcmp(f->hold.data + f->hold.len - k, f->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int rt_stop_filter_push(rt_stop_filter *f, const char *s, size_t n)
{
    f->raw_seen += n;
    if (f->stopped || f->halted)
        return 1;
    if (mm_buf_append(&f->hold, s, n) < 0)
        return 1;
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < f->n_stop; i++) {
        const char *at = memmem(f->hold.data, f->hold.len, f->stop[i], strlen(f->stop[i]));
        if (at && (size_t)(at - f->hold.data) < cut)
            cut = (size_t)(at - f->hold.data);
    }
    if (cut != SIZE_MAX) {
        emit(f, cut);
        f->stopped = true;
        return 1;
    }
    emit(f, f->hold.len - held_back(f));
    return f->halted ? 1 : 0;
}

void rt_stop_filter_finish(rt_stop_filter *f)
{
    if (!f->stopped)
        emit(f, f->hold.len);
}
