/* tokenizer.c: byte-level BPE for SmolLM3 (see tokenizer.h).
 *
 * Encoding, in the order Hugging Face's tokenizer does it:
 *   1. split the text on added tokens (leftmost, longest first; a control
 *      token not where a literal span of the caller's text lies);
 *   2. cut each remaining segment into pre-tokens (pretok.c);
 *   3. map a pre-token's bytes to the GPT-2 byte-level alphabet;
 *   4. if the mapped string is a vocabulary entry, emit it (ignore_merges);
 *      else start from one symbol per byte and apply merges by rank.
 * Decoding maps each token's characters back through the alphabet once,
 * at load, so tokenizer_token_bytes is a lookup.
 */
#include "tokenizer.h"
#include "mem.h"
#include "pretok.h"
#include "smol.h"
#include "utf8.h"

#include <limits.h>
#include <string.h>

/* A token longer than this is refused at load: it keeps every byte count
 * of a decoded token (up to 3x for U+FFFD) comfortably inside an int. */
#define TOKEN_MAX_BYTES (1u << 20)

#define EOG_MAX 8

/* The byte-level alphabet ends at U+0100 + 68 (the non-printable bytes). */
#define ALPHABET_END (0x100 + 68)

/* One entry of the merge table: the pair (a, b) packed into key, the
 * merge's rank (its index in tokenizer.ggml.merges) and the token it
 * makes. rank < 0 marks an empty slot. */
struct merge_slot {
    uint64_t key;
    int32_t rank;
    int32_t id;
};

struct tokenizer {
    int32_t n_vocab;
    char *text;          /* owned: every token's vocabulary string, each NUL-ended */
    uint32_t *text_off;  /* (n_vocab + 1): token i is text[text_off[i]..text_off[i+1]-1) */
    char *bytes;         /* owned: every token's decoded bytes, each NUL-ended */
    uint32_t *bytes_off; /* (n_vocab + 1), as text_off */
    uint8_t *type;       /* (n_vocab) enum tokenizer_token_type */
    size_t max_bytes;    /* longest decoded token */

    /* vocabulary string -> id: open addressing, linear probing */
    int32_t *tok_slot;   /* (tok_mask + 1) ids, -1 when empty */
    uint32_t *tok_hash;  /* (n_vocab) hash of each token's string */
    uint64_t tok_mask;

    /* (id_a, id_b) -> (rank, id): open addressing, linear probing */
    struct merge_slot *merge_slot; /* (merge_mask + 1) */
    uint64_t merge_mask;

    uint32_t byte_cp[256];   /* byte -> code point of the byte-level alphabet */
    int16_t cp_byte[ALPHABET_END]; /* code point -> byte, -1 if none */
    int32_t byte_token[256]; /* byte -> id of its one-character token */

    /* Added tokens (CONTROL, USER_DEFINED) sorted by first byte, then
     * longest first; those starting with byte c are
     * added[added_start[c]..added_start[c+1]). */
    int32_t *added;
    int32_t added_start[257];

    int32_t bos, eos, pad;
    int32_t eog[EOG_MAX];
    int n_eog;
};

/* ==== small helpers ==================================================== */

/* FNV-1a, 32 bits: token strings are short and this runs once per
 * lookup; the tables compare the full strings after a hash hit anyway. */
static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* splitmix64's finaliser: spreads a packed id pair over the table. */
static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Smallest power of two >= n (n <= 2^62). */
static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

/* Copies s[0..n) into dst for an error message: valid printable UTF-8
 * as is, other bytes as \xNN, cut to about 40 bytes. Returns dst. */
static const char *esc(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0, i = 0;
    while (i < n && o + 8 < cap) {
        if (i >= 40) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        uint32_t cp;
        unsigned char c = (unsigned char)s[i];
        int k = utf8_decode(s + i, n - i, &cp);
        if (k > 1 || (k == 1 && c >= 0x20 && c < 0x7F && c != '\\')) {
            memcpy(dst + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
            i++;
        }
    }
    dst[o] = '\0';
    return dst;
}

static bool is_added_type(int type)
{
    return type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED;
}

/* ==== the byte-level alphabet ========================================= */

/* GPT-2's bytes_to_unicode: bytes that are printable Latin-1 map to the
 * same code point; the other 68 map to U+0100, U+0101, ... in byte
 * order. So ' ' (0x20) is 'Ġ' (U+0120) and '\n' is 'Ċ' (U+010A). */
static void alphabet_init(uint32_t byte_cp[256])
{
    uint32_t next = 0x100;
    for (uint32_t b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) ||
                         (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        byte_cp[b] = printable ? b : next++;
    }
}

static void alphabet_init_inverse(struct tokenizer *t)
{
    for (uint32_t cp = 0; cp < ALPHABET_END; cp++)
        t->cp_byte[cp] = -1;
    for (int b = 0; b < 256; b++)
        t->cp_byte[t->byte_cp[b]] = (int16_t)b;
}

/* The inverse: the byte a code point stands for, or -1 if it is not in
 * the alphabet (whose largest code point is U+0143). */
static int alphabet_byte(const struct tokenizer *t, uint32_t cp)
{
    return cp < ALPHABET_END ? t->cp_byte[cp] : -1;
}

/* Decodes a vocabulary string into the bytes it stands for (dst has room
 * for n bytes: each character gives one byte). Like Hugging Face's
 * ByteLevel decoder, a string with a character outside the alphabet is
 * kept as its raw UTF-8. Returns the decoded length. */
static size_t alphabet_decode(const struct tokenizer *t, const char *s,
                              size_t n, char *dst)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        int b = k > 0 ? alphabet_byte(t, cp) : -1;
        if (b < 0) {
            memcpy(dst, s, n);
            return n;
        }
        dst[o++] = (char)b;
        i += (size_t)k;
    }
    return o;
}

/* ==== the vocabulary =================================================== */

static const char *tok_str(const struct tokenizer *t, int32_t id, size_t *n)
{
    *n = t->text_off[id + 1] - t->text_off[id] - 1;
    return t->text + t->text_off[id];
}

static int32_t vocab_find(const struct tokenizer *t, const char *s, size_t n)
{
    uint32_t h = hash_bytes(s, n);
    for (uint64_t i = h & t->tok_mask;; i = (i + 1) & t->tok_mask) {
        int32_t id = t->tok_slot[i];
        if (id < 0)
            return -1;
        size_t len;
        const char *ts = tok_str(t, id, &len);
        if (t->tok_hash[id] == h && len == n && memcmp(ts, s, n) == 0)
            return id;
    }
}

/* Adds token id to the string map. A duplicate string keeps its first
 * id (GGUF converters pad vocabularies with repeated placeholders). */
static void vocab_insert(struct tokenizer *t, int32_t id)
{
    size_t n;
    const char *s = tok_str(t, id, &n);
    uint32_t h = hash_bytes(s, n);
    t->tok_hash[id] = h;
    uint64_t i = h & t->tok_mask;
    for (; t->tok_slot[i] >= 0; i = (i + 1) & t->tok_mask) {
        size_t len;
        const char *ts = tok_str(t, t->tok_slot[i], &len);
        if (t->tok_hash[t->tok_slot[i]] == h && len == n &&
            memcmp(ts, s, n) == 0)
            return;
    }
    t->tok_slot[i] = id;
}

/* Reads tokenizer.ggml.token_type into t->type (NORMAL when absent). */
static int load_types(struct tokenizer *t, const struct gguf_file *f,
                      struct smol_err *err)
{
    const char *key = "tokenizer.ggml.token_type";
    uint64_t n;
    const uint8_t *data;
    int rc = gguf_get_arr(f, key, GGUF_TYPE_INT32, &n, &data, err);
    if (rc == SMOL_ENOTFOUND) {
        memset(t->type, TOKEN_TYPE_NORMAL, (size_t)t->n_vocab);
        return 0;
    }
    if (rc)
        return rc;
    if (n != (uint64_t)t->n_vocab)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: %s has %llu entries but there are %d "
                       "tokens", key, (unsigned long long)n, t->n_vocab);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t v;
        memcpy(&v, data + 4 * (size_t)i, 4);
        if (v < TOKEN_TYPE_UNDEFINED || v > TOKEN_TYPE_BYTE)
            return err_set(err, SMOL_EFORMAT,
                           "tokenizer: token %d has type %d, not one of "
                           "0..6 (%s)", i, v, key);
        t->type[i] = (uint8_t)v;
    }
    return 0;
}

/* Reads tokenizer.ggml.tokens and token_type: fills the string and byte
 * arenas and the string map. */
static int load_vocab(struct tokenizer *t, const struct gguf_file *f,
                      struct smol_err *err)
{
    const char *key = "tokenizer.ggml.tokens";
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: key '%s' is missing", key);
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: key '%s' is a %s, not an array of strings",
                       key, gguf_type_name(kv->type == GGUF_TYPE_ARRAY
                                               ? kv->arr_type : kv->type));
    if (kv->n == 0 || kv->n > INT32_MAX / 4)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: '%s' has %llu tokens, outside 1..%d", key,
                       (unsigned long long)kv->n, INT32_MAX / 4);
    t->n_vocab = (int32_t)kv->n;

    int rc = 0;
    struct gguf_str *strs = mem_alloc_array(kv->n, sizeof(*strs));
    if (!strs)
        return err_set(err, SMOL_ENOMEM, "tokenizer: out of memory");
    if (gguf_arr_strings(kv, strs) != 0) {
        rc = err_set(err, SMOL_EFORMAT, "tokenizer: cannot read '%s'", key);
        goto out;
    }

    /* Both arenas hold every string plus a NUL each; the decoded bytes
     * of a token are never longer than its string. */
    uint64_t total = kv->n;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (strs[i].len > TOKEN_MAX_BYTES) {
            rc = err_set(err, SMOL_EFORMAT,
                         "tokenizer: token %d is %llu bytes long, over the "
                         "limit of %u", i, (unsigned long long)strs[i].len,
                         TOKEN_MAX_BYTES);
            goto out;
        }
        total += strs[i].len;
    }
    if (total >= UINT32_MAX) {
        rc = err_set(err, SMOL_EFORMAT,
                     "tokenizer: the vocabulary's strings total %llu bytes, "
                     "over the limit of 4 GiB", (unsigned long long)total);
        goto out;
    }
    uint64_t n1 = kv->n + 1;
    t->text = malloc(total);
    t->bytes = malloc(total);
    t->text_off = mem_alloc_array(n1, sizeof(uint32_t));
    t->bytes_off = mem_alloc_array(n1, sizeof(uint32_t));
    t->type = malloc(kv->n);
    t->tok_mask = pow2_at_least(2 * kv->n) - 1;
    t->tok_slot = mem_alloc_array(t->tok_mask + 1, sizeof(int32_t));
    t->tok_hash = mem_alloc_array(kv->n, sizeof(uint32_t));
    if (!t->text || !t->bytes || !t->text_off || !t->bytes_off || !t->type ||
        !t->tok_slot || !t->tok_hash) {
        rc = err_set(err, SMOL_ENOMEM, "tokenizer: out of memory for %d "
                     "tokens", t->n_vocab);
        goto out;
    }
    memset(t->tok_slot, 0xFF, (t->tok_mask + 1) * sizeof(int32_t));
    if ((rc = load_types(t, f, err)) != 0)
        goto out;

    uint32_t to = 0, bo = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t n = (size_t)strs[i].len;
        t->text_off[i] = to;
        memcpy(t->text + to, strs[i].ptr, n);
        t->text[to + n] = '\0';
        to += (uint32_t)n + 1;

        /* Added tokens are stored as their literal text, the rest in the
         * byte-level alphabet. */
        t->bytes_off[i] = bo;
        size_t nb = n;
        if (is_added_type(t->type[i]))
            memcpy(t->bytes + bo, strs[i].ptr, n);
        else
            nb = alphabet_decode(t, strs[i].ptr, n, t->bytes + bo);
        t->bytes[bo + nb] = '\0';
        bo += (uint32_t)nb + 1;
        t->max_bytes = MAX(t->max_bytes, nb);
    }
    t->text_off[t->n_vocab] = to;
    t->bytes_off[t->n_vocab] = bo;
    for (int32_t i = 0; i < t->n_vocab; i++)
        vocab_insert(t, i);
out:
    free(strs);
    return rc;
}

/* Every byte must have its one-character token: BPE starts from them. */
static int load_byte_tokens(struct tokenizer *t, struct smol_err *err)
{
    for (int b = 0; b < 256; b++) {
        char s[4];
        int n = utf8_encode(t->byte_cp[b], s);
        t->byte_token[b] = vocab_find(t, s, (size_t)n);
        if (t->byte_token[b] < 0)
            return err_set(err, SMOL_EFORMAT,
                           "tokenizer: the vocabulary has no token for byte "
                           "0x%02x ('%.*s'), so it is not a byte-level BPE",
                           b, n, s);
        /* an added token decodes to its literal text, not to the byte:
         * encoding would no longer give the input back */
        if (is_added_type(t->type[t->byte_token[b]]))
            return err_set(err, SMOL_EFORMAT,
                           "tokenizer: token %d ('%.*s') stands for byte 0x%02x "
                           "but has the added-token type %d", t->byte_token[b], n, s,
                           b, t->type[t->byte_token[b]]);
    }
    return 0;
}

/* ==== merges =========================================================== */

static uint64_t merge_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static const struct merge_slot *merge_find(const struct tokenizer *t,
                                           int32_t a, int32_t b)
{
    uint64_t key = merge_key(a, b);
    for (uint64_t i = hash_u64(key) & t->merge_mask;;
         i = (i + 1) & t->merge_mask) {
        const struct merge_slot *m = &t->merge_slot[i];
        if (m->rank < 0)
            return NULL;
        if (m->key == key)
            return m;
    }
}

/* Reads tokenizer.ggml.merges ("a b", rank = index) into the pair table.
 * Both halves and their concatenation must be tokens, as Hugging Face
 * requires. A repeated pair keeps its first (best) rank. */
static int load_merges(struct tokenizer *t, const struct gguf_file *f,
                       struct smol_err *err)
{
    const char *key = "tokenizer.ggml.merges";
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: key '%s' is missing (a gpt2 tokenizer "
                       "needs its merges)", key);
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: key '%s' is not an array of strings", key);
    if (kv->n > INT32_MAX / 4)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: '%s' has %llu merges, over the limit of "
                       "%d", key, (unsigned long long)kv->n, INT32_MAX / 4);

    int rc = 0;
    char *cat = NULL;
    struct gguf_str *strs = mem_alloc_array(kv->n, sizeof(*strs));
    /* load factor at most 3/4 */
    t->merge_mask = pow2_at_least(kv->n + kv->n / 3 + 1) - 1;
    t->merge_slot = mem_alloc_array(t->merge_mask + 1, sizeof(*t->merge_slot));
    if (!strs || !t->merge_slot) {
        rc = err_set(err, SMOL_ENOMEM, "tokenizer: out of memory for %llu "
                     "merges", (unsigned long long)kv->n);
        goto out;
    }
    for (uint64_t i = 0; i <= t->merge_mask; i++)
        t->merge_slot[i].rank = -1;
    if (gguf_arr_strings(kv, strs) != 0) {
        rc = err_set(err, SMOL_EFORMAT, "tokenizer: cannot read '%s'", key);
        goto out;
    }

    size_t cat_cap = 0;
    for (uint64_t r = 0; r < kv->n; r++) {
        const char *s = strs[r].ptr;
        size_t n = (size_t)strs[r].len;
        char e1[192], e2[192];
        /* Byte-level tokens never hold a raw space (it is 'Ġ'), so the
         * one space separates the halves. Search from 1 as llama.cpp
         * does, so neither half is empty. */
        const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp || sp == s + n - 1) {
            rc = err_set(err, SMOL_EFORMAT,
                         "tokenizer: merge %llu ('%s') is not two tokens "
                         "separated by a space", (unsigned long long)r,
                         esc(e1, sizeof(e1), s, n));
            goto out;
        }
        size_t na = (size_t)(sp - s), nb = n - na - 1;
        int32_t a = vocab_find(t, s, na);
        int32_t b = vocab_find(t, sp + 1, nb);
        if (a < 0 || b < 0) {
            rc = err_set(err, SMOL_EFORMAT,
                         "tokenizer: merge %llu ('%s') names unknown token "
                         "'%s'", (unsigned long long)r,
                         esc(e1, sizeof(e1), s, n),
                         a < 0 ? esc(e2, sizeof(e2), s, na)
                               : esc(e2, sizeof(e2), sp + 1, nb));
            goto out;
        }
        if (n > cat_cap) {
            free(cat);
            cat_cap = MAX(n, 256);
            if (!(cat = malloc(cat_cap))) {
                rc = err_set(err, SMOL_ENOMEM, "tokenizer: out of memory");
                goto out;
            }
        }
        memcpy(cat, s, na);
        memcpy(cat + na, sp + 1, nb);
        int32_t m = vocab_find(t, cat, na + nb);
        if (m < 0) {
            rc = err_set(err, SMOL_EFORMAT,
                         "tokenizer: merge %llu ('%s') makes '%s', which is "
                         "not in the vocabulary", (unsigned long long)r,
                         esc(e1, sizeof(e1), s, n),
                         esc(e2, sizeof(e2), cat, na + nb));
            goto out;
        }
        /* likewise a merge may not make an added token (literal text) */
        if (is_added_type(t->type[m])) {
            rc = err_set(err, SMOL_EFORMAT,
                         "tokenizer: merge %llu ('%s') makes '%s', an added token "
                         "(type %d), not a BPE one", (unsigned long long)r,
                         esc(e1, sizeof(e1), s, n),
                         esc(e2, sizeof(e2), cat, na + nb), t->type[m]);
            goto out;
        }
        uint64_t k = merge_key(a, b);
        uint64_t i = hash_u64(k) & t->merge_mask;
        while (t->merge_slot[i].rank >= 0 && t->merge_slot[i].key != k)
            i = (i + 1) & t->merge_mask;
        if (t->merge_slot[i].rank < 0) {
            t->merge_slot[i].key = k;
            t->merge_slot[i].rank = (int32_t)r;
            t->merge_slot[i].id = m;
        }
    }
out:
    free(cat);
    free(strs);
    return rc;
}

/* ==== special ids and added tokens ==================================== */

/* An optional id key: -1 when absent, an error when outside the vocab. */
static int load_special_id(const struct tokenizer *t,
                           const struct gguf_file *f, const char *key,
                           int32_t *out, struct smol_err *err)
{
    int64_t v;
    *out = -1;
    int rc = gguf_get_i64(f, key, &v, err);
    if (rc == SMOL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (v < 0 || v >= t->n_vocab)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: %s is %lld, outside the vocabulary of %d "
                       "tokens", key, (long long)v, t->n_vocab);
    *out = (int32_t)v;
    return 0;
}

static void eog_add(struct tokenizer *t, int32_t id)
{
    if (id < 0)
        return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return;
    if (t->n_eog < EOG_MAX)
        t->eog[t->n_eog++] = id;
}

static int load_special(struct tokenizer *t, const struct gguf_file *f,
                        struct smol_err *err)
{
    int32_t eot, eom;
    int rc;
    if ((rc = load_special_id(t, f, "tokenizer.ggml.bos_token_id", &t->bos,
                              err)) ||
        (rc = load_special_id(t, f, "tokenizer.ggml.eos_token_id", &t->eos,
                              err)) ||
        (rc = load_special_id(t, f, "tokenizer.ggml.padding_token_id",
                              &t->pad, err)) ||
        (rc = load_special_id(t, f, "tokenizer.ggml.eot_token_id", &eot,
                              err)) ||
        (rc = load_special_id(t, f, "tokenizer.ggml.eom_token_id", &eom,
                              err)))
        return rc;

    /* End of generation, as llama.cpp derives it for this vocabulary:
     * the metadata's ids plus the end tokens it knows by name. */
    static const char *const eog_names[] = {
        "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>",
    };
    eog_add(t, t->eos);
    eog_add(t, eot);
    eog_add(t, eom);
    for (size_t i = 0; i < ARRAY_SIZE(eog_names); i++)
        eog_add(t, vocab_find(t, eog_names[i], strlen(eog_names[i])));
    return 0;
}

/* Sort key of the added-token table: first byte, then longest first
 * (so the first match at a position is the longest), then id. */
struct added_key {
    unsigned char first;
    size_t len;
    int32_t id;
};

static int added_cmp(const void *pa, const void *pb)
{
    const struct added_key *a = pa, *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int build_added(struct tokenizer *t, struct smol_err *err)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (is_added_type(t->type[i]) && t->text_off[i + 1] - t->text_off[i] > 1)
            n++;
    struct added_key *keys = mem_alloc_array((uint64_t)n, sizeof(*keys));
    t->added = mem_alloc_array((uint64_t)n, sizeof(int32_t));
    if (!keys || !t->added) {
        free(keys);
        return err_set(err, SMOL_ENOMEM, "tokenizer: out of memory");
    }
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t len;
        const char *s = tok_str(t, i, &len);
        if (is_added_type(t->type[i]) && len > 0)
            keys[n++] = (struct added_key){(unsigned char)s[0], len, i};
    }
    qsort(keys, (size_t)n, sizeof(*keys), added_cmp);

    int32_t k = 0;
    for (int c = 0; c < 256; c++) {
        t->added_start[c] = k;
        for (; k < n && keys[k].first == c; k++)
            t->added[k] = keys[k].id;
    }
    t->added_start[256] = n;
    free(keys);
    return 0;
}

/* ==== load and free ==================================================== */

int tokenizer_load(struct tokenizer **out, const struct gguf_file *f,
                   struct smol_err *err)
{
    if (!out || !f)
        return err_set(err, SMOL_EINVAL, "tokenizer: no file to load from");
    *out = NULL;

    struct gguf_str model;
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (rc == SMOL_ENOTFOUND)
        return err_set(err, SMOL_EFORMAT,
                       "tokenizer: key 'tokenizer.ggml.model' is missing, so "
                       "the file has no tokenizer");
    if (rc)
        return rc;
    if (!gguf_str_eq(model, "gpt2")) {
        char e[192];
        return err_set(err, SMOL_EUNSUPPORTED,
                       "tokenizer: model '%s' is not supported; only 'gpt2' "
                       "(byte-level BPE, as SmolLM3 uses) is",
                       esc(e, sizeof(e), model.ptr, (size_t)model.len));
    }

    struct tokenizer *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(err, SMOL_ENOMEM, "tokenizer: out of memory");
    alphabet_init(t->byte_cp);
    alphabet_init_inverse(t);
    if ((rc = load_vocab(t, f, err)) || (rc = load_byte_tokens(t, err)) ||
        (rc = load_merges(t, f, err)) || (rc = load_special(t, f, err)) ||
        (rc = build_added(t, err))) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->text_off);
    free(t->bytes);
    free(t->bytes_off);
    free(t->type);
    free(t->tok_slot);
    free(t->tok_hash);
    free(t->merge_slot);
    free(t->added);
    free(t);
}

/* ==== encoding ========================================================= */

/* One BPE symbol: a run of the pre-token's bytes, in a linked list. */
struct sym {
    int32_t id; /* token id, -1 once merged into its left neighbour */
    int32_t prev, next;
};

/* A candidate merge of the adjacent symbols left and right. It is stale
 * (skipped when popped) if either has changed since it was pushed. */
struct cand {
    int32_t rank, left, right;
    int32_t left_id, right_id, id;
};

/* Per-call state of tokenizer_encode: the output and scratch buffers
 * that grow to the longest pre-token seen. */
struct enc {
    const struct tokenizer *t;
    int32_t *out;
    int cap;
    int n; /* ids produced so far (also those past cap) */
    char *map;
    size_t map_cap;
    struct sym *sym;
    struct cand *heap;
    size_t sym_cap; /* heap has room for 3 * sym_cap */
};

static int enc_emit(struct enc *e, int32_t id)
{
    if (e->n == INT_MAX)
        return SMOL_ERANGE;
    if (e->n < e->cap)
        e->out[e->n] = id;
    e->n++;
    return 0;
}

/* Heap order: lowest rank first, then leftmost, as Hugging Face's BPE. */
static bool cand_less(const struct cand *a, const struct cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(struct cand *h, size_t *n, struct cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n)
{
    struct cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c]))
            c++;
        if (!cand_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Pushes the merge of left and its right neighbour, if there is one. */
static void push_pair(const struct tokenizer *t, struct enc *e, size_t *nh,
                      int32_t left)
{
    if (left < 0 || e->sym[left].next < 0)
        return;
    int32_t right = e->sym[left].next;
    const struct merge_slot *m = merge_find(t, e->sym[left].id,
                                            e->sym[right].id);
    if (m)
        heap_push(e->heap, nh, (struct cand){m->rank, left, right,
                                             e->sym[left].id,
                                             e->sym[right].id, m->id});
}

/* Classic BPE over the n bytes of p: one symbol per byte, then merge the
 * best-ranked adjacent pair until none is left. Each merge pushes at most
 * two candidates, so the heap holds at most 3n and the work is
 * O(n log n), even for a pre-token of 100k identical letters. */
static int bpe(struct enc *e, const unsigned char *p, size_t n)
{
    const struct tokenizer *t = e->t;
    if (n > e->sym_cap) {
        size_t cap = MAX(n, 2 * e->sym_cap);
        if (cap > INT32_MAX / 4)
            return SMOL_ERANGE;
        free(e->sym);
        free(e->heap);
        e->sym = mem_alloc_array(cap, sizeof(*e->sym));
        e->heap = mem_alloc_array(3 * (uint64_t)cap, sizeof(*e->heap));
        e->sym_cap = e->sym && e->heap ? cap : 0;
        if (!e->sym_cap)
            return SMOL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        e->sym[i] = (struct sym){t->byte_token[p[i]], (int32_t)i - 1,
                                 i + 1 < n ? (int32_t)i + 1 : -1};
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(t, e, &nh, (int32_t)i);
    while (nh > 0) {
        struct cand c = heap_pop(e->heap, &nh);
        struct sym *l = &e->sym[c.left], *r = &e->sym[c.right];
        if (l->id != c.left_id || l->next != c.right || r->id != c.right_id)
            continue; /* stale: a neighbour merged since */
        l->id = c.id;
        l->next = r->next;
        if (r->next >= 0)
            e->sym[r->next].prev = c.left;
        r->id = -1;
        push_pair(t, e, &nh, l->prev);
        push_pair(t, e, &nh, c.left);
    }
    int rc = 0;
    for (int32_t i = 0; i >= 0 && rc == 0; i = e->sym[i].next)
        rc = enc_emit(e, e->sym[i].id);
    return rc;
}

/* One pre-token: the whole thing if it is a vocabulary entry, else BPE. */
static int encode_pretoken(struct enc *e, const unsigned char *p, size_t n)
{
    const struct tokenizer *t = e->t;
    if (n == 1)
        return enc_emit(e, t->byte_token[p[0]]);
    /* BPE scratch is ~40 bytes per byte of the pre-token: one unbroken
     * 100 MB "word" would take 4 GB. Refuse it instead (tokenizer.h). */
    if (n > TOKENIZER_MAX_PRETOKEN)
        return SMOL_ERANGE;
    if (n > SIZE_MAX / 2 - 1)
        return SMOL_ENOMEM;
    if (2 * n > e->map_cap) {
        free(e->map);
        e->map_cap = MAX(2 * n, 256);
        if (!(e->map = malloc(e->map_cap))) {
            e->map_cap = 0;
            return SMOL_ENOMEM;
        }
    }
    /* every alphabet character is 1 or 2 bytes of UTF-8 */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += (size_t)utf8_encode(t->byte_cp[p[i]], e->map + m);
    /* ignore_merges: Hugging Face emits a known pre-token whole, even
     * where the merges would not reach it. Added tokens are not part of
     * its BPE vocabulary, so they do not count here. */
    int32_t id = vocab_find(t, e->map, m);
    if (id >= 0 && !is_added_type(t->type[id]))
        return enc_emit(e, id);
    return bpe(e, p, n);
}

static int encode_segment(struct enc *e, const char *s, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        size_t end = pretok_next(s, len, pos);
        int rc = encode_pretoken(e, (const unsigned char *)s + pos, end - pos);
        if (rc)
            return rc;
        pos = end;
    }
    return 0;
}

/* The longest added token that matches s[0..len) at its start and may
 * be matched there, or -1. USER_DEFINED tokens always may; a CONTROL
 * token only if it fits in the first ctl_room bytes (0: none may). Sets
 * *n to its length. */
static int32_t added_at(const struct tokenizer *t, const char *s, size_t len,
                        size_t ctl_room, size_t *n)
{
    unsigned char c = (unsigned char)s[0];
    for (int32_t k = t->added_start[c]; k < t->added_start[c + 1]; k++) {
        int32_t id = t->added[k];
        size_t tn;
        const char *ts = tok_str(t, id, &tn);
        if (t->type[id] == TOKEN_TYPE_CONTROL && tn > ctl_room)
            continue;
        if (tn <= len && memcmp(ts, s, tn) == 0) {
            *n = tn;
            return id;
        }
    }
    return -1;
}

/* Spans must be in order, each within the text and none overlapping the
 * next (touching is fine). */
static bool spans_valid(const struct smol_span *spans, int n_spans, size_t len)
{
    if (n_spans < 0 || (n_spans > 0 && !spans))
        return false;
    size_t at = 0;
    for (int i = 0; i < n_spans; i++) {
        if (spans[i].start < at || spans[i].end < spans[i].start || spans[i].end > len)
            return false;
        at = spans[i].end;
    }
    return true;
}

int tokenizer_encode_spans(const struct tokenizer *t, const char *text, size_t len,
                           int flags, const struct smol_span *spans, int n_spans,
                           int32_t *out, int cap)
{
    if (!t || (!text && len > 0) || cap < 0 || (!out && cap > 0) ||
        !spans_valid(spans, n_spans, len))
        return SMOL_EINVAL;
    struct enc e = {.t = t, .out = out, .cap = cap};
    int rc = 0;
    size_t seg = 0, pos = 0;
    int k = 0; /* the first non-empty span that ends after pos */
    /* Added tokens cut the text first, leftmost and then longest; the
     * pieces between them are pre-tokenized on their own, across span
     * boundaries: spans only decide where a control token may match. */
    while (pos < len && rc == 0) {
        while (k < n_spans && (spans[k].end <= pos || spans[k].start == spans[k].end))
            k++;
        /* bytes from pos that lie outside every span */
        size_t room = 0;
        if (flags & TOKENIZER_PARSE_SPECIAL)
            room = k == n_spans ? len - pos
                 : spans[k].start > pos ? spans[k].start - pos : 0;
        size_t n;
        int32_t id = added_at(t, text + pos, len - pos, room, &n);
        if (id < 0) {
            pos++;
            continue;
        }
        rc = encode_segment(&e, text + seg, pos - seg);
        if (rc == 0)
            rc = enc_emit(&e, id);
        pos += n;
        seg = pos;
    }
    if (rc == 0)
        rc = encode_segment(&e, text + seg, len - seg);
    free(e.map);
    free(e.sym);
    free(e.heap);
    return rc ? rc : e.n;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
                     int flags, int32_t *out, int cap)
{
    return tokenizer_encode_spans(t, text, len, flags, NULL, 0, out, cap);
}

/* ==== lookups ========================================================== */

int tokenizer_n_vocab(const struct tokenizer *t)
{
    return t->n_vocab;
}

size_t tokenizer_max_token_len(const struct tokenizer *t)
{
    return t->max_bytes;
}

const char *tokenizer_token_bytes(const struct tokenizer *t, int32_t id,
                                  size_t *len)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    if (len)
        *len = t->bytes_off[id + 1] - t->bytes_off[id] - 1;
    return t->bytes + t->bytes_off[id];
}

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id,
                                 size_t *len)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    size_t n;
    const char *s = tok_str(t, id, &n);
    if (len)
        *len = n;
    return s;
}

int tokenizer_token_type(const struct tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return SMOL_EINVAL;
    return t->type[id];
}

int32_t tokenizer_find(const struct tokenizer *t, const char *s, size_t len)
{
    if (!t || (!s && len > 0))
        return -1;
    return vocab_find(t, s, len);
}

int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int32_t tokenizer_pad(const struct tokenizer *t) { return t->pad; }

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return true;
    return false;
}

/* ==== streaming decoder ================================================ */

static const char REPLACEMENT[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

/* Length of the sequence a lead byte starts (RFC 3629); 0 if c cannot
 * start one (a continuation byte, C0, C1, F5..FF). */
static int lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* Whether c can follow pending[0..n) in a valid sequence. The second
 * byte is narrowed after E0 (no overlongs), ED (no surrogates), F0 (no
 * overlongs) and F4 (nothing past U+10FFFF). */
static bool may_continue(const char *pending, int n, unsigned char c)
{
    if ((c & 0xC0) != 0x80)
        return false;
    if (n == 1) {
        unsigned char l = (unsigned char)pending[0];
        if (l == 0xE0)
            return c >= 0xA0;
        if (l == 0xED)
            return c <= 0x9F;
        if (l == 0xF0)
            return c >= 0x90;
        if (l == 0xF4)
            return c <= 0x8F;
    }
    return true;
}

static int put(char *out, size_t cap, size_t *w, const char *s, size_t n)
{
    if (n > cap - *w)
        return SMOL_EFULL;
    memcpy(out + *w, s, n);
    *w += n;
    return 0;
}

/* Feeds one byte through the UTF-8 state machine. A sequence that goes
 * wrong becomes one U+FFFD for its bytes so far (the "maximal subpart"
 * rule, as Python and Rust do), and the offending byte starts afresh. */
static int stream_byte(struct tokenizer_stream *s, unsigned char c,
                       char *out, size_t cap, size_t *w)
{
    int rc;
    if (s->n_pending > 0) {
        if (may_continue(s->pending, s->n_pending, c)) {
            s->pending[s->n_pending++] = (char)c;
            if (s->n_pending < lead_len((unsigned char)s->pending[0]))
                return 0;
            rc = put(out, cap, w, s->pending, (size_t)s->n_pending);
            s->n_pending = 0;
            return rc;
        }
        s->n_pending = 0;
        if ((rc = put(out, cap, w, REPLACEMENT, 3)) != 0)
            return rc;
    }
    int k = lead_len(c);
    if (k == 1)
        return put(out, cap, w, (const char *)&c, 1);
    if (k == 0)
        return put(out, cap, w, REPLACEMENT, 3);
    s->pending[0] = (char)c;
    s->n_pending = 1;
    return 0;
}

void tokenizer_stream_init(struct tokenizer_stream *s)
{
    memset(s, 0, sizeof(*s));
}

int tokenizer_stream_push(const struct tokenizer *t, struct tokenizer_stream *s,
                          int32_t id, char *out, size_t cap)
{
    size_t n;
    const char *b = tokenizer_token_bytes(t, id, &n);
    if (!b || !s || (!out && cap > 0) || s->n_pending < 0 ||
        s->n_pending > 3)
        return SMOL_EINVAL;
    /* on SMOL_EFULL the stream is left as it was, so the caller can
     * retry the same token with a larger buffer */
    struct tokenizer_stream saved = *s;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = stream_byte(s, (unsigned char)b[i], out, cap, &w);
        if (rc) {
            *s = saved;
            return rc;
        }
    }
    return (int)w; /* <= 3 * TOKEN_MAX_BYTES + 3 */
}

int tokenizer_stream_flush(struct tokenizer_stream *s, char *out, size_t cap)
{
    if (!s || (!out && cap > 0) || s->n_pending < 0 || s->n_pending > 3)
        return SMOL_EINVAL;
    if (s->n_pending == 0)
        return 0;
    size_t w = 0;
    int rc = put(out, cap, &w, REPLACEMENT, 3);
    if (rc)
        return rc;
    s->n_pending = 0;
    return (int)w;
}
