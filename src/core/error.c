/* error.c - error codes, mm_error filling and the assertion hook. */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mm_version(void)
{
    return MM_VERSION_STRING;
}

const char *mm_strerror(int code)
{
    switch (code) {
    case MM_OK:           return "OK";
    case MM_EINVAL:       return "EINVAL";
    case MM_ENOMEM:       return "ENOMEM";
    case MM_EIO:          return "EIO";
    case MM_EFORMAT:      return "EFORMAT";
    case MM_ENOTFOUND:    return "ENOTFOUND";
    case MM_ECONFIG:      return "ECONFIG";
    case MM_EPINNING:     return "EPINNING";
    case MM_EUNSUPPORTED: return "EUNSUPPORTED";
    case MM_ENET:         return "ENET";
    case MM_EAUTH:        return "EAUTH";
    case MM_EBUSY:        return "EBUSY";
    case MM_ETIMEDOUT:    return "ETIMEDOUT";
    case MM_ECANCELED:    return "ECANCELED";
    case MM_EINTEGRITY:   return "EINTEGRITY";
    case MM_EEXIST:       return "EEXIST";
    case MM_ELIMIT:       return "ELIMIT";
    case MM_EINTERNAL:    return "EINTERNAL";
    default:              return "EUNKNOWN";
    }
}

int mm_error_set(mm_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        /* Messages reach users and logs: never let a secret through. */
        mm_redact_secrets(err->message);
    }
    return code;
}

int mm_error_prefix(mm_error *err, const char *fmt, ...)
{
    if (!err)
        return MM_EINTERNAL;
    char prefix[MM_ERROR_MSG_MAX];
    char old[MM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Built in two steps: the combined message may be cut, by design. */
    size_t n = mm_strlcpy(err->message, prefix, sizeof err->message);
    if (n + 2 < sizeof err->message) {
        memcpy(err->message + n, ": ", 3);
        mm_strlcpy(err->message + n + 2, old, sizeof err->message - n - 2);
    }
    mm_redact_secrets(err->message);
    return err->code;
}

void mm_error_clear(mm_error *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
    }
}

void mm__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "modelmgr: internal error: assertion '%s' failed at %s:%d\n",
            expr, file, line);
    abort();
}
