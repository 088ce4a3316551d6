/* tok-merge.c - the priority queue of merge candidates shared by the
 * SentencePiece and byte-level BPE merge loops. */
#include "text/text.h"

#include <stdlib.h>

static bool merge_first(const text_merge *a, const text_merge *b)
{
    return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

int text_mq_push(text_merge_queue *q, const text_merge *m)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        text_merge *items = realloc(q->items, cap * sizeof *items);
        if (!items)
            return MM_ENOMEM;
        q->items = items;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_first(m, &q->items[parent]))
            break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = *m;
    return 0;
}

text_merge text_mq_pop(text_merge_queue *q)
{
    text_merge top = q->items[0];
    text_merge last = q->items[--q->n];
    size_t i = 0, n = q->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && merge_first(&q->items[c + 1], &q->items[c]))
            c++;
        if (!merge_first(&q->items[c], &last))
            break;
        q->items[i] = q->items[c];
        i = c;
    }
    if (n > 0)
        q->items[i] = last;
    return top;
}

void text_mq_free(text_merge_queue *q)
{
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}
