/* autograd/graph_html.c — nb_graph_html: a backprop stepper as one
 * self-contained web page.
 *
 * The page holds the graph drawn by Graphviz (`dot -Tsvg` of the DOT that
 * nb_graph_dot writes, inlined as SVG), every tensor's forward value, and the
 * backward walk recorded node by node (an observer in backward.c): for each
 * step, the node, its incoming gradient and what it passed to each input. The
 * page's script replays the walk: Next/Prev (or the arrow keys, Home/End, a
 * URL fragment #step=N or #end) highlight the current node in the picture,
 * show its gradients, and fill in the accumulated gradient of every tensor.
 * Nothing is loaded from anywhere: it works offline. The data is JSON written
 * by jansson (slashes escaped, so no "</script>" can end the script early).
 *
 * The leaves' gradients are left as they were: the walk runs a backward pass
 * of its own and puts the leaves' .grad back afterwards. */
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define VALUES_MAX 64 /* elements listed per tensor; larger ones are summarized */

/* "op12" for a node's output, "t0x..." for a leaf: the ids nb_graph_dot gives. */
static void tensor_id(const nb_tensor *t, char *buf, size_t size) {
    if (t->node) snprintf(buf, size, "op%llu", (unsigned long long)t->node->seq);
    else snprintf(buf, size, "t%p", (const void *)t);
}

static json_t *values(const nb_tensor *t) {
    char sh[NB_SHAPE_STRLEN];
    json_t *o = json_object();
    json_object_set_new(o, "shape", json_string(nb_shape_str(t->shape, sh, sizeof sh)));
    json_object_set_new(o, "numel", json_integer(t->numel));
    json_t *v = json_array();
    double s2 = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) {
        const double x = nb_get(t, i);
        if (i < VALUES_MAX)
            json_array_append_new(v,
                                  isfinite(x) ? json_real(x)
                                              : json_string(isnan(x)    ? "NaN"
                                                                : x > 0 ? "Inf"
                                                                        : "-Inf"));
        s2 += x * x;
        mn = fmin(mn, x);
        mx = fmax(mx, x);
    }
    json_object_set_new(o, "v", v);
    if (t->numel > VALUES_MAX) {
        char st[160];
        snprintf(st, sizeof st, "min %.4g  max %.4g  norm %.4g", mn, mx, sqrt(s2));
        json_object_set_new(o, "stats", json_string(st));
    }
    return o;
}

typedef struct {
    json_t *tensors; /* id -> {name, shape, value, leaf, op} */
    json_t *steps;   /* [{node, op, out, gout, passes: [{to, input, v}]}] */
    const nb_node *last;
} recorder;

static void note_tensor(recorder *r, const nb_tensor *t) {
    char id[48];
    tensor_id(t, id, sizeof id);
    if (json_object_get(r->tensors, id)) return;
    json_t *o = json_object();
    char nm[NB_NAME_MAX + 32];
    if (t->name[0]) snprintf(nm, sizeof nm, "%s", t->name);
    else if (t->node) snprintf(nm, sizeof nm, "%s #%llu", t->node->op->name, (unsigned long long)t->node->seq);
    else snprintf(nm, sizeof nm, "leaf");
    json_object_set_new(o, "name", json_string(nm));
    json_object_set_new(o, "leaf", json_boolean(!t->node));
    json_object_set_new(o, "value", values(t));
    json_object_set_new(r->tensors, id, o);
}

static void observe(void *ctx, const nb_node *n, const nb_tensor *gout, int i, const nb_tensor *passed) {
    recorder *r = ctx;
    char id[48];
    if (n != r->last) {
        r->last = n;
        note_tensor(r, n->out);
        json_t *s = json_object();
        tensor_id(n->out, id, sizeof id);
        json_object_set_new(s, "node", json_string(id));
        json_object_set_new(s, "op", json_string(n->op->name));
        json_object_set_new(s, "gout", values(gout));
        json_object_set_new(s, "passes", json_array());
        json_array_append_new(r->steps, s);
    }
    note_tensor(r, n->in[i]);
    json_t *p = json_object();
    tensor_id(n->in[i], id, sizeof id);
    json_object_set_new(p, "to", json_string(id));
    json_object_set_new(p, "input", json_integer(i));
    json_object_set_new(p, "grad", passed ? values(passed) : json_null());
    json_array_append_new(json_object_get(json_array_get(r->steps, json_array_size(r->steps) - 1), "passes"), p);
}

/* The SVG Graphviz draws for root's graph, or NULL (no dot, or it failed). */
static char *svg_of(const nb_tensor *root) {
    char dotp[] = "/tmp/nabla-graph-XXXXXX";
    int fd = mkstemp(dotp);
    if (fd < 0) return NULL;
    close(fd);
    char *svg = NULL;
    if (nb_graph_dot(root, dotp) == NB_OK) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' 2>/dev/null", dotp);
        FILE *p = popen(cmd, "r");
        if (p) {
            size_t n = 0, cap = 1 << 16;
            svg = malloc(cap);
            size_t got;
            while (svg && (got = fread(svg + n, 1, cap - n - 1, p)) > 0) {
                n += got;
                if (n + 1 == cap) {
                    char *q = realloc(svg, cap *= 2);
                    if (!q) free(svg);
                    svg = q;
                }
            }
            if (pclose(p) != 0 || !svg || n == 0) {
                free(svg);
                svg = NULL;
            } else {
                svg[n] = '\0';
            }
        }
    }
    unlink(dotp);
    if (svg) { /* inline: drop the XML prolog and doctype before <svg */
        char *start = strstr(svg, "<svg");
        if (start && start != svg) memmove(svg, start, strlen(start) + 1);
    }
    return svg;
}

static const char PAGE_HEAD[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>nabla backprop stepper</title>\n"
    "<style>\n"
    "body{font-family:Helvetica,Arial,sans-serif;margin:16px;color:#222}\n"
    "#graph svg{max-width:100%;height:auto}\n"
    "#graph g.node.current polygon,#graph g.node.current ellipse{fill:#ffb347;stroke:#c05000;stroke-width:3}\n"
    "#graph g.node.done polygon{fill:#c8e6c9}\n"
    "button{font-size:15px;margin-right:6px;padding:4px 12px}\n"
    "table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;"
    "font-family:monospace}\n"
    "tr.changed td{background:#fff3c4}\n"
    "#panel{margin-top:10px;font-family:monospace;white-space:pre-wrap}\n"
    "</style></head><body>\n"
    "<h2>Backpropagation, one node at a time</h2>\n"
    "<div><button id=\"first\">&#x25C0;&#x25C0; start</button><button id=\"prev\">&#x25C0; prev</button>"
    "<button id=\"next\">next &#x25B6;</button><button id=\"last\">end &#x25B6;&#x25B6;</button>"
    "<span id=\"status\"></span></div>\n"
    "<p>Arrow keys step too. The highlighted box is the node whose backward runs; green ones are done.</p>\n"
    "<div id=\"graph\">\n";

static const char PAGE_MID[] =
    "</div>\n<div id=\"panel\"></div>\n"
    "<h3>Gradients so far (d root / d tensor)</h3>\n<table id=\"grads\"><thead><tr><th>tensor</th><th>shape</th>"
    "<th>value</th><th>gradient</th></tr></thead><tbody></tbody></table>\n"
    "<script>\nconst DATA = ";

static const char PAGE_TAIL[] =
    ";\n"
    "const steps = DATA.steps, T = DATA.tensors;\n"
    "let k = 0;\n"
    "function fmt(x){ if (typeof x === 'string') return x; return String(parseFloat(x.toPrecision(6))); }\n"
    "function show(val){ if (!val) return '(none)'; let s = '[' + val.v.map(fmt).join(', ');\n"
    "  if (val.numel > val.v.length) s += ', \\u2026'; s += ']'; if (val.stats) s += '  ' + val.stats; return s; }\n"
    "function nodeEl(id){ for (const g of document.querySelectorAll('#graph g.node'))\n"
    "  { const t = g.querySelector('title'); if (t && t.textContent === id) return g; } return null; }\n"
    "function render(){\n"
    "  const acc = {};\n"
    "  if (DATA.root) acc[DATA.root] = {v: DATA.seed.v.slice(), numel: DATA.seed.numel};\n"
    "  let changed = {};\n"
    "  for (let s = 0; s < k; s++) for (const p of steps[s].passes) { if (!p.grad) continue;\n"
    "    const a = acc[p.to] || (acc[p.to] = {v: p.grad.v.map(() => 0), numel: p.grad.numel});\n"
    "    p.grad.v.forEach((x, j) => { a.v[j] = (typeof a.v[j] === 'number' && typeof x === 'number') ? a.v[j] + x : "
    "NaN; });\n"
    "    if (p.grad.stats) a.stats = '(summed over ' + p.grad.numel + ' elements: first ' + p.grad.v.length + ' "
    "shown)';\n"
    "    if (s === k - 1) changed[p.to] = true; }\n"
    "  document.querySelectorAll('#graph g.node').forEach(g => g.classList.remove('current', 'done'));\n"
    "  for (let s = 0; s < k - 1; s++) { const g = nodeEl(steps[s].node); if (g) g.classList.add('done'); }\n"
    "  const panel = document.getElementById('panel');\n"
    "  if (k === 0) panel.textContent = 'Forward pass done. Backward starts at the root with gradient 1. Press "
    "next.';\n"
    "  else { const st = steps[k - 1], g = nodeEl(st.node); if (g) g.classList.add('current');\n"
    "    let txt = 'node ' + st.node + ': ' + st.op + ' -> ' + T[st.node].name + '\\n  incoming gradient: ' + "
    "show(st.gout);\n"
    "    for (const p of st.passes) txt += '\\n  to input ' + p.input + ' (' + T[p.to].name + '): ' + show(p.grad);\n"
    "    panel.textContent = txt; }\n"
    "  document.getElementById('status').textContent = ' step ' + k + ' of ' + steps.length + (k === steps.length ? ' "
    "(done)' : '');\n"
    "  const body = document.querySelector('#grads tbody'); body.innerHTML = '';\n"
    "  for (const id of Object.keys(T)) { const t = T[id], tr = document.createElement('tr');\n"
    "    if (changed[id]) tr.className = 'changed';\n"
    "    const cells = [t.name, t.value.shape, show(t.value), acc[id] ? show(acc[id]) : '\\u2014'];\n"
    "    cells.forEach((c, j) => { const td = document.createElement('td'); td.textContent = c;\n"
    "      if (j === 3) td.id = 'grad-' + t.name; tr.appendChild(td); });\n"
    "    body.appendChild(tr); }\n"
    "}\n"
    "function go(n){ k = Math.max(0, Math.min(steps.length, n)); render(); }\n"
    "document.getElementById('first').onclick = () => go(0);\n"
    "document.getElementById('prev').onclick = () => go(k - 1);\n"
    "document.getElementById('next').onclick = () => go(k + 1);\n"
    "document.getElementById('last').onclick = () => go(steps.length);\n"
    "document.addEventListener('keydown', e => { if (e.key === 'ArrowRight' || e.key === 'ArrowDown') go(k + 1);\n"
    "  else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') go(k - 1); else if (e.key === 'Home') go(0);\n"
    "  else if (e.key === 'End') go(steps.length); });\n"
    "const h = location.hash.match(/step=(\\d+)/);\n"
    "go(location.hash === '#end' ? steps.length : h ? parseInt(h[1]) : 0);\n"
    "</script>\n</body></html>\n";

nb_status nb_graph_html(nb_tensor *root, const char *path) {
    if (!root || !path) {
        nb_fail(NB_ERR_ARG, "graph_html", "root or path is NULL");
        return NB_ERR_ARG;
    }
    if (!root->node || !root->requires_grad) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_GRAPH, "graph_html", "root %s has no graph to step through (it needs no grad)",
                nb_describe(root, "root", d, sizeof d));
        return NB_ERR_GRAPH;
    }
    /* the leaves' gradients now, to put back after the recorded pass */
    nb_node *const *nodes;
    const size_t len = nb__tape_nodes(root, &nodes);
    int nleaf = 0, cap = 16;
    nb_tensor **leaf = malloc(sizeof *leaf * (size_t)cap), **saved = malloc(sizeof *saved * (size_t)cap);
    nb_status st = leaf && saved ? NB_OK : NB_ERR_NOMEM;
    for (size_t k = 0; k < len && st == NB_OK; k++)
        for (int i = 0; i < nodes[k]->nin && st == NB_OK; i++) {
            nb_tensor *x = nodes[k]->in[i];
            bool seen = x->node || !x->requires_grad;
            for (int j = 0; j < nleaf && !seen; j++) seen = leaf[j] == x;
            if (seen) continue;
            if (nleaf == cap) {
                cap *= 2;
                nb_tensor **a = realloc(leaf, sizeof *leaf * (size_t)cap);
                if (a) leaf = a;
                nb_tensor **b = a ? realloc(saved, sizeof *saved * (size_t)cap) : NULL;
                if (b) saved = b;
                if (!a || !b) {
                    st = NB_ERR_NOMEM;
                    break;
                }
            }
            leaf[nleaf] = x;
            saved[nleaf++] = x->grad ? nb_copy_persistent(x->grad) : NULL;
        }
    recorder r = {json_object(), json_array(), NULL};
    if (st == NB_OK) {
        nb__set_backward_observer(observe, &r);
        st = nb_backward(root);
        nb__set_backward_observer(NULL, NULL);
    }
    for (int j = 0; j < nleaf; j++) { /* the leaves' gradients as they were */
        if (saved[j]) {
            memcpy(leaf[j]->grad->data, saved[j]->data, (size_t)saved[j]->numel * nb_dtype_size(saved[j]->dtype));
            nb_tensor_free(saved[j]);
        } else if (leaf[j]->grad) {
            nb_tensor_zero_grad(leaf[j]);
        }
    }
    free(leaf);
    free(saved);
    json_t *data = json_object();
    char id[48];
    tensor_id(root, id, sizeof id);
    json_object_set_new(data, "root", json_string(id));
    nb_tensor *seed = nb_ones(root->dtype, root->shape);
    json_object_set_new(data, "seed", values(seed));
    nb_tensor_free(seed);
    json_object_set_new(data, "tensors", r.tensors);
    json_object_set_new(data, "steps", r.steps);
    if (st != NB_OK) {
        json_decref(data);
        return st;
    }
    char *js = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ESCAPE_SLASH);
    json_decref(data);
    char *svg = svg_of(root);
    FILE *f = js ? fopen(path, "w") : NULL;
    if (!f) {
        nb_fail(js ? NB_ERR_IO : NB_ERR_NOMEM, "graph_html", "can't write %s: %s", path,
                js ? strerror(errno) : "out of memory");
        free(js);
        free(svg);
        return js ? NB_ERR_IO : NB_ERR_NOMEM;
    }
    fputs(PAGE_HEAD, f);
    fputs(svg ? svg : "<p>(Graphviz's dot was not found: no picture; the steps below still work.)</p>\n", f);
    fputs(PAGE_MID, f);
    fputs(js, f);
    fputs(PAGE_TAIL, f);
    free(js);
    free(svg);
    if (fclose(f) != 0) {
        nb_fail(NB_ERR_IO, "graph_html", "error writing %s", path);
        return NB_ERR_IO;
    }
    return NB_OK;
}
