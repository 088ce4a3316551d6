/* backend.c - what every backend shares: closing, results, and which errors
 * are worth another try. */
#include "backends/backends.h"

#include <stdlib.h>
#include <string.h>

void backend_close(backend *b)
{
    if (b)
        b->ops->close(b);
}

void backend_result_free(backend_result *res)
{
    if (!res)
        return;
    free(res->text);
    memset(res, 0, sizeof *res);
}

bool backend_error_retryable(int code)
{
    return code == MM_ENET || code == MM_ETIMEDOUT || code == MM_EBUSY || code == MM_EIO;
}

bool backend_retryable(const backend *b, int code)
{
    return b && b->ops->retryable ? b->ops->retryable(code) : backend_error_retryable(code);
}

bool backend_error_fallback(int code)
{
    /* A refused key or a model the remote does not serve is that remote's
     * problem; another model may well answer. A bad request or a cancel
     * would fail everywhere. */
    return code != MM_EINVAL && code != MM_ECANCELED && code != MM_ELIMIT;
}
