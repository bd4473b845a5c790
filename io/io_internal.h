/* io/io_internal.h — what the io/ files share. */
#ifndef NB_IO_INTERNAL_H
#define NB_IO_INTERNAL_H

#include "internal.h"
#include <stdarg.h>

/* Writes a message into err[errlen] (err may be NULL) and returns st. */
NB_PRINTF(4, 5)
static inline nb_status nb__io_err(char *err, size_t errlen, nb_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static inline void nb__io_ok(char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
}

/* The whole regular file at path in memory (*buf malloc'd, the caller frees
 * it; *len its size). Errors name what ("checkpoint", "safetensors") and the
 * path: can't open, not a regular file, out of memory, changed while read. */
nb_status nb__io_slurp(const char *what, const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen);

/* Writes path atomically (io/atomic_save.c): write(f, ctx) fills a
 * temporary file next to it ("<stem>.tmp.<pid>.XXXXXX"), which is fsynced and
 * renamed over path, and the directory fsynced. Stale temporaries (of saves
 * that were killed) are removed first, and on a full disk, after which the
 * save is tried once more: write may be called twice and must write the same
 * bytes. A symbolic link at path is followed; an existing file keeps its
 * mode. On failure the previous file is kept and the message names what and
 * path. */
nb_status nb__io_save_atomic(const char *what, const char *path, bool (*write)(FILE *f, void *ctx), void *ctx,
                             char *err, size_t errlen);
/* For the tests: from now on, temporaries' writes fail with ENOSPC once
 * their directory would hold more than bytes in regular files (a small
 * disk); -1 turns it off. Not thread-safe; tests only. */
void nb__io_test_capacity(int64_t bytes);
/* For the tests: the stem of base's temporaries on a filesystem whose
 * NAME_MAX is 255 (out: 256 bytes). */
void nb__io_temp_stem(const char *base, char *out);
#endif
