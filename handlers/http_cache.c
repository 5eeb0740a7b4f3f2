/* http_cache.c -- the open-file cache, as nginx's open_file_cache: the
 * bytes of small files (up to HTTP_CACHE_FILE_MAX each), by their path
 * under the root, so a hot file costs no open, fstat, read or close.
 *
 * Bounded: CACHE_SLOTS entries, direct-mapped by a hash of the path (a
 * new file takes its slot's place), and CACHE_BYTES of copies in all
 * (past that, files are not added until others leave).
 *
 * Fresh enough: an entry checked more than a second ago is checked again
 * with one fstatat beneath the root: the same device, inode, size, mtime
 * and ctime, or it is dropped and the file opened anew the safe way.  So
 * a file changed on disk may be served as it was for up to a second, and
 * a deleted one too (nginx's open_file_cache_valid is 60 s).  The fstatat
 * follows symlinks, which is safe: only a file identical to the one
 * opened beneath the root passes.
 *
 * Shared by the threads of a process under one mutex, held only to find
 * and copy (no system call under it); each forked process (fork mode,
 * workers) has a copy of its own, useless in fork mode but harmless. */
#include "http.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 256
#define CACHE_BYTES (4 * 1024 * 1024)

typedef struct entry {
    char *path; /* NULL: the slot is empty */
    char *bytes;
    struct stat st; /* as when cached: identity, size, times */
    const char *type;
    long long checked; /* when st was last confirmed, in seconds */
} entry_t;

struct http_cache {
    pthread_mutex_t lock;
    size_t bytes; /* in all entries */
    entry_t slots[CACHE_SLOTS];
};

http_cache_t *http_cache_new(void)
{
    http_cache_t *cache = calloc(1, sizeof(*cache));
    if (cache && pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache);
        cache = NULL;
    }
    return cache;
}

static void drop(http_cache_t *cache, entry_t *e)
{
    if (e->path)
        cache->bytes -= (size_t)e->st.st_size;
    free(e->path);
    free(e->bytes);
    memset(e, 0, sizeof(*e));
}

void http_cache_free(http_cache_t *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        drop(cache, &cache->slots[i]);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* FNV-1a. */
static entry_t *slot_of(http_cache_t *cache, const char *path)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &cache->slots[h % CACHE_SLOTS];
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && S_ISREG(b->st_mode) &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Under the lock: path's entry, or NULL. */
static entry_t *find(http_cache_t *cache, const char *path)
{
    entry_t *e = slot_of(cache, path);
    return e->path && strcmp(e->path, path) == 0 ? e : NULL;
}

static void copy_out(const entry_t *e, http_file_t *f, char *buf)
{
    memcpy(buf, e->bytes, (size_t)e->st.st_size);
    f->fd = -1;
    f->body = buf;
    f->size = (long long)e->st.st_size;
    f->mtime = e->st.st_mtim;
    f->type = e->type;
}

/* The entry is due a check: fstatat outside the lock, then confirm (or
 * drop) whatever entry holds path by then. */
static int revalidate(http_cache_t *cache, int root_fd, const char *path,
                      long long now, http_file_t *f, char *buf)
{
    struct stat st;
    int exists = fstatat(root_fd, path, &st, 0) == 0;
    int hit = 0;
    pthread_mutex_lock(&cache->lock);
    entry_t *e = find(cache, path);
    if (e && exists && same_file(&e->st, &st)) {
        e->checked = now;
        copy_out(e, f, buf);
        hit = 1;
    } else if (e) {
        drop(cache, e);
    }
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

int http_cache_get(http_cache_t *cache, int root_fd, const char *path,
                   http_file_t *f, char *buf)
{
    if (!cache)
        return 0;
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&cache->lock);
    entry_t *e = find(cache, path);
    int fresh = e && e->checked == now;
    if (fresh)
        copy_out(e, f, buf);
    pthread_mutex_unlock(&cache->lock);
    if (fresh || !e)
        return fresh;
    return revalidate(cache, root_fd, path, now, f, buf);
}

void http_cache_put(http_cache_t *cache, const char *path,
                    const struct stat *st, const char *bytes, const char *type)
{
    size_t size = (size_t)st->st_size;
    if (!cache || !S_ISREG(st->st_mode) || st->st_size < 0 ||
        size > HTTP_CACHE_FILE_MAX)
        return;
    char *p = strdup(path), *copy = malloc(size ? size : 1);
    pthread_mutex_lock(&cache->lock);
    entry_t *e = slot_of(cache, path);
    size_t freed = e->path ? (size_t)e->st.st_size : 0;
    if (p && copy && cache->bytes - freed + size <= CACHE_BYTES) {
        drop(cache, e);
        memcpy(copy, bytes, size);
        *e = (entry_t){p, copy, *st, type, (long long)time(NULL)};
        cache->bytes += size;
        p = copy = NULL; /* the entry owns them */
    }
    pthread_mutex_unlock(&cache->lock);
    free(p);
    free(copy);
}
