/* autograd/memory.c — the heap with accounting, the scope arena, tensor and
 * node allocation.
 *
 * A scope owns a list of blocks it bump-allocates from. At scope end its
 * blocks go back to a pool, in first-use order, so the next scope that makes
 * the same allocations gets the same blocks: a training step costs no malloc
 * once the first step has filled the pool. Under AddressSanitizer the blocks
 * of an ended scope are poisoned, so a tensor used after its scope ended is
 * reported at the line that uses it. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define NB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB_ASAN 1
#endif
#endif
#ifdef NB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ------------------------------------------------------------ heap */

/* Process-wide counters are atomics (any thread allocates); the arena's
 * use is counted per thread, like its scopes (nb_mem_stats_get). */
static _Atomic size_t g_heap_live, g_heap_peak, g_heap_allocs, g_arena_reserved;
static NB_TLS size_t g_arena_used, g_arena_peak;

#define RELAXED memory_order_relaxed
static void raise_peak(_Atomic size_t *peak, size_t v) {
    size_t p = atomic_load_explicit(peak, RELAXED);
    while (v > p && !atomic_compare_exchange_weak_explicit(peak, &p, v, RELAXED, RELAXED)) {}
}

void *nb__malloc(size_t size) {
    /* 64 bytes of header keep the payload 64-byte aligned; the size lives in it. */
    size_t total = (size + NB_ALIGN + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN;
    unsigned char *p = aligned_alloc(NB_ALIGN, total);
    if (!p) {
        nb_fail(NB_ERR_NOMEM, "alloc", "out of memory allocating %zu bytes", size);
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    raise_peak(&g_heap_peak, atomic_fetch_add_explicit(&g_heap_live, size, RELAXED) + size);
    atomic_fetch_add_explicit(&g_heap_allocs, 1, RELAXED);
    return p + NB_ALIGN;
}

void *nb__calloc(size_t size) {
    void *p = nb__malloc(size);
    if (p) memset(p, 0, size);
    return p;
}

void nb__free(void *p) {
    if (!p) return;
    unsigned char *b = (unsigned char *)p - NB_ALIGN;
    size_t size;
    memcpy(&size, b, sizeof size);
    atomic_fetch_sub_explicit(&g_heap_live, size, RELAXED);
    free(b);
}

/* ------------------------------------------------------------ arena */

#define NB_BLOCK_SIZE ((size_t)1 << 20)    /* standard block payload           */
#define NB_BIG_REQUEST (NB_BLOCK_SIZE / 4) /* bigger requests get a block each */
#define NB_MAX_SCOPES 64

typedef struct nb_mchunk nb_mchunk;
typedef struct nb_block {
    struct nb_block *next;
    size_t cap, used;
    bool big;
    unsigned char *data; /* NB_ALIGN-aligned payload right after the header */
    nb_mchunk *chunk;    /* the chunk it was carved from */
} nb_block;

/* Blocks are carved from chunks (4 MiB, then doubling up to NB_CHUNK, or
 * one request's size) aligned to 2 MiB and asked to be backed by 2 MiB
 * pages (Linux's transparent huge pages, where madvise turns them on). A
 * training step touches every tensor it saved once more in backward, from
 * memory: with 4 KiB pages each of those sweeps also misses the TLB (the
 * tiny GPT's arena: ~170 MB, ~43 000 pages; the TLB holds ~3000), with
 * 2 MiB pages it does not (the step ~5% faster). Carving packs small and
 * big blocks together into the huge pages (giving each block pages of its
 * own would round a 1 MiB block up to 2 MiB). A chunk goes back to the
 * heap when its last block does (nb_mem_trim); a chunk's tail too short
 * for the next block stays unused (chunk_ready: not resident). */
struct nb_mchunk {
    nb_mchunk *next;
    unsigned char *base;
    size_t size, used, live; /* bytes; bump offset; blocks not given back */
    size_t ready;            /* bytes marked and made resident: whole 2 MiB pages */
};
#define NB_HUGE_PAGE ((size_t)2 << 20)
#define NB_CHUNK ((size_t)32 << 20)

struct nb_scope {
    nb_block *blocks; /* newest first; blocks->used is the bump pointer */
    size_t used;      /* bytes handed out */
    int depth;
    nb_tensor *tensors; /* the headers made in it, newest first (nb__link) */
};

/* Each thread has its own scope stack and pool: a scope is ended by the
 * thread that began it, and the pool goes back to the heap when the thread
 * exits (a pthread key's destructor) or the process does. */
static NB_TLS nb_scope g_scopes[NB_MAX_SCOPES];
static NB_TLS int g_depth;      /* number of open scopes */
static NB_TLS nb_block *g_pool; /* free blocks, in the order they were first used */
static NB_TLS nb_mchunk *g_chunks; /* this thread's chunks, the one carved from first */
static NB_TLS bool g_watched;   /* the exit hook knows this thread */

static pthread_key_t g_exit_key;
static pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;
static void on_thread_exit(void *unused) {
    (void)unused;
    nb__thread_release();
}
static void make_exit_key(void) { (void)pthread_key_create(&g_exit_key, on_thread_exit); }
/* Registers the calling thread for release at its exit (once per thread). */
void nb__watch_thread(void) {
    if (g_watched) return;
    g_watched = true;
    pthread_once(&g_exit_once, make_exit_key);
    (void)pthread_setspecific(g_exit_key, &g_watched);
}

/* ------------------------------------------------------------ tensor headers
 *
 * A tensor's header lives apart from its data, in slabs of headers that are
 * never given back to malloc while the process runs. A handle kept past its
 * tensor's end therefore still points at a header nabla owns, and checking
 * it (nb__alive: the NB_TF_DEAD flag) is defined behaviour in every build,
 * under ASan and valgrind too. A freed header waits in a first-in first-out
 * quarantine before it is used again: a header is reused only after at
 * least g_quar_min other headers were freed after it, so a stale handle keeps
 * reading "dead" for at least that long. g_quar_min is NB_QUARANTINE_MIN, or
 * the most tensors one scope has freed on this thread (up to
 * NB_QUARANTINE_MAX): a training step's tensors stay recognisably dead
 * through the whole next step. Past that window the header may hold a new
 * tensor, and the stale handle then reaches that one (docs/memory.md).
 *
 * Everything is per thread but the slabs and the headers of exited threads
 * (g_orphans), which wait in their own quarantine and are taken by threads
 * that need more. */

#define NB_HDR_PER_SLAB 256
#define NB_QUARANTINE_MIN 64
#define NB_QUARANTINE_MAX 16384

typedef struct {
    nb_tensor *head, *tail; /* oldest first, linked by nb__link */
    size_t len;
} hdr_list;

static NB_TLS hdr_list g_quar;  /* freed headers, waiting */
static NB_TLS hdr_list g_ready; /* headers taken from g_orphans, free to use */
/* A header's slot: 64-byte aligned, so zeroing and filling it touches as few
 * cache lines as it can. */
typedef union {
    nb_tensor t;
    unsigned char bytes[(sizeof(nb_tensor) + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN];
} hdr_slot;

static NB_TLS hdr_slot *g_slab; /* the rest of this thread's newest slab */
static NB_TLS size_t g_slab_left;
static NB_TLS size_t g_quar_min = NB_QUARANTINE_MIN;

static pthread_mutex_t g_hdr_mu = PTHREAD_MUTEX_INITIALIZER;
static hdr_list g_orphans; /* exited threads' headers (under g_hdr_mu) */
static void *g_slabs;      /* every slab, linked by its first word (kept reachable) */
static _Atomic size_t g_hdr_reserved;

static void list_append(hdr_list *to, hdr_list *from) {
    if (!from->head) return;
    if (to->tail) to->tail->nb__link = from->head;
    else to->head = from->head;
    to->tail = from->tail;
    to->len += from->len;
    *from = (hdr_list){0};
}

static nb_tensor *list_pop(hdr_list *l) {
    nb_tensor *t = l->head;
    l->head = t->nb__link;
    if (!l->head) l->tail = NULL;
    l->len--;
    return t;
}

/* Slow path: orphaned headers past their quarantine, else a new slab. */
static nb_tensor *hdr_refill(void) {
    nb__watch_thread();
    pthread_mutex_lock(&g_hdr_mu);
    while (g_orphans.len > NB_QUARANTINE_MIN && g_ready.len < NB_HDR_PER_SLAB) {
        nb_tensor *t = list_pop(&g_orphans);
        t->nb__link = NULL;
        hdr_list one = {t, t, 1};
        list_append(&g_ready, &one);
    }
    pthread_mutex_unlock(&g_hdr_mu);
    if (g_ready.head) return list_pop(&g_ready);
    /* a slab: one link word (padded to NB_ALIGN), then the headers; its start
     * stays in g_slabs, so memory checkers see it reachable at exit */
    size_t bytes = NB_ALIGN + NB_HDR_PER_SLAB * sizeof(hdr_slot);
    unsigned char *slab = aligned_alloc(NB_ALIGN, (bytes + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN);
    if (!slab) return NULL;
    pthread_mutex_lock(&g_hdr_mu);
    memcpy(slab, &g_slabs, sizeof g_slabs);
    g_slabs = slab;
    pthread_mutex_unlock(&g_hdr_mu);
    atomic_fetch_add_explicit(&g_hdr_reserved, bytes, RELAXED);
    g_slab = (hdr_slot *)(slab + NB_ALIGN);
    g_slab_left = NB_HDR_PER_SLAB - 1;
    return &(g_slab++)->t;
}

static inline nb_tensor *hdr_take(void) {
    if (g_quar.len > g_quar_min) {
        nb_tensor *t = list_pop(&g_quar);
        /* the next one is cold (freed long ago): fetch it for writing now */
        __builtin_prefetch(g_quar.head, 1);
        return t;
    }
    if (g_ready.head) return list_pop(&g_ready);
    if (g_slab_left) {
        g_slab_left--;
        return &(g_slab++)->t;
    }
    return hdr_refill();
}

/* Marks the list from `first` (linked by nb__link) dead (how: 0 or
 * NB_TF_FREED) and puts it in the quarantine; returns its length. */
static size_t hdr_retire(nb_tensor *first, uint8_t how) {
    if (!first) return 0;
    nb_tensor *last = first;
    size_t n = 0;
    for (nb_tensor *t = first; t; t = t->nb__link, n++) {
        t->flags |= NB_TF_DEAD | how;
        last = t;
    }
    if (!g_watched) nb__watch_thread(); /* its quarantine goes to g_orphans at its exit */
    hdr_list l = {first, last, n};
    list_append(&g_quar, &l);
    return n;
}

/* At thread exit: this thread's headers go to g_orphans (the ones in
 * quarantine keep waiting there); the slab's unused rest too. */
static void hdr_release(void) {
    while (g_slab_left) {
        nb_tensor *t = &(g_slab++)->t;
        g_slab_left--;
        memset(t, 0, sizeof *t);
        hdr_list one = {t, t, 1};
        list_append(&g_ready, &one);
    }
    pthread_mutex_lock(&g_hdr_mu);
    list_append(&g_orphans, &g_quar);
    list_append(&g_orphans, &g_ready);
    pthread_mutex_unlock(&g_hdr_mu);
}

/* The chunk's whole 2 MiB pages up to offset end marked for huge pages and
 * made resident now, the pages carving reaches and no further: the memory
 * a loop will use is resident from its first step (the kernel's background
 * merging of 4 KiB pages into 2 MiB ones, khugepaged, then has no page to
 * fill in later, which would grow the RSS in the middle of a run), and the
 * chunk's tail beyond the last block stays untouched. MADV_POPULATE_WRITE
 * where the kernel has it (5.14), else a write to every 4 KiB page. */
static void chunk_ready(nb_mchunk *c, size_t end) {
    if (end <= c->ready) return;
    end = (end + NB_HUGE_PAGE - 1) / NB_HUGE_PAGE * NB_HUGE_PAGE;
    if (end > c->size) end = c->size;
    unsigned char *p = c->base + c->ready;
    const size_t n = end - c->ready;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(p, n, MADV_HUGEPAGE); /* a hint: 4 KiB pages where refused */
#endif
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    if (madvise(p, n, MADV_POPULATE_WRITE) != 0)
#endif
        for (size_t i = 0; i < n; i += 4096) p[i] = 0;
    c->ready = end;
}

/* size bytes (a multiple of NB_ALIGN) from the current chunk or a new one,
 * NB_ALIGN-aligned; *from gets the chunk. Counted in the heap like malloc. */
static unsigned char *chunk_carve(size_t size, nb_mchunk **from) {
    nb_mchunk *c = g_chunks;
    if (!c || c->size - c->used < size) {
        /* 4 MiB, then as much as the thread holds (doubling), at most NB_CHUNK */
        size_t held = 0;
        for (nb_mchunk *h = g_chunks; h; h = h->next) held += h->size;
        const size_t grow = held < ((size_t)4 << 20) ? (size_t)4 << 20 : held < NB_CHUNK ? held : NB_CHUNK;
        const size_t want = size > grow ? size : grow;
        const size_t bytes = (want + NB_HUGE_PAGE - 1) / NB_HUGE_PAGE * NB_HUGE_PAGE;
        c = malloc(sizeof *c);
        unsigned char *base = c && bytes >= size ? aligned_alloc(NB_HUGE_PAGE, bytes) : NULL;
        if (!base) {
            free(c);
            nb_fail(NB_ERR_NOMEM, "alloc", "out of memory allocating %zu bytes", size);
            return NULL;
        }
        *c = (nb_mchunk){.next = g_chunks, .base = base, .size = bytes};
        g_chunks = c;
        raise_peak(&g_heap_peak, atomic_fetch_add_explicit(&g_heap_live, bytes, RELAXED) + bytes);
        atomic_fetch_add_explicit(&g_heap_allocs, 1, RELAXED);
    }
    unsigned char *p = c->base + c->used;
    c->used += size;
    c->live++;
    chunk_ready(c, c->used);
    *from = c;
    return p;
}

/* A block given back: its chunk goes to the heap with its last block. */
static void chunk_drop(nb_mchunk *c) {
    if (--c->live) return;
    for (nb_mchunk **pp = &g_chunks; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    atomic_fetch_sub_explicit(&g_heap_live, c->size, RELAXED);
    free(c->base);
    free(c);
}

static nb_block *block_take(size_t need) {
    bool big = need > NB_BIG_REQUEST;
    nb_block **best = NULL;
    for (nb_block **pp = &g_pool; *pp; pp = &(*pp)->next) {
        nb_block *b = *pp;
        if (b->big != big || b->cap < need) continue;
        if (!big) {
            best = pp;
            break;
        }                                              /* first standard block */
        if (!best || b->cap < (*best)->cap) best = pp; /* best-fitting big one */
    }
    if (best) {
        nb_block *b = *best;
        *best = b->next;
        b->next = NULL;
        b->used = 0;
        return b;
    }
    size_t cap = big ? (need + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN : NB_BLOCK_SIZE;
    size_t hdr = (sizeof(nb_block) + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN;
    nb_mchunk *chunk;
    unsigned char *raw = chunk_carve(hdr + cap, &chunk);
    if (!raw) return NULL;
    nb__watch_thread();
    nb_block *b = (nb_block *)raw;
    b->chunk = chunk;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    b->big = big;
    b->data = raw + hdr;
    atomic_fetch_add_explicit(&g_arena_reserved, cap, RELAXED);
    POISON(b->data, cap);
    return b;
}

void *nb__scope_alloc(nb_scope *s, size_t size) {
    if (!s) return nb__malloc(size);
    size = (size + NB_ALIGN - 1) / NB_ALIGN * NB_ALIGN;
    if (size == 0) size = NB_ALIGN;
    nb_block *b = s->blocks;
    if (!b || b->big || b->cap - b->used < size) {
        nb_block *nb = block_take(size);
        if (!nb) return NULL;
        if (nb->big && b) {
            /* keep the standard block in front so small allocations continue in it */
            nb->next = b->next;
            b->next = nb;
            b = nb;
        } else {
            nb->next = s->blocks;
            s->blocks = nb;
            b = nb;
        }
    }
    void *p = b->data + b->used;
    b->used += size;
    s->used += size;
    g_arena_used += size;
    if (g_arena_used > g_arena_peak) g_arena_peak = g_arena_used;
    UNPOISON(p, size);
    return p;
}

nb_scope *nb_scope_begin(void) {
    if (g_depth >= NB_MAX_SCOPES) {
        nb_fail(NB_ERR_SCOPE, "scope_begin", "more than %d nested scopes", NB_MAX_SCOPES);
        return NULL;
    }
    nb_scope *s = &g_scopes[g_depth++];
    s->blocks = NULL;
    s->used = 0;
    s->depth = g_depth;
    s->tensors = NULL;
    return s;
}

nb_scope *nb_scope_current(void) { return g_depth ? &g_scopes[g_depth - 1] : NULL; }

void nb_scope_end(nb_scope **sp) {
    if (!sp || !*sp) return;
    nb_scope *s = *sp;
    if (s < g_scopes || s >= g_scopes + NB_MAX_SCOPES) {
        nb_fail(NB_ERR_SCOPE, "scope_end",
                "this scope was begun by another thread: a scope ends on the thread that began it");
        return;
    }
    if (g_depth == 0 || s != &g_scopes[g_depth - 1]) {
        nb_fail(NB_ERR_SCOPE, "scope_end",
                "scopes must end innermost first: this scope is at depth %d, the innermost at %d", s->depth, g_depth);
        return;
    }
    /* Its tensors' headers are marked dead and wait in the quarantine. */
    size_t n = hdr_retire(s->tensors, 0);
    if (n > g_quar_min) g_quar_min = n < NB_QUARANTINE_MAX ? n : NB_QUARANTINE_MAX;
    s->tensors = NULL;
    /* Give the blocks back oldest first, so the pool's order is the order of
     * first use and the next identical step takes the same blocks. */
    nb_block *rev = NULL;
    for (nb_block *b = s->blocks, *next; b; b = next) {
        next = b->next;
        b->next = rev;
        rev = b;
    }
    nb_block **tail = &rev;
    while (*tail) {
        POISON((*tail)->data, (*tail)->cap);
        tail = &(*tail)->next;
    }
    *tail = g_pool;
    g_pool = rev;
    g_arena_used -= s->used;
    s->blocks = NULL;
    s->used = 0;
    g_depth--;
    *sp = NULL;
}

void nb_mem_trim(void) {
    while (g_pool) {
        nb_block *b = g_pool;
        g_pool = b->next;
        atomic_fetch_sub_explicit(&g_arena_reserved, b->cap, RELAXED);
        UNPOISON(b->data, b->cap);
        chunk_drop(b->chunk);
    }
}

void nb__thread_release(void) {
    hdr_release();
    nb_mem_trim();
    nb__backward_release();
    nb__gemm_release();
}

/* At exit the main thread's pool goes back too (no pthread key destructor
 * runs for it), so memory checkers see nothing of nabla's left behind. */
__attribute__((destructor)) static void release_at_exit(void) { nb__thread_release(); }

nb_mem_stats nb_mem_stats_get(void) {
    nb_mem_stats m;
    m.heap_live = atomic_load_explicit(&g_heap_live, RELAXED);
    m.heap_peak = atomic_load_explicit(&g_heap_peak, RELAXED);
    m.heap_allocs = atomic_load_explicit(&g_heap_allocs, RELAXED);
    m.arena_reserved = atomic_load_explicit(&g_arena_reserved, RELAXED);
    m.arena_used = g_arena_used;
    m.arena_peak = g_arena_peak;
    m.headers_reserved = atomic_load_explicit(&g_hdr_reserved, RELAXED);
    return m;
}

/* ------------------------------------------------------------ tensors */

/* tensor_header sets each field of nb_tensor by name: a field added to it
 * must be set there too (this catches one added at the end). */
_Static_assert(offsetof(nb_tensor, base) + sizeof(nb_tensor *) == offsetof(nb_tensor, name) &&
                   offsetof(nb_tensor, name) + NB_NAME_MAX == sizeof(nb_tensor),
               "nb_tensor changed: set the new field in tensor_header");

static nb_tensor *tensor_header(nb_dtype dt, nb_shape s, int64_t numel, nb_scope *where) {
    nb_tensor *t = hdr_take();
    if (!t) {
        nb_fail(NB_ERR_NOMEM, "alloc", "out of memory allocating a tensor header");
        return NULL;
    }
    /* every field set one by one: a memset of the whole header is a slow
     * `rep stos` here, and this runs once per op */
    t->dtype = dt;
    t->requires_grad = false;
    t->flags = where ? 0 : NB_TF_HEAP;
    t->shape = s;
    t->numel = numel;
    t->data = NULL;
    t->grad = NULL;
    t->node = NULL;
    t->version = &t->version_own;
    t->version_own = 0;
    t->scope = where;
    t->base = NULL;
    memset(t->name, 0, sizeof t->name);
    if (where) {
        t->nb__link = where->tensors;
        where->tensors = t;
    } else {
        t->nb__link = NULL;
    }
    return t;
}

nb_tensor *nb__tensor_new(nb_dtype dt, nb_shape s, nb_scope *where, bool zero) {
    int64_t numel = nb_shape_numel(s);
    if (numel < 0) return NULL;
    size_t bytes = (size_t)numel * nb_dtype_size(dt);
    /* gradcheck's F32 run: room for F64 elements, zeroed, so that an op
     * written for F64 alone computes garbage (caught) instead of writing
     * past the buffer */
    size_t room = nb__f32_trial && dt == NB_F32 && bytes <= SIZE_MAX / 4 ? 2 * bytes : bytes;
    void *data = nb__scope_alloc(where, room);
    if (!data) return NULL;
    nb_tensor *t = tensor_header(dt, s, numel, where);
    if (!t) {
        if (!where) nb__free(data);
        return NULL;
    }
    t->data = data;
    if (zero) memset(data, 0, bytes);
    if (room > bytes) memset((unsigned char *)data + bytes, 0, room - bytes);
    return t;
}

nb_tensor *nb__tensor_view(nb_tensor *base, nb_shape s, nb_scope *where) {
    int64_t numel = nb_shape_numel(s);
    if (numel < 0) return NULL;
    nb_tensor *t = tensor_header(base->dtype, s, numel, where);
    if (!t) return NULL;
    t->data = base->data;
    t->version = base->version;
    t->base = base->base ? base->base : base; /* always the tensor that owns the data */
    t->flags |= NB_TF_VIEW;
    return t;
}

nb_node *nb__node_new(int nin, nb_scope *where) {
    size_t extra = nin > NB_NODE_INLINE_IN
        ? (size_t)nin * sizeof(nb_tensor *) + (size_t)(nin - NB_NODE_INLINE_IN) * sizeof(uint32_t)
        : 0;
    unsigned char *p = nb__scope_alloc(where, sizeof(nb_node) + extra);
    if (!p) return NULL;
    nb_node *n = (nb_node *)p;
    memset(n, 0, sizeof *n);
    n->nin = nin;
    if (nin > NB_NODE_INLINE_IN) {
        n->in = (nb_tensor **)(p + sizeof(nb_node));
        n->in_version_ext = (uint32_t *)(p + sizeof(nb_node) + (size_t)nin * sizeof(nb_tensor *));
    } else {
        n->in = n->in_inline;
    }
    return n;
}

void nb__node_free(nb_node *n) {
    if (!n) return;
    if (n->saved && n->saved->scope == NULL) nb_tensor_free(n->saved);
    nb__free(n);
}

void nb_tensor_free(nb_tensor *t) {
    if (!t) return;
    if (t->flags & NB_TF_DEAD) {
        /* twice nb_tensor_free is an error; a scoped tensor is its scope's
         * to free, before or after the scope ended (nothing to do) */
        if (t->flags & NB_TF_FREED) nb__fail_dead("tensor_free", "the tensor", -1, t);
        return;
    }
    if (!(t->flags & NB_TF_HEAP)) return;
    if (t->grad) nb_tensor_free(t->grad);
    if (t->node && t->node->out == t) nb__node_free(t->node);
    if (!(t->flags & NB_TF_VIEW)) nb__free(t->data);
    t->nb__link = NULL;
    hdr_retire(t, NB_TF_FREED);
}
