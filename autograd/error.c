/* autograd/error.c — the error handler: abort (default), recover, or a user handler.
 * The first error is kept (sticky) until nb_error_clear, like cairo's status. */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>

/* All per thread: a thread's errors, mode and handler are its own. */
static NB_TLS nb_error_mode g_mode = NB_ERRORS_ABORT;
static NB_TLS nb_error_handler g_handler;
static NB_TLS void *g_handler_user;
static NB_TLS nb_status g_status = NB_OK;
static NB_TLS char g_message[1024];

void nb_set_error_mode(nb_error_mode mode) { g_mode = mode; }
nb_error_mode nb_get_error_mode(void) { return g_mode; }

void nb_set_error_handler(nb_error_handler h, void *user) {
    g_handler = h;
    g_handler_user = user;
}

nb_status nb_error(void) { return g_status; }
const char *nb_error_message(void) { return g_message; }
void nb_error_clear(void) {
    g_status = NB_OK;
    g_message[0] = '\0';
}

const char *nb_status_str(nb_status st) {
    switch (st) {
    case NB_OK: return "ok";
    case NB_ERR_SHAPE: return "shape error";
    case NB_ERR_DTYPE: return "dtype error";
    case NB_ERR_AXIS: return "axis error";
    case NB_ERR_ARG: return "bad argument";
    case NB_ERR_GRAPH: return "graph error";
    case NB_ERR_VERSION: return "modified in place";
    case NB_ERR_SCOPE: return "scope error";
    case NB_ERR_IO: return "i/o error";
    case NB_ERR_NOMEM: return "out of memory";
    case NB_ERR_NAN: return "NaN/Inf detected";
    }
    return "unknown error";
}

void nb_fail(nb_status st, const char *op, const char *fmt, ...) {
    char msg[sizeof g_message];
    int k = snprintf(msg, sizeof msg, "nabla: %s: ", op ? op : "?");
    if (k < 0) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    if (g_status == NB_OK) {
        g_status = st;
        memcpy(g_message, msg, sizeof msg);
    }
    if (g_handler) {
        g_handler(st, msg, g_handler_user);
        return;
    }
    if (g_mode == NB_ERRORS_ABORT) {
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
        abort();
    }
}

/* Errors during a trial (gradcheck's F32 run) neither abort nor reach the
 * handler; nb__error_quiet_end puts the caller's state back and gives the
 * trial's first message. */
void nb__error_quiet_begin(nb__error_saved *sv) {
    sv->mode = g_mode, sv->handler = g_handler, sv->user = g_handler_user, sv->status = g_status;
    memcpy(sv->message, g_message, sizeof sv->message);
    g_mode = NB_ERRORS_RECOVER, g_handler = NULL, g_status = NB_OK, g_message[0] = '\0';
}

nb_status nb__error_quiet_end(const nb__error_saved *sv, char *msg, size_t size) {
    nb_status st = g_status;
    if (msg && size) snprintf(msg, size, "%s", g_message);
    g_mode = sv->mode, g_handler = sv->handler, g_handler_user = sv->user, g_status = sv->status;
    memcpy(g_message, sv->message, sizeof g_message);
    return st;
}
