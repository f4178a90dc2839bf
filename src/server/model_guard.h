/*
 * model_guard.h: what the server does when the model's file changes on
 * disk while it is served.
 *
 * The engine maps the GGUF read-only and MAP_PRIVATE, without a copy
 * (the weights are shared page cache). What happens to that mapping
 * depends on how the file is changed:
 *   replaced by rename   (mv new.gguf model.gguf, what `smolbot pull`
 *                        does): harmless. The mapping keeps the old
 *                        inode alive and the server goes on serving the
 *                        model it loaded, until a restart loads the new.
 *   changed in place     (truncate, cp over it, a download rewriting
 *                        it): the pages the engine reads change under
 *                        it, and those past a truncation no longer
 *                        exist: a read of them raises SIGBUS, which
 *                        would kill the process.
 * The guard makes the second case a clear error instead of a crash:
 *   - model_guard_watch records the file's identity (device, inode,
 *     size, modification time) through a descriptor of the mapped inode,
 *     and installs a SIGBUS handler for the mapping's address range;
 *   - model_guard_check, called before each generation, fails once the
 *     size or modification time moved, or once a fault was caught: the
 *     server answers 503 "changed on disk, restart" from then on;
 *   - the handler answers a fault inside the mapping by mapping zero
 *     pages over the rest of it (so the computation in progress ends,
 *     with garbage the caller throws away) and counts it. A fault
 *     anywhere else goes to the previous handler, as before.
 *
 * The state is one per process (a signal handler has no other way to
 * find it); model_guard_watch may be called once. Every function is
 * safe from any thread, and all are no-ops when nothing is watched.
 */
#ifndef SMOL_MODEL_GUARD_H
#define SMOL_MODEL_GUARD_H

#include "base.h"
#include "err.h"

/* Starts watching the model file at path, which the engine has mapped.
 * 0, or SMOL_EIO with a sentence (cannot open or stat it, or it is
 * mapped nowhere in this process). */
int model_guard_watch(const char *path, struct smol_err *err);

/* 0 while the file is as loaded; SMOL_ECANCELED with a sentence that
 * says to restart once it changed in place (sticky). */
int model_guard_check(struct smol_err *err);

/* Faults caught in the mapping so far (a job compares it before and
 * after to know its output came from zeroed weights). */
uint64_t model_guard_faults(void);

/* Restores the previous SIGBUS handler and closes the descriptor. */
void model_guard_stop(void);

#endif
