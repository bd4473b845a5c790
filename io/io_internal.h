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

#endif
