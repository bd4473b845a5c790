/* tutorials/corpus.h — the text the language-model tutorials (20, 21) train
 * on: every *.md file of a directory (the project's own docs/, in every
 * checkout, no download), in name order, printable ASCII and '\n' only. */
#ifndef TUTORIAL_CORPUS_H
#define TUTORIAL_CORPUS_H
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text; /* malloc'd; free(c.text) */
    int64_t n;
} corpus;

static inline int corpus_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* false when dir can't be read, memory runs out, or no text was found. */
static inline bool read_corpus(const char *dir, corpus *c, int *nfiles) {
    *c = (corpus){NULL, 0};
    *nfiles = 0;
    DIR *d = opendir(dir);
    if (!d) return false;
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t l = strlen(e->d_name);
        if (l > 3 && !strcmp(e->d_name + l - 3, ".md") && (names[n] = strdup(e->d_name))) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, corpus_cmp_str);
    size_t cap = 1 << 16;
    bool ok = (c->text = malloc(cap)) != NULL;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        FILE *f = ok ? fopen(path, "rb") : NULL;
        if (!f) continue;
        for (int ch; ok && (ch = fgetc(f)) != EOF;) {
            if (!(ch == '\n' || (ch >= 32 && ch < 127))) continue;
            if ((size_t)c->n + 1 >= cap) {
                char *t = realloc(c->text, cap *= 2);
                if (!(ok = t != NULL)) break;
                c->text = t;
            }
            c->text[c->n++] = (char)ch;
        }
        fclose(f);
    }
    *nfiles = n;
    if (ok && c->n > 0) return true;
    free(c->text);
    *c = (corpus){NULL, 0};
    return false;
}
#endif
