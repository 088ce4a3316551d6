/* progress.c - download progress for `pull`: on a terminal one line per file
 * (bar, bytes, rate, ETA) redrawn in place with cursor moves; otherwise a
 * plain line when a file starts and one when it ends, never one per chunk. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define NAME_WIDTH 28

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_name(cli_progress_file *f, const char *name)
{
    snprintf(f->name, sizeof f->name, "%s", name);
    cli_sanitize(f->name);
}

static void format_eta(double seconds, char *out, size_t size)
{
    if (seconds < 0 || seconds > 359999) {
        snprintf(out, size, "--:--");
        return;
    }
    int s = (int)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, size, "%d:%02d", s / 60, s % 60);
}

/* "name  [#######.............] 1.2 MiB / 4.0 MiB  3.1 MiB/s  ETA 0:01", the
 * name cut (keeping its end, which tells split parts apart) so the line fits
 * in cols - 1 columns. */
static void format_line(const cli_progress_file *f, uint64_t done, uint64_t total, double rate,
                        size_t cols, char *out, size_t size)
{
    char got[32], all[32], speed[32], eta[64], tail[200];
    int filled = total ? (int)((double)done / (double)total * BAR_WIDTH) : 0;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    cli_format_size(done, got, sizeof got);
    cli_format_size(total, all, sizeof all);
    cli_format_size((uint64_t)(rate > 0 ? rate : 0), speed, sizeof speed);
    if (done >= total)
        snprintf(eta, sizeof eta, "done");
    else
        format_eta(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
    snprintf(tail, sizeof tail, " [%s] %s / %s  %s/s  %s%s", bar, got, all, speed,
             done >= total ? "" : "ETA ", eta);
    size_t room = cols > strlen(tail) + 1 ? cols - strlen(tail) - 1 : 0;
    size_t width = room < 8 ? 8 : room > NAME_WIDTH ? NAME_WIDTH : room;
    size_t len = strlen(f->name);
    char name[sizeof f->name + 4];
    if (len > width)
        snprintf(name, sizeof name, "...%s", f->name + len - (width - 3));
    else
        snprintf(name, sizeof name, "%s", f->name);
    snprintf(out, size, "%-*s%s", (int)width, name, tail);
}

static cli_progress_file *find_or_add(cli_progress *p, const char *name, bool *added)
{
    *added = false;
    for (size_t i = 0; i < p->n_files; i++)
        if (strcmp(p->files[i].name, name) == 0)
            return &p->files[i];
    if (p->n_files == CLI_PROGRESS_FILES_MAX) {
        /* Full: the oldest finished slot is reused (its line stays as drawn). */
        for (size_t i = 0; i < p->n_files; i++)
            if (p->files[i].finished) {
                p->files[i].finished = false;
                p->files[i].line = p->n_lines++;
                p->files[i].started_ms = now_ms();
                set_name(&p->files[i], name);
                *added = true;
                return &p->files[i];
            }
        return NULL;
    }
    cli_progress_file *f = &p->files[p->n_files++];
    memset(f, 0, sizeof *f);
    set_name(f, name);
    f->line = p->n_lines++;
    f->started_ms = now_ms();
    *added = true;
    return f;
}

static void progress_locked(cli_progress *p, const char *repo_path, uint64_t done,
                            uint64_t total, double rate)
{
    bool added;
    cli_progress_file *f = find_or_add(p, repo_path, &added);
    if (!f)
        return;
    FILE *out = p->out;
    if (!p->tty) {
        if (added)
            fprintf(out, "%s: downloading %llu bytes\n", f->name, (unsigned long long)total);
        if (done >= total && !f->finished) {
            double secs = (double)(now_ms() - f->started_ms) / 1000.0;
            char speed[32];
            cli_format_size((uint64_t)(rate > 0 ? rate : 0), speed, sizeof speed);
            fprintf(out, "%s: %llu bytes in %.1f s (%s/s)\n", f->name, (unsigned long long)done,
                    secs, speed);
        }
        f->finished = done >= total;
        fflush(out);
        return;
    }
    char line[512];
    format_line(f, done, total, rate, p->cols, line, sizeof line);
    if (p->cols < sizeof line)   /* a wrapped line would throw the cursor moves off */
        line[p->cols - 1] = '\0';
    if (added) {
        fprintf(out, "%s\033[K\n", line);
    } else {
        /* The cursor rests below the last line: go up to this file's line and back. */
        size_t up = p->n_lines - f->line;
        fprintf(out, "\033[%zuA\r%s\033[K\033[%zuB\r", up, line, up);
    }
    f->finished = done >= total;
    fflush(out);
}

/* Rows a line of len characters takes on the terminal. */
static size_t rows_of(const cli_progress *p, size_t len)
{
    return len <= p->cols ? 1 : (len + p->cols - 1) / p->cols;
}

static void log_line(mm_log_level level, const char *line, void *user)
{
    cli_progress *p = user;
    char text[1200];
    snprintf(text, sizeof text, "modelmgr: %s: %s", mm_log_level_name(level), line);
    cli_sanitize(text);
    pthread_mutex_lock(&p->mu);
    fprintf(p->out, "%s\033[K\n", text);
    p->n_lines += rows_of(p, strlen(text));
    fflush(p->out);
    pthread_mutex_unlock(&p->mu);
}

void cli_progress_init(cli_progress *p, FILE *out)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->cols = 80;
    struct winsize ws;
    if (p->tty && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        p->cols = ws.ws_col;
    if (p->tty)
        mm_log_set_callback(log_line, p);
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty)
        mm_log_set_callback(NULL, NULL);
    pthread_mutex_destroy(&p->mu);
}

void cli_progress_update(const char *repo_path, uint64_t done, uint64_t total, double rate,
                         void *user)
{
    cli_progress *p = user;
    pthread_mutex_lock(&p->mu);
    progress_locked(p, repo_path, done, total, rate);
    pthread_mutex_unlock(&p->mu);
}
