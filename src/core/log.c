/* log.c - leveled logging routed to an application callback, with every
 * registered secret redacted from each line before anyone sees it. */
#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG_LINE_MAX 2048
/* A bound, not a budget: every token, API key and remote key of one process;
 * a process that registers more is misconfigured (or leaking keys). */
#define MAX_SECRETS 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_log_fn log_fn;
static void *log_user;
static atomic_int log_level = MM_LOG_LEVEL_INFO;

/* Secrets are few and registered at start-up; lookups copy under the lock.
 * The array grows on demand and lives as long as the process. */
static char **secrets;
static size_t n_secrets, cap_secrets;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void mm_log_set_callback(mm_log_fn fn, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

void mm_log_set_level(mm_log_level level)
{
    atomic_store(&log_level, (int)level);
}

mm_log_level mm_log_get_level(void)
{
    return (mm_log_level)atomic_load(&log_level);
}

bool mm_log_enabled(mm_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

const char *mm_log_level_name(mm_log_level level)
{
    if ((unsigned)level < MM_ARRAY_LEN(level_names))
        return level_names[level];
    return "unknown";
}

int mm_log_level_parse(const char *text, mm_log_level *out)
{
    for (size_t i = 0; i < MM_ARRAY_LEN(level_names); i++) {
        if (text && strcasecmp(text, level_names[i]) == 0) {
            *out = (mm_log_level)i;
            return 0;
        }
    }
    if (text && strcasecmp(text, "warning") == 0) {
        *out = MM_LOG_LEVEL_WARN;
        return 0;
    }
    return MM_EINVAL;
}

int mm_log_add_secret(const char *secret)
{
    /* Very short strings would redact ordinary words; they are not tokens. */
    if (!secret || strlen(secret) < 4)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], secret) == 0)
            goto out;
    if (n_secrets == MAX_SECRETS) {
        rc = MM_ELIMIT;
        goto out;
    }
    if (n_secrets == cap_secrets) {
        size_t cap = cap_secrets ? cap_secrets * 2 : 16;
        char **grown = realloc(secrets, cap * sizeof *grown);
        if (!grown) {
            rc = MM_ENOMEM;
            goto out;
        }
        secrets = grown;
        cap_secrets = cap;
    }
    secrets[n_secrets] = mm_strdup(secret);
    if (!secrets[n_secrets])
        rc = MM_ENOMEM;
    else
        n_secrets++;
out:
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void mm_redact(const char *secret, char *out, size_t out_size)
{
    static const char *prefixes[] = { "hf_", "sk-", "api_" };
    if (out_size == 0)
        return;
    size_t len = secret ? strlen(secret) : 0;
    if (len < 12) {
        mm_strlcpy(out, "***", out_size);
        return;
    }
    const char *prefix = "";
    for (size_t i = 0; i < MM_ARRAY_LEN(prefixes); i++)
        if (mm_str_has_prefix(secret, prefixes[i]))
            prefix = prefixes[i];
    snprintf(out, out_size, "%s***%s", prefix, secret + len - 4);
}

/* Replace each occurrence of needle in buf by repl; repl is never longer
 * than needle, so the work happens in place. */
static void replace_all(char *buf, const char *needle, const char *repl)
{
    size_t nlen = strlen(needle), rlen = strlen(repl);
    char *hit;
    char *from = buf;
    while ((hit = strstr(from, needle)) != NULL) {
        memcpy(hit, repl, rlen);
        memmove(hit + rlen, hit + nlen, strlen(hit + nlen) + 1);
        from = hit + rlen;
    }
}

void mm_redact_secrets(char *buf)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        char red[64];
        mm_redact(secrets[i], red, sizeof red);
        if (strlen(red) > strlen(secrets[i]))
            mm_strlcpy(red, "***", sizeof red);
        replace_all(buf, secrets[i], red);
    }
    pthread_mutex_unlock(&log_lock);
}

void mm_log_write(mm_log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    mm_redact_secrets(line);

    pthread_mutex_lock(&log_lock);
    mm_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_lock);

    if (fn)
        fn(level, line, user);
    else
        fprintf(stderr, "modelmgr: %s: %s\n", mm_log_level_name(level), line);
}
