/* factory-worker.c - crash isolation: the instance factory that runs each
 * loaded model in a `modelmgr worker` process and talks to it over a Unix
 * socket with the OpenAI backend client, plus the supervisor thread that
 * reaps, kills (hang, memory) and restarts those processes.
 *
 * DESIGN: one mutex guards every worker record. Only the supervisor thread
 * forks: PR_SET_PDEATHSIG fires when the forking *thread* ends, and request
 * threads come and go. load() asks the supervisor for a process and waits
 * until it opens its socket; generate() never blocks the supervisor. A
 * worker that ends bumps its epoch, so a request that started before can
 * tell that its failure was the worker's death and report why. The
 * supervisor sleeps in poll(): a byte on its wake pipe (a new load, the
 * stop) or on a starting worker's ready pipe (`--ready-fd`: the worker
 * writes one once its socket serves) wakes it at once, so a load waits for
 * the worker, not for the next tick. */
#define _GNU_SOURCE   /* pipe2 */
#include "runtime/runtime.h"
#include "backends/backends.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS      100            /* supervisor period */
#define STOP_WAIT_MS 3000           /* SIGTERM, then SIGKILL after this */
#define DEATH_WAIT_MS 2000          /* a failed request waits this long to learn of an exit */
#define GEN_TEXT_MAX (1u << 20)
#define READY_FD     3              /* the worker's end of its ready pipe ... */
#define READY_FD_ARG "3"            /* ... as its --ready-fd argument */
#define POLL_MAX     64             /* starting workers watched at once; more wait a tick */

typedef enum wk_state {
    WK_SPAWN = 0,    /* the supervisor should start a process */
    WK_STARTING,     /* started, its socket not open yet */
    WK_READY,
    WK_DEAD          /* ended; restarted at restart_at_ms unless never loaded */
} wk_state;

typedef struct wk_factory wk_factory;

typedef struct wk_proc {
    wk_factory *f;
    char        key[128];
    char        sock[sizeof ((struct sockaddr_un *)0)->sun_path];
    wk_state    state;
    bool        loaded;               /* load() returned it: restart after exits */
    pid_t       pid;                  /* 0: none */
    int         ready_fd;             /* read end of the ready pipe while starting; -1: none */
    bool        ready_said;           /* the worker wrote to it: its socket serves */
    unsigned    epoch;                /* bumped at every exit */
    int64_t     started_ms, restart_at_ms, backoff_ms;
    _Atomic int64_t last_token_ms;
    int         inflight;
    uint64_t    rss_limit;            /* 0: none */
    char        kill_why[256];        /* why the supervisor killed it, "" otherwise */
    char        reason[MM_ERROR_MSG_MAX]; /* how the last process ended */
    backend    *client;
    struct wk_proc *next;
} wk_proc;

struct wk_factory {
    pthread_mutex_t lock;
    pthread_cond_t  changed;          /* a state changed (CLOCK_MONOTONIC) */
    pthread_t       thread;
    bool            running, stopping;
    char           *exe;
    char          **args;             /* copied, NULL-terminated */
    size_t          n_args;
    const mm_config *cfg;
    int64_t         hang_ms, start_ms, backoff_min_ms;
    double          rss_factor;
    uint64_t        rss_limit;        /* fixed limit, or 0 */
    char            dir[96];          /* private 0700 directory of the sockets */
    int             wake[2];          /* the supervisor's wake pipe (non-blocking) */
    unsigned        next_id;
    wk_proc        *procs;
    _Atomic uint64_t changes;         /* rt_factory.changes: a process ended or came up */
};

typedef struct wk_slot {
    wk_proc *p;
} wk_slot;

static void wait_ms(wk_factory *f, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&f->changed, &f->lock, &ts);
}

/* Something for the supervisor: waiters see the broadcast, the supervisor
 * (in poll) the byte. Lock held. */
static void wake_locked(wk_factory *f)
{
    pthread_cond_broadcast(&f->changed);
    if (f->wake[1] >= 0) {
        ssize_t n = write(f->wake[1], "w", 1);   /* a full pipe is awake already */
        (void)n;
    }
}

static void close_ready(wk_proc *p)
{
    if (p->ready_fd >= 0)
        close(p->ready_fd);
    p->ready_fd = -1;
}

/* ---- the process -------------------------------------------------------- */

/* fork + exec `exe worker KEY --socket PATH args...`. Lock held (only the
 * supervisor calls it). Between fork and exec only async-signal-safe calls. */
static int spawn_locked(wk_factory *f, wk_proc *p)
{
    size_t n = 7 + f->n_args;
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv)
        return MM_ENOMEM;
    /* Without the pipe the worker is still found, by the tick's connect. */
    int ready[2] = { -1, -1 };
    close_ready(p);
    p->ready_said = false;
    bool has_ready = pipe2(ready, O_CLOEXEC | O_NONBLOCK) == 0;
    size_t a = 0;
    argv[a++] = f->exe;
    argv[a++] = "worker";
    argv[a++] = p->key;
    argv[a++] = "--socket";
    argv[a++] = p->sock;
    if (has_ready) {
        argv[a++] = "--ready-fd";
        argv[a++] = READY_FD_ARG;
    }
    for (size_t i = 0; i < f->n_args; i++)
        argv[a++] = f->args[i];
    unlink(p->sock);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        /* dup2 clears close-on-exec, except onto itself; first, in case
         * the pipe took a closed descriptor 1 */
        if (has_ready && (ready[1] == READY_FD ? fcntl(READY_FD, F_SETFD, 0)
                                               : dup2(ready[1], READY_FD)) < 0)
            _exit(127);
        dup2(2, 1);   /* the server's stdout is its own */
        int keep = has_ready ? READY_FD + 1 : 3;
        if (syscall(SYS_close_range, (unsigned)keep, ~0u, 0u) != 0)
            for (int fd = keep; fd < 4096; fd++)
                close(fd);
        execv(f->exe, argv);
        _exit(127);
    }
    int e = errno;
    free(argv);
    if (has_ready)
        close(ready[1]);
    if (pid < 0) {
        if (has_ready)
            close(ready[0]);
        snprintf(p->reason, sizeof p->reason, "cannot start a worker process for '%s': %s",
                 p->key, strerror(e));
        return MM_EIO;
    }
    p->ready_fd = has_ready ? ready[0] : -1;
    p->pid = pid;
    p->state = WK_STARTING;
    p->started_ms = mm_now_ms();
    p->kill_why[0] = '\0';
    MM_LOG_INFO("model '%s': worker process %d started (socket %s)", p->key, (int)pid, p->sock);
    return 0;
}

static bool socket_open(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    mm_strlcpy(sun.sun_path, path, sizeof sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    close(fd);
    return ok;
}

static uint64_t rss_bytes(pid_t pid)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    unsigned long long size = 0, resident = 0;
    bool ok = fgets(text, sizeof text, fp) && sscanf(text, "%llu %llu", &size, &resident) == 2;
    fclose(fp);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

static void kill_locked(wk_proc *p, const char *why)
{
    if (p->pid <= 0 || p->kill_why[0])
        return;
    mm_strlcpy(p->kill_why, why, sizeof p->kill_why);
    MM_LOG_ERROR("model '%s': killing worker process %d: %s", p->key, (int)p->pid, why);
    kill(p->pid, SIGKILL);
}

/* The process ended with status: record why, schedule the restart. */
static void exited_locked(wk_factory *f, wk_proc *p, int status)
{
    char what[300];   /* kill_why is 256 bytes */
    if (p->kill_why[0])
        snprintf(what, sizeof what, "was killed: %s", p->kill_why);
    else if (WIFSIGNALED(status))
        snprintf(what, sizeof what, "exited with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(what, sizeof what, "exited with status %d", WEXITSTATUS(status));
    int pid = (int)p->pid;
    p->pid = 0;
    close_ready(p);
    p->epoch++;
    p->state = WK_DEAD;
    unlink(p->sock);
    if (!p->loaded) {
        char msg[MM_ERROR_MSG_MAX] = "";
        char errpath[sizeof p->sock + 8];
        snprintf(errpath, sizeof errpath, "%s.err", p->sock);
        FILE *fp = fopen(errpath, "r");
        if (fp) {
            if (!fgets(msg, sizeof msg, fp))
                msg[0] = '\0';
            fclose(fp);
            unlink(errpath);
            msg[strcspn(msg, "\n")] = '\0';
        }
        snprintf(p->reason, sizeof p->reason,
                 "the worker of model '%.100s' %.200s while loading it%s%.150s",
                 p->key, what, msg[0] ? ": " : "", msg);
        p->restart_at_ms = INT64_MAX;
    } else {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : f->backoff_min_ms;
        if (p->backoff_ms > RT_BACKOFF_MAX_MS)
            p->backoff_ms = RT_BACKOFF_MAX_MS;
        p->restart_at_ms = mm_now_ms() + p->backoff_ms;
        snprintf(p->reason, sizeof p->reason, "the worker of model '%.100s' %.300s; restarting in "
                 "%" PRId64 " s", p->key, what, (p->backoff_ms + 999) / 1000);
    }
    MM_LOG_ERROR("%s (pid %d)", p->reason, pid);
    atomic_fetch_add(&f->changes, 1);
    pthread_cond_broadcast(&f->changed);
}

/* Reap p's process if it ended. Lock held. */
static void reap_locked(wk_factory *f, wk_proc *p)
{
    int status = 0;
    if (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == p->pid)
        exited_locked(f, p, status);
}

static void supervise_locked(wk_factory *f, wk_proc *p, int64_t now)
{
    reap_locked(f, p);
    char why[256];
    /* Memory first: a worker over its limit is never reported ready. */
    uint64_t rss = p->pid > 0 && p->rss_limit ? rss_bytes(p->pid) : 0;
    if (p->rss_limit && rss > p->rss_limit) {
        snprintf(why, sizeof why, "it holds %" PRIu64 " MiB of memory, over its limit of %"
                 PRIu64 " MiB", rss >> 20, p->rss_limit >> 20);
        kill_locked(p, why);
    }
    switch (p->state) {
    case WK_SPAWN:
        if (spawn_locked(f, p) != 0) {
            p->state = WK_DEAD;
            p->restart_at_ms = p->loaded ? now + f->backoff_min_ms : INT64_MAX;
            pthread_cond_broadcast(&f->changed);
        }
        break;
    case WK_STARTING:
        if (p->kill_why[0]) {
            /* killed: wait for the exit */
        } else if (p->ready_said || socket_open(p->sock)) {
            close_ready(p);
            p->state = WK_READY;
            MM_LOG_INFO("model '%s': worker process %d is serving (%" PRId64 " ms after its "
                        "start)", p->key, (int)p->pid, mm_now_ms() - p->started_ms);
            atomic_fetch_add(&f->changes, 1);
            pthread_cond_broadcast(&f->changed);
        } else if (now - p->started_ms > f->start_ms) {
            snprintf(why, sizeof why, "it did not open its socket within %" PRId64 " s",
                     f->start_ms / 1000);
            kill_locked(p, why);
        }
        break;
    case WK_READY:
        if (p->inflight > 0 && now - atomic_load(&p->last_token_ms) > f->hang_ms) {
            snprintf(why, sizeof why, "no token for %" PRId64 " s (the worker deadline)",
                     f->hang_ms / 1000);
            kill_locked(p, why);
        }
        break;
    case WK_DEAD:
        if (p->loaded && now >= p->restart_at_ms && spawn_locked(f, p) != 0)
            p->restart_at_ms = now + f->backoff_min_ms;
        break;
    }
}

/* A starting worker's ready pipe is readable: its byte, or EOF (it ended;
 * the reap tells how). Lock held. */
static void ready_event(wk_factory *f, int fd)
{
    for (wk_proc *p = f->procs; p; p = p->next) {
        if (p->ready_fd != fd || p->state != WK_STARTING)
            continue;
        char byte;
        ssize_t n = read(fd, &byte, 1);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        p->ready_said = n == 1;
        close_ready(p);
        supervise_locked(f, p, mm_now_ms());
        return;
    }
}

static void *supervisor_main(void *arg)
{
    wk_factory *f = arg;
    struct pollfd fds[1 + POLL_MAX];
    pthread_mutex_lock(&f->lock);
    while (!f->stopping) {
        int64_t now = mm_now_ms();
        nfds_t n = 0;
        fds[n++] = (struct pollfd){ .fd = f->wake[0], .events = POLLIN };
        for (wk_proc *p = f->procs; p; p = p->next) {
            supervise_locked(f, p, now);
            if (p->state == WK_STARTING && p->ready_fd >= 0 && n < 1 + POLL_MAX)
                fds[n++] = (struct pollfd){ .fd = p->ready_fd, .events = POLLIN };
        }
        /* An fd closed meanwhile (an unload) at worst wakes or waits a tick:
         * events are matched to a starting worker by fd after relocking,
         * and its read end never blocks. */
        pthread_mutex_unlock(&f->lock);
        int ready = poll(fds, n, TICK_MS);
        pthread_mutex_lock(&f->lock);
        char drain[64];
        while (read(f->wake[0], drain, sizeof drain) > 0)
            continue;
        for (nfds_t i = 1; ready > 0 && i < n; i++)
            if (fds[i].revents)
                ready_event(f, fds[i].fd);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* Stop p's process: SIGTERM, SIGKILL after STOP_WAIT_MS; always reaped. */
static void stop_process(wk_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int status = 0;
    for (int64_t waited = 0; waited < STOP_WAIT_MS; waited += 20) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            /* A clean stop exits 0; anything else (a leak report under
             * the sanitizers, a crash on the way out) is worth a line. */
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                MM_LOG_WARN("model '%s': worker process %d ended with %s %d when stopped",
                            p->key, (int)p->pid, WIFEXITED(status) ? "status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            p->pid = 0;
            return;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    MM_LOG_WARN("model '%s': worker process %d did not stop within %d ms; killing it",
                p->key, (int)p->pid, STOP_WAIT_MS);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
}

static void proc_free(wk_proc *p)
{
    if (!p)
        return;
    stop_process(p);
    close_ready(p);
    unlink(p->sock);
    backend_close(p->client);
    free(p);
}

/* ---- the factory -------------------------------------------------------- */

static int wk_estimate(void *user, const mm_model_info *m, int instances, uint64_t *bytes,
                       mm_error *err)
{
    (void)user;
    const rt_factory *eng = rt_factory_engine();
    return eng->estimate(eng->user, m, instances, bytes, err);
}

static int wk_load(void *user, const mm_model_info *info, void **out, mm_error *err)
{
    wk_factory *f = user;
    *out = NULL;
    if (info->format != MM_FORMAT_GGUF)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "'%s' is a %s model; the built-in engine runs GGUF files only",
                            info->key, mm_format_name(info->format));
    wk_proc *p = calloc(1, sizeof *p);
    if (!p)
        return mm_error_set(err, MM_ENOMEM, "out of memory loading '%s'", info->key);
    p->f = f;
    p->ready_fd = -1;
    mm_strlcpy(p->key, info->key, sizeof p->key);
    uint64_t estimate = 0;
    int pool = f->cfg && f->cfg->pool_size > 0 ? f->cfg->pool_size : 1;
    if (f->rss_limit)
        p->rss_limit = f->rss_limit;
    else if (f->rss_factor > 0 && wk_estimate(NULL, info, pool, &estimate, NULL) == 0)
        p->rss_limit = (uint64_t)((double)estimate * f->rss_factor) + RT_WORKER_RSS_SLACK;
    pthread_mutex_lock(&f->lock);
    int n = snprintf(p->sock, sizeof p->sock, "%s/w%u.sock", f->dir, f->next_id++);
    pthread_mutex_unlock(&f->lock);
    char *name = mm_asprintf("worker of '%s'", info->key);
    backend_openai_config bc = { .name = name, .base_url = "http://localhost/v1",
                                 .unix_socket = p->sock, .connect_timeout_ms = 5000 };
    int rc = name ? backend_openai_open(&bc, &p->client, err)
                  : mm_error_set(err, MM_ENOMEM, "out of memory");
    free(name);
    if (rc == 0 && (n < 0 || (size_t)n >= sizeof p->sock))
        rc = mm_error_set(err, MM_ELIMIT, "the worker socket path under %s is too long", f->dir);
    if (rc != 0) {
        proc_free(p);
        return rc;
    }
    pthread_mutex_lock(&f->lock);
    p->next = f->procs;
    f->procs = p;
    wake_locked(f);
    int64_t deadline = mm_now_ms() + f->start_ms + 5000;
    while ((p->state == WK_SPAWN || p->state == WK_STARTING) && mm_now_ms() < deadline)
        wait_ms(f, 200);
    if (p->state == WK_READY) {
        p->loaded = true;
        pthread_mutex_unlock(&f->lock);
        *out = p;
        return 0;
    }
    for (wk_proc **pp = &f->procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    rc = mm_error_set(err, MM_EIO, "%s", p->reason[0] ? p->reason
                      : "the worker did not start in time");
    pthread_mutex_unlock(&f->lock);
    proc_free(p);
    return rc;
}

static void wk_unload(void *user, void *model)
{
    wk_factory *f = user;
    wk_proc *p = model;
    if (!p)
        return;
    pthread_mutex_lock(&f->lock);
    for (wk_proc **pp = &f->procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&f->lock);
    MM_LOG_INFO("model '%s': stopping its worker process", p->key);
    proc_free(p);
}

/* A loaded model whose process ended is down until its restart serves
 * (the supervisor restarts it after the back-off, whether or not a request
 * came), so health tells of an idle worker's death as of one mid-request. */
static bool wk_down(void *user, void *model, char *why, size_t why_size)
{
    wk_factory *f = user;
    wk_proc *p = model;
    pthread_mutex_lock(&f->lock);
    bool down = p && p->epoch > 0 && p->state != WK_READY;
    if (down)
        mm_strlcpy(why, p->reason, why_size);
    pthread_mutex_unlock(&f->lock);
    return down;
}

static uint64_t wk_changes(void *user)
{
    wk_factory *f = user;
    return atomic_load(&f->changes);
}

/* Instances are the worker's slots: it runs pool_size of them itself. */
static int wk_instance_new(void *user, void *model, void **out, mm_error *err)
{
    (void)user;
    wk_slot *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance");
    s->p = model;
    *out = s;
    return 0;
}

static void wk_instance_free(void *user, void *inst)
{
    (void)user;
    free(inst);
}

typedef struct wk_call {
    wk_proc               *p;
    const mm_gen_request  *req;
    mm_buf                 text;      /* what was streamed */
    bool                   halted;    /* on_piece asked to stop */
} wk_call;

static int wk_on_token(const char *piece, size_t len, void *user)
{
    wk_call *c = user;
    atomic_store(&c->p->last_token_ms, mm_now_ms());
    mm_buf_append(&c->text, piece, len);
    if (c->req->on_piece && c->req->on_piece(piece, len, c->req->piece_user) != 0) {
        c->halted = true;
        return 1;
    }
    return 0;
}

static int wk_generate(void *user, void *inst, const mm_gen_request *req, char **text,
                       mm_gen_result *res, mm_error *err)
{
    wk_factory *f = user;
    wk_proc *p = ((wk_slot *)inst)->p;
    *text = NULL;
    pthread_mutex_lock(&f->lock);
    int64_t deadline = mm_now_ms() + f->start_ms;
    while ((p->state == WK_SPAWN || p->state == WK_STARTING ||
            (p->state == WK_READY && p->kill_why[0])) &&
           mm_now_ms() < deadline && !f->stopping)
        wait_ms(f, 200);
    if (p->state != WK_READY) {
        int rc = mm_error_set(err, MM_EIO, "%s", p->reason[0] ? p->reason
                              : "the model's worker process is not running");
        pthread_mutex_unlock(&f->lock);
        return rc;
    }
    unsigned epoch = p->epoch;
    p->inflight++;
    atomic_store(&p->last_token_ms, mm_now_ms());
    pthread_mutex_unlock(&f->lock);

    backend_message *msgs = req->n_messages ? calloc(req->n_messages, sizeof *msgs) : NULL;
    if (req->n_messages && !msgs) {
        pthread_mutex_lock(&f->lock);
        p->inflight--;
        pthread_mutex_unlock(&f->lock);
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < req->n_messages; i++)
        msgs[i] = (backend_message){ req->messages[i].role, req->messages[i].content };
    /* The worker applies the stop strings too, so it stops generating at
     * one and its usage counts the tokens up to it, as in-process (the
     * manager's filter here then finds nothing left to cut). Its parser
     * refuses the empty ones, which stop nothing. */
    const char *stops[MM_GEN_STOP_MAX];
    size_t n_stops = 0;
    for (size_t i = 0; req->stop && i < req->n_stop && n_stops < MM_GEN_STOP_MAX; i++)
        if (req->stop[i] && req->stop[i][0])
            stops[n_stops++] = req->stop[i];
    backend_request br = {
        .model = p->key, .messages = msgs, .n_messages = req->n_messages,
        .prompt = req->prompt, .max_tokens = req->max_tokens, .temperature = req->temperature,
        .top_p = req->top_p, .presence_penalty = req->presence_penalty,
        .frequency_penalty = req->frequency_penalty, .has_seed = req->has_seed,
        /* back to the client's signed value, which the worker's parser takes */
        .seed = (int64_t)req->seed, .stream = true, .stream_usage = true,
        .stop = stops, .n_stop = n_stops,
    };
    wk_call call = { .p = p, .req = req };
    mm_buf_init(&call.text, GEN_TEXT_MAX);
    backend_result out;
    mm_error berr = { 0 };
    int rc = p->client->ops->generate(p->client, &br, wk_on_token, &call, req->cancel, &out,
                                      &berr);
    free(msgs);

    pthread_mutex_lock(&f->lock);
    p->inflight--;
    if (rc != 0 && rc != MM_ECANCELED) {
        /* A dropped connection is most often the process ending: give the
         * exit a moment to show, then report it rather than the socket. */
        int64_t until = mm_now_ms() + DEATH_WAIT_MS;
        while (p->epoch == epoch && p->pid > 0 && mm_now_ms() < until) {
            reap_locked(f, p);
            if (p->epoch == epoch)
                wait_ms(f, 20);
        }
        if (p->epoch != epoch)
            mm_error_set(&berr, MM_EIO, "%s", p->reason);
    } else if (rc == 0) {
        p->backoff_ms = 0;   /* it served: the next crash starts the back-off over */
    }
    pthread_mutex_unlock(&f->lock);

    if (rc == MM_ECANCELED) {
        /* Stopped by on_piece or the cancel flag: the text so far. */
        rc = 0;
        mm_strlcpy(res->finish_reason, "cancelled", sizeof res->finish_reason);
        *text = call.text.data ? mm_buf_take(&call.text) : mm_strdup("");
        if (!*text)
            rc = mm_error_set(err, MM_ENOMEM, "out of memory");
    } else if (rc == 0) {
        mm_strlcpy(res->finish_reason, out.finish_reason[0] ? out.finish_reason : "stop",
                   sizeof res->finish_reason);
        res->prompt_tokens = out.prompt_tokens;
        res->completion_tokens = out.completion_tokens;
        res->ms_to_first_token = out.ttft_ms;
        double gen_ms = out.total_ms - out.ttft_ms;
        if (gen_ms > 0 && out.completion_tokens > 1)
            res->tokens_per_s = (double)(out.completion_tokens - 1) * 1000.0 / gen_ms;
        *text = out.text;
        out.text = NULL;
        backend_result_free(&out);
    } else if (err) {
        *err = berr;
        err->code = rc;
    }
    mm_buf_free(&call.text);
    return rc;
}

/* ---- lifetime ------------------------------------------------------------ */

static int make_dir(wk_factory *f, mm_error *err)
{
    const char *tmp = getenv("TMPDIR");
    /* sun_path holds 108 bytes: a long TMPDIR would not leave room. */
    if (!tmp || !tmp[0] || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/modelmgr-workers-XXXXXX", tmp);
    if (!mkdtemp(f->dir))   /* mode 0700 */
        return mm_error_set(err, MM_EIO, "cannot create a private directory for the worker "
                            "sockets under %s: %s", tmp, strerror(errno));
    return 0;
}

static void factory_free(wk_factory *f)
{
    if (!f)
        return;
    if (f->running) {
        pthread_mutex_lock(&f->lock);
        f->stopping = true;
        wake_locked(f);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (f->wake[i] >= 0)
            close(f->wake[i]);
    while (f->procs) {
        wk_proc *p = f->procs;
        f->procs = p->next;
        proc_free(p);
    }
    if (f->dir[0])
        rmdir(f->dir);
    for (size_t i = 0; i < f->n_args; i++)
        free(f->args[i]);
    free(f->args);
    free(f->exe);
    pthread_cond_destroy(&f->changed);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int rt_factory_worker_new(const rt_worker_options *o, rt_factory *out, mm_error *err)
{
    memset(out, 0, sizeof *out);
    if (!o || !o->exe || !o->exe[0])
        return mm_error_set(err, MM_EINVAL, "the worker factory needs the modelmgr binary");
    wk_factory *f = calloc(1, sizeof *f);
    if (!f)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->changed, &attr);
    pthread_condattr_destroy(&attr);
    f->wake[0] = f->wake[1] = -1;
    f->cfg = o->cfg;
    f->hang_ms = o->hang_ms > 0 ? o->hang_ms : RT_WORKER_HANG_MS;
    f->start_ms = o->start_ms > 0 ? o->start_ms : RT_WORKER_START_MS;
    f->rss_factor = o->rss_factor == 0 ? RT_WORKER_RSS_FACTOR : o->rss_factor;
    f->rss_limit = o->rss_limit;
    f->backoff_min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : RT_BACKOFF_MIN_MS;
    size_t n = 0;
    while (o->args && o->args[n])
        n++;
    int rc = MM_ENOMEM;
    if (n > RT_WORKER_ARGS_MAX) {
        rc = mm_error_set(err, MM_ELIMIT, "%zu worker arguments; at most %d", n,
                          RT_WORKER_ARGS_MAX);
        goto fail;
    }
    f->exe = mm_strdup(o->exe);
    f->args = calloc(n + 1, sizeof *f->args);
    if (!f->exe || !f->args)
        goto fail;
    for (; f->n_args < n; f->n_args++)
        if (!(f->args[f->n_args] = mm_strdup(o->args[f->n_args])))
            goto fail;
    if ((rc = make_dir(f, err)) != 0)
        goto fail;
    if (pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        f->wake[0] = f->wake[1] = -1;
        rc = mm_error_set(err, MM_EIO, "cannot create the worker supervisor's pipe: %s",
                          strerror(errno));
        goto fail;
    }
    if (pthread_create(&f->thread, NULL, supervisor_main, f) != 0) {
        rc = mm_error_set(err, MM_EIO, "cannot start the worker supervisor thread: %s",
                          strerror(errno));
        goto fail;
    }
    f->running = true;
    out->user = f;
    out->estimate = wk_estimate;
    out->load = wk_load;
    out->unload = wk_unload;
    out->instance_new = wk_instance_new;
    out->instance_free = wk_instance_free;
    out->generate = wk_generate;
    out->runs = rt_factory_runs_gguf;
    out->down = wk_down;
    out->changes = wk_changes;
    return 0;
fail:
    if (rc == MM_ENOMEM)
        mm_error_set(err, MM_ENOMEM, "out of memory");
    factory_free(f);
    return rc;
}

void rt_factory_worker_free(rt_factory *f)
{
    if (!f || !f->user)
        return;
    factory_free(f->user);
    memset(f, 0, sizeof *f);
}
