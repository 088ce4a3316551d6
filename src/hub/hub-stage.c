/* hub-stage.c - received bytes gathered into blocks aligned in the file
 * before they are written, for the parts (hub-parts.c) and the single
 * stream (hub-fetch.c). */
#include "hub/hub.h"

#include <string.h>

/* libcurl hands over at most 16 KiB at a time, at whatever offset the last
 * short read left, so most writes would start and end inside a page and
 * the page cache would build the file from single-page folios, each page
 * filled by two writes. Gathered into blocks that end on HUB_STAGE_BLOCK
 * boundaries of the file, each write fills one aligned 16 KiB folio: the
 * write path's CPU per GiB fell by about a third for one copy through an
 * L1-sized buffer, while larger blocks (64 KiB-1 MiB) measured worse on
 * this VM (docs/PERFORMANCE.md, Downloads, fourth round). A block already
 * whole in data is written from there. */
int hub_stage_put(hub_stage *s, uint64_t at, uint64_t end, const uint8_t *data, size_t len,
                  hub_stage_writer write, void *user)
{
    if (!s->buf)
        return len ? write(data, len, user) : 0;
    while (len > 0) {
        uint64_t stop = (at / HUB_STAGE_BLOCK + 1) * HUB_STAGE_BLOCK;
        if (stop > end)
            stop = end;
        size_t room = (size_t)(stop - at) - s->len;
        if (room == 0)
            return MM_EIO;   /* a whole block whose write failed: the caller gave up */
        size_t take = len < room ? len : room;
        int rc = 0;
        if (s->len == 0 && take == room) {
            rc = write(data, take, user);
        } else {
            memcpy(s->buf + s->len, data, take);
            s->len += take;
            if (take == room)
                rc = hub_stage_flush(s, write, user);
        }
        if (rc != 0)
            return rc;
        if (take == room)
            at = stop;
        data += take;
        len -= take;
    }
    return 0;
}

int hub_stage_flush(hub_stage *s, hub_stage_writer write, void *user)
{
    if (s->len == 0)
        return 0;
    int rc = write(s->buf, s->len, user);
    if (rc == 0)
        s->len = 0;
    return rc;
}
