/*
 * replay.c: a main() that runs a fuzz target on saved inputs, without
 * libFuzzer, so the corpus and every regression input are replayed by
 * `make test` under the gcc ASan + UBSan build too (no clang needed).
 *
 *   replay_<target> PATH...   each PATH a file or a directory of files
 *
 * Each input is read into a buffer of exactly its size (a read past the
 * end is an ASan report, as under libFuzzer) and given to
 * LLVMFuzzerTestOneInput once, after LLVMFuzzerInitialize when the
 * target has one. A failed property aborts (FUZZ_CHECK), so the exit
 * status says whether every input passed; the last line counts them.
 */
#include "fuzzutil.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Only mutators call this, and nothing mutates here. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
{
    (void)data;
    (void)max_size;
    return size;
}

/* Runs the target on one file; false when it cannot be read. */
static bool replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t *data = NULL;
    size_t n = 0;
    bool ok = fseek(f, 0, SEEK_END) == 0;
    long len = ok ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        n = (size_t)len;
        data = malloc(n ? n : 1);
        ok = data && fread(data, 1, n, f) == n;
    } else {
        ok = false;
    }
    fclose(f);
    if (ok)
        LLVMFuzzerTestOneInput(data, n);
    free(data);
    return ok;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's regular files in name order (so runs are repeatable). */
static int replay_dir(const char *dir, int *n_done)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof(*names));
            FUZZ_CHECK(grown != NULL, "out of memory");
            names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        FUZZ_CHECK(names[n] != NULL, "out of memory");
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (!replay_file(names[i]))
                rc = -1;
            else
                (*n_done)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int n_done = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        bool ok = stat(argv[i], &st) == 0;
        if (ok && S_ISDIR(st.st_mode)) {
            ok = replay_dir(argv[i], &n_done) == 0;
        } else if (ok) {
            ok = replay_file(argv[i]);
            n_done += ok;
        }
        if (!ok) {
            fprintf(stderr, "replay: cannot read '%s'\n", argv[i]);
            rc = 1;
        }
    }
    printf("replayed %d inputs\n", n_done);
    return rc;
}
