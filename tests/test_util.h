/* test_util.h — scaffolding the cmocka tests share (header only, all static):
 *   - one error recorder for nb_set_error_handler (tu_err, tu_err_reset) and
 *     cmocka setup/teardown functions installing it (tu_setup, tu_teardown);
 *   - EXPECT_ERR(call, status, "piece", ...): the call fails with exactly one
 *     report of that status whose message contains every piece;
 *   - EXPECT / EXPECT_VALS / EXPECT_ARRAY: a tensor's values; expect_shape;
 *     backward_ones (backward with an all-ones seed);
 *   - run_child: a function run in a child process in the default abort
 *     mode, its wait status and stderr returned;
 *   - with _GNU_SOURCE: a scratch directory (tu_dir_setup, tu_dir_teardown,
 *     tmp). */
#ifndef NB_TEST_UTIL_H
#define NB_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "nabla/nabla.h"

/* ------------------------------------------------------------ error recorder */

/* What the handler saw since the last tu_err_reset(). */
typedef struct {
    int count;         /* reports */
    nb_status st;      /* the first one's status (NB_OK while none) ... */
    char msg[1024];    /* ... and message: it names the op that failed */
    nb_status last_st; /* the latest one's status and message */
    char last_msg[1024];
    void *user; /* the user pointer the handler was installed with */
} tu_errors;

static tu_errors tu_err;

static inline void tu_on_error(nb_status st, const char *msg, void *user) {
    if (tu_err.count++ == 0) {
        tu_err.st = st;
        snprintf(tu_err.msg, sizeof tu_err.msg, "%s", msg);
    }
    tu_err.last_st = st;
    snprintf(tu_err.last_msg, sizeof tu_err.last_msg, "%s", msg);
    tu_err.user = user;
}

/* Installs the recorder (user pointer NULL), clears nabla's sticky error and
 * zeroes the record. */
static inline void tu_err_reset(void) {
    memset(&tu_err, 0, sizeof tu_err);
    nb_error_clear();
    nb_set_error_handler(tu_on_error, NULL);
}

static inline int tu_setup(void **state) {
    (void)state;
    tu_err_reset();
    return 0;
}

/* Removes the handler and puts back every global a test may have changed
 * (a failed test may leave scopes open or grad mode off). */
static inline int tu_teardown(void **state) {
    (void)state;
    nb_set_error_handler(NULL, NULL);
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_error_clear();
    nb_anomaly_mode(false);
    nb_trace_backward(NULL, false);
    for (nb_scope *s; (s = nb_scope_current()) != NULL;) nb_scope_end(&s);
    while (!nb_grad_enabled()) nb_no_grad_end();
    return 0;
}

/* r is NULL, exactly one error was reported, with status st, its message
 * contains each piece, and it is nabla's sticky error (cleared after). */
static inline void tu_check_err_(const nb_tensor *r, nb_status st, const char *const *pieces, int np, const char *what,
                                 const char *file, int line) {
    if (r != NULL || tu_err.count != 1 || tu_err.st != st) {
        print_error("%s:%d: %s: result %p, %d errors, status %s (want %s): %s\n", file, line, what, (const void *)r,
                    tu_err.count, nb_status_str(tu_err.st), nb_status_str(st), tu_err.msg);
        fail();
    }
    for (int i = 0; i < np; i++)
        if (!strstr(tu_err.msg, pieces[i])) {
            print_error("%s:%d: %s: message \"%s\" lacks \"%s\"\n", file, line, what, tu_err.msg, pieces[i]);
            fail();
        }
    assert_int_equal(nb_error(), st);
    nb_error_clear();
}
#define EXPECT_ERR(call, st, ...)                                                                \
    do {                                                                                         \
        tu_err_reset();                                                                          \
        const nb_tensor *r_ = (call);                                                            \
        const char *const p_[] = {__VA_ARGS__};                                                  \
        tu_check_err_(r_, (st), p_, (int)(sizeof p_ / sizeof p_[0]), #call, __FILE__, __LINE__); \
    } while (0)

/* ------------------------------------------------------------ values and shapes */

/* t has n elements, each within tol·(1 + |want|) of want (NaN matches NaN,
 * an infinity only itself). */
static inline void tu_expect_vals_(const nb_tensor *t, const double *want, int64_t n, double tol, const char *file,
                                   int line) {
    if (!t) {
        print_error("%s:%d: tensor is NULL (%s)\n", file, line, nb_error_message());
        fail();
    }
    if (t->numel != n) {
        print_error("%s:%d: %lld elements, expected %lld\n", file, line, (long long)t->numel, (long long)n);
        fail();
    }
    for (int64_t i = 0; i < n; i++) {
        double a = nb_get(t, i), b = want[i];
        bool ok = (isnan(b) && isnan(a)) || (isinf(b) && a == b) || fabs(a - b) <= tol * (1 + fabs(b));
        if (!ok) {
            print_error("%s:%d: element %lld is %.17g, expected %.17g\n", file, line, (long long)i, a, b);
            fail();
        }
    }
}
#define EXPECT_ARRAY(t, want, n, tol) tu_expect_vals_((t), (want), (n), (tol), __FILE__, __LINE__)
#define EXPECT_VALS(t, tol, ...)                       \
    EXPECT_ARRAY((t), ((const double[]){__VA_ARGS__}), \
                 (int64_t)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double)), (tol))
#define EXPECT(t, ...) EXPECT_VALS((t), 1e-6, __VA_ARGS__)

static inline void expect_shape(const nb_tensor *t, nb_shape s) {
    assert_non_null(t);
    char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
    if (!nb_shape_eq(t->shape, s)) {
        print_error("shape %s, want %s\n", nb_shape_str(t->shape, a, sizeof a), nb_shape_str(s, b, sizeof b));
        fail();
    }
}

/* backward with an all-ones seed (any shape) */
static inline void backward_ones(nb_tensor *y) {
    assert_non_null(y);
    assert_int_equal(nb_backward_with(y, nb_ones(y->dtype, y->shape)), NB_OK);
}

/* ------------------------------------------------------------ a scratch directory */

/* ------------------------------------------------------------ abort mode in a child */

/* Runs `what` in a child with default error settings and stderr captured;
 * returns the child's wait status and its stderr in buf. */
static inline int run_child(void (*what)(void), char *buf, size_t size) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        signal(SIGABRT, SIG_DFL);
        nb_set_error_handler(NULL, NULL);
        nb_set_error_mode(NB_ERRORS_ABORT);
        what();
        _exit(0); /* not reached if nabla aborted */
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read(fd[0], buf + n, size - 1 - n)) > 0) n += (size_t)k;
    buf[n] = '\0';
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* Only where the includer defines _GNU_SOURCE (nftw): tu_dir_setup and
 * tu_dir_teardown (cmocka setup/teardown) make a fresh directory tu_dir under
 * /tmp and remove it with all it holds; tmp("name") is a path in it (the
 * last eight stay valid). */
#ifdef _GNU_SOURCE
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tu_dir[64];

static inline int tu_rm_one_(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static inline int tu_dir_setup(void **state) {
    (void)state;
    snprintf(tu_dir, sizeof tu_dir, "/tmp/nb_test_XXXXXX");
    return mkdtemp(tu_dir) ? 0 : -1;
}
static inline int tu_dir_teardown(void **state) {
    (void)state;
    return nftw(tu_dir, tu_rm_one_, 16, FTW_DEPTH | FTW_PHYS);
}
static inline const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_dir, name);
    return buf[k];
}
#endif

#endif
