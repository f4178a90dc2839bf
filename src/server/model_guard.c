/*
 * model_guard.c: a served model whose file is changed in place gives a
 * 503 instead of a crash. See model_guard.h for what is guaranteed.
 *
 * The mapping is found in /proc/self/maps by the inode of the file (the
 * engine does not export its address, and need not: the kernel knows
 * it). We keep a descriptor of that inode, so a rename over the path
 * (harmless) is not mistaken for a change, while a truncation or an
 * overwrite shows in fstat's size and modification time.
 */
#include "model_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define GUARD_MAX_RANGES 8   /* mappings of the file (the engine makes one) */

/* One per process: the signal handler reads the ranges, written before
 * the handler is installed and never after. */
static struct {
    bool on;
    int fd;                            /* the mapped inode, for fstat */
    char path[1024];
    struct stat st0;                   /* as loaded */
    uintptr_t lo[GUARD_MAX_RANGES], hi[GUARD_MAX_RANGES];
    int n_ranges;
    uintptr_t page;
    struct sigaction old;              /* the handler before ours */
    atomic_uint_fast64_t faults;
    atomic_bool changed;
} guard = {.fd = -1};

/* A fault in the mapping: zero pages from the faulting one to the end
 * of its range, so the read that faulted (and every later one) gets 0.
 * The raw system call: the handler must not go through interposed
 * allocator-aware wrappers. Anything else goes to the old handler. */
static void guard_on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; si->si_code > 0 && i < guard.n_ranges; i++) {
        if (a < guard.lo[i] || a >= guard.hi[i])
            continue;
        uintptr_t p = a & ~(guard.page - 1);
        long r = syscall(SYS_mmap, (void *)p, (size_t)(guard.hi[i] - p), PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (r != -1) {
            atomic_fetch_add(&guard.faults, 1);
            atomic_store(&guard.changed, true);
            return;
        }
        break;
    }
    /* not ours: put the old handler back; a fault repeats on return and
     * reaches it, a sent signal is raised again (blocked until then) */
    sigaction(SIGBUS, &guard.old, NULL);
    if (si->si_code <= 0)
        raise(sig);
}

/* Reads the address ranges that map inode (dev, ino) from
 * /proc/self/maps. Returns how many. */
static int guard_find_ranges(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (n < GUARD_MAX_RANGES && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, off, in;
        unsigned maj, min;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perm, &off, &maj, &min, &in) ==
                7 &&
            in == (unsigned long)ino && maj == major(dev) && min == minor(dev) && in != 0) {
            guard.lo[n] = lo;
            guard.hi[n] = hi;
            n++;
        }
        /* a path longer than the buffer: skip the rest of its line */
        while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
            ;
    }
    fclose(f);
    return n;
}

int model_guard_watch(const char *path, struct smol_err *err)
{
    if (guard.on)
        return err_set(err, SMOL_EINVAL, "model guard: already watching '%s'", guard.path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, SMOL_EIO, "model guard: cannot open '%s': %s", path, strerror(e));
    }
    guard.n_ranges = guard_find_ranges(st.st_dev, st.st_ino);
    if (guard.n_ranges == 0) {
        close(fd);
        return err_set(err, SMOL_EIO, "model guard: '%s' is not mapped in this process (was it "
                       "replaced while loading?)", path);
    }
    guard.fd = fd;
    guard.st0 = st;
    guard.page = (uintptr_t)sysconf(_SC_PAGESIZE);
    snprintf(guard.path, sizeof(guard.path), "%s", path);
    atomic_init(&guard.faults, 0);
    atomic_init(&guard.changed, false);
    struct sigaction sa = {0};
    sa.sa_sigaction = guard_on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &guard.old) != 0) {
        close(fd);
        guard.fd = -1;
        return err_set(err, SMOL_EIO, "model guard: cannot install a SIGBUS handler: %s",
                       strerror(errno));
    }
    guard.on = true;
    return 0;
}

int model_guard_check(struct smol_err *err)
{
    if (!guard.on)
        return 0;
    struct stat st;
    char what[160] = "";
    if (atomic_load(&guard.faults))
        snprintf(what, sizeof(what), "it was truncated while it was being read");
    else if (fstat(guard.fd, &st) != 0)
        snprintf(what, sizeof(what), "it cannot be checked: %s", strerror(errno));
    else if (st.st_size != guard.st0.st_size)
        snprintf(what, sizeof(what), "it has %lld bytes, %lld when loaded",
                 (long long)st.st_size, (long long)guard.st0.st_size);
    else if (st.st_mtim.tv_sec != guard.st0.st_mtim.tv_sec ||
             st.st_mtim.tv_nsec != guard.st0.st_mtim.tv_nsec)
        snprintf(what, sizeof(what), "it was modified in place");
    if (!*what && !atomic_load(&guard.changed))
        return 0;
    atomic_store(&guard.changed, true);
    return err_set(err, SMOL_ECANCELED, "the model file '%s' changed on disk after it was "
                   "loaded (%s); restart the server to load it again",
                   guard.path, *what ? what : "see the first error");
}

uint64_t model_guard_faults(void)
{
    return guard.on ? (uint64_t)atomic_load(&guard.faults) : 0;
}

void model_guard_stop(void)
{
    if (!guard.on)
        return;
    sigaction(SIGBUS, &guard.old, NULL);
    close(guard.fd);
    guard.fd = -1;
    guard.on = false;
}
