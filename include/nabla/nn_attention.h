/* nabla/nn_attention.h — scaled dot-product attention, MultiheadAttention,
 * the pre-LN transformer block and a tiny GPT.
 *
 * The attention op is a primitive (ops/attention.c: forward, backward,
 * registry samples, PyTorch fixtures); the modules are compositions of ops,
 * like every layer in nn.h. docs/nn.md ("Attention and transformers") has
 * the formulas, the conventions and the measurements.
 */
#ifndef NABLA_NN_ATTENTION_H
#define NABLA_NN_ATTENTION_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;

/* ================================================================ the op */

/* torch.nn.functional.scaled_dot_product_attention:
 *   A = softmax(scale·q kᵀ + mask) along the last axis, out = dropout(A) v
 * q (..., L, E), k (..., S, E), v (..., S, Ev) with equal batch dims (...)
 * -> (..., L, Ev). scale 0 means 1/√E.
 * mask (or NULL) broadcasts to the scores (..., L, S) (NB_ERR_SHAPE naming
 * the shapes otherwise) and is either
 *   - float of q's dtype: ADDED to the scores (−INFINITY masks an entry);
 *     it gets a gradient if it requires one (summed to its shape), or
 *   - NB_I64, a boolean mask with torch's SDPA convention: nonzero = the query
 *     may attend to that key, 0 = masked. (nn.MultiheadAttention's masks use
 *     the opposite convention, as in PyTorch: see nb_mha_forward.)
 * is_causal masks key j > query i (torch's top-left aligned tril(L, S)); it
 * may be combined with a mask (torch refuses both).
 * A query whose every key is masked gets a zero row of A, so a zero output
 * and zero gradients — PyTorch gives NaN there.
 * dropout_p > 0 drops weights of A (inverted dropout, p the drop
 * probability): one nb_rand_uniform per weight in row-major order of
 * (..., L, S), kept when u >= p, as nb_dropout. Like torch's functional form
 * it has no train flag: pass 0 in evaluation (the modules do).
 * Gradients: q, k, v (and an additive mask). */
NB_API nb_tensor *nb_sdpa(nb_tensor *q, nb_tensor *k, nb_tensor *v, nb_tensor *mask, bool is_causal, double dropout_p,
                          double scale);

/* The attention weights A (..., L, S) of nb_sdpa (no dropout), computed
 * under no-grad: a detached tensor, for inspection (need_weights). */
NB_API nb_tensor *nb_sdpa_weights(nb_tensor *q, nb_tensor *k, nb_tensor *mask, bool is_causal, double scale);

/* The same attention with the heads read straight from a packed projection:
 * qkv (B, L, 3·heads·D) holds q | k | v along the last axis, each split into
 * heads of D consecutive columns (nn.MultiheadAttention's in-projection
 * output). Self-attention: S = L. Equals
 *   q, k, v = qkv.view(B, L, 3, heads, D).permute(2, 0, 3, 1, 4)
 *   out = sdpa(q, k, v, ...).transpose(1, 2).reshape(B, L, heads·D)
 * without the copies. mask broadcasts to (B, heads, L, L). -> (B, L, heads·D). */
NB_API nb_tensor *nb_sdpa_packed(nb_tensor *qkv, int64_t heads, nb_tensor *mask, bool is_causal, double dropout_p,
                                 double scale);
/* The attention weights A (B, heads, L, L) of nb_sdpa_packed (no dropout),
 * computed under no-grad: a detached tensor, for inspection. */
NB_API nb_tensor *nb_sdpa_packed_weights(nb_tensor *qkv, int64_t heads, nb_tensor *mask, bool is_causal, double scale);

/* ================================================================ MultiheadAttention */

/* torch.nn.MultiheadAttention(embed_dim, num_heads, dropout, bias,
 * batch_first): parameters "in_proj_weight" (3E, E) (q | k | v rows),
 * "in_proj_bias" (3E), "out_proj.weight" (E, E), "out_proj.bias" (E) —
 * torch's names, shapes, order and init (xavier_uniform in_proj_weight, zero
 * biases, Linear's default out_proj.weight), so a state_dict loads by name.
 * embed_dim must be divisible by num_heads (NB_ERR_ARG naming both).
 * Inputs are (B, L, E) with batch_first, else (L, B, E); (L, E) unbatched.
 * Dropout (the drop probability, on the attention weights) in train mode only.
 * nb_forward(m, x) is self-attention without masks; nb_mha_forward is the
 * general call. Not supported: kdim/vdim, add_bias_kv, add_zero_attn. */
NB_API struct nb_module *nb_multihead_attention(int64_t embed_dim, int64_t num_heads, bool bias, bool batch_first,
                                                double dropout);

/* The optional arguments of nb_mha_forward (zero = none; NULL opts = all none). */
typedef struct nb_mha_opts {
    /* (B, S) (or (S) unbatched): NB_I64 nonzero = that key is padding and
     * ignored (torch's True), or float of the model's dtype, added. */
    nb_tensor *key_padding_mask;
    /* (L, S) or (B·heads, L, S): NB_I64 nonzero = may NOT attend (torch's
     * True), or float, added. Both masks combine (as torch). */
    nb_tensor *attn_mask;
    bool is_causal;            /* also mask key j > query i                   */
    bool need_weights;         /* write the attention weights to *weights     */
    bool average_attn_weights; /* ...averaged over heads, (B, L, S) as torch; else (B, heads, L, S) */
    nb_tensor **weights;       /* out (detached, before dropout); NULL when not asked */
} nb_mha_opts;

/* attn_output = MultiheadAttention(query, key, value): softmax(q kᵀ/√D + masks) v
 * per head, the heads concatenated and projected by out_proj. query (B, L, E),
 * key and value (B, S, E) (batch_first; sequence-first and unbatched as
 * above) -> (B, L, E). query == key == value (the same tensor) takes the
 * packed self-attention path (one in-projection GEMM, heads read in place).
 * A query whose every key is masked gets a zero output (torch: NaN). */
NB_API nb_tensor *nb_mha_forward(struct nb_module *m, nb_tensor *query, nb_tensor *key, nb_tensor *value,
                                 const nb_mha_opts *o);

/* ================================================================ transformer */

/* The pre-LN transformer block, = torch.nn.TransformerEncoderLayer(d_model,
 * n_head, d_ff, dropout, activation='gelu', batch_first=True,
 * norm_first=True) with its names ("self_attn.in_proj_weight", "linear1.weight",
 * "linear2.weight", "norm1.weight", "norm2.bias", ...):
 *     x = x + dropout(SelfAttention(LayerNorm1(x)))
 *     x = x + dropout(Linear2(dropout(GELU(Linear1(LayerNorm2(x))))))
 * x (B, L, d_model) -> same shape. LayerNorm eps 1e-5, GELU exact. */
NB_API struct nb_module *nb_transformer_block(int64_t d_model, int64_t n_head, int64_t d_ff, double dropout);
/* The block with masks: o's key_padding_mask, attn_mask and is_causal go to
 * the self-attention (need_weights is ignored). */
NB_API nb_tensor *nb_transformer_block_forward(struct nb_module *m, nb_tensor *x, const nb_mha_opts *o);

/* A tiny GPT: idx (B, T) NB_I64 token indices, T <= context ->
 * logits (B, T, vocab):
 *     x = tok_emb(idx) + pos_emb(0..T−1)           (learned positions)
 *     x = block_i(x, causal) for i < layers        (nb_transformer_block, d_ff = 4·width)
 *     logits = ln_f(x) · tok_embᵀ                  (output layer tied to the token embedding)
 * Names: "tok_emb.weight" (vocab, width), "pos_emb.weight" (context, width),
 * "blocks.<i>.<block names>", "ln_f.weight", "ln_f.bias"; there is no separate
 * output weight — the one token embedding gets both gradients, summed.
 * Init (GPT-2): weights N(0, 0.02), biases 0, LayerNorms 1 and 0.
 * nb_forward(m, idx); a T beyond the position table is NB_ERR_SHAPE naming
 * the model, T and the table's length. */
NB_API struct nb_module *nb_gpt(int64_t vocab, int64_t context, int64_t width, int64_t layers, int64_t heads,
                                double dropout);

#ifdef __cplusplus
}
#endif
#endif
