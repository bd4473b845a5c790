/* test_crash_safety.c — a process killed mid-save never leaves a broken
 * checkpoint.
 *
 * The parent saves checkpoint #0. Then, KILLS times, it forks a child that
 * saves checkpoints #1, #2, ... in a loop (nb_checkpoint_save: temp file,
 * fsync, rename, fsync of the directory) and SIGKILLs it after a random
 * delay (spread over a few save durations, so kills land before, inside and
 * between saves). After every kill the checkpoint at the path must load and
 * verify (every checksum) and be whole: its tensors all hold the step number
 * its meta records (one save's data, never a mix), and that step never goes
 * backwards across kills.
 *
 * Temporary files: a save killed before its rename leaves its temporary
 * "<path>.tmp.<pid>.XXXXXX" behind. The test checks they never replace the
 * checkpoint and that at most one is left per kill, and that the next
 * successful save removes every one of them (no live process holds their
 * flock) but not the temporary of a live saver (one holding its lock,
 * whatever pid its name carries) or an unrelated file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "nabla/nabla.h"

enum { KILLS = 12, NUMEL = 1 << 17 }; /* 512 KiB of f32 + 1 MiB of f64 per checkpoint */

static nb_tensor *w, *v;

static nb_status save_step(const char *path, int64_t step) {
    for (int64_t i = 0; i < NUMEL; i++) nb_f32(w)[i] = (float)step;
    for (int64_t i = 0; i < NUMEL; i++) nb_f64(v)[i] = (double)step;
    nb_named_tensor ts[2] = {{"w", w}, {"v", v}};
    nb_ckpt_meta m = nb_ckpt_meta_now(0, step);
    char err[256];
    return nb_checkpoint_save(path, ts, 2, &m, err, sizeof err);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void killed_mid_save_keeps_a_checkpoint(void **state) {
    (void)state;
    char dir[] = "/tmp/nb_crash_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    w = nb_zeros(NB_F32, NB_SHAPE(NUMEL));
    v = nb_zeros(NB_F64, NB_SHAPE(NUMEL));

    double t0 = now();
    assert_int_equal(save_step(path, 0), NB_OK);
    double save_s = now() - t0;
    srand(8);
    int64_t last = 0;
    int advanced = 0;
    for (int k = 0; k < KILLS; k++) {
        /* from no delay to ~4 saves' worth */
        useconds_t delay =
            (useconds_t)(1e6 * save_s * 4.0 * (double)k / (KILLS - 1) * (0.5 + rand() / (double)RAND_MAX));
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int64_t step = last + 1;; step++)
                if (save_step(path, step) != NB_OK) _exit(3);
        }
        usleep(delay);
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* the checkpoint loads, verifies and is one save's data */
        for (int64_t i = 0; i < NUMEL; i++) nb_f32(w)[i] = -1, nb_f64(v)[i] = -1;
        nb_named_tensor ts[2] = {{"w", w}, {"v", v}};
        nb_ckpt_meta m;
        char err[256];
        nb_status st = nb_checkpoint_load(path, ts, 2, &m, err, sizeof err);
        if (st != NB_OK) printf("kill %d after %u us: %s\n", k, (unsigned)delay, err);
        assert_int_equal(st, NB_OK);
        assert_true(m.step >= last);
        for (int64_t i = 0; i < NUMEL; i += 997) {
            assert_true(nb_f32(w)[i] == (float)m.step);
            assert_true(nb_f64(v)[i] == (double)m.step);
        }
        if (m.step > last) advanced++;
        last = m.step;
        assert_true(count_temps(dir) <= k + 1);
    }
    int temps = count_temps(dir);
    printf("%d kills (save takes %.1f ms): the checkpoint loaded and verified every time, reached step %lld "
           "(advanced %d times); %d orphaned temporary file(s) left\n",
           KILLS, 1e3 * save_s, (long long)last, advanced, temps);
    /* a fresh save still works next to the orphans, and replaces the file */
    assert_int_equal(save_step(path, last + 1), NB_OK);
    nb_named_tensor ts[2] = {{"w", w}, {"v", v}};
    nb_ckpt_meta m;
    assert_int_equal(nb_checkpoint_load(path, ts, 2, &m, NULL, 0), NB_OK);
    assert_int_equal(m.step, last + 1);
    assert_int_equal(count_temps(dir), 0); /* the dead savers' temporaries are gone */

    /* A live saver's temporary (one whose flock a live process holds: here a
     * child's; the dead pid in its name doesn't matter) and other names stay;
     * an unlocked one is stale, whatever pid it names. */
    char live[256], other[256], dead[256];
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    snprintf(live, sizeof live, "%s.tmp.%ld.AbCdEf", path, (long)gone);
    snprintf(other, sizeof other, "%s.tmp.notapid", path);
    snprintf(dead, sizeof dead, "%s.tmp.%ld.XyZ123", path, (long)getppid());
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(i == 0 ? live : i == 1 ? other : dead, "wb");
        assert_non_null(f);
        fclose(f);
    }
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t holder = fork();
    if (holder == 0) {
        int fd = open(live, O_RDONLY);
        char c = flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) < 0) _exit(1);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    assert_int_equal(save_step(path, last + 2), NB_OK);
    struct stat sb;
    assert_int_equal(stat(live, &sb), 0);
    assert_int_equal(stat(other, &sb), 0);
    assert_int_not_equal(stat(dead, &sb), 0);
    /* the holder exits: its lock goes with it, and the next save removes it */
    assert_int_equal(write(done[1], "x", 1), 1);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    assert_int_equal(save_step(path, last + 3), NB_OK);
    assert_int_not_equal(stat(live, &sb), 0);
    close(ready[0]), close(ready[1]), close(done[0]), close(done[1]);

    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(d);
    rmdir(dir);
    nb_tensor_free(w);
    nb_tensor_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(killed_mid_save_keeps_a_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
