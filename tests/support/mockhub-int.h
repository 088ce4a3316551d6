/* mockhub-int.h - what the two halves of the mock hub share: the in-memory
 * repositories, faults and request log (mockhub.c) and the HTTP side
 * (mockhub-http.c). Test support only. */
#ifndef MM_MOCKHUB_INT_H
#define MM_MOCKHUB_INT_H

#include "support/mockhub.h"

#include <pthread.h>

struct MHD_Daemon;

#define MAX_REPOS 32
#define MAX_FILES 64
#define MAX_COMMITS 16
#define MAX_REFS 16
#define MAX_FAULTS 32
#define MAX_LOG 4096
#define MAX_SEGS 32

typedef struct mfile {
    char     path[256];
    uint8_t *data;
    size_t   size;
    bool     lfs;
    char     sha256[65];
    char     git_sha1[41];
    char     ptr_sha1[41];    /* git oid of the LFS pointer file */
    size_t   ptr_size;
} mfile;

typedef struct mcommit {
    char   sha[41];
    mfile  files[MAX_FILES];
    size_t n_files;
} mcommit;

typedef struct mref {
    char name[128];
    int  commit;   /* index into commits */
    bool tag;
} mref;

typedef struct mrepo {
    char    name[128];
    char    renamed_to[128];   /* non-empty: this name redirects there */
    mockhub_access access;
    mcommit *commits[MAX_COMMITS];
    int     n_commits;
    mref    refs[MAX_REFS];
    int     n_refs;
} mrepo;

typedef struct retired {          /* file data kept alive until stop */
    uint8_t *data;
    struct retired *next;
} retired;

struct mockhub {
    mockhub_options opts;
    char token[256], unapproved[256];
    struct MHD_Daemon *hubd, *cdnd;
    char url[64], cdn_url[64];
    pthread_mutex_t lock;
    mrepo   repos[MAX_REPOS];
    int     n_repos;
    mockhub_fault faults[MAX_FAULTS];
    char    fault_method[MAX_FAULTS][8];
    char    fault_path[MAX_FAULTS][256];
    char    fault_ratelimit[MAX_FAULTS][128];
    int     fault_used[MAX_FAULTS];
    int     n_faults;
    mockhub_request log[MAX_LOG];
    size_t  n_log;
    int     log_gen;     /* bumped by mockhub_log_clear: stale handlers' updates are dropped */
    int     cdn_auth_seen;
    retired *graveyard;
};

/* Lookups and log helpers; callers of the find functions hold hub->lock. */
mrepo   *mh_repo_find(mockhub *hub, const char *name);
mref    *mh_ref_find(mrepo *r, const char *name);
mcommit *mh_commit_find(mrepo *r, const char *rev);
mfile   *mh_file_find(mcommit *c, const char *path);
bool mh_fault_take(mockhub *hub, bool cdn, const char *method, const char *path,
                   mockhub_fault *out, char *ratelimit, size_t rl_size);
int  mh_log_begin(mockhub *hub, bool cdn, const char *method, const char *path,
                  bool had_auth, int client_port);
/* Record the M of "Range: bytes=N-M". */
void mh_log_range_end(mockhub *hub, int idx, int64_t range_end);
void mh_log_update(mockhub *hub, int idx, int status, int64_t range_start,
                   int64_t bytes, bool faulted);

#endif /* MM_MOCKHUB_INT_H */
