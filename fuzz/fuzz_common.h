/* fuzz/fuzz_common.h — what the harnesses share.
 *
 * The harnesses call the loaders' in-memory entry points (nb_idx_load_mem,
 * nb_csv_load_mem, nb_checkpoint_load_mem): the path-taking ones read the
 * file and hand its bytes to the same parser (tests/test_io.c checks they
 * agree byte for byte, messages included).
 */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H
#include <nabla/nabla.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Once per process: errors are returned, never abort. */
static void nbf_init(void) {
    static int done;
    if (!done) nb_set_error_mode(NB_ERRORS_RECOVER), done = 1;
}

/* A loader must fill err on failure and leave it "" on success. */
static void nbf_check_err(nb_status st, const char *err) {
    if ((st == NB_OK) != (err[0] == '\0')) {
        fprintf(stderr, "status %d but message '%s'\n", (int)st, err);
        abort();
    }
}
#endif
