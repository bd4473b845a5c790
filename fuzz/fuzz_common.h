/* fuzz/fuzz_common.h — the input as a file the loaders can open.
 *
 * The loaders take a path, so each input is written to one memfd (an
 * anonymous in-memory file, reused across runs) and opened as
 * /proc/self/fd/N: no disk traffic, no change to the io code.
 */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H
#define _GNU_SOURCE
#include <nabla/nabla.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int nbf_fd = -1;
static char nbf_path[64];

/* Writes data[0..n) as the whole content of the memfd; returns its path. */
static const char *nbf_file(const uint8_t *data, size_t n) {
    if (nbf_fd < 0) {
        nbf_fd = memfd_create("nabla-fuzz", 0);
        if (nbf_fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(nbf_path, sizeof nbf_path, "/proc/self/fd/%d", nbf_fd);
        nb_set_error_mode(NB_ERRORS_RECOVER);
    }
    if (ftruncate(nbf_fd, 0) != 0) abort();
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(nbf_fd, data + off, n - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    return nbf_path;
}

/* A loader must fill err on failure and leave it "" on success. */
static void nbf_check_err(nb_status st, const char *err) {
    if ((st == NB_OK) != (err[0] == '\0')) {
        fprintf(stderr, "status %d but message '%s'\n", (int)st, err);
        abort();
    }
}
#endif
