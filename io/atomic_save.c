/* io/atomic_save.c — nb__io_save_atomic: how checkpoint and safetensors
 * files are written (docs/io.md, "Saving a file").
 *
 * A save writes a temporary file in the target's directory, fsyncs it,
 * renames it over the target and fsyncs the directory: a crash leaves the
 * old file or the new one, never a mix. Around that:
 *
 *  - Temporaries are named "<stem>.tmp.<pid>.<6 random>", where the stem is
 *    the target's name, or, when that would make the temporary longer than
 *    the directory's NAME_MAX, its first bytes + "~" + 16 hex digits of its
 *    XXH3-64 hash. A legal 255-byte name can be saved.
 *  - A saver holds an exclusive flock(2) on its temporary from creation to
 *    rename. A temporary whose lock can be taken belongs to no live saver
 *    (the kernel drops a lock when its holder dies, however it dies): it is
 *    stale and may be removed. Why a lock and not the pid in the name: a pid
 *    says nothing about another host or container sharing the directory,
 *    and a restarted job in a container often gets the pid of the one that
 *    was killed (its stale temporary would look live forever). The pid stays
 *    in the name only to tell people whose file it was. Within this process
 *    (where POSIX-lock emulations of flock, on NFS, don't conflict) the
 *    temporaries being written are also kept in a list and never touched.
 *    The lock is taken after the file is created; the saver then checks the
 *    name still leads to its file (a sweeper may have removed the unlocked
 *    file in between) and starts again if not.
 *  - Before writing, stale temporaries of the same target are removed; when
 *    the disk is full (ENOSPC, EDQUOT), stale temporaries of every nabla file
 *    in the directory (the name pattern, and contents that start like a
 *    checkpoint or a safetensors file) are removed and the save is tried
 *    once more.
 *  - Permissions: a new file is created with 0666 filtered by the umask (and
 *    default ACLs), as fopen does; an existing file keeps its mode, and its
 *    owner and group where the process may set them (a group that can't be
 *    kept loses the group permission bits rather than granting them to ours).
 *  - A symbolic link at the path is followed (a chain of them, up to 40) and
 *    the file it leads to is replaced, as editors do; the link stays. A
 *    dangling link creates its target, as fopen(path, "w") would.
 *  - Only a regular file is replaced: a directory, device, pipe or socket at
 *    the path is an error (renaming over /dev/null as root would replace
 *    the device).
 */
#define _GNU_SOURCE
#include "io_internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

enum {
    SUFFIX_MAX = 22,  /* ".tmp." + up to 10 pid digits + "." + 6 random */
    HASHED_TAIL = 17, /* "~" + 16 hex digits */
    MAX_LINKS = 40,   /* as the kernel's MAXSYMLINKS */
};

/* ------------------------------------------------------- live temporaries */

typedef struct live_tmp {
    dev_t dev;
    ino_t ino;
    struct live_tmp *next;
} live_tmp;

static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static live_tmp *g_live;

static void live_add(live_tmp *l) {
    pthread_mutex_lock(&g_live_mu);
    l->next = g_live;
    g_live = l;
    pthread_mutex_unlock(&g_live_mu);
}

static void live_remove(live_tmp *l) {
    pthread_mutex_lock(&g_live_mu);
    for (live_tmp **p = &g_live; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    pthread_mutex_unlock(&g_live_mu);
}

static bool live_has(dev_t dev, ino_t ino) {
    pthread_mutex_lock(&g_live_mu);
    bool found = false;
    for (live_tmp *l = g_live; l && !found; l = l->next) found = l->dev == dev && l->ino == ino;
    pthread_mutex_unlock(&g_live_mu);
    return found;
}

/* ------------------------------------------------------------ test hook */

static int64_t g_test_capacity = -1;

void nb__io_test_capacity(int64_t bytes) { g_test_capacity = bytes; }

/* A directory stream over dfd from its start, on a duplicate descriptor
 * (closedir closes that one, dfd stays open); NULL when it can't be made. */
static DIR *dir_stream(int dfd) {
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        if (fd2 >= 0) close(fd2);
        return NULL;
    }
    rewinddir(d);
    return d;
}

/* Bytes in the directory's regular files. */
static int64_t dir_bytes(int dfd) {
    DIR *d = dir_stream(dfd);
    if (!d) return 0;
    int64_t sum = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat sb;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) sum += sb.st_size;
    }
    closedir(d);
    return sum;
}

typedef struct {
    int fd, dfd;
} capped_file;

/* A write that fails with ENOSPC once the directory would hold more than
 * g_test_capacity bytes: a small disk, for the tests. */
static ssize_t capped_write(void *c, const char *buf, size_t size) {
    const capped_file *cf = c;
    if (g_test_capacity >= 0 && dir_bytes(cf->dfd) + (int64_t)size > g_test_capacity) {
        errno = ENOSPC;
        return 0;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(cf->fd, buf + done, size - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            return done ? (ssize_t)done : 0;
        }
        done += (size_t)k;
    }
    return (ssize_t)done;
}

static int capped_close(void *c) {
    (void)c;
    return 0;
}

/* ------------------------------------------------------------ names */

/* The stem of base's temporaries (see the top of the file) into out
 * (NAME_MAX + 1 bytes at least). */
static void temp_stem(const char *base, long name_max, char *out) {
    size_t bl = strlen(base);
    if ((long)bl + SUFFIX_MAX <= name_max) {
        memcpy(out, base, bl + 1);
        return;
    }
    long keep = name_max - SUFFIX_MAX - HASHED_TAIL;
    size_t k = keep > 0 ? (size_t)keep : 0;
    if (k > bl) k = bl;
    while (k > 0 && ((unsigned char)base[k] & 0xC0) == 0x80) k--; /* don't cut a UTF-8 character */
    memcpy(out, base, k);
    snprintf(out + k, HASHED_TAIL + 1, "~%016llx", (unsigned long long)XXH3_64bits(base, bl));
}

void nb__io_temp_stem(const char *base, char *out) { temp_stem(base, NAME_MAX, out); }

/* If name is "<prefix>.tmp.<digits>.<6 alphanumerics>", the prefix's length;
 * otherwise -1. */
static long temp_prefix_len(const char *name) {
    size_t n = strlen(name);
    if (n < 6 + 1 + 1 + 5) return -1;
    for (size_t i = n - 6; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9')))
            return -1;
    size_t j = n - 7;
    if (name[j] != '.') return -1;
    size_t digits_end = j;
    while (j > 0 && name[j - 1] >= '0' && name[j - 1] <= '9') j--;
    if (j == digits_end || j < 5 || memcmp(name + j - 5, ".tmp.", 5) != 0) return -1;
    return (long)(j - 5);
}

/* Does the open file start like a nabla checkpoint or safetensors file? */
static bool looks_like_ours(int fd) {
    unsigned char b[9];
    if (pread(fd, b, sizeof b, 0) != (ssize_t)sizeof b) return false;
    if (!memcmp(b, "NBCKPT\r\n", 8)) return true;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    return b[8] == '{' && hl < ((uint64_t)1 << 32);
}

/* Removes the stale temporaries in dfd: of the target whose stem is given,
 * or (stem NULL) of any nabla file. Returns the bytes freed. */
static int64_t sweep_stale(int dfd, const char *stem) {
    DIR *d = dir_stream(dfd);
    if (!d) return 0;
    int64_t freed = 0;
    size_t sl = stem ? strlen(stem) : 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        long pl = temp_prefix_len(name);
        if (pl < 0 || (stem && ((size_t)pl != sl || memcmp(name, stem, sl) != 0))) continue;
        struct stat sb, sb2;
        if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (live_has(sb.st_dev, sb.st_ino)) continue; /* this process is writing it */
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && errno == EACCES) fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        /* Taking the lock proves no live saver holds it; any failure (held,
         * or a filesystem without locks) leaves the file alone. */
        bool stale = flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &sb) == 0 &&
            fstatat(dfd, name, &sb2, AT_SYMLINK_NOFOLLOW) == 0 && sb.st_dev == sb2.st_dev && sb.st_ino == sb2.st_ino;
        if (stale && !stem) stale = sb.st_size > 0 && looks_like_ours(fd);
        if (stale && unlinkat(dfd, name, 0) == 0) freed += sb.st_size;
        close(fd);
    }
    closedir(d);
    return freed;
}

/* ------------------------------------------------------------ the path */

/* The file a save to path replaces: path itself, or where its chain of
 * symbolic links ends (possibly not existing yet). malloc'd; NULL with
 * errno set on a loop or an unreadable link. */
static char *resolve_links(const char *path) {
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) return cur; /* missing: a new file */
        if (hops == MAX_LINKS) {
            free(cur);
            errno = ELOOP;
            return NULL;
        }
        size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 256;
        char *tgt = NULL;
        for (;;) {
            char *t2 = realloc(tgt, cap);
            if (!t2) break;
            tgt = t2;
            ssize_t k = readlink(cur, tgt, cap);
            if (k < 0) {
                free(tgt);
                tgt = NULL;
                break;
            }
            if ((size_t)k < cap) {
                tgt[k] = '\0';
                break;
            }
            cap *= 2;
        }
        if (!tgt) {
            free(cur);
            return NULL;
        }
        char *next;
        const char *slash = strrchr(cur, '/');
        if (tgt[0] == '/' || !slash) {
            next = tgt;
        } else { /* relative to the link's directory */
            size_t dl = (size_t)(slash - cur) + 1, tl = strlen(tgt);
            next = malloc(dl + tl + 1);
            if (next) {
                memcpy(next, cur, dl);
                memcpy(next + dl, tgt, tl + 1);
            }
            free(tgt);
        }
        free(cur);
        cur = next;
    }
    return NULL;
}

/* ------------------------------------------------------------ saving */

typedef struct {
    int fd;
    char name[NAME_MAX + 1];
    live_tmp live;
} temp_file;

/* Six random alphanumerics. */
static void random_tag(char *out) {
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static _Atomic uint64_t counter;
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[4] = {(uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec, (uint64_t)getpid(), ++counter};
        r = XXH3_64bits(mix, sizeof mix);
    }
    for (int i = 0; i < 6; i++, r /= 62) out[i] = abc[r % 62];
    out[6] = '\0';
}

/* Creates and locks a new temporary for stem in dfd (mode 0666 & ~umask).
 * 0, or an errno. */
static int temp_create(int dfd, const char *stem, temp_file *t) {
    for (int attempt = 0; attempt < 100; attempt++) {
        char tag[7];
        random_tag(tag);
        snprintf(t->name, sizeof t->name, "%s.tmp.%ld.%s", stem, (long)getpid(), tag);
        t->fd = openat(dfd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (t->fd < 0) {
            if (errno == EEXIST) continue;
            return errno;
        }
        struct stat sb, sb2;
        if (fstat(t->fd, &sb) != 0) {
            int e = errno;
            close(t->fd);
            unlinkat(dfd, t->name, 0);
            return e;
        }
        t->live.dev = sb.st_dev, t->live.ino = sb.st_ino;
        live_add(&t->live);
        int rc;
        while ((rc = flock(t->fd, LOCK_EX)) != 0 && errno == EINTR) {}
        /* (No locks on this filesystem: go on; sweepers that can't lock a
         * file leave it alone.) Between creating and locking, another
         * process's sweeper may have taken the file for stale and removed
         * it: then make another. */
        (void)rc;
        if (fstatat(dfd, t->name, &sb2, AT_SYMLINK_NOFOLLOW) == 0 && sb2.st_dev == sb.st_dev && sb2.st_ino == sb.st_ino)
            return 0;
        live_remove(&t->live);
        close(t->fd);
    }
    return EEXIST;
}

static void temp_discard(int dfd, temp_file *t) {
    unlinkat(dfd, t->name, 0);
    live_remove(&t->live);
    close(t->fd);
}

/* An existing target's mode, owner and group, given to the temporary. */
static int keep_attributes(int dfd, const char *base, int fd) {
    struct stat old;
    if (fstatat(dfd, base, &old, 0) != 0 || !S_ISREG(old.st_mode)) return 0; /* a new file: umask's mode */
    mode_t mode = old.st_mode & 07777;
    if (old.st_uid != geteuid() || old.st_gid != getegid()) {
        if (fchown(fd, old.st_uid, old.st_gid) != 0 && fchown(fd, (uid_t)-1, old.st_gid) != 0) {
            struct stat now;
            if (fstat(fd, &now) == 0 && now.st_gid != old.st_gid) mode &= ~(mode_t)(S_IRWXG | S_ISGID);
        }
    }
    return fchmod(fd, mode) == 0 ? 0 : errno;
}

/* One attempt: temporary, write, flush, attributes, fsync, rename. 0 or an
 * errno; *stage says what failed. */
static int save_once(int dfd, const char *base, const char *stem, bool (*write)(FILE *f, void *ctx), void *ctx,
                     const char **stage) {
    temp_file t;
    *stage = "can't create a temporary file there";
    int e = temp_create(dfd, stem, &t);
    if (e) return e;
    *stage = "write failed";
    FILE *f = NULL;
    capped_file cf = {t.fd, dfd};
    if (g_test_capacity >= 0) {
        f = fopencookie(&cf, "wb", (cookie_io_functions_t){.write = capped_write, .close = capped_close});
    } else {
        int fd2 = dup(t.fd);
        f = fd2 >= 0 ? fdopen(fd2, "wb") : NULL;
        if (!f && fd2 >= 0) close(fd2);
    }
    if (!f) {
        e = errno ? errno : ENOMEM;
        temp_discard(dfd, &t);
        return e;
    }
    errno = 0;
    bool ok = write(f, ctx);
    e = errno;
    if (ok && fflush(f) != 0) ok = false, e = errno;
    if (fclose(f) != 0 && ok) ok = false, e = errno;
    if (ok && (e = keep_attributes(dfd, base, t.fd)) != 0) ok = false;
    if (ok && fsync(t.fd) != 0) ok = false, e = errno;
    /* the lock is held (t.fd open) until the rename is done */
    if (ok && renameat(dfd, t.name, dfd, base) != 0) ok = false, e = errno;
    if (!ok) {
        temp_discard(dfd, &t);
        return e ? e : EIO;
    }
    live_remove(&t.live);
    close(t.fd);
    return 0;
}

nb_status nb__io_save_atomic(const char *what, const char *path, bool (*write)(FILE *f, void *ctx), void *ctx,
                             char *err, size_t errlen) {
    char *target = resolve_links(path);
    if (!target) {
        int e = errno;
        if (e == ENOMEM) return nb__io_err(err, errlen, NB_ERR_NOMEM, "%s save: %s: out of memory", what, path);
        return nb__io_err(err, errlen, NB_ERR_IO, "%s save: %s: can't follow the symbolic link: %s", what, path,
                          strerror(e));
    }
    /* " (the link's target x)" when path was a symbolic link */
    char via[PATH_MAX + 32] = "";
    if (strcmp(target, path) != 0) snprintf(via, sizeof via, " (through the link to %s)", target);

    char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char *dir = strdup(target);
    nb_status st = NB_OK;
    int dfd = -1;
    if (!dir) {
        st = nb__io_err(err, errlen, NB_ERR_NOMEM, "%s save: %s: out of memory", what, path);
        goto out;
    }
    if (slash) dir[slash == target ? 1 : slash - target] = '\0';
    if (!*base) {
        st = nb__io_err(err, errlen, NB_ERR_ARG, "%s save: %s%s: names a directory, not a file", what, path, via);
        goto out;
    }
    dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        st = nb__io_err(err, errlen, NB_ERR_IO, "%s save: %s%s: can't open its directory: %s", what, path, via,
                        strerror(errno));
        goto out;
    }
    long name_max = fpathconf(dfd, _PC_NAME_MAX);
    if (name_max <= 0 || name_max > NAME_MAX) name_max = NAME_MAX;
    if ((long)strlen(base) > name_max) {
        st =
            nb__io_err(err, errlen, NB_ERR_IO, "%s save: %s%s: the file name has %zu bytes; this filesystem allows %ld",
                       what, path, via, strlen(base), name_max);
        goto out;
    }
    struct stat cur;
    if (fstatat(dfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(cur.st_mode)) {
        st = nb__io_err(err, errlen, NB_ERR_IO, "%s save: %s%s: exists and is not a regular file (%s); not replaced",
                        what, path, via,
                        S_ISDIR(cur.st_mode)       ? "a directory"
                            : S_ISLNK(cur.st_mode) ? "a symbolic link"
                                                   : "a device, pipe or socket");
        goto out;
    }
    char stem[NAME_MAX + 1];
    temp_stem(base, name_max, stem);
    sweep_stale(dfd, stem); /* what killed saves of this file left */
    const char *stage = "";
    int e = save_once(dfd, base, stem, write, ctx, &stage);
    int64_t freed = -1;
    if ((e == ENOSPC || e == EDQUOT) && (freed = sweep_stale(dfd, NULL)) > 0)
        e = save_once(dfd, base, stem, write, ctx, &stage); /* the disk is full: of killed saves' temporaries? */
    if (e) {
        st = nb__io_err(err, errlen, NB_ERR_IO, "%s save: %s%s: %s: %s%s (the previous file is kept)", what, path, via,
                        stage, strerror(e),
                        freed == 0      ? "; no stale temporary files to remove"
                            : freed > 0 ? " even after removing stale temporary files"
                                        : "");
        goto out;
    }
    fsync(dfd); /* make the rename itself durable */
out:
    if (dfd >= 0) close(dfd);
    free(dir);
    free(target);
    return st;
}
