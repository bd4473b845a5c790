/* io/checkpoint.c — named tensors and training state in a checksummed file.
 *
 * The format is in io.h. Two properties drive the code:
 *  - every byte of the file is covered by an XXH3-64 hash (the header's, or
 *    its record's) and the file must end exactly after the last record, so
 *    any flipped byte or truncation is detected;
 *  - loading verifies the whole file against the given tensors before it
 *    writes a single element: a bad file changes nothing.
 * Saving streams to a temporary file next to the target, fsyncs it and
 * renames it over the target (nb__io_save_atomic, io/atomic_save.c: stale
 * temporaries, full disks, permissions, symbolic links, long names).
 */
#include "io_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const unsigned char MAGIC[8] = {'N', 'B', 'C', 'K', 'P', 'T', '\r', '\n'};

static bool host_le(void) {
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* ------------------------------------------------------------------ meta */

nb_ckpt_meta nb_ckpt_meta_now(int64_t epoch, int64_t step) {
    nb_ckpt_meta m;
    memset(&m, 0, sizeof m);
    m.epoch = epoch;
    m.step = step;
    m.rng = nb_rng_get();
    return m;
}

bool nb_ckpt_meta_set(nb_ckpt_meta *m, const char *key, double value) {
    if (!m || !key || !*key || strlen(key) >= NB_CKPT_KEY_MAX) return false;
    for (int i = 0; i < m->nkv; i++)
        if (!strcmp(m->kv[i].key, key)) {
            m->kv[i].value = value;
            return true;
        }
    if (m->nkv >= NB_CKPT_MAX_KV) return false;
    snprintf(m->kv[m->nkv].key, NB_CKPT_KEY_MAX, "%s", key);
    m->kv[m->nkv++].value = value;
    return true;
}

double nb_ckpt_meta_get(const nb_ckpt_meta *m, const char *key, double dflt) {
    if (!m || !key) return dflt;
    for (int i = 0; i < m->nkv && i < NB_CKPT_MAX_KV; i++)
        if (!strcmp(m->kv[i].key, key)) return m->kv[i].value;
    return dflt;
}

/* --------------------------------------------------------- byte buffers */

typedef struct wbuf {
    unsigned char b[256 + NB_CKPT_MAX_KV * (2 + NB_CKPT_KEY_MAX + 8) + 65536 + 8 * NB_MAX_DIMS];
    size_t n;
} wbuf;

static void put_u8(wbuf *w, unsigned v) { w->b[w->n++] = (unsigned char)v; }
static void put_u16(wbuf *w, unsigned v) {
    put_u8(w, v & 0xff);
    put_u8(w, (v >> 8) & 0xff);
}
static void put_u32(wbuf *w, uint32_t v) {
    for (int i = 0; i < 4; i++) put_u8(w, (v >> (8 * i)) & 0xff);
}
static void put_u64(wbuf *w, uint64_t v) {
    for (int i = 0; i < 8; i++) put_u8(w, (unsigned)((v >> (8 * i)) & 0xff));
}
static void put_f64(wbuf *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put_u64(w, u);
}
static void put_bytes(wbuf *w, const void *p, size_t n) {
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t len, pos;
} rbuf;

static bool get_bytes(rbuf *r, void *dst, size_t n) {
    if (r->len - r->pos < n) return false;
    if (dst) memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return true;
}
static bool get_u64(rbuf *r, uint64_t *v) {
    unsigned char b[8];
    if (!get_bytes(r, b, 8)) return false;
    *v = 0;
    for (int i = 7; i >= 0; i--) *v = (*v << 8) | b[i];
    return true;
}
static bool get_u32(rbuf *r, uint32_t *v) {
    unsigned char b[4];
    if (!get_bytes(r, b, 4)) return false;
    *v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    return true;
}
static bool get_u16(rbuf *r, unsigned *v) {
    unsigned char b[2];
    if (!get_bytes(r, b, 2)) return false;
    *v = (unsigned)b[0] | ((unsigned)b[1] << 8);
    return true;
}
static bool get_f64(rbuf *r, double *d) {
    uint64_t u;
    if (!get_u64(r, &u)) return false;
    memcpy(d, &u, 8);
    return true;
}

/* Element data in little-endian order: on a little-endian host the bytes
 * themselves; otherwise each element's bytes reversed. */
static void to_le(unsigned char *dst, const unsigned char *src, size_t n, size_t es) {
    if (host_le()) {
        memcpy(dst, src, n);
        return;
    }
    for (size_t i = 0; i < n; i += es)
        for (size_t k = 0; k < es; k++) dst[i + k] = src[i + es - 1 - k];
}

/* ----------------------------------------------------------------- save */

static bool write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }

static nb_status check_inputs(const char *what, const char *path, const nb_named_tensor *ts, int n, char *err,
                              size_t errlen) {
    if (!path || !*path) return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint %s: path is NULL or empty", what);
    if (n < 0 || (n > 0 && !ts))
        return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint %s: %s: bad tensor list (n = %d)", what, path, n);
    for (int i = 0; i < n; i++) {
        if (!ts[i].name || !*ts[i].name || strlen(ts[i].name) > 65535)
            return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint %s: %s: tensor %d has no name (or one too long)",
                              what, path, i);
        if (!ts[i].t || !ts[i].t->data)
            return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint %s: %s: tensor '%s' is NULL", what, path,
                              ts[i].name);
        for (int j = 0; j < i; j++)
            if (!strcmp(ts[i].name, ts[j].name))
                return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint %s: %s: the name '%s' appears twice", what, path,
                                  ts[i].name);
    }
    return NB_OK;
}

/* Streams the checkpoint to f; false on a write error (errno set). */
static bool write_ckpt_buf(wbuf *wp, FILE *f, const nb_named_tensor *ts, int n, const nb_ckpt_meta *meta);
static bool write_ckpt(FILE *f, const nb_named_tensor *ts, int n, const nb_ckpt_meta *meta) {
    wbuf *w = malloc(sizeof *w); /* large: on the heap, one per save (threads save independently) */
    if (!w) {
        errno = ENOMEM;
        return false;
    }
    bool ok = write_ckpt_buf(w, f, ts, n, meta);
    free(w);
    return ok;
}
#define w (*wp)
static bool write_ckpt_buf(wbuf *wp, FILE *f, const nb_named_tensor *ts, int n, const nb_ckpt_meta *meta) {
    w.n = 0;
    put_bytes(&w, MAGIC, 8);
    put_u32(&w, NB_CKPT_VERSION);
    put_u32(&w, 0);
    put_u64(&w, (uint64_t)n);
    put_u64(&w, (uint64_t)meta->epoch);
    put_u64(&w, (uint64_t)meta->step);
    for (int i = 0; i < 4; i++) put_u64(&w, meta->rng.s[i]);
    put_f64(&w, meta->rng.spare);
    put_u32(&w, (uint32_t)(meta->rng.has_spare != 0));
    int nkv = meta->nkv < 0 ? 0 : meta->nkv > NB_CKPT_MAX_KV ? NB_CKPT_MAX_KV : meta->nkv;
    put_u32(&w, (uint32_t)nkv);
    for (int i = 0; i < nkv; i++) {
        size_t kl = strnlen(meta->kv[i].key, NB_CKPT_KEY_MAX - 1);
        put_u16(&w, (unsigned)kl);
        put_bytes(&w, meta->kv[i].key, kl);
        put_f64(&w, meta->kv[i].value);
    }
    put_u64(&w, XXH3_64bits(w.b, w.n));
    if (!write_all(f, w.b, w.n)) return false;

    XXH3_state_t *hs = XXH3_createState();
    if (!hs) {
        errno = ENOMEM;
        return false;
    }
    enum { CH = 1 << 16 };
    unsigned char *tmp = host_le() ? NULL : malloc(CH);
    bool ok = host_le() || tmp;
    for (int i = 0; ok && i < n; i++) {
        const nb_tensor *t = ts[i].t;
        size_t nl = strlen(ts[i].name), es = nb_dtype_size(t->dtype);
        w.n = 0;
        put_u16(&w, (unsigned)nl);
        put_bytes(&w, ts[i].name, nl);
        put_u8(&w, (unsigned)t->dtype);
        put_u8(&w, (unsigned)t->shape.ndim);
        for (int d = 0; d < t->shape.ndim; d++) put_u64(&w, (uint64_t)t->shape.d[d]);
        XXH3_64bits_reset(hs);
        XXH3_64bits_update(hs, w.b, w.n);
        ok = write_all(f, w.b, w.n);
        size_t nbytes = (size_t)t->numel * es;
        const unsigned char *src = t->data;
        for (size_t off = 0; ok && off < nbytes; off += CH) {
            size_t m = nbytes - off < CH ? nbytes - off : CH;
            const unsigned char *chunk = src + off;
            if (tmp) {
                to_le(tmp, chunk, m, es);
                chunk = tmp;
            }
            XXH3_64bits_update(hs, chunk, m);
            ok = write_all(f, chunk, m);
        }
        w.n = 0;
        put_u64(&w, XXH3_64bits_digest(hs));
        if (ok) ok = write_all(f, w.b, w.n);
    }
    free(tmp);
    XXH3_freeState(hs);
    return ok;
}
#undef w

typedef struct {
    const nb_named_tensor *ts;
    int n;
    const nb_ckpt_meta *meta;
} ckpt_job;

static bool write_job(FILE *f, void *ctx) {
    const ckpt_job *j = ctx;
    return write_ckpt(f, j->ts, j->n, j->meta);
}

nb_status nb_checkpoint_save(const char *path, const nb_named_tensor *ts, int n, const nb_ckpt_meta *meta, char *err,
                             size_t errlen) {
    nb__io_ok(err, errlen);
    nb_status st = check_inputs("save", path, ts, n, err, errlen);
    if (st != NB_OK) return st;
    nb_ckpt_meta m0;
    if (!meta) {
        m0 = nb_ckpt_meta_now(0, 0);
        meta = &m0;
    }
    ckpt_job job = {ts, n, meta};
    return nb__io_save_atomic("checkpoint", path, write_job, &job, err, errlen);
}

/* ----------------------------------------------------------------- load */

typedef struct rec {
    size_t data_off; /* where the tensor's bytes start in the file */
} rec;

/* Appends ", name" (or "name") to a list string, ending it with "..." once
 * it is full. */
static void list_add(char *list, size_t cap, const char *name, const char *sep) {
    size_t k = strlen(list);
    if (k + 4 >= cap) return;
    if (k >= 3 && !strcmp(list + k - 3, "...")) return;
    int w = snprintf(list + k, cap - k, "%s%s", k ? sep : "", name);
    if (w < 0 || (size_t)w >= cap - k) snprintf(list + (cap > 4 ? cap - 4 : 0), 4, "...");
}

/* Verifies buf[0..len) and, when it all holds, writes it into ts[0..n).
 * Every name/dtype/shape disagreement is collected and reported together;
 * with strict false, names only in the file (unexpected) or only in ts
 * (missing) are skipped and listed in *res instead of failing. */
static nb_status ckpt_parse_ex(const unsigned char *buf, size_t len, const char *path, nb_named_tensor *ts, int n,
                               bool strict, nb_ckpt_meta *meta, nb_ckpt_load_result *res, char *err, size_t errlen);
static nb_status ckpt_parse(const unsigned char *buf, size_t len, const char *path, nb_named_tensor *ts, int n,
                            nb_ckpt_meta *meta, char *err, size_t errlen) {
    return ckpt_parse_ex(buf, len, path, ts, n, true, meta, NULL, err, errlen);
}
static nb_status ckpt_parse_ex(const unsigned char *buf, size_t len, const char *path, nb_named_tensor *ts, int n,
                               bool strict, nb_ckpt_meta *meta, nb_ckpt_load_result *res, char *err, size_t errlen) {
    nb_ckpt_load_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    char probs[4096] = ""; /* every disagreement, "; "-separated */
    int nprobs = 0, nmism = 0;
    char one[NB_SHAPE_STRLEN * 2 + 600];
    rec *recs = calloc((size_t)(n ? n : 1), sizeof(rec));
    bool *seen = calloc((size_t)(n ? n : 1), sizeof(bool));
    nb_status st = NB_ERR_IO;
    if (!recs || !seen) {
        st = nb__io_err(err, errlen, NB_ERR_NOMEM, "checkpoint: %s: out of memory", path);
        goto done;
    }
    rbuf r = {buf, len, 0};
    unsigned char magic[8];
    if (!get_bytes(&r, magic, 8) || memcmp(magic, MAGIC, 8) != 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: not a nabla checkpoint (bad magic)", path);
        goto done;
    }
    uint32_t version = 0, flags = 0, has_spare = 0, nkv = 0;
    uint64_t count = 0, epoch = 0, step = 0, rng[4] = {0};
    double spare = 0;
    bool hok = get_u32(&r, &version) && get_u32(&r, &flags) && get_u64(&r, &count) && get_u64(&r, &epoch) &&
        get_u64(&r, &step);
    for (int i = 0; hok && i < 4; i++) hok = get_u64(&r, &rng[i]);
    hok = hok && get_f64(&r, &spare) && get_u32(&r, &has_spare) && get_u32(&r, &nkv);
    nb_ckpt_meta m;
    memset(&m, 0, sizeof m);
    if (hok && nkv > NB_CKPT_MAX_KV) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: corrupt header (%u key/values, at most %d)", path,
                   (unsigned)nkv, NB_CKPT_MAX_KV);
        goto done;
    }
    for (uint32_t i = 0; hok && i < nkv; i++) {
        unsigned kl = 0;
        hok = get_u16(&r, &kl);
        if (hok && kl >= NB_CKPT_KEY_MAX) {
            nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: corrupt header (a key of %u bytes)", path, kl);
            goto done;
        }
        hok = hok && get_bytes(&r, m.kv[i].key, kl) && get_f64(&r, &m.kv[i].value);
    }
    size_t hlen = r.pos;
    uint64_t hsum = 0;
    hok = hok && get_u64(&r, &hsum);
    if (!hok) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: truncated in the header (%zu bytes)", path, len);
        goto done;
    }
    if (XXH3_64bits(buf, hlen) != hsum) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: header checksum mismatch (corrupt file)", path);
        goto done;
    }
    if (version != NB_CKPT_VERSION || flags != 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: format version %u (flags %u); this nabla reads version %d",
                   path, (unsigned)version, (unsigned)flags, NB_CKPT_VERSION);
        goto done;
    }
    m.epoch = (int64_t)epoch;
    m.step = (int64_t)step;
    for (int i = 0; i < 4; i++) m.rng.s[i] = rng[i];
    m.rng.spare = spare;
    m.rng.has_spare = has_spare != 0;
    m.nkv = (int)nkv;

    char name[65536];
    for (uint64_t k = 0; k < count; k++) {
        size_t start = r.pos;
        unsigned nl = 0, dt = 0, nd = 0;
        unsigned char b1 = 0;
        bool ok = get_u16(&r, &nl) && get_bytes(&r, name, nl);
        name[ok ? nl : 0] = '\0';
        ok = ok && get_bytes(&r, &b1, 1);
        dt = b1;
        ok = ok && get_bytes(&r, &b1, 1);
        nd = b1;
        if (ok && (dt > NB_I64 || nd > NB_MAX_DIMS)) {
            nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: tensor #%llu ('%s') is corrupt (dtype %u, %u dims)",
                       path, (unsigned long long)k, name, dt, nd);
            goto done;
        }
        nb_shape s = {.ndim = (int)nd};
        uint64_t numel = 1;
        for (unsigned d = 0; ok && d < nd; d++) {
            uint64_t v = 0;
            ok = get_u64(&r, &v);
            if (ok && (v > ((uint64_t)1 << 40) || (v && numel > ((uint64_t)1 << 40) / v))) {
                nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: tensor '%s' has a corrupt shape", path, name);
                goto done;
            }
            s.d[d] = (int64_t)v;
            numel *= v;
        }
        size_t nbytes = ok ? (size_t)numel * nb_dtype_size((nb_dtype)dt) : 0;
        size_t data_off = r.pos;
        ok = ok && get_bytes(&r, NULL, nbytes);
        size_t rlen = r.pos - start;
        uint64_t sum = 0;
        ok = ok && get_u64(&r, &sum);
        if (!ok) {
            nb__io_err(err, errlen, NB_ERR_IO,
                       "checkpoint: %s: truncated in tensor #%llu%s%s%s (of %llu; the file has %zu bytes)", path,
                       (unsigned long long)k, *name ? " ('" : "", name, *name ? "')" : "", (unsigned long long)count,
                       len);
            goto done;
        }
        if (XXH3_64bits(buf + start, rlen) != sum) {
            nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: checksum mismatch in tensor #%llu '%s' (corrupt file)",
                       path, (unsigned long long)k, name);
            goto done;
        }
        int j = 0;
        while (j < n && strcmp(ts[j].name, name) != 0) j++;
        if (j == n) { /* in the file, not in the model */
            res->unexpected++;
            list_add(res->unexpected_names, sizeof res->unexpected_names, name, ", ");
            if (strict) {
                snprintf(one, sizeof one, "holds tensor '%.500s', which the model doesn't have", name);
                nprobs++;
                list_add(probs, sizeof probs, one, "; ");
            }
            continue;
        }
        if (seen[j]) {
            nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: tensor '%s' appears twice", path, name);
            goto done;
        }
        seen[j] = true;
        const nb_tensor *t = ts[j].t;
        if ((nb_dtype)dt != t->dtype || !nb_shape_eq(s, t->shape)) {
            char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
            snprintf(one, sizeof one, "tensor '%.500s' is %s %s in the file but %s %s in the model", name,
                     nb_dtype_name((nb_dtype)dt), nb_shape_str(s, a, sizeof a), nb_dtype_name(t->dtype),
                     nb_shape_str(t->shape, b, sizeof b));
            nmism++, nprobs++;
            list_add(probs, sizeof probs, one, "; ");
            recs[j].data_off = SIZE_MAX;
            continue;
        }
        recs[j].data_off = data_off;
    }
    if (r.pos != len) {
        nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: %zu bytes of trailing data after the last tensor", path,
                   len - r.pos);
        goto done;
    }
    for (int j = 0; j < n; j++)
        if (!seen[j]) {
            res->missing++;
            list_add(res->missing_names, sizeof res->missing_names, ts[j].name, ", ");
            if (strict) {
                snprintf(one, sizeof one, "tensor '%.500s' is missing from the file (it holds %llu)", ts[j].name,
                         (unsigned long long)count);
                nprobs++;
                list_add(probs, sizeof probs, one, "; ");
            }
        }
    if (nmism || (strict && nprobs)) { /* every disagreement at once, as PyTorch's load_state_dict */
        if (nprobs == 1) nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: %s", path, probs);
        else
            nb__io_err(err, errlen, NB_ERR_IO, "checkpoint: %s: %d tensors don't match the model: %s", path, nprobs,
                       probs);
        goto done;
    }

    /* Verified: now write (what the file holds for the model). */
    for (int j = 0; j < n; j++) {
        if (!seen[j]) continue;
        nb_tensor *t = ts[j].t;
        size_t es = nb_dtype_size(t->dtype);
        to_le(t->data, buf + recs[j].data_off, (size_t)t->numel * es, es); /* LE <-> host is symmetric */
        nb_bump_version(t);
    }
    if (meta) *meta = m;
    st = NB_OK;

done:
    free(recs);
    free(seen);
    return st;
}

nb_status nb_checkpoint_load(const char *path, nb_named_tensor *ts, int n, nb_ckpt_meta *meta, char *err,
                             size_t errlen) {
    return nb_checkpoint_load_ex(path, ts, n, true, meta, NULL, err, errlen);
}

nb_status nb__io_slurp(const char *what, const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen) {
    *buf = NULL;
    *len = 0;
    if (!path) return nb__io_err(err, errlen, NB_ERR_ARG, "%s: path is NULL", what);
    FILE *f = fopen(path, "rb");
    if (!f) return nb__io_err(err, errlen, NB_ERR_IO, "%s: %s: can't open: %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return nb__io_err(err, errlen, NB_ERR_IO, "%s: %s: not a regular file", what, path);
    }
    const size_t n = (size_t)sb.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return nb__io_err(err, errlen, NB_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", what, path, n);
    }
    const size_t got = fread(b, 1, n, f);
    const int extra = fgetc(f);
    fclose(f);
    if (got != n || extra != EOF) {
        free(b);
        return nb__io_err(err, errlen, NB_ERR_IO, "%s: %s: the file changed while it was read", what, path);
    }
    *buf = b;
    *len = n;
    return NB_OK;
}

nb_status nb_checkpoint_load_ex(const char *path, nb_named_tensor *ts, int n, bool strict, nb_ckpt_meta *meta,
                                nb_ckpt_load_result *res, char *err, size_t errlen) {
    if (res) memset(res, 0, sizeof *res);
    nb__io_ok(err, errlen);
    nb_status st = check_inputs("load", path, ts, n, err, errlen);
    if (st != NB_OK) return st;
    unsigned char *buf;
    size_t len;
    st = nb__io_slurp("checkpoint", path, &buf, &len, err, errlen);
    if (st == NB_OK) st = ckpt_parse_ex(buf, len, path, ts, n, strict, meta, res, err, errlen);
    free(buf);
    return st;
}

nb_status nb_checkpoint_load_mem(const void *data, size_t len, nb_named_tensor *ts, int n, nb_ckpt_meta *meta,
                                 char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!data) return nb__io_err(err, errlen, NB_ERR_ARG, "checkpoint load: data is NULL");
    nb_status st = check_inputs("load", "<memory>", ts, n, err, errlen);
    if (st != NB_OK) return st;
    return ckpt_parse(data, len, "<memory>", ts, n, meta, err, errlen);
}
