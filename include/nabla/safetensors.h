/* nabla/safetensors.h — weights in PyTorch's world: the safetensors format.
 *
 * A file is: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v", ...},
 *    "<name>": {"dtype": "F32", "shape": [3, 4], "data_offsets": [begin, end]}, ...}
 * (padded with spaces to a multiple of 8), then the tensors' raw
 * little-endian bytes, data_offsets counted from the end of the header.
 * Names are PyTorch's state_dict names, which are nabla's dotted module
 * names: "0.weight", "fc1.bias", "bn.running_mean", "weight_ih_l0".
 *
 * nabla writes F32, F64 and I64 (as its tensors are) and reads F64, F32,
 * F16 and BF16 into float tensors and I64/I32 into I64 ones. The JSON is
 * parsed by jansson; every shape, size and offset is checked against the
 * file's length (an element count that overflows, data outside the file,
 * tensors that overlap or leave holes, a header over 100 MB: NB_ERR_IO with
 * the reason). Files never abort: functions return a status and write a
 * message into err (may be NULL). */
#ifndef NABLA_SAFETENSORS_H
#define NABLA_SAFETENSORS_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;

/* What a load found: the module's names absent from the file (missing), the
 * file's names the module lacks (unexpected), and names present in both
 * whose shape or kind (float vs integer) differ (mismatched, each "name:
 * file (3,4) f32, model (4,3) f32"). Heap strings; nb_load_report_free. */
typedef struct nb_load_report {
    int n_missing, n_unexpected, n_mismatched;
    char **missing, **unexpected, **mismatched;
} nb_load_report;
NB_API void nb_load_report_free(nb_load_report *r);

/* Writes ts (F32, F64 or I64 tensors, unique names) to path atomically (a
 * temporary file next to it, fsynced, renamed over it: the previous file
 * survives a failed save; as checkpoints: docs/io.md "Saving a file"). meta: n_meta key/value string pairs for
 * "__metadata__" (may be 0). */
NB_API nb_status nb_safetensors_save_tensors(const char *path, const nb_named_tensor *ts, int n,
                                             const char *const (*meta)[2], int n_meta, char *err, size_t errlen);
/* A module's parameters and buffers under their state_dict names. */
NB_API nb_status nb_safetensors_save(struct nb_module *m, const char *path, char *err, size_t errlen);

/* Loads path into m's parameters and buffers by name, converting dtypes.
 * strict: every name must match both ways, or nothing changes and the status
 * is NB_ERR_IO listing every missing and unexpected name (PyTorch's
 * load_state_dict(strict=True)). Not strict: matching names are loaded and
 * the others reported (strict=False). A mismatched shape is an error either
 * way, with nothing changed. report (may be NULL) receives every name. */
NB_API nb_status nb_safetensors_load(struct nb_module *m, const char *path, bool strict, nb_load_report *report,
                                     char *err, size_t errlen);
/* The same from memory (what the fuzz target drives). */
NB_API nb_status nb_safetensors_load_mem(struct nb_module *m, const void *data, size_t len, bool strict,
                                         nb_load_report *report, char *err, size_t errlen);

/* Every tensor of a file as new persistent tensors (F16/BF16 as F32, I32 as
 * I64), in the file's header order: *out (n entries, names heap strings)
 * is freed with nb_safetensors_free. */
NB_API nb_status nb_safetensors_read(const char *path, nb_named_tensor **out, int *n, char *err, size_t errlen);
NB_API nb_status nb_safetensors_read_mem(const void *data, size_t len, nb_named_tensor **out, int *n, char *err,
                                         size_t errlen);
NB_API void nb_safetensors_free(nb_named_tensor *ts, int n);

#ifdef __cplusplus
}
#endif
#endif
