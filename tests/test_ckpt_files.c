/* test_ckpt_files.c — the files a checkpoint save leaves:
 * stale temporaries of killed saves removed (but never a live saver's), a
 * full disk that stale temporaries filled recovers, the umask and an existing
 * file's mode honoured, symbolic links written through, and a 250-byte file
 * name saved. The full disk is the io layer's test hook (a directory with a
 * capacity), so the test needs no root and no special filesystem. */
#define _GNU_SOURCE
#include "test_util.h"
#include "io/io_internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_err[1024];
static char g_dir[256];

/* A path in the test's directory (one of 4 rotating buffers: copy it to keep it). */
static const char *at(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/ckptfiles_XXXXXX", tu_dir);
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state) {
    (void)state;
    nb__io_test_capacity(-1);
    rm_tree(g_dir);
    return 0;
}

/* A tensor of n f32 values v, v+1, ... saved as "w". */
static nb_status save_vals(const char *path, int64_t n, float v) {
    nb_tensor *t = nb_empty(NB_F32, NB_SHAPE(n));
    for (int64_t i = 0; i < n; i++) nb_f32(t)[i] = v + (float)i;
    nb_named_tensor ts[1] = {{"w", t}};
    nb_status st = nb_checkpoint_save(path, ts, 1, NULL, g_err, sizeof g_err);
    nb_tensor_free(t);
    return st;
}

/* The value the checkpoint at path starts with (-1 if it doesn't load). */
static float load_first(const char *path, int64_t n) {
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(n));
    nb_named_tensor ts[1] = {{"w", t}};
    float v = nb_checkpoint_load(path, ts, 1, NULL, g_err, sizeof g_err) == NB_OK ? nb_f32(t)[0] : -1.0f;
    nb_tensor_free(t);
    return v;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* A stale temporary as a killed save leaves it: the start of a checkpoint
 * and then garbage, n bytes. */
static void stale_temp(const char *path, size_t n) {
    unsigned char *b = calloc(1, n);
    memcpy(b, "NBCKPT\r\n", 8);
    write_bytes(path, b, n);
    free(b);
}

static bool exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int count_temps(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static pid_t dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* A child process that holds an exclusive flock on path until released. */
typedef struct {
    pid_t pid;
    int done_w;
} holder;

static holder hold_lock(const char *path) {
    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t p = fork();
    if (p == 0) { /* (exits when released or when the test dies: EOF) */
        close(ready[0]), close(done[1]);
        int fd = open(path, O_RDONLY);
        char c = fd >= 0 && flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) < 0) _exit(1);
        _exit(0);
    }
    close(ready[1]), close(done[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    close(ready[0]);
    return (holder){p, done[1]};
}

static void release(holder h) {
    assert_int_equal(write(h.done_w, "x", 1), 1);
    close(h.done_w);
    assert_int_equal(waitpid(h.pid, NULL, 0), h.pid);
}

/* Stale temporaries (no live process holds their lock) are removed before a
 * save writes; a live saver's is not, whatever pid the names carry. */
static void stale_temps_removed_live_kept(void **state) {
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%.399s", at("m.ckpt"));
    assert_int_equal(save_vals(path, 16, 1), NB_OK);
    char dead[512], mine[512], live[512], other[512], notours[512];
    snprintf(dead, sizeof dead, "%s.tmp.%ld.AAAAAA", path, (long)dead_pid());
    snprintf(mine, sizeof mine, "%s.tmp.%ld.BBBBBB", path, (long)getpid()); /* a restarted job's own pid */
    snprintf(live, sizeof live, "%s.tmp.%ld.CCCCCC", path, (long)dead_pid());
    snprintf(other, sizeof other, "%s", at("other.ckpt.tmp.12345.DDDDDD")); /* another file's */
    snprintf(notours, sizeof notours, "%s.tmp.1.x", path);                  /* not the pattern */
    stale_temp(dead, 100), stale_temp(mine, 100), stale_temp(live, 100), stale_temp(other, 100);
    stale_temp(notours, 100);
    holder h = hold_lock(live);
    assert_int_equal(save_vals(path, 16, 2), NB_OK);
    assert_false(exists(dead));
    assert_false(exists(mine));
    assert_true(exists(live));  /* its saver is alive */
    assert_true(exists(other)); /* a save of m.ckpt sweeps only m.ckpt's */
    assert_true(exists(notours));
    assert_true(load_first(path, 16) == 2);
    release(h);
    assert_int_equal(save_vals(path, 16, 3), NB_OK);
    assert_false(exists(live)); /* its saver died: stale now */
    assert_true(load_first(path, 16) == 3);
    unlink(other), unlink(notours);
    assert_int_equal(count_temps(), 0);
}

/* Two processes saving the same file at once: neither ever takes the
 * other's temporary for stale (every save succeeds, the file always loads). */
static void concurrent_savers(void **state) {
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%.399s", at("c.ckpt"));
    assert_int_equal(save_vals(path, 256, 0), NB_OK);
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < 60; i++)
            if (save_vals(path, 256, 1000) != NB_OK) _exit(1);
        _exit(0);
    }
    int failed = 0;
    for (int i = 0; i < 60; i++) {
        if (save_vals(path, 256, 2000) != NB_OK) failed++, printf("parent: %s\n", g_err);
        float v = load_first(path, 256);
        if (v != 1000 && v != 2000) failed++, printf("load: %s\n", g_err);
    }
    int status = 0;
    assert_int_equal(waitpid(p, &status, 0), p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(failed, 0);
    assert_int_equal(count_temps(), 0);
}

/* The disk is full of killed saves' temporaries, of this file and of other
 * checkpoints: the save removes them and succeeds; the previous checkpoint is
 * never lost, and when there is still no room it is kept and loads. */
static void full_disk(void **state) {
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%.399s", at("big.ckpt"));
    enum { N = 1024 }; /* 4 KiB of data */
    assert_int_equal(save_vals(path, N, 7), NB_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    const int64_t file = sb.st_size;
    /* Stale temporaries of other files in the directory (safetensors too);
     * an unrelated file with a temporary-like name, and a live saver's. */
    stale_temp(at("epoch1.ckpt.tmp.4242.abcdef"), 3 * (size_t)file);
    unsigned char st_head[64] = {48, 0, 0, 0, 0, 0, 0, 0, '{'};
    write_bytes(at("model.safetensors.tmp.99.Qwerty"), st_head, sizeof st_head);
    write_bytes(at("notes.txt.tmp.4242.abcdef"), "not a checkpoint, keep me", 25);
    char live[512];
    snprintf(live, sizeof live, "%s", at("epoch2.ckpt.tmp.77.LiveOn"));
    stale_temp(live, (size_t)file);
    holder h = hold_lock(live);
    /* A disk too small even once the stale temporaries are gone: the save
     * fails and says so; the checkpoint is as it was. */
    nb__io_test_capacity(2 * file + 25 + file / 2);
    nb_status st = save_vals(path, N, 8);
    printf("disk full: %s\n", g_err);
    assert_int_equal(st, NB_ERR_IO);
    assert_non_null(strstr(g_err, "No space left on device"));
    assert_non_null(strstr(g_err, "even after removing stale temporary files"));
    assert_non_null(strstr(g_err, "the previous file is kept"));
    assert_non_null(strstr(g_err, "big.ckpt"));
    assert_true(load_first(path, N) == 7);
    assert_false(exists(at("epoch1.ckpt.tmp.4242.abcdef")));     /* stale: removed while trying */
    assert_false(exists(at("model.safetensors.tmp.99.Qwerty"))); /* stale */
    assert_true(exists(at("notes.txt.tmp.4242.abcdef")));        /* not nabla's */
    assert_true(exists(live));                                   /* a live saver's */
    /* Nothing stale left and no room: said so. */
    assert_int_equal(save_vals(path, N, 8), NB_ERR_IO);
    assert_non_null(strstr(g_err, "no stale temporary files to remove"));
    assert_true(load_first(path, N) == 7);
    /* Killed saves of this file filled the disk: removed before writing,
     * then there is room. */
    nb__io_test_capacity(-1);
    for (int k = 0; k < 3; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s.tmp.%ld.Kill%02d", path, (long)dead_pid(), k);
        stale_temp(p, (size_t)file);
    }
    nb__io_test_capacity(5 * file + 25 + file / 2);
    assert_int_equal(save_vals(path, N, 9), NB_OK);
    assert_true(load_first(path, N) == 9);
    /* Killed saves of other checkpoints filled it: the first try meets a full
     * disk, removes them and tries again. */
    nb__io_test_capacity(-1);
    stale_temp(at("epoch3.ckpt.tmp.5.Killed"), 2 * (size_t)file);
    nb__io_test_capacity(4 * file + 25 + file / 2);
    assert_int_equal(save_vals(path, N, 10), NB_OK);
    assert_true(load_first(path, N) == 10);
    assert_false(exists(at("epoch3.ckpt.tmp.5.Killed")));
    assert_true(exists(live));
    /* Every save on the full disk goes through, again and again (the disk
     * doesn't fill up for good). */
    for (int k = 0; k < 5; k++) assert_int_equal(save_vals(path, N, 11 + (float)k), NB_OK);
    assert_true(load_first(path, N) == 15);
    nb__io_test_capacity(-1);
    release(h);
    unlink(live), unlink(at("notes.txt.tmp.4242.abcdef"));
    assert_int_equal(count_temps(), 0);
}

static int mode_of(const char *path) {
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (int)(sb.st_mode & 07777);
}

/* New files get 0666 & ~umask, as fopen's; an existing file keeps its mode. */
static void permissions(void **state) {
    (void)state;
    mode_t old = umask(022);
    assert_int_equal(save_vals(at("u022.ckpt"), 4, 1), NB_OK);
    assert_int_equal(mode_of(at("u022.ckpt")), 0644);
    umask(077);
    assert_int_equal(save_vals(at("u077.ckpt"), 4, 1), NB_OK);
    assert_int_equal(mode_of(at("u077.ckpt")), 0600);
    umask(002);
    assert_int_equal(save_vals(at("u002.ckpt"), 4, 1), NB_OK);
    assert_int_equal(mode_of(at("u002.ckpt")), 0664);
    /* safetensors saves go the same way */
    nb_tensor *t = nb_ones(NB_F32, NB_SHAPE(3));
    nb_named_tensor ts[1] = {{"w", t}};
    umask(027);
    assert_int_equal(nb_safetensors_save_tensors(at("m.safetensors"), ts, 1, NULL, 0, g_err, sizeof g_err), NB_OK);
    assert_int_equal(mode_of(at("m.safetensors")), 0640);
    nb_tensor_free(t);
    /* an existing file's mode is kept, whatever the umask */
    umask(077);
    assert_int_equal(chmod(at("u022.ckpt"), 0664), 0);
    assert_int_equal(save_vals(at("u022.ckpt"), 4, 2), NB_OK);
    assert_int_equal(mode_of(at("u022.ckpt")), 0664);
    assert_int_equal(chmod(at("u077.ckpt"), 0444), 0);
    assert_int_equal(save_vals(at("u077.ckpt"), 4, 2), NB_OK);
    assert_int_equal(mode_of(at("u077.ckpt")), 0444);
    assert_true(load_first(at("u077.ckpt"), 4) == 2);
    /* ... and its owner and group, where the process may set them (root) */
    if (geteuid() == 0) {
        assert_int_equal(chown(at("u002.ckpt"), 65534, 65534), 0);
        assert_int_equal(save_vals(at("u002.ckpt"), 4, 2), NB_OK);
        struct stat sb;
        assert_int_equal(stat(at("u002.ckpt"), &sb), 0);
        assert_int_equal(sb.st_uid, 65534);
        assert_int_equal(sb.st_gid, 65534);
        assert_int_equal(sb.st_mode & 07777, 0664);
    }
    umask(old);
}

/* A symbolic link at the path is written through: the file it leads to gets
 * the new data (and keeps its mode), the link stays a link. */
static void symlinks_written_through(void **state) {
    (void)state;
    assert_int_equal(mkdir(at("real"), 0755), 0);
    assert_int_equal(save_vals(at("real/target.ckpt"), 8, 1), NB_OK);
    assert_int_equal(chmod(at("real/target.ckpt"), 0640), 0);
    /* relative link into another directory, and a chain: link2 -> link -> real/target */
    assert_int_equal(symlink("real/target.ckpt", at("link.ckpt")), 0);
    assert_int_equal(symlink("link.ckpt", at("link2.ckpt")), 0);
    assert_int_equal(save_vals(at("link2.ckpt"), 8, 5), NB_OK);
    struct stat sb;
    assert_int_equal(lstat(at("link.ckpt"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(lstat(at("link2.ckpt"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_true(load_first(at("real/target.ckpt"), 8) == 5);
    assert_int_equal(mode_of(at("real/target.ckpt")), 0640);
    /* an absolute link */
    char abs[1024];
    assert_non_null(realpath(at("real/target.ckpt"), abs));
    assert_int_equal(symlink(abs, at("abs.ckpt")), 0);
    assert_int_equal(save_vals(at("abs.ckpt"), 8, 6), NB_OK);
    assert_true(load_first(at("real/target.ckpt"), 8) == 6);
    assert_int_equal(lstat(at("abs.ckpt"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    /* a dangling link: its target is created (as fopen(path, "w") does) */
    assert_int_equal(symlink("real/new.ckpt", at("dangling.ckpt")), 0);
    assert_int_equal(save_vals(at("dangling.ckpt"), 8, 7), NB_OK);
    assert_true(load_first(at("real/new.ckpt"), 8) == 7);
    assert_int_equal(lstat(at("dangling.ckpt"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    /* a loop is an error naming the path */
    assert_int_equal(symlink("loop2.ckpt", at("loop1.ckpt")), 0);
    assert_int_equal(symlink("loop1.ckpt", at("loop2.ckpt")), 0);
    assert_int_equal(save_vals(at("loop1.ckpt"), 8, 1), NB_ERR_IO);
    printf("loop: %s\n", g_err);
    assert_non_null(strstr(g_err, "loop1.ckpt"));
    assert_non_null(strstr(g_err, "symbolic link"));
    /* only regular files are replaced: not a directory, not a pipe */
    assert_int_equal(save_vals(at("real"), 8, 1), NB_ERR_IO);
    printf("directory: %s\n", g_err);
    assert_non_null(strstr(g_err, "not a regular file (a directory)"));
    assert_int_equal(mkfifo(at("fifo"), 0600), 0);
    assert_int_equal(symlink("fifo", at("to_fifo.ckpt")), 0);
    assert_int_equal(save_vals(at("to_fifo.ckpt"), 8, 1), NB_ERR_IO);
    printf("pipe: %s\n", g_err);
    assert_non_null(strstr(g_err, "not a regular file (a device, pipe or socket)"));
    assert_int_equal(lstat(at("fifo"), &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_int_equal(count_temps(), 0);
    DIR *d = opendir(at("real"));
    for (struct dirent *e; (e = readdir(d)) != NULL;) assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
}

/* File names up to NAME_MAX save (the temporary's name stays within it), and
 * their stale temporaries are found; a longer one is a clear error. */
static void long_names(void **state) {
    (void)state;
    char name[300];
    for (int len = 230; len <= 255; len += 5) {
        memset(name, 'n', (size_t)len);
        memcpy(name + len - 5, ".ckpt", 6);
        assert_int_equal((int)strlen(name), len);
        assert_int_equal(save_vals(at(name), 4, (float)len), NB_OK);
        assert_true(load_first(at(name), 4) == (float)len);
        assert_int_equal(save_vals(at(name), 4, (float)len + 1), NB_OK); /* over an existing one */
        assert_true(load_first(at(name), 4) == (float)len + 1);
    }
    /* 250 bytes, with multi-byte UTF-8 characters to cut around */
    char u[300] = "";
    while (strlen(u) + 2 <= 245) strcat(u, "\xc3\xa9"); /* é */
    strcat(u, ".ckpt");
    assert_int_equal(save_vals(at(u), 4, 3), NB_OK);
    assert_true(load_first(at(u), 4) == 3);
    /* a killed save of the 255-byte name left its (hashed) temporary: swept */
    memset(name, 'n', 255);
    memcpy(name + 250, ".ckpt", 6);
    char stem[NAME_MAX + 1], tmpname[NAME_MAX + 64];
    nb__io_temp_stem(name, stem);
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld.Zzzzzz", stem, (long)dead_pid());
    assert_true(strlen(tmpname) <= NAME_MAX);
    stale_temp(at(tmpname), 64);
    assert_int_equal(save_vals(at(name), 4, 9), NB_OK);
    assert_false(exists(at(tmpname)));
    assert_int_equal(count_temps(), 0);
    /* 256 bytes: the filesystem can't hold it; the message says so */
    memset(name, 'n', 256);
    memcpy(name + 251, ".ckpt", 6);
    assert_int_equal(save_vals(at(name), 4, 1), NB_ERR_IO);
    printf("too long: %.120s...\n", g_err);
    assert_non_null(strstr(g_err, "256 bytes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stale_temps_removed_live_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_savers, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(symlinks_written_through, setup, teardown),
        cmocka_unit_test_setup_teardown(long_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
