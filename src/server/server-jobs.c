/* server-jobs.c - background pull jobs for the admin API and Ollama's
 * /api/pull: a bounded table of jobs, SERVER_JOB_WORKERS threads running
 * mm_pull with progress, and the manager's catalog refreshed after each
 * success so the new model can be served.
 *
 * DESIGN: one mutex guards the table; a job's `version` grows on every
 * change and one condition variable wakes whoever waits for a change (the
 * Ollama stream, a stopping table). mm_pull cannot be interrupted, so
 * server_jobs_free waits for the pulls in progress (the hub's stall and retry
 * limits bound that). */
#include "server/server.h"
#include "runtime/runtime.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_PULL_FILES_MAX 256

typedef struct job {
    bool             used;
    uint64_t         seq;        /* submission order */
    server_pull_spec spec;
    server_job_info  info;
    double           file_rate[SERVER_JOB_FILES_MAX];
    struct server_jobs *owner;
} job;

struct server_jobs {
    const mm_config *cfg;
    mm_manager      *mgr;
    pthread_mutex_t  mu;
    pthread_cond_t   changed;    /* a job changed, or the table is stopping */
    job              jobs[SERVER_JOBS_MAX];
    uint64_t         next_seq;
    bool             stopping;
    pthread_t        workers[SERVER_JOB_WORKERS];
    size_t           n_workers;
};

const char *server_job_state_name(server_job_state state)
{
    switch (state) {
    case SERVER_JOB_QUEUED:  return "queued";
    case SERVER_JOB_RUNNING: return "running";
    case SERVER_JOB_DONE:    return "done";
    case SERVER_JOB_FAILED:  return "failed";
    }
    return "unknown";
}

static bool finished(const job *j)
{
    return j->info.state == SERVER_JOB_DONE || j->info.state == SERVER_JOB_FAILED;
}

/* Lock held. */
static void touch(server_jobs *jobs, job *j)
{
    j->info.version++;
    pthread_cond_broadcast(&jobs->changed);
}

static void sum_files(job *j)
{
    server_job_info *in = &j->info;
    in->bytes_done = in->bytes_total = 0;
    in->rate = 0;
    for (size_t i = 0; i < in->n_files; i++) {
        in->bytes_done += in->files[i].done;
        in->bytes_total += in->files[i].total;
        if (in->files[i].done < in->files[i].total)
            in->rate += j->file_rate[i];
    }
}

/* Called from a downloading thread (never two at once for one pull). */
static void on_progress(const char *repo_path, uint64_t done, uint64_t total, double rate,
                        void *user)
{
    job *j = user;
    server_jobs *jobs = j->owner;
    pthread_mutex_lock(&jobs->mu);
    server_job_info *in = &j->info;
    size_t i = 0;
    while (i < in->n_files && strncmp(in->files[i].name, repo_path, sizeof in->files[i].name - 1))
        i++;
    if (i == in->n_files && in->n_files < SERVER_JOB_FILES_MAX) {
        mm_strlcpy(in->files[i].name, repo_path, sizeof in->files[i].name);
        in->n_files++;
    }
    if (i < in->n_files) {
        in->files[i].done = done;
        in->files[i].total = total;
        j->file_rate[i] = rate;
    }
    mm_strlcpy(in->current_file, repo_path, sizeof in->current_file);
    sum_files(j);
    touch(jobs, j);
    pthread_mutex_unlock(&jobs->mu);
}

/* The oldest queued job, or NULL. Lock held. */
static job *next_queued(server_jobs *jobs)
{
    job *best = NULL;
    for (size_t i = 0; i < SERVER_JOBS_MAX; i++) {
        job *j = &jobs->jobs[i];
        if (j->used && j->info.state == SERVER_JOB_QUEUED && (!best || j->seq < best->seq))
            best = j;
    }
    return best;
}

/* Record what mm_pull produced: every file with its size and sha256. Lock held. */
static void record_files(job *j, const mm_pull_file *files, size_t n)
{
    server_job_info *in = &j->info;
    for (size_t f = 0; f < n; f++) {
        size_t i = 0;
        while (i < in->n_files &&
               strncmp(in->files[i].name, files[f].repo_path, sizeof in->files[i].name - 1))
            i++;
        if (i == in->n_files) {
            if (in->n_files == SERVER_JOB_FILES_MAX)
                break;
            mm_strlcpy(in->files[i].name, files[f].repo_path, sizeof in->files[i].name);
            in->n_files++;
        }
        in->files[i].done = in->files[i].total = files[f].size;
        mm_strlcpy(in->files[i].sha256, files[f].sha256, sizeof in->files[i].sha256);
    }
    sum_files(j);
}

static void run_job(server_jobs *jobs, job *j, mm_pull_file *files)
{
    const char *include[SERVER_PATTERNS_MAX + 1] = { 0 };
    const char *exclude[SERVER_PATTERNS_MAX + 1] = { 0 };
    /* The spec is not written while the job runs: read it unlocked. */
    const server_pull_spec *sp = &j->spec;
    for (size_t i = 0; i < sp->n_include; i++)
        include[i] = sp->include[i];
    for (size_t i = 0; i < sp->n_exclude; i++)
        exclude[i] = sp->exclude[i];
    char *lock_path = mm_lock_path(jobs->cfg);
    mm_pull_request rq = {
        .repo = sp->repo,
        .file = sp->filename[0] ? sp->filename : NULL,
        .revision = sp->revision,
        .models_dir = jobs->cfg->models_dir,
        .lock_path = lock_path,
        .include = sp->n_include ? include : NULL,
        .exclude = sp->n_exclude ? exclude : NULL,
    };
    size_t n = 0;
    mm_error err = { 0 };
    int rc = lock_path ? mm_pull(jobs->cfg, &rq, on_progress, j, files, JOB_PULL_FILES_MAX, &n,
                                 &err)
                       : mm_error_set(&err, MM_ENOMEM, "out of memory");
    free(lock_path);
    if (lock_path && rc != MM_EPINNING && rc != MM_EINVAL)
        rt_hub_contact_note(jobs->mgr, rc, &err);
    if (rc == 0 && jobs->mgr) {
        /* The downloaded model joins the manager's catalog: servable now. */
        mm_error rerr = { 0 };
        if (rt_manager_refresh(jobs->mgr, &rerr) != 0)
            MM_LOG_WARN("pull job %s: the catalog was not refreshed: %s", j->info.id,
                        rerr.message);
    }
    /* Logged before the job is marked finished: after that its slot may be
     * reused by a new submission. */
    if (rc == 0)
        MM_LOG_INFO("pull job %s: %s at %s done (%zu file%s)", j->info.id, sp->repo,
                    sp->revision, n, n == 1 ? "" : "s");
    else
        MM_LOG_WARN("pull job %s: %s at %s failed: %s", j->info.id, sp->repo, sp->revision,
                    err.message);
    pthread_mutex_lock(&jobs->mu);
    record_files(j, files, n);
    j->info.state = rc == 0 ? SERVER_JOB_DONE : SERVER_JOB_FAILED;
    if (rc != 0)
        mm_strlcpy(j->info.error, err.message, sizeof j->info.error);
    j->info.rate = 0;
    j->info.finished_s = mm_wall_ms() / 1000;
    touch(jobs, j);
    pthread_mutex_unlock(&jobs->mu);
}

static void *worker_main(void *arg)
{
    server_jobs *jobs = arg;
    mm_pull_file *files = calloc(JOB_PULL_FILES_MAX, sizeof *files);
    pthread_mutex_lock(&jobs->mu);
    while (!jobs->stopping) {
        job *j = files ? next_queued(jobs) : NULL;
        if (!j) {
            pthread_cond_wait(&jobs->changed, &jobs->mu);
            continue;
        }
        j->info.state = SERVER_JOB_RUNNING;
        j->info.started_s = mm_wall_ms() / 1000;
        touch(jobs, j);
        pthread_mutex_unlock(&jobs->mu);
        run_job(jobs, j, files);
        pthread_mutex_lock(&jobs->mu);
    }
    pthread_mutex_unlock(&jobs->mu);
    free(files);
    return NULL;
}

int server_jobs_new(const mm_config *cfg, mm_manager *mgr, server_jobs **out, mm_error *err)
{
    *out = NULL;
    server_jobs *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return mm_error_set(err, MM_ENOMEM, "out of memory");
    jobs->cfg = cfg;
    jobs->mgr = mgr;
    pthread_mutex_init(&jobs->mu, NULL);
    pthread_cond_init(&jobs->changed, NULL);
    for (size_t i = 0; i < SERVER_JOBS_MAX; i++)
        jobs->jobs[i].owner = jobs;
    for (size_t i = 0; i < SERVER_JOB_WORKERS; i++) {
        int e = pthread_create(&jobs->workers[i], NULL, worker_main, jobs);
        if (e != 0) {
            if (jobs->n_workers > 0)
                break;   /* fewer workers still run every job */
            server_jobs_free(jobs);
            return mm_error_set(err, MM_EIO, "cannot start a pull worker thread: %s",
                                strerror(e));
        }
        jobs->n_workers++;
    }
    *out = jobs;
    return 0;
}

void server_jobs_free(server_jobs *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->mu);
    jobs->stopping = true;
    for (size_t i = 0; i < SERVER_JOBS_MAX; i++) {
        job *j = &jobs->jobs[i];
        if (j->used && j->info.state == SERVER_JOB_QUEUED) {
            j->info.state = SERVER_JOB_FAILED;
            mm_strlcpy(j->info.error, "the server stopped before the pull began",
                       sizeof j->info.error);
            touch(jobs, j);
        }
    }
    pthread_cond_broadcast(&jobs->changed);
    pthread_mutex_unlock(&jobs->mu);
    for (size_t i = 0; i < jobs->n_workers; i++)
        pthread_join(jobs->workers[i], NULL);
    pthread_cond_destroy(&jobs->changed);
    pthread_mutex_destroy(&jobs->mu);
    free(jobs);
}

/* A free slot: an unused one, else the oldest job finished long enough ago,
 * else the oldest finished one. NULL when every job is queued or running.
 * Lock held. */
static job *free_slot(server_jobs *jobs)
{
    job *oldest = NULL;
    int64_t now_s = mm_wall_ms() / 1000;
    for (size_t i = 0; i < SERVER_JOBS_MAX; i++) {
        job *j = &jobs->jobs[i];
        if (j->used && finished(j) && now_s - j->info.finished_s >= SERVER_JOB_KEEP_S)
            j->used = false;
        if (!j->used)
            return j;
        if (finished(j) && (!oldest || j->seq < oldest->seq))
            oldest = j;
    }
    return oldest;
}

int server_jobs_submit(server_jobs *jobs, const server_pull_spec *spec, char id[40],
                       mm_error *err)
{
    pthread_mutex_lock(&jobs->mu);
    job *j = jobs->stopping ? NULL : free_slot(jobs);
    if (!j) {
        bool stopping = jobs->stopping;
        pthread_mutex_unlock(&jobs->mu);
        if (stopping)
            return mm_error_set(err, MM_EBUSY, "the server is stopping; pull again after it "
                                "restarts");
        return mm_error_set(err, MM_EBUSY, "%d pull jobs are queued or running already; "
                            "retry when one has finished (GET /api/jobs)", SERVER_JOBS_MAX);
    }
    server_jobs *owner = j->owner;
    memset(j, 0, sizeof *j);
    j->owner = owner;
    j->used = true;
    j->seq = ++jobs->next_seq;
    j->spec = *spec;
    server_random_id("job-", j->info.id, sizeof j->info.id);
    mm_strlcpy(j->info.repo, spec->repo, sizeof j->info.repo);
    mm_strlcpy(j->info.revision, spec->revision, sizeof j->info.revision);
    j->info.state = SERVER_JOB_QUEUED;
    j->info.created_s = mm_wall_ms() / 1000;
    mm_strlcpy(id, j->info.id, 40);
    touch(jobs, j);
    pthread_mutex_unlock(&jobs->mu);
    MM_LOG_INFO("pull job %s queued: %s at %s", id, spec->repo, spec->revision);
    return 0;
}

static job *find_locked(server_jobs *jobs, const char *id)
{
    for (size_t i = 0; i < SERVER_JOBS_MAX; i++)
        if (jobs->jobs[i].used && strcmp(jobs->jobs[i].info.id, id) == 0)
            return &jobs->jobs[i];
    return NULL;
}

int server_jobs_get(server_jobs *jobs, const char *id, uint64_t seen, int64_t timeout_ms,
                    server_job_info *out)
{
    int64_t deadline = mm_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&jobs->mu);
    job *j = find_locked(jobs, id);
    while (j && j->info.version == seen && !jobs->stopping && mm_now_ms() < deadline) {
        int64_t left = deadline - mm_now_ms();
        if (left > 100)
            left = 100;   /* re-check the slot: it may be reused */
        server_timed_wait(&jobs->changed, &jobs->mu, left);
        j = find_locked(jobs, id);
    }
    if (j)
        *out = j->info;
    pthread_mutex_unlock(&jobs->mu);
    return j ? 0 : MM_ENOTFOUND;
}

size_t server_jobs_list(server_jobs *jobs, server_job_info *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&jobs->mu);
    uint64_t after = 0;
    while (n < max) {
        job *next = NULL;
        for (size_t i = 0; i < SERVER_JOBS_MAX; i++) {
            job *j = &jobs->jobs[i];
            if (j->used && j->seq > after && (!next || j->seq < next->seq))
                next = j;
        }
        if (!next)
            break;
        out[n++] = next->info;
        after = next->seq;
    }
    pthread_mutex_unlock(&jobs->mu);
    return n;
}

cJSON *server_job_json(const server_job_info *jb)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jb->id);
    cJSON_AddStringToObject(o, "state", server_job_state_name(jb->state));
    cJSON_AddStringToObject(o, "repo", jb->repo);
    cJSON_AddStringToObject(o, "revision", jb->revision);
    cJSON_AddNumberToObject(o, "bytes_done", (double)jb->bytes_done);
    cJSON_AddNumberToObject(o, "bytes_total", (double)jb->bytes_total);
    cJSON_AddNumberToObject(o, "rate", jb->rate);
    if (jb->current_file[0])
        cJSON_AddStringToObject(o, "current_file", jb->current_file);
    else
        cJSON_AddNullToObject(o, "current_file");
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (size_t i = 0; i < jb->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", jb->files[i].name);
        cJSON_AddNumberToObject(f, "bytes_done", (double)jb->files[i].done);
        cJSON_AddNumberToObject(f, "bytes_total", (double)jb->files[i].total);
        if (jb->files[i].sha256[0])
            cJSON_AddStringToObject(f, "sha256", jb->files[i].sha256);
        cJSON_AddItemToArray(files, f);
    }
    cJSON_AddNumberToObject(o, "created", (double)jb->created_s);
    if (jb->started_s)
        cJSON_AddNumberToObject(o, "started", (double)jb->started_s);
    if (jb->finished_s)
        cJSON_AddNumberToObject(o, "finished", (double)jb->finished_s);
    if (jb->state == SERVER_JOB_FAILED)
        cJSON_AddStringToObject(o, "error", jb->error);
    else
        cJSON_AddNullToObject(o, "error");
    return o;
}
