/* io/train_ckpt.c — checkpoints of modules and optimizers (nn/, optim/). */
#include "io_internal.h"
#include <stdlib.h>

/* The named tensors of m and opt ("optim."-prefixed) in one malloc'd list;
 * *names holds the prefixed names. Returns the count, -1 on error. */
static int gather(nb_module *m, nb_optim *opt, nb_named_tensor **out, char **names) {
    *out = NULL, *names = NULL;
    int nm = m ? nb_module_named_tensors(m, NULL, 0) : 0;
    int no = opt ? nb_optim_named_state(opt, NULL, 0) : 0;
    if (nm < 0 || no < 0) return -1;
    nb_named_tensor *ts = calloc((size_t)(nm + no + 1), sizeof *ts);
    if (!ts) return -1;
    if (m) nb_module_named_tensors(m, ts, nm);
    size_t chars = 0;
    if (opt) {
        nb_optim_named_state(opt, ts + nm, no);
        for (int i = 0; i < no; i++) chars += strlen(ts[nm + i].name) + 7;
    }
    char *buf = malloc(chars + 1);
    if (!buf) {
        free(ts);
        return -1;
    }
    char *w = buf;
    for (int i = 0; i < no; i++) {
        int len = snprintf(w, chars + 1 - (size_t)(w - buf), "optim.%s", ts[nm + i].name);
        ts[nm + i].name = w;
        w += len + 1;
    }
    *out = ts, *names = buf;
    return nm + no;
}

nb_status nb_train_save(const char *path, nb_module *m, nb_optim *opt, const nb_ckpt_meta *meta, char *err,
                        size_t errlen) {
    if (!m) return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint save: %s: module is NULL", path ? path : "");
    nb_named_tensor *ts;
    char *names;
    int n = gather(m, opt, &ts, &names);
    if (n < 0) return nb__io_err(err, errlen, NB_ERR_NOMEM, "checkpoint save: out of memory");
    nb_ckpt_meta md = meta ? *meta : nb_ckpt_meta_now(0, 0);
    if (opt) {
        nb_ckpt_meta_set(&md, "optim.lr", nb_optim_get_lr(opt));
        nb_ckpt_meta_set(&md, "optim.steps", (double)nb_optim_step_count(opt));
    }
    nb_status st = nb_checkpoint_save(path, ts, n, &md, err, errlen);
    free(ts), free(names);
    return st;
}

nb_status nb_train_load(const char *path, nb_module *m, nb_optim *opt, nb_ckpt_meta *meta, char *err, size_t errlen) {
    if (!m) return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint load: %s: module is NULL", path ? path : "");
    nb_named_tensor *ts;
    char *names;
    int n = gather(m, opt, &ts, &names);
    if (n < 0) return nb__io_err(err, errlen, NB_ERR_NOMEM, "checkpoint load: out of memory");
    nb_ckpt_meta md;
    nb_status st = nb_checkpoint_load(path, ts, n, &md, err, errlen);
    free(ts), free(names);
    if (st != NB_OK) return st;
    if (opt) {
        double lr = nb_ckpt_meta_get(&md, "optim.lr", -1), steps = nb_ckpt_meta_get(&md, "optim.steps", -1);
        if (lr >= 0) nb_optim_set_lr(opt, lr);
        if (steps >= 0) nb_optim_set_step_count(opt, (int64_t)steps);
    }
    if (meta) *meta = md;
    return NB_OK;
}

nb_status nb_module_save(nb_module *m, const char *path, const nb_ckpt_meta *meta, char *err, size_t errlen) {
    return nb_train_save(path, m, NULL, meta, err, errlen);
}

nb_status nb_module_load(nb_module *m, const char *path, nb_ckpt_meta *meta, char *err, size_t errlen) {
    return nb_train_load(path, m, NULL, meta, err, errlen);
}

nb_status nb_module_load_ex(nb_module *m, const char *path, bool strict, nb_ckpt_meta *meta, nb_ckpt_load_result *res,
                            char *err, size_t errlen) {
    if (res) memset(res, 0, sizeof *res);
    if (!m) return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint load: %s: module is NULL", path ? path : "");
    nb_named_tensor *ts;
    char *names;
    int n = gather(m, NULL, &ts, &names);
    if (n < 0) return nb__io_err(err, errlen, NB_ERR_NOMEM, "checkpoint load: out of memory");
    nb_status st = nb_checkpoint_load_ex(path, ts, n, strict, meta, res, err, errlen);
    free(ts), free(names);
    return st;
}
