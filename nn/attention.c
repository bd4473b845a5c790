/* nn/attention.c — MultiheadAttention, the pre-LN transformer block and a
 * tiny GPT: compositions of ops, the attention itself the nb_sdpa primitive.
 *
 * Self-attention (query, key and value the same tensor, the GPT's case) is
 * one GEMM for the packed in-projection (B,L,E)->(B,L,3E), nb_sdpa_packed
 * reading the heads out of it in place, and the out-projection: no head
 * split or merge is ever copied. Cross-attention slices the packed weight
 * into its q/k/v rows and permutes the heads (copies) around nb_sdpa. */
#include "nn_internal.h"

#include <math.h>

/* "'blocks.0.attn' MultiheadAttention(embed_dim=128, num_heads=4)" into buf */
static const char *who(const nb_module *m, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s", m->path[0] ? "'" : "", m->path, m->path[0] ? "' " : "", m->desc);
    return buf;
}

/* ------------------------------------------------------------ MultiheadAttention */

typedef struct {
    int64_t E, H;
    bool bias, batch_first;
    double dropout;
} mha_cfg;

static bool is_mha(const char *fn, const nb_module *m) {
    if (m && !strcmp(m->type, "MultiheadAttention")) return true;
    nb_fail(NB_ERR_ARG, fn, "needs a MultiheadAttention module, got %s", m ? m->type : "NULL");
    return false;
}

/* A boolean i64 mask (nonzero = masked, nn.MultiheadAttention's convention)
 * as an additive float mask of dtype dt (−inf where masked); a float mask is
 * returned as it is (it must have dt). */
static nb_tensor *additive_mask(const nb_module *m, const char *what, nb_tensor *mask, nb_dtype dt) {
    if (mask->dtype == dt) return mask;
    char w[NB_MOD_DESC_MAX + NB_MOD_PATH_MAX + 8], d[NB_DESCRIBE_LEN];
    if (mask->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, m->type, "%s: %s %s is %s; it must be i64 (boolean, nonzero = masked) or %s (added)",
                who(m, w, sizeof w), what, nb_describe(mask, what, d, sizeof d), nb_dtype_name(mask->dtype),
                nb_dtype_name(dt));
        return NULL;
    }
    nb_tensor *f = nb_empty(dt, mask->shape);
    if (!f) return NULL;
    for (int64_t i = 0; i < mask->numel; i++) nb_set(f, i, nb_i64(mask)[i] ? -INFINITY : 0.0);
    return f;
}

/* res (not NULL): res + the attention, the residual added by the
 * out-projection's GEMM (nb__linear_add) where the output's layout allows
 * (batch-first or unbatched), else by nb_add */
static nb_tensor *mha_impl(nb_module *m, nb_tensor *query, nb_tensor *key, nb_tensor *value, const nb_mha_opts *o,
                           nb_tensor *res) {
    const mha_cfg *c = m->data;
    const nb_mha_opts none = {0};
    if (!o) o = &none;
    if (o->weights) *o->weights = NULL;
    if (!query || !key || !value) return NULL;
    char w[NB_MOD_DESC_MAX + NB_MOD_PATH_MAX + 8], d0[NB_DESCRIBE_LEN], d1[NB_DESCRIBE_LEN], d2[NB_DESCRIBE_LEN];
    char e[96];
    const int64_t E = c->E, H = c->H, D = E / H;
    snprintf(e, sizeof e, c->batch_first ? "(B,L,%lld) or (L,%lld)" : "(L,B,%lld) or (L,%lld)", (long long)E,
             (long long)E);
    if (!nb__check_input(m, query, 2, 3, e)) return NULL;
    if (query->shape.d[query->shape.ndim - 1] != E) {
        nb_module_fail_shape(m, e, query);
        return NULL;
    }
    const bool batched = query->shape.ndim == 3;
    const int nd = query->shape.ndim;
    bool ok = key->shape.ndim == nd && value->shape.ndim == nd && key->dtype == query->dtype &&
        value->dtype == query->dtype && nb_shape_eq(key->shape, value->shape) && key->shape.d[nd - 1] == E &&
        (!batched || key->shape.d[c->batch_first ? 0 : 1] == query->shape.d[c->batch_first ? 0 : 1]);
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, m->type,
                "%s: query, key and value must be %s with the same batch, key and value "
                "the same shape, one dtype: %s, %s, %s",
                who(m, w, sizeof w), e, nb_describe(query, "query", d0, sizeof d0),
                nb_describe(key, "key", d1, sizeof d1), nb_describe(value, "value", d2, sizeof d2));
        return NULL;
    }
    const bool self = query == key && key == value;
    /* to (B, L, E): unbatched gets B = 1 (a view); sequence-first is transposed (a copy) */
    nb_tensor *q = query, *k = key, *v = value;
    if (!batched) {
        q = nb_unsqueeze(q, 0);
        k = self ? q : nb_unsqueeze(k, 0);
        v = self ? q : key == value ? k : nb_unsqueeze(v, 0);
    } else if (!c->batch_first) {
        q = nb_transpose(q, 0, 1);
        k = self ? q : nb_transpose(k, 0, 1);
        v = self ? q : key == value ? k : nb_transpose(v, 0, 1);
    }
    if (!q || !k || !v) return NULL;
    const int64_t B = q->shape.d[0], L = q->shape.d[1], S = k->shape.d[1];

    /* the masks, as one additive mask broadcasting to (B, H, L, S) */
    nb_tensor *mask = NULL;
    if (o->key_padding_mask) {
        nb_tensor *kp = o->key_padding_mask;
        if (!(batched ? kp->shape.ndim == 2 && kp->shape.d[0] == B && kp->shape.d[1] == S
                      : kp->shape.ndim == 1 && kp->shape.d[0] == S)) {
            nb_fail(NB_ERR_SHAPE, m->type, "%s: key_padding_mask must be (B,S) = (%lld,%lld): %s, %s",
                    who(m, w, sizeof w), (long long)B, (long long)S, nb_describe(kp, "key_padding_mask", d0, sizeof d0),
                    nb_describe(key, "key", d1, sizeof d1));
            return NULL;
        }
        mask = nb_reshape(additive_mask(m, "key_padding_mask", kp, q->dtype), NB_SHAPE(B, 1, 1, S));
        if (!mask) return NULL;
    }
    if (o->attn_mask) {
        nb_tensor *am = o->attn_mask;
        const bool two = am->shape.ndim == 2 && am->shape.d[0] == L && am->shape.d[1] == S;
        const bool three = am->shape.ndim == 3 && am->shape.d[0] == B * H && am->shape.d[1] == L && am->shape.d[2] == S;
        if (!two && !three) {
            nb_fail(NB_ERR_SHAPE, m->type,
                    "%s: attn_mask must be (L,S) = (%lld,%lld) or (B*heads,L,S) = "
                    "(%lld,%lld,%lld): %s, %s, %s",
                    who(m, w, sizeof w), (long long)L, (long long)S, (long long)(B * H), (long long)L, (long long)S,
                    nb_describe(am, "attn_mask", d2, sizeof d2), nb_describe(query, "query", d0, sizeof d0),
                    nb_describe(key, "key", d1, sizeof d1));
            return NULL;
        }
        nb_tensor *a = additive_mask(m, "attn_mask", am, q->dtype);
        if (three) a = nb_reshape(a, NB_SHAPE(B, H, L, S));
        mask = mask ? nb_add(mask, a) : a;
        if (!mask) return NULL;
    }
    const double p = m->training ? c->dropout : 0;
    nb_tensor *W = nb_module_param(m, 0), *b = c->bias ? nb_module_param(m, 1) : NULL;
    nb_tensor *out, *weights = NULL;
    if (self) {
        nb_tensor *qkv = nb_affine(q, W, b); /* (B, L, 3E): q | k | v, heads of D columns */
        out = nb_sdpa_packed(qkv, H, mask, o->is_causal, p, 0);
        if (o->need_weights && out) weights = nb_sdpa_packed_weights(qkv, H, mask, o->is_causal, 0);
    } else {
        nb_tensor *hq, *hk, *hv;
        nb_tensor *in[3] = {q, k, v}, **hs[3] = {&hq, &hk, &hv};
        const int64_t len[3] = {L, S, S};
        for (int i = 0; i < 3; i++) { /* rows [iE, (i+1)E) of the packed weight: (B,len,E) -> (B,H,len,D) */
            nb_tensor *wi = nb_slice(W, 0, i * E, (i + 1) * E, 1),
                      *bi = b ? nb_slice(b, 0, i * E, (i + 1) * E, 1) : NULL;
            nb_tensor *y = nb_reshape(nb_affine(in[i], wi, bi), NB_SHAPE(B, len[i], H, D));
            *hs[i] = nb_permute(y, (int[]){0, 2, 1, 3}, 4);
        }
        nb_tensor *o4 = nb_sdpa(hq, hk, hv, mask, o->is_causal, p, 0); /* (B, H, L, D) */
        out = nb_reshape(nb_permute(o4, (int[]){0, 2, 1, 3}, 4), NB_SHAPE(B, L, E));
        if (o->need_weights && out) weights = nb_sdpa_weights(hq, hk, mask, o->is_causal, 0);
    }
    const bool fuse = res && (!batched || c->batch_first);
    if (fuse) /* out_proj, and the residual as its GEMM stores */
        out = nb__linear_add(nb_module_child_at(m, 0), out, batched ? res : nb_unsqueeze(res, 0));
    else out = nb_forward(nb_module_child_at(m, 0), out); /* out_proj */
    if (weights && o->average_attn_weights) NB_NO_GRAD {
            weights = nb_mean(weights, (int[]){1}, 1, false);
        }
    if (!batched) {
        out = nb_squeeze(out, 0);
        if (weights) weights = nb_squeeze(weights, 0);
    } else if (!c->batch_first) {
        out = nb_transpose(out, 0, 1);
    }
    if (res && !fuse) out = nb_add(res, out);
    if (o->weights) *o->weights = out ? weights : NULL;
    return out;
}

nb_tensor *nb_mha_forward(nb_module *m, nb_tensor *query, nb_tensor *key, nb_tensor *value, const nb_mha_opts *o) {
    if (!is_mha("mha_forward", m)) return NULL;
    return mha_impl(m, query, key, value, o, NULL);
}

static nb_tensor *mha_forward(nb_module *m, nb_tensor *x) { return mha_impl(m, x, x, x, NULL, NULL); }

nb_module *nb_multihead_attention(int64_t embed_dim, int64_t num_heads, bool bias, bool batch_first, double dropout) {
    if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads) {
        nb_fail(NB_ERR_ARG, "MultiheadAttention", "embed_dim %lld must be > 0 and divisible by num_heads %lld",
                (long long)embed_dim, (long long)num_heads);
        return NULL;
    }
    if (!(dropout >= 0 && dropout < 1)) {
        nb_fail(NB_ERR_ARG, "MultiheadAttention", "dropout (the drop probability) must be in [0, 1), got %g", dropout);
        return NULL;
    }
    if (embed_dim > INT64_MAX / 3) {
        nb_fail(NB_ERR_ARG, "MultiheadAttention", "embed_dim %lld is too large", (long long)embed_dim);
        return NULL;
    }
    nb_module *m = nb__layer_new("MultiheadAttention", mha_forward, sizeof(mha_cfg),
                                 "MultiheadAttention(embed_dim=%lld, num_heads=%lld%s%s)", (long long)embed_dim,
                                 (long long)num_heads, bias ? "" : ", bias=false", batch_first ? ", batch_first" : "");
    if (!m) return NULL;
    *(mha_cfg *)m->data = (mha_cfg){embed_dim, num_heads, bias, batch_first, dropout};
    /* torch's _reset_parameters: xavier_uniform_ in_proj_weight, zero biases,
     * out_proj.weight keeps Linear's default */
    nb_tensor *w =
        nb_module_add_param(m, "in_proj_weight", nb__persistent_zeros(NB_F32, NB_SHAPE(3 * embed_dim, embed_dim)));
    nb_init_xavier_uniform(w, 1.0);
    if (bias) nb_module_add_param(m, "in_proj_bias", nb__persistent_zeros(NB_F32, NB_SHAPE(3 * embed_dim)));
    nb_module *op = nb_module_add(m, "out_proj", nb_linear_ex(embed_dim, embed_dim, bias));
    if (!op) {
        nb_module_free(m);
        return NULL;
    }
    if (bias) nb_init_constant(nb_module_param(op, 1), 0);
    return m;
}

/* ------------------------------------------------------------ pre-LN transformer block */

typedef struct {
    int64_t d, heads, ff;
    double dropout;
    nb_module *self_attn, *linear1, *linear2, *norm1, *norm2;
} block_cfg;

static bool is_block(const char *fn, const nb_module *m) {
    if (m && !strcmp(m->type, "TransformerBlock")) return true;
    nb_fail(NB_ERR_ARG, fn, "needs a TransformerBlock module, got %s", m ? m->type : "NULL");
    return false;
}

/* x + SA(LN1(x)), then + MLP(LN2(·)); dropout (train mode) after the
 * attention, after GELU and after the MLP, as TransformerEncoderLayer. */
static nb_tensor *block_impl(nb_module *m, nb_tensor *x, const nb_mha_opts *o) {
    const block_cfg *c = m->data;
    if (!x) return NULL;
    char e[64];
    snprintf(e, sizeof e, "(B,L,%lld) or (L,%lld)", (long long)c->d, (long long)c->d);
    if (!nb__check_input(m->children[0].m, x, 2, 3, e)) return NULL; /* dtype of the parameters */
    if (x->shape.d[x->shape.ndim - 1] != c->d) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    const double p = m->training ? c->dropout : 0;
    nb_mha_opts so = {0};
    if (o)
        so = (nb_mha_opts){
            .key_padding_mask = o->key_padding_mask, .attn_mask = o->attn_mask, .is_causal = o->is_causal};
    nb_tensor *h = nb_forward(c->norm1, x);
    if (p == 0) { /* no dropout between the projections and the adds: each add rides its GEMM (nb_affine_add) */
        x = mha_impl(c->self_attn, h, h, h, &so, x);
        h = nb_forward(c->norm2, x);
        return nb__linear_add(c->linear2, nb_gelu(nb_forward(c->linear1, h)), x);
    }
    x = nb_add(x, nb_dropout(nb_mha_forward(c->self_attn, h, h, h, &so), p, true));
    h = nb_forward(c->norm2, x);
    h = nb_forward(c->linear2, nb_dropout(nb_gelu(nb_forward(c->linear1, h)), p, true));
    return nb_add(x, nb_dropout(h, p, true));
}

nb_tensor *nb_transformer_block_forward(nb_module *m, nb_tensor *x, const nb_mha_opts *o) {
    if (!is_block("transformer_block_forward", m)) return NULL;
    return block_impl(m, x, o);
}
static nb_tensor *block_forward(nb_module *m, nb_tensor *x) { return block_impl(m, x, NULL); }

nb_module *nb_transformer_block(int64_t d_model, int64_t n_head, int64_t d_ff, double dropout) {
    if (d_model <= 0 || n_head <= 0 || d_ff <= 0 || d_model % n_head) {
        nb_fail(NB_ERR_ARG, "TransformerBlock", "d_model %lld must be > 0 and divisible by n_head %lld; d_ff %lld > 0",
                (long long)d_model, (long long)n_head, (long long)d_ff);
        return NULL;
    }
    if (!(dropout >= 0 && dropout < 1)) {
        nb_fail(NB_ERR_ARG, "TransformerBlock", "dropout (the drop probability) must be in [0, 1), got %g", dropout);
        return NULL;
    }
    nb_module *m = nb__layer_new("TransformerBlock", block_forward, sizeof(block_cfg),
                                 "TransformerBlock(d_model=%lld, n_head=%lld, d_ff=%lld, dropout=%g)",
                                 (long long)d_model, (long long)n_head, (long long)d_ff, dropout);
    if (!m) return NULL;
    block_cfg *c = m->data;
    *c = (block_cfg){.d = d_model, .heads = n_head, .ff = d_ff, .dropout = dropout};
    /* torch's TransformerEncoderLayer registration order: its state_dict order */
    c->self_attn = nb_module_add(m, "self_attn", nb_multihead_attention(d_model, n_head, true, true, dropout));
    c->linear1 = nb_module_add(m, "linear1", nb_linear(d_model, d_ff));
    c->linear2 = nb_module_add(m, "linear2", nb_linear(d_ff, d_model));
    c->norm1 = nb_module_add(m, "norm1", nb_layernorm(d_model));
    c->norm2 = nb_module_add(m, "norm2", nb_layernorm(d_model));
    if (!c->self_attn || !c->linear1 || !c->linear2 || !c->norm1 || !c->norm2) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------ tiny GPT */

typedef struct {
    int64_t vocab, context, width, layers, heads;
    nb_module *tok, *pos, *blocks, *ln_f;
} gpt_cfg;

static nb_tensor *gpt_forward(nb_module *m, nb_tensor *idx) {
    const gpt_cfg *c = m->data;
    if (!idx) return NULL;
    char w[NB_MOD_DESC_MAX + NB_MOD_PATH_MAX + 8], d[NB_DESCRIBE_LEN];
    if (idx->dtype != NB_I64 || idx->shape.ndim != 2) {
        nb_fail(NB_ERR_SHAPE, m->type, "%s takes token indices (B,T) i64: %s %s", who(m, w, sizeof w),
                nb_describe(idx, "idx", d, sizeof d), nb_dtype_name(idx->dtype));
        return NULL;
    }
    const int64_t B = idx->shape.d[0], T = idx->shape.d[1];
    if (T > c->context || T < 1) {
        nb_fail(NB_ERR_SHAPE, m->type, "%s: context %lld is longer than the position table (%lld positions): %s",
                who(m, w, sizeof w), (long long)T, (long long)c->context, nb_describe(idx, "idx", d, sizeof d));
        return NULL;
    }
    nb_tensor *pos = nb_empty(NB_I64, NB_SHAPE(T));
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) nb_i64(pos)[t] = t;
    nb_tensor *x = nb_add(nb_forward(c->tok, idx), nb_forward(c->pos, pos)); /* (B,T,E) + (T,E) */
    const nb_mha_opts o = {.is_causal = true};
    for (int i = 0; i < c->layers && x; i++) x = nb_transformer_block_forward(nb_module_child_at(c->blocks, i), x, &o);
    x = nb_forward(c->ln_f, x);
    (void)B;
    return nb_affine(x, nb_module_param(c->tok, 0), NULL); /* tied: logits = x W_tokᵀ */
}

/* GPT-2's init: every weight N(0, 0.02), biases 0, LayerNorm 1 and 0. */
static void gpt_init(nb_module *m) {
    nb_named_tensor ps[256];
    const int n = nb_module_parameters(m, ps, 256);
    for (int i = 0; i < n && i < 256; i++) {
        const char *dot = strrchr(ps[i].name, '.');
        const char *leaf = dot ? dot + 1 : ps[i].name;
        const bool is_norm = strstr(ps[i].name, "norm") || strstr(ps[i].name, "ln_f");
        if (is_norm) continue;
        if (strstr(leaf, "bias")) nb_init_constant(ps[i].t, 0);
        else nb_init_normal(ps[i].t, 0, 0.02);
    }
}

nb_module *nb_gpt(int64_t vocab, int64_t context, int64_t width, int64_t layers, int64_t heads, double dropout) {
    if (vocab <= 0 || context <= 0 || width <= 0 || layers <= 0 || heads <= 0 || layers > 64) {
        nb_fail(NB_ERR_ARG, "GPT",
                "vocab %lld, context %lld, width %lld, heads %lld must be > 0 and layers %lld "
                "in [1, 64]",
                (long long)vocab, (long long)context, (long long)width, (long long)heads, (long long)layers);
        return NULL;
    }
    if (width % heads) {
        nb_fail(NB_ERR_ARG, "GPT", "width %lld is not divisible by heads %lld", (long long)width, (long long)heads);
        return NULL;
    }
    if (width > INT64_MAX / 4) {
        nb_fail(NB_ERR_ARG, "GPT", "width %lld is too large", (long long)width);
        return NULL;
    }
    nb_module *m = nb__layer_new("GPT", gpt_forward, sizeof(gpt_cfg),
                                 "GPT(vocab=%lld, context=%lld, width=%lld, layers=%lld, heads=%lld)", (long long)vocab,
                                 (long long)context, (long long)width, (long long)layers, (long long)heads);
    if (!m) return NULL;
    gpt_cfg *c = m->data;
    *c = (gpt_cfg){vocab, context, width, layers, heads, NULL, NULL, NULL, NULL};
    c->tok = nb_module_add(m, "tok_emb", nb_embedding(vocab, width));
    c->pos = nb_module_add(m, "pos_emb", nb_embedding(context, width));
    c->blocks = nb_module_add(m, "blocks", nb_module_new("ModuleList", NULL, 0));
    bool ok = c->tok && c->pos && c->blocks;
    for (int64_t i = 0; ok && i < layers; i++) {
        char name[24];
        snprintf(name, sizeof name, "%lld", (long long)i);
        ok = nb_module_add(c->blocks, name, nb_transformer_block(width, heads, 4 * width, dropout)) != NULL;
    }
    c->ln_f = ok ? nb_module_add(m, "ln_f", nb_layernorm(width)) : NULL;
    if (!ok || !c->ln_f) {
        nb_module_free(m);
        return NULL;
    }
    gpt_init(m);
    return m;
}
