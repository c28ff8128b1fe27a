// wal_janitor.c - see wal_janitor.h.
#include "shards/wal_janitor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"

typedef struct janitor_job {
    struct janitor_job *next;
    uint32_t n;
    char **paths; // n names, then the directory (or NULL), in one allocation
    int *fds;
    char *dir;
} janitor_job;

struct st_wal_janitor {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; // a job was queued, or stop
    pthread_cond_t idle; // the queue emptied and no job runs
    janitor_job *head, *tail;
    uint32_t queued;
    bool busy; // the thread is running a job it took off the queue
    bool stop;
};

static void
job_run(const janitor_job *job)
{
    bool failed = false;
    for (uint32_t i = 0; i < job->n; i++) {
        if (!failed && unlink(job->paths[i]) != 0 && errno != ENOENT) {
            fprintf(stderr, "stocktwind: cannot remove %s: %s (kept, with what follows it)\n",
                    job->paths[i], strerror(errno));
            failed = true;
        }
        if (job->fds[i] >= 0)
            close(job->fds[i]);
    }
    if (job->dir == NULL)
        return;
    int fd = open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        fprintf(stderr, "stocktwind: cannot sync %s: %s\n", job->dir, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void *
janitor_main(void *arg)
{
    st_wal_janitor *j = arg;
    pthread_setname_np(pthread_self(), "st-janitor");
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (j->head == NULL && !j->stop)
            pthread_cond_wait(&j->work, &j->mu);
        if (j->head == NULL)
            break; // stop, and nothing left
        janitor_job *job = j->head;
        j->head = job->next;
        if (j->head == NULL)
            j->tail = NULL;
        j->queued--;
        j->busy = true;
        pthread_mutex_unlock(&j->mu);
        job_run(job);
        st_free(job);
        pthread_mutex_lock(&j->mu);
        j->busy = false;
        if (j->head == NULL)
            pthread_cond_broadcast(&j->idle);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

st_err
st_wal_janitor_create(st_wal_janitor **out)
{
    ST_ASSERT(out != NULL);
    st_wal_janitor *j = st_calloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->work, NULL);
    pthread_cond_init(&j->idle, NULL);
    if (pthread_create(&j->thread, NULL, janitor_main, j) != 0) {
        pthread_cond_destroy(&j->idle);
        pthread_cond_destroy(&j->work);
        pthread_mutex_destroy(&j->mu);
        st_free(j);
        *out = NULL;
        return ST_INTERNAL;
    }
    *out = j;
    return ST_OK;
}

bool
st_wal_janitor_remove(st_wal_janitor *j, const char *const *paths, const int *fds, uint32_t n,
                      const char *dir)
{
    ST_ASSERT(j != NULL && (paths != NULL || n == 0));
    // One allocation: the job, n path pointers, n descriptors, then the
    // strings themselves.
    size_t strings = dir != NULL ? strlen(dir) + 1 : 0;
    for (uint32_t i = 0; i < n; i++)
        strings += strlen(paths[i]) + 1;
    size_t head = sizeof(janitor_job) + n * sizeof(char *) + n * sizeof(int);
    janitor_job *job = st_malloc(head + strings);
    job->next = NULL;
    job->n = n;
    job->paths = (char **)(job + 1);
    job->fds = (int *)(job->paths + n);
    char *s = (char *)(job->fds + n);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(paths[i]) + 1;
        job->paths[i] = memcpy(s, paths[i], len);
        job->fds[i] = fds != NULL ? fds[i] : -1;
        s += len;
    }
    job->dir = dir != NULL ? memcpy(s, dir, strlen(dir) + 1) : NULL;
    pthread_mutex_lock(&j->mu);
    if (j->queued >= ST_WAL_JANITOR_JOBS_MAX || j->stop) {
        pthread_mutex_unlock(&j->mu);
        st_free(job);
        return false;
    }
    if (j->tail != NULL)
        j->tail->next = job;
    else
        j->head = job;
    j->tail = job;
    j->queued++;
    pthread_cond_signal(&j->work);
    pthread_mutex_unlock(&j->mu);
    return true;
}

void
st_wal_janitor_drain(st_wal_janitor *j)
{
    ST_ASSERT(j != NULL);
    pthread_mutex_lock(&j->mu);
    while (j->head != NULL || j->busy)
        pthread_cond_wait(&j->idle, &j->mu);
    pthread_mutex_unlock(&j->mu);
}

void
st_wal_janitor_destroy(st_wal_janitor *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->work);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL); // it empties the queue before it exits
    ST_ASSERT(j->head == NULL);
    pthread_cond_destroy(&j->idle);
    pthread_cond_destroy(&j->work);
    pthread_mutex_destroy(&j->mu);
    st_free(j);
}
