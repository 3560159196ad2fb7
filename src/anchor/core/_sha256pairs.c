/*
 * anchor._sha256pairs: one Merkle level per call, in C.
 *
 * A level of n 32-byte nodes becomes ceil(n/2) nodes: sha256(left || right) for each pair and,
 * when n is odd, the last node promoted unchanged (the merkletools rule used by anchor.merkle).
 * Doing the whole level in one call removes the per-pair Python overhead (slicing, bytes
 * concatenation, hashlib object creation), which dominates the cost of the pure-Python loop.
 *
 * Every message hashed here is exactly 64 bytes, so SHA-256 always runs two compressions: the
 * message block, then a padding block that never changes (0x80, zeros, bit length 512). Its
 * message schedule, with the round constants already added, is a compile-time table, and the
 * second compression is 64 rounds with no schedule work at all.
 *
 * Two code paths:
 *   - "sha-ni": x86-64 SHA extensions, chosen at run time when CPUID reports them. Two pairs
 *     are hashed in an interleaved way because SHA256RNDS2 has a latency of several cycles but
 *     can issue more often; one dependency chain alone would leave the unit idle.
 *   - "portable": plain C, used on every other CPU or compiler.
 * No OpenSSL: the module must build with nothing but a C compiler and the Python headers.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SHA_NI_PATH 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define HAVE_SHA_NI_PATH 0
#endif

#define NODE_SIZE 32
#define PAIR_SIZE 64

/*
 * Below this many pairs, hashing takes only a few microseconds, less than what a contended
 * GIL hand-off can cost (the reacquire may wait for another thread's switch interval).
 * Proof-sized levels near the root therefore keep the GIL; big levels release it.
 */
#define RELEASE_GIL_MIN_PAIRS 256

/* Hashes `pairs` consecutive 64-byte messages from `in` into 32-byte digests at `out`. */
typedef void (*pairs_fn)(const unsigned char *in, unsigned char *out, Py_ssize_t pairs);

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static const uint32_t H0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

/*
 * K[i] + W[i] for the padding block of a 64-byte message: W[0] = 0x80000000 (the 0x80 byte),
 * W[1..14] = 0, W[15] = 512 (message length in bits), W[16..63] expanded by the FIPS 180-4
 * schedule. Entries 1..14 are therefore plain K values. Any error here would break every
 * digest, which the tests compare against hashlib.
 */
static const uint32_t PAD_KW[64] = {
    0xc28a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf374u,
    0x649b69c1u, 0xf0fe4786u, 0x0fe1edc6u, 0x240cf254u, 0x4fe9346fu, 0x6cc984beu, 0x61b9411eu, 0x16f988fau,
    0xf2c65152u, 0xa88e5a6du, 0xb019fc65u, 0xb9d99ec7u, 0x9a1231c3u, 0xe70eeaa0u, 0xfdb1232bu, 0xc7353eb0u,
    0x3069bad5u, 0xcb976d5fu, 0x5a0f118fu, 0xdc1eeefdu, 0x0a35b689u, 0xde0b7a04u, 0x58f4ca9du, 0xe15d5b16u,
    0x007f3e86u, 0x37088980u, 0xa507ea32u, 0x6fab9537u, 0x17406110u, 0x0d8cd6f1u, 0xcdaa3b6du, 0xc0bbbe37u,
    0x83613bdau, 0xdb48a363u, 0x0b02e931u, 0x6fd15ca7u, 0x521afacau, 0x31338431u, 0x6ed41a95u, 0x6d437890u,
    0xc39c91f2u, 0x9eccabbdu, 0xb5c9a0e6u, 0x532fb63cu, 0xd2c741c6u, 0x07237ea3u, 0xa4954b68u, 0x4c191d76u,
};

/* ------------------------------------------------------------------------------------------ */
/* Portable path                                                                              */
/* ------------------------------------------------------------------------------------------ */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))
#define BSIG0(x) (ROTR((x), 2) ^ ROTR((x), 13) ^ ROTR((x), 22))
#define BSIG1(x) (ROTR((x), 6) ^ ROTR((x), 11) ^ ROTR((x), 25))
#define SSIG0(x) (ROTR((x), 7) ^ ROTR((x), 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR((x), 17) ^ ROTR((x), 19) ^ ((x) >> 10))

static inline uint32_t load_be32(const unsigned char *p)
{
    /* Byte-wise so it is alignment- and endianness-independent; compilers emit one bswap load. */
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The 64 rounds plus feed-forward, with the schedule already combined with K by the caller. */
static inline void portable_rounds(uint32_t state[8], const uint32_t kw[64])
{
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];

    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + kw[i];
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

static void pairs_portable(const unsigned char *in, unsigned char *out, Py_ssize_t pairs)
{
    for (Py_ssize_t p = 0; p < pairs; p++, in += PAIR_SIZE, out += NODE_SIZE) {
        uint32_t w[64];
        uint32_t state[8];

        for (int i = 0; i < 16; i++)
            w[i] = load_be32(in + 4 * i);
        for (int i = 16; i < 64; i++)
            w[i] = SSIG1(w[i - 2]) + w[i - 7] + SSIG0(w[i - 15]) + w[i - 16];
        for (int i = 0; i < 64; i++)
            w[i] += K[i];

        memcpy(state, H0, sizeof(state));
        portable_rounds(state, w);
        portable_rounds(state, PAD_KW);

        for (int i = 0; i < 8; i++)
            store_be32(out + 4 * i, state[i]);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-NI path (x86-64)                                                                       */
/* ------------------------------------------------------------------------------------------ */

#if HAVE_SHA_NI_PATH

/*
 * Per-function target attributes instead of -msha for the whole file: the module must still
 * import and run the portable path on x86-64 CPUs without SHA extensions.
 */
#define SHANI_TARGET __attribute__((target("sha,sse4.1")))
#define SHANI_INLINE static inline __attribute__((always_inline, target("sha,sse4.1")))

/*
 * Number of pairs hashed together. Their round chains are independent, so the CPU overlaps
 * them; 2 is enough to cover SHA256RNDS2 latency on current Intel and AMD cores.
 */
#define SHANI_LANES 2

/*
 * SHA256RNDS2 keeps the state as two vectors, {A,B,E,F} and {C,D,G,H} (most significant lane
 * first), rather than in FIPS order. These are H0 in that layout, written in memory (lane 0
 * first) order so they load with one instruction.
 */
static const uint32_t H0_ABEF[4] = {0x9b05688cu, 0x510e527fu, 0xbb67ae85u, 0x6a09e667u};
static const uint32_t H0_CDGH[4] = {0x5be0cd19u, 0x1f83d9abu, 0xa54ff53au, 0x3c6ef372u};

/* Four rounds: the instruction does two, taking its two message words from the low lanes. */
SHANI_INLINE void shani_4rounds(__m128i *abef, __m128i *cdgh, __m128i kw)
{
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, kw);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(kw, 0x0E));
}

/*
 * Hashes `lanes` (1 or SHANI_LANES, a compile-time constant after inlining) consecutive pairs.
 * Loops over lanes are innermost so that, once unrolled, each step issues the same
 * instruction for every lane back to back: that is what lets their chains overlap.
 */
SHANI_INLINE void shani_hash_lanes(const unsigned char *in, unsigned char *out, const int lanes)
{
    /* Byte order of SHA-256 words is big-endian; reverse each 32-bit lane. */
    const __m128i bswap32 = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const __m128i h0_abef = _mm_loadu_si128((const __m128i *)H0_ABEF);
    const __m128i h0_cdgh = _mm_loadu_si128((const __m128i *)H0_CDGH);
    __m128i abef[SHANI_LANES], cdgh[SHANI_LANES], mid_abef[SHANI_LANES], mid_cdgh[SHANI_LANES];
    __m128i w[SHANI_LANES][4]; /* ring of the last 16 schedule words, 4 per vector */

    for (int l = 0; l < lanes; l++) {
        abef[l] = h0_abef;
        cdgh[l] = h0_cdgh;
    }

    /* Block 1: the message. W[16..63] come from MSG1/MSG2, four words at a time. */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        const __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * i]);
        for (int l = 0; l < lanes; l++) {
            __m128i *x = w[l];
            if (i < 4) {
                x[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + PAIR_SIZE * l + 16 * i)), bswap32);
            } else {
                /* x[i&3] holds W[i-4], x[(i+1)&3] W[i-3], x[(i+2)&3] W[i-2], x[(i+3)&3] W[i-1]. */
                __m128i t = _mm_sha256msg1_epu32(x[i & 3], x[(i + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(x[(i + 3) & 3], x[(i + 2) & 3], 4));
                x[i & 3] = _mm_sha256msg2_epu32(t, x[(i + 3) & 3]);
            }
            shani_4rounds(&abef[l], &cdgh[l], _mm_add_epi32(x[i & 3], k));
        }
    }
    for (int l = 0; l < lanes; l++) {
        abef[l] = mid_abef[l] = _mm_add_epi32(abef[l], h0_abef);
        cdgh[l] = mid_cdgh[l] = _mm_add_epi32(cdgh[l], h0_cdgh);
    }

    /* Block 2: the constant padding block, schedule and constants precomputed in PAD_KW. */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        const __m128i kw = _mm_loadu_si128((const __m128i *)&PAD_KW[4 * i]);
        for (int l = 0; l < lanes; l++)
            shani_4rounds(&abef[l], &cdgh[l], kw);
    }

    for (int l = 0; l < lanes; l++) {
        const __m128i s0 = _mm_add_epi32(abef[l], mid_abef[l]); /* lanes F,E,B,A */
        const __m128i s1 = _mm_add_epi32(cdgh[l], mid_cdgh[l]); /* lanes H,G,D,C */
        const __m128i ab_ef = _mm_shuffle_epi32(s0, 0x1B);      /* lanes A,B,E,F */
        const __m128i gh_cd = _mm_shuffle_epi32(s1, 0xB1);      /* lanes G,H,C,D */
        const __m128i abcd = _mm_blend_epi16(ab_ef, gh_cd, 0xF0);
        const __m128i efgh = _mm_alignr_epi8(gh_cd, ab_ef, 8);
        _mm_storeu_si128((__m128i *)(out + NODE_SIZE * l), _mm_shuffle_epi8(abcd, bswap32));
        _mm_storeu_si128((__m128i *)(out + NODE_SIZE * l + 16), _mm_shuffle_epi8(efgh, bswap32));
    }
}

static SHANI_TARGET void pairs_sha_ni(const unsigned char *in, unsigned char *out, Py_ssize_t pairs)
{
    Py_ssize_t p = 0;
    for (; p + SHANI_LANES <= pairs; p += SHANI_LANES)
        shani_hash_lanes(in + PAIR_SIZE * p, out + NODE_SIZE * p, SHANI_LANES);
    for (; p < pairs; p++)
        shani_hash_lanes(in + PAIR_SIZE * p, out + NODE_SIZE * p, 1);
}

static int cpu_has_sha_ni(void)
{
    /*
     * CPUID directly rather than __builtin_cpu_supports("sha"): older GCC and Clang releases
     * do not know that feature name, and this file should still compile there.
     * SHA: leaf 7 EBX bit 29. SSSE3 (PSHUFB, PALIGNR): leaf 1 ECX bit 9. SSE4.1 (PBLENDW):
     * leaf 1 ECX bit 19. Every CPU with SHA has both, but checking costs nothing.
     */
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid(1, eax, ebx, ecx, edx);
    if (!(ecx & (1u << 9)) || !(ecx & (1u << 19)))
        return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    return (ebx & (1u << 29)) != 0;
}

#endif /* HAVE_SHA_NI_PATH */

/* ------------------------------------------------------------------------------------------ */
/* Python module                                                                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    pairs_fn best; /* fastest path this CPU supports, chosen once in module exec */
} module_state;

static PyObject *hash_level(PyObject *arg, pairs_fn fn)
{
    Py_buffer view;
    PyObject *result = NULL;

    /* C-contiguous rather than simple: also accepts e.g. a (n, 32) uint8 array. */
    if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;

    if (view.len <= 0 || view.len % NODE_SIZE != 0) {
        PyErr_Format(PyExc_ValueError,
                     "next_level() needs a positive whole number of %d-byte nodes, got %zd bytes",
                     NODE_SIZE, view.len);
        goto done;
    }

    const Py_ssize_t nodes = view.len / NODE_SIZE;
    const Py_ssize_t pairs = nodes / 2;
    const unsigned char *in = (const unsigned char *)view.buf;

    result = PyBytes_FromStringAndSize(NULL, (nodes - pairs) * NODE_SIZE);
    if (result == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);

    /*
     * Without the GIL, another thread may mutate a bytearray input meanwhile (its size cannot
     * change while we hold the buffer export), giving an unspecified but memory-safe result.
     * The output bytes object is not visible to anyone else yet.
     */
    if (pairs >= RELEASE_GIL_MIN_PAIRS) {
        Py_BEGIN_ALLOW_THREADS
        fn(in, out, pairs);
        Py_END_ALLOW_THREADS
    }
    else {
        fn(in, out, pairs);
    }
    if (nodes & 1)
        memcpy(out + pairs * NODE_SIZE, in + (nodes - 1) * NODE_SIZE, NODE_SIZE);

done:
    PyBuffer_Release(&view);
    return result;
}

static PyObject *next_level(PyObject *module, PyObject *arg)
{
    const module_state *st = (const module_state *)PyModule_GetState(module);
    return hash_level(arg, st->best);
}

static PyObject *next_level_portable(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return hash_level(arg, pairs_portable);
}

PyDoc_STRVAR(next_level_doc,
"next_level(data, /)\n--\n\n"
"The Merkle level above ``data``.\n\n"
"``data`` is a C-contiguous buffer of n 32-byte nodes (n >= 1). Returns bytes of ceil(n/2)\n"
"nodes: sha256(node[2k] || node[2k+1]) for each pair, then node[n-1] unchanged if n is odd.\n"
"Raises ValueError if the length is 0 or not a multiple of 32. Large levels are hashed\n"
"with the GIL released.");

PyDoc_STRVAR(next_level_portable_doc,
"_next_level_portable(data, /)\n--\n\n"
"Same as next_level() but always on the portable C path (for tests and benchmarks).");

static PyMethodDef module_methods[] = {
    {"next_level", next_level, METH_O, next_level_doc},
    {"_next_level_portable", next_level_portable, METH_O, next_level_portable_doc},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *module)
{
    module_state *st = (module_state *)PyModule_GetState(module);
    const char *name = "portable";

    st->best = pairs_portable;
#if HAVE_SHA_NI_PATH
    if (cpu_has_sha_ni()) {
        st->best = pairs_sha_ni;
        name = "sha-ni";
    }
#endif
    return PyModule_AddStringConstant(module, "IMPLEMENTATION", name);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"SHA-256 Merkle level hashing in C (optional accelerator for anchor.merkle).\n\n"
"IMPLEMENTATION is \"sha-ni\" when the x86-64 SHA extensions are used, else \"portable\".");

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "anchor._sha256pairs",
    .m_doc = module_doc,
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__sha256pairs(void)
{
    return PyModuleDef_Init(&module_def);
}
