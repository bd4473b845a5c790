/* ops/kernels/conv_implicit_tmpl.h — stride 1 / dilation 1 convolution on
 * the direct (implicit-GEMM) kernels of conv_direct.c, for one element type;
 * included by conv_implicit.c (no include guard). The includer defines T
 * (float or double), FN(name) and DT(name) (name with the element type's
 * suffix); they are #undef'd at the end. */

/* x[n] (C, H, W) into the zero-padded xp (C, Hp, Wp): its interior only */
static void FN(direct_pad)(T *xp, const T *x, const nb_conv_dims *d) {
    for (int64_t c = 0; c < d->g.C; c++)
        DT(nb_convd_copy)
        (xp + (c * d->Hp + d->g.ph) * d->Wp + d->g.pw, d->Wp, x + c * d->g.H * d->g.W, d->g.W, d->g.H, d->g.W);
}
/* Forward: each image padded once into xp (as the wide path does), then the
 * implicit GEMM reads its B vectors from xp and writes y (and bias) with
 * masked stores: no cols, no GEMM packing, no scatter. Images split between
 * threads. */
void FN(nb_conv_implicit_fwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *B, T *Y,
                              const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const nb_convd_geom cg = {d.g.C, d.Hp, d.Wp, d.g.kh, d.g.kw, d.O};
    const int nt = nb_par_clamp(nb_conv_threads(&d, nthreads), d.N);
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, sx = d.g.C * d.Hp * d.Wp + NB_CONVD_SLACK;
    void *plan = nb_conv_get(ws, nb_convd_plan_bytes(&cg, sizeof(T)));
    T *xp = nb_conv_get(ws, (size_t)(nt * sx) * sizeof(T));
    if (!plan || !xp) {
        memset(Y, 0, (size_t)(d.N * d.O * d.P) * sizeof(T));
    } else {
        DT(nb_convd_plan)(plan, &cg, Wt, false);
        NB_PAR_REGION(nt, {
            const int t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
            int64_t n0, n1;
            nb_par_share(d.N, t, nth, &n0, &n1);
            T *buf = xp + t * sx;
            memset(buf, 0, (size_t)sx * sizeof(T));
            for (int64_t i = n0; i < n1; i++) {
                FN(direct_pad)(buf, X + i * CHW, &d);
                DT(nb_convd_run)(plan, buf, Y + i * OP, B, false);
            }
        });
    }
    nb_conv_put(ws, plan);
    nb_conv_put(ws, xp);
}
/* Backward, one pass over the images (each thread its share), so that
 * each image's gout is read from memory once and then from cache by
 * all three:
 * - db: each (image, channel) summed (nb_convd_rowsums), added into GB
 *   in image order at the end (the same bits for any thread count, and
 *   as rowsums on the other paths);
 * - dx (GX, when nb_conv_implicit_dx_ok): gout padded by k − 1 − pad into gpx,
 *   the forward kernel with flipped, transposed weights adds it into dx;
 * - dW: a per-thread accumulator, added into GW in thread order
 *   afterwards. O a multiple of the vector width: lanes over output
 *   channels (dwo, one image at a time, accumulator (K, O), gout
 *   transposed); else lanes over output columns (accumulator (O, K,
 *   lanes)), kw ≤ 6: dwr on gout copied into rows padded to whole
 *   vectors, as many images a call as keep that copy within 32 KiB (L1),
 *   else dw, DW_IMGS images a call. */
void FN(nb_conv_implicit_bwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *G, T *GX, T *GW,
                              T *GB, const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const int nt = nb_par_clamp(nb_conv_threads(&d, nthreads), d.N);
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Ho = d.g.Ho, Wo = d.g.Wo;
    /* dW */
    const nb_convd_geom cw = {d.g.C, d.Hp, d.Wp, d.g.kh, d.g.kw, d.O};
    void *pw = GW ? nb_conv_get(ws, nb_convd_plan_bytes(&cw, sizeof(T))) : NULL;
    bool lo = false, rw = false;
    int64_t ni = 1, sx = 0, gsr = 0, sgi = 0, sa = 0, sgw = 0;
    if (pw) {
        DT(nb_convd_plan)(pw, &cw, NULL, false);
        lo = nb_convd_dwo_ok(pw), rw = !lo && nb_convd_dwr_ok(pw);
        sx = (d.g.C * d.Hp * d.Wp + NB_CONVD_SLACK + 15) / 16 * 16; /* 64-byte multiples */
        gsr = rw ? nb_convd_dwr_gs(pw) : 0, sgi = (d.O * Ho * gsr + 15) / 16 * 16;
        ni = lo ? 1 : DW_IMGS;
        if (rw) {
            ni = (int64_t)(32768 / sizeof(T)) / (sgi > 0 ? sgi : 1);
            ni = ni < 1 ? 1 : ni > DW_IMGS ? DW_IMGS : ni;
        }
        sa = lo ? d.K * d.O : (int64_t)nb_convd_dw_acc_len(pw);
        sgw = lo ? (OP + 15) / 16 * 16 : rw ? ni * sgi : 0;
    }
    /* dx: gout padded by k − 1 − pad, the adjoint's input */
    const int64_t Hg = d.g.H + d.g.kh - 1, Wg = d.g.W + d.g.kw - 1;
    const int64_t top = d.g.kh - 1 - d.g.ph, left = d.g.kw - 1 - d.g.pw;
    const nb_convd_geom cx = {d.O, Hg, Wg, d.g.kh, d.g.kw, d.g.C};
    void *px = GX ? nb_conv_get(ws, nb_convd_plan_bytes(&cx, sizeof(T))) : NULL;
    const int64_t sgx = px ? (d.O * Hg * Wg + NB_CONVD_SLACK + 15) / 16 * 16 : 0;
    /* per thread: padded images, dW's gout copy, dx's padded gout */
    const int64_t sb = (pw ? ni * sx + sgw : 0) + sgx;
    T *acc = pw ? nb_conv_get(ws, (size_t)(nt * sa) * sizeof(T)) : NULL;
    T *bufs = nb_conv_get(ws, (size_t)(nt * sb) * sizeof(T));
    T *dbs = GB ? nb_conv_get(ws, (size_t)(d.N * d.O) * sizeof(T)) : NULL;
    if ((!GW || (pw && acc)) && (!GX || px) && bufs && (!GB || dbs)) {
        if (px) DT(nb_convd_plan)(px, &cx, Wt, true);
        int used = 1;
        NB_PAR_REGION(nt, {
            const int t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
            int64_t n0, n1;
            nb_par_share(d.N, t, nth, &n0, &n1);
            if (t == 0) used = nth;
            T *xb = bufs + t * sb, *gb = xb + ni * sx, *gx = pw ? gb + sgw : xb;
            T *a = acc ? acc + t * sa : NULL;
            memset(xb, 0, (size_t)sb * sizeof(T)); /* pads, row tails: zero */
            if (a) memset(a, 0, (size_t)sa * sizeof(T));
            for (int64_t i0 = n0; i0 < n1; i0 += ni) {
                const int nb = (int)(n1 - i0 < ni ? n1 - i0 : ni);
                const T *ins[DW_IMGS], *gs[DW_IMGS];
                for (int i = 0; i < nb; i++) {
                    const int64_t im = i0 + i;
                    const T *Gi = G + im * OP;
                    if (GB) DT(nb_convd_rowsums)(Gi, d.O, d.P, dbs + im * d.O);
                    if (px) {
                        for (int64_t o = 0; o < d.O; o++)
                            DT(nb_convd_copy)(gx + (o * Hg + top) * Wg + left, Wg, Gi + o * d.P, Wo, Ho, Wo);
                        DT(nb_convd_run)(px, gx, GX + im * CHW, NULL, true);
                    }
                    if (!pw) continue;
                    FN(direct_pad)(xb + i * sx, X + im * CHW, &d);
                    ins[i] = xb + i * sx;
                    gs[i] = Gi;
                    if (rw) {
                        DT(nb_convd_copy)(gb + i * sgi, gsr, Gi, Wo, d.O * Ho, Wo);
                        gs[i] = gb + i * sgi;
                    }
                }
                if (!pw) continue;
                if (lo) DT(nb_convd_dwo)(pw, ins[0], gs[0], gb, a);
                else if (rw) DT(nb_convd_dwr)(pw, nb, ins, gs, a);
                else DT(nb_convd_dw)(pw, nb, ins, gs, a);
            }
        });
        for (int t = 0; pw && t < used; t++) {
            if (lo) DT(nb_convd_dwo_finish)(pw, acc + t * sa, GW);
            else DT(nb_convd_dw_finish)(pw, acc + t * sa, GW);
        }
        for (int64_t im = 0; GB && im < d.N; im++)
            for (int64_t o = 0; o < d.O; o++) GB[o] += dbs[im * d.O + o];
    }
    nb_conv_put(ws, pw);
    nb_conv_put(ws, px);
    nb_conv_put(ws, acc);
    nb_conv_put(ws, bufs);
    nb_conv_put(ws, dbs);
}

#undef T
#undef FN
#undef DT
