/* fuzzutil.c: shared helpers of the libFuzzer targets (see fuzzutil.h). */
#include "fuzzutil.h"

#include "gguf.h"
#include "quant.h"
#include "synth.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fuzz_fixture(const char *rel)
{
    static char path[4096];
    const char *d = getenv("SMOL_FIXTURES");
    if (!d || !*d)
        d = "../shared/fixtures";
    snprintf(path, sizeof(path), "%s/%s", d, rel);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? path : NULL;
}

/* SmolLM3's template is recognised by this marker (model.c); the rest of
 * the text does not matter, the renderer is C. */
static const char fuzz_template[] =
    "{# synthetic vocabulary for the fuzzers #}Reasoning Mode: {{ mode }}";

/* Writes the synthetic vocabulary (with the tiny model synth makes around
 * it: vocabulary-only opening ignores the tensors) to a temporary file,
 * opens it vocabulary-only and removes the file (the map stays). */
static struct smol_model *fuzz_synth_vocab_model(struct smol_err *err)
{
    char dir[] = "/tmp/smolfuzz.XXXXXX";
    if (!mkdtemp(dir)) {
        err_set(err, SMOL_EIO, "fuzz: cannot make a temporary directory");
        return NULL;
    }
    char path[64];
    snprintf(path, sizeof(path), "%s/vocab.gguf", dir);
    struct smol_model *m = NULL;
    struct synth_shape shape;
    synth_shape_tiny(&shape, GGML_TYPE_F32);
    shape.n_layer = 1;
    struct gguf_writer *w = gguf_writer_new();
    struct synth_data *d = w ? synth_build(w, &shape, GGML_TYPE_F32, 1, NULL, err) : NULL;
    if (d && gguf_writer_set_str(w, "tokenizer.chat_template", fuzz_template) == 0 &&
        gguf_writer_write(w, path, err) == 0) {
        struct smol_model_opts o = {.vocab_only = true};
        m = smol_model_open(path, &o, err);
    }
    synth_free(d);
    gguf_writer_free(w);
    unlink(path);
    rmdir(dir);
    return m;
}

struct smol_model *fuzz_vocab_model(void)
{
    static struct smol_model *m;
    if (m)
        return m;
    struct smol_err err = {0};
    const char *force = getenv("SMOL_FUZZ_SYNTH_VOCAB");
    const char *real = force && *force == '1' ? NULL : fuzz_fixture("vocab-smollm3.gguf");
    if (real) {
        struct smol_model_opts o = {.vocab_only = true};
        m = smol_model_open(real, &o, &err);
    } else {
        m = fuzz_synth_vocab_model(&err);
    }
    if (!m) {
        fprintf(stderr, "fuzz: cannot make a vocabulary (%s): %s\n",
                real ? real : "synthetic", err.msg);
        abort();
    }
    fprintf(stderr, "fuzz: vocabulary %s, %d tokens\n", real ? real : "synthetic",
            smol_n_vocab(m));
    return m;
}

int fuzz_memfd(const void *data, size_t len, char path[64])
{
    int fd = memfd_create("smolfuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

uint64_t fuzz_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1du;
}
