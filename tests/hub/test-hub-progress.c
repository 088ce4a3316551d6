/* test-hub-progress.c - `modelmgr pull` progress on a terminal: stderr is a
 * pseudo-terminal, and what the program writes there is replayed through a
 * small terminal model (\r, \n, ESC[nA, ESC[nB, ESC[K) to the final screen,
 * which must hold one finished line per downloaded file. */
// labels: integration
#define _XOPEN_SOURCE 700
#include "hub-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#define SCREEN_ROWS 32
#define SCREEN_COLS 80   /* the pty is set to this width; lines wrap at it */

typedef struct screen {
    char   cells[SCREEN_ROWS][SCREEN_COLS + 1];
    size_t row, col;
    size_t rows_used;
} screen;

/* Replay terminal output: enough of a VT100 for the progress renderer. */
static void replay(screen *s, const char *text, size_t len)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\r') {
            s->col = 0;
        } else if (c == '\n') {
            s->row = s->row + 1 < SCREEN_ROWS ? s->row + 1 : s->row;
        } else if (c == '\033' && i + 1 < len && text[i + 1] == '[') {
            size_t j = i + 2, n = 0;
            while (j < len && text[j] >= '0' && text[j] <= '9')
                n = n * 10 + (size_t)(text[j++] - '0');
            char op = j < len ? text[j] : '\0';
            if (op == 'A')
                s->row = n <= s->row ? s->row - n : 0;
            else if (op == 'B')
                s->row = s->row + n < SCREEN_ROWS ? s->row + n : SCREEN_ROWS - 1;
            else if (op == 'K' && s->col < SCREEN_COLS)
                memset(s->cells[s->row] + s->col, 0, SCREEN_COLS - s->col);
            else if (op == 'K')
                s->cells[s->row][SCREEN_COLS - 1] = '\0';
            else
                CHECK(!"unexpected escape sequence");
            i = j;
        } else {
            /* Auto-wrap as xterm does: a character after the last column
             * starts the next row. */
            if (s->col == SCREEN_COLS) {
                s->row = s->row + 1 < SCREEN_ROWS ? s->row + 1 : s->row;
                s->col = 0;
            }
            s->cells[s->row][s->col++] = c;
        }
        if (s->cells[s->row][0] && s->row + 1 > s->rows_used)
            s->rows_used = s->row + 1;
    }
}

/* Run modelmgr with stderr on a pseudo-terminal; returns its exit status
 * and what it wrote to the terminal (caller frees). */
static int run_on_pty(const fixture *fx, const char *const *args, char **tty_out, size_t *tty_len)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
        mmtest_skip("no pseudo-terminal available: %s", strerror(errno));
    char slave_name[256];
    snprintf(slave_name, sizeof slave_name, "%s", ptsname(master));
    struct winsize ws = { .ws_row = 24, .ws_col = SCREEN_COLS };
    CHECK_INT(ioctl(master, TIOCSWINSZ, &ws), 0);
    char ep[128], cache[4200], home[4200], models[4200], list[4200];
    snprintf(ep, sizeof ep, "HF_ENDPOINT=%s", mockhub_url(fx->mh));
    snprintf(cache, sizeof cache, "HF_HUB_CACHE=%s", fx->cache);
    snprintf(home, sizeof home, "HF_HOME=%s/home", fx->tmp);
    snprintf(models, sizeof models, "MODELS_DIR=%s/models", fx->tmp);
    snprintf(list, sizeof list, "MODELS_FILE=%s/conf/models.txt", fx->tmp);
    const char *bin = getenv("MODELMGR_BIN");
    pid_t pid = fork();
    if (pid == 0) {
        int slave = open(slave_name, O_RDWR | O_NOCTTY);
        int null = open("/dev/null", O_WRONLY);
        if (slave < 0 || null < 0)
            _exit(126);
        dup2(null, 1);
        dup2(slave, 2);
        const char *env[] = { ep, cache, home, models, list, "HF_TOKEN=", "HF_HUB_OFFLINE=0",
                              "HUGGING_FACE_HUB_TOKEN=", "NO_PROXY=127.0.0.1", NULL };
        for (size_t i = 0; env[i]; i++)
            putenv((char *)env[i]);
        char *argv[16] = { (char *)(bin ? bin : "./modelmgr") };
        for (size_t i = 0; args[i] && i + 2 < 16; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    mm_buf b;
    mm_buf_init(&b, 1 << 20);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(master, chunk, sizeof chunk);
        if (n > 0) {
            mm_buf_append(&b, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;   /* EIO: every slave descriptor is closed, the child is done */
    }
    close(master);
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    *tty_len = b.len;
    *tty_out = mm_buf_take(&b);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool screen_has_line(const screen *s, const char *name)
{
    for (size_t r = 0; r < s->rows_used; r++) {
        const char *line = s->cells[r];
        if (strncmp(line, name, strlen(name)) == 0 && strstr(line, "[####################]") &&
            strstr(line, "/s  done"))
            return true;
    }
    return false;
}

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    /* Three LFS files large enough to arrive in several chunks. */
    mockhub_repo_add(fx.mh, "org/big", MOCKHUB_PUBLIC);
    mockhub_file_add(fx.mh, "org/big", "a.bin", 3u << 20, 11, true);
    mockhub_file_add(fx.mh, "org/big", "b.bin", 2u << 20, 12, true);
    mockhub_file_add(fx.mh, "org/big", "c.bin", 1u << 20, 13, true);
    mockhub_tag_add(fx.mh, "org/big", "v1", "main");

    const char *pull[] = { "pull", "org/big", "--revision", "v1", NULL };
    char *tty = NULL;
    size_t len = 0;
    CHECK_INT(run_on_pty(&fx, pull, &tty, &len), 0);
    screen *s = calloc(1, sizeof *s);
    replay(s, tty ? tty : "", len);
    /* One line per file, redrawn in place; the log's lines come in between
     * without throwing the redraws off. */
    size_t bars = 0;
    for (size_t r = 0; r < s->rows_used; r++)
        bars += strstr(s->cells[r], "[#") != NULL || strstr(s->cells[r], "[.") != NULL;
    CHECK_INT(bars, 3);
    CHECK(screen_has_line(s, "a.bin "));
    CHECK(screen_has_line(s, "b.bin "));
    CHECK(screen_has_line(s, "c.bin "));
    CHECK(tty && !strstr(tty, "downloading"));   /* not the plain format */
    if (mmtest_failures)   /* what the terminal showed, for the log */
        for (size_t r = 0; r < s->rows_used; r++)
            fprintf(stderr, "screen row %zu: %s\n", r, s->cells[r]);
    free(s);
    free(tty);

    /* --quiet: nothing at all on the terminal. */
    const char *quiet[] = { "pull", "org/big", "--revision", "v1", "--quiet", NULL };
    mmtest_rmtree(fx.cache);
    CHECK_INT(run_on_pty(&fx, quiet, &tty, &len), 0);
    CHECK(tty && !strstr(tty, "[#") && !strstr(tty, "\033["));
    free(tty);
    fx_stop(&fx);
    return mmtest_finish();
}
