/* openai-sse.c - an incremental Server-Sent Events parser: network reads cut
 * lines anywhere, so bytes are buffered (with a cap) until a line ends, and
 * an event's data lines are joined until the blank line that ends it. */
#include "backends/backends.h"

#include <string.h>

void backend_sse_init(backend_sse *p, size_t max_bytes, backend_sse_fn on_data, void *user)
{
    mm_buf_init(&p->line, max_bytes);
    mm_buf_init(&p->data, max_bytes);
    p->on_data = on_data;
    p->user = user;
}

void backend_sse_free(backend_sse *p)
{
    mm_buf_free(&p->line);
    mm_buf_free(&p->data);
}

static int dispatch(backend_sse *p)
{
    if (p->data.len == 0)
        return 0;
    int rc = p->on_data(p->data.data, p->data.len, p->user);
    p->data.len = 0;
    p->data.data[0] = '\0';
    return rc;
}

static int take_line(backend_sse *p, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return 0;   /* a comment: keep-alives ": ping" */
    if (len < 5 || memcmp(line, "data:", 5) != 0)
        return 0;   /* event:, id:, retry: carry nothing the client needs */
    const char *value = line + 5;
    size_t value_len = len - 5;
    if (value_len && *value == ' ')
        value++, value_len--;
    if (p->data.len && mm_buf_append(&p->data, "\n", 1) != 0)
        return MM_ELIMIT;
    if (mm_buf_append(&p->data, value, value_len) != 0)
        return MM_ELIMIT;
    return 0;
}

int backend_sse_feed(backend_sse *p, const char *bytes, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(bytes, '\n', len);
        size_t chunk = nl ? (size_t)(nl - bytes) : len;
        int rc;
        if (p->line.len == 0 && nl) {
            rc = take_line(p, bytes, chunk);   /* whole line in this read: no copy */
        } else {
            if (mm_buf_append(&p->line, bytes, chunk) != 0)
                return MM_ELIMIT;
            if (!nl)
                return 0;
            rc = take_line(p, p->line.data, p->line.len);
            p->line.len = 0;
            p->line.data[0] = '\0';
        }
        if (rc != 0)
            return rc;
        bytes += chunk + 1;
        len -= chunk + 1;
    }
    return 0;
}

int backend_sse_finish(backend_sse *p)
{
    int rc = 0;
    if (p->line.len) {
        rc = take_line(p, p->line.data, p->line.len);
        p->line.len = 0;
    }
    return rc ? rc : dispatch(p);
}
