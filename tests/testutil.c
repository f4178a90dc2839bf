/* testutil.c: shared test helpers (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *test_fixtures_dir(void)
{
    static char dir[4096];
    static int state; /* 0 unknown, 1 present, -1 absent */
    if (state == 0) {
        const char *d = getenv("SMOL_FIXTURES");
        if (!d || !*d)
            d = "../shared/fixtures";
        struct stat st;
        if (stat(d, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(dir, sizeof(dir), "%s", d);
            state = 1;
        } else {
            fprintf(stderr,
                    "\n*** FIXTURES NOT FOUND at '%s' (set SMOL_FIXTURES): "
                    "parity tests are SKIPPED ***\n\n", d);
            state = -1;
        }
    }
    return state == 1 ? dir : NULL;
}

const char *test_fixture(const char *rel)
{
    static char path[4096];
    const char *d = test_fixtures_dir();
    if (!d)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", d, rel);
    return path;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        fclose(f);
        return NULL;
    }
    fclose(f);
    p[n] = '\0';
    if (len)
        *len = (size_t)n;
    return p;
}

int test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

const char *test_tmp_path(const char *suffix)
{
    static char slots[8][512];
    static unsigned counter;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char *p = slots[counter % 8];
    snprintf(p, sizeof(slots[0]), "%s/smoltest-%d-%u%s", tmp, (int)getpid(),
             counter, suffix ? suffix : "");
    counter++;
    return p;
}

uint64_t test_rand_u64(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float test_rand_uniform(uint64_t *s)
{
    return (float)(test_rand_u64(s) >> 40) / (float)(1u << 24);
}

float test_rand_normal(uint64_t *s)
{
    float u1 = test_rand_uniform(s), u2 = test_rand_uniform(s);
    if (u1 < 1e-7f)
        u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
