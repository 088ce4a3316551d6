/* tok-decode.c - token ids back to bytes: pieces, whole-sequence
 * detokenizing, and a streaming decoder that only ever emits complete UTF-8
 * characters (a token may end in the middle of one). */
#include "text/text.h"

#include <string.h>

int text_token_piece(const text_vocab *v, int32_t id, bool special, const char **piece,
                     size_t *len)
{
    *piece = "";
    *len = 0;
    if (id < 0 || (uint32_t)id >= v->n_tokens)
        return MM_EINVAL;
    if (!special && (v->attr[id] & (TEXT_ATTR_CONTROL | TEXT_ATTR_UNKNOWN)))
        return 0;
    *piece = v->piece_pool + v->piece_off[id];
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return 0;
}

int text_detokenize(const text_vocab *v, const int32_t *ids, size_t n_ids, bool special,
                    bool strip_leading_space, mm_buf *out, mm_error *err)
{
    bool strip = strip_leading_space;
    for (size_t i = 0; i < n_ids; i++) {
        const char *p;
        size_t n;
        if (text_token_piece(v, ids[i], special, &p, &n) != 0)
            return mm_error_set(err, MM_EINVAL, "token id %d is not in the vocabulary (0..%u)",
                                (int)ids[i], v->n_tokens - 1);
        if (strip && n > 0) {
            if (p[0] == ' ') {
                p++;
                n--;
            }
            strip = false;
        }
        int rc = mm_buf_append(out, p, n);
        if (rc != 0)
            return mm_error_set(err, rc, "detokenized text does not fit its buffer");
    }
    return 0;
}

void text_decoder_init(text_decoder *d, const text_vocab *v, bool special,
                       bool strip_leading_space)
{
    memset(d, 0, sizeof *d);
    d->vocab = v;
    d->special = special;
    d->strip_space = strip_leading_space;
}

static const char k_replacement[3] = { (char)0xEF, (char)0xBF, (char)0xBD };

/* Emit the complete characters of pending + piece; keep a valid incomplete
 * tail (at most 3 bytes) in pending. */
static int emit(text_decoder *d, const char *piece, size_t n, mm_buf *out)
{
    int rc;
    /* first complete the held-back sequence, one byte at a time */
    while (d->n_pending > 0 && n > 0) {
        d->pending[d->n_pending++] = (uint8_t)*piece++;
        n--;
        int k = text_utf8_check(d->pending, d->n_pending);
        if (k == 0)
            continue;
        if (k > 0) {
            rc = mm_buf_append(out, d->pending, (size_t)k);
        } else {
            /* the byte just added broke the sequence: replace what was held
             * and read that byte again as the start of something new */
            rc = mm_buf_append(out, k_replacement, 3);
            piece--;
            n++;
        }
        d->n_pending = 0;
        if (rc != 0)
            return rc;
    }
    while (n > 0) {
        size_t i = 0;            /* the longest well-formed run */
        while (i < n) {
            if ((uint8_t)piece[i] < 0x80) {
                i++;
                continue;
            }
            int k = text_utf8_check((const uint8_t *)piece + i, n - i);
            if (k <= 0)
                break;
            i += (size_t)k;
        }
        if (i > 0 && (rc = mm_buf_append(out, piece, i)) != 0)
            return rc;
        piece += i;
        n -= i;
        if (n == 0)
            break;
        int k = text_utf8_check((const uint8_t *)piece, n);
        if (k == 0) {            /* incomplete tail: hold it back */
            memcpy(d->pending, piece, n);
            d->n_pending = n;
            return 0;
        }
        if ((rc = mm_buf_append(out, k_replacement, 3)) != 0)
            return rc;
        piece += -k;
        n -= (size_t)-k;
    }
    return 0;
}

int text_decoder_push(text_decoder *d, int32_t id, mm_buf *out, mm_error *err)
{
    const char *p;
    size_t n;
    if (text_token_piece(d->vocab, id, d->special, &p, &n) != 0)
        return mm_error_set(err, MM_EINVAL, "token id %d is not in the vocabulary (0..%u)",
                            (int)id, d->vocab->n_tokens - 1);
    if (d->strip_space && n > 0) {
        if (p[0] == ' ') {
            p++;
            n--;
        }
        d->strip_space = false;
    }
    int rc = emit(d, p, n, out);
    if (rc != 0)
        return mm_error_set(err, rc, "decoded text does not fit its buffer");
    return 0;
}

int text_decoder_flush(text_decoder *d, mm_buf *out, mm_error *err)
{
    if (d->n_pending == 0)
        return 0;
    d->n_pending = 0;
    int rc = mm_buf_append(out, k_replacement, 3);
    if (rc != 0)
        return mm_error_set(err, rc, "decoded text does not fit its buffer");
    return 0;
}
