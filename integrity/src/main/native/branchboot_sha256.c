/*
 * JNI entry points of dev.branchboot.integrity.NativeSha256: SHA-256 (FIPS 180-4) of consecutive
 * blocks with the CPU's SHA extensions. The agent runs C1 only (a fast start in the initramfs), and
 * C1 does not use these instructions: Java's SHA-256 then hashes about 130 MB/s where this code
 * hashes over 1 GB/s. Without the extensions supported() is false and Java's digest is used.
 */
#include <jni.h>
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static const uint32_t ROUND_CONSTANTS[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t INITIAL_STATE[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/*
 * Runs the compression function over `count` 64-byte chunks. The instructions keep the working
 * variables as two vectors, ABEF and CDGH; each sha256rnds2 does two rounds and leaves the new
 * ABEF, while the old ABEF becomes the new CDGH, so the two vectors swap roles every two rounds.
 */
__attribute__((target("sha,sse4.1")))
static void compress(uint32_t state[8], const uint8_t *data, size_t count) {
    const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_loadu_si128((const __m128i *) &state[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *) &state[4]);
    __m128i badc = _mm_shuffle_epi32(dcba, 0xb1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xf0);

    for (; count > 0; count--, data += 64) {
        __m128i abef_before = abef;
        __m128i cdgh_before = cdgh;
        __m128i w[4];
        for (int group = 0; group < 16; group++) {
            __m128i words;
            if (group < 4) {
                words = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (data + 16 * group)), byte_swap);
            } else {
                /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time. */
                __m128i sum = _mm_add_epi32(_mm_sha256msg1_epu32(w[group % 4], w[(group + 1) % 4]),
                                            _mm_alignr_epi8(w[(group + 3) % 4], w[(group + 2) % 4], 4));
                words = _mm_sha256msg2_epu32(sum, w[(group + 3) % 4]);
            }
            w[group % 4] = words;
            __m128i scheduled = _mm_add_epi32(words, _mm_loadu_si128((const __m128i *) &ROUND_CONSTANTS[4 * group]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, scheduled);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(scheduled, 0x0e));
        }
        abef = _mm_add_epi32(abef, abef_before);
        cdgh = _mm_add_epi32(cdgh, cdgh_before);
    }

    __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
    _mm_storeu_si128((__m128i *) &state[0], _mm_blend_epi16(feba, dchg, 0xf0));
    _mm_storeu_si128((__m128i *) &state[4], _mm_alignr_epi8(dchg, feba, 8));
}

/* The digest of data[0, length) into out[0, 32). */
static void digest(const uint8_t *data, size_t length, uint8_t out[32]) {
    uint32_t state[8];
    memcpy(state, INITIAL_STATE, sizeof state);
    size_t whole = length / 64;
    compress(state, data, whole);
    uint8_t tail[128] = {0};
    size_t rest = length - whole * 64;
    memcpy(tail, data + whole * 64, rest);
    tail[rest] = 0x80;
    size_t tail_length = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t) length * 8;
    for (int i = 0; i < 8; i++) {
        tail[tail_length - 1 - i] = (uint8_t) (bits >> (8 * i));
    }
    compress(state, tail, tail_length / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t) (state[i] >> 24);
        out[4 * i + 1] = (uint8_t) (state[i] >> 16);
        out[4 * i + 2] = (uint8_t) (state[i] >> 8);
        out[4 * i + 3] = (uint8_t) state[i];
    }
}

/* Digests of the blocks of data[0, length), the last one possibly short, into out (32 bytes each). */
static void digest_blocks(const uint8_t *data, size_t length, size_t block_size, uint8_t *out) {
    for (size_t at = 0; at < length; at += block_size, out += 32) {
        digest(data + at, length - at < block_size ? length - at : block_size, out);
    }
}

/* Whether this CPU has the SHA extensions and the SSSE3/SSE4.1 shuffles the code uses. */
JNIEXPORT jboolean JNICALL
Java_dev_branchboot_integrity_NativeSha256_supported(JNIEnv *env, jclass cls) {
    (void) env;
    (void) cls;
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_SSSE3) || !(ecx & bit_SSE4_1)) {
        return JNI_FALSE;
    }
    if (__get_cpuid_max(0, NULL) < 7) {
        return JNI_FALSE;
    }
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    return (ebx & bit_SHA) ? JNI_TRUE : JNI_FALSE;
}

/*
 * Digests of the blocks of in[offset, offset + length) into out, which the caller sized to
 * 32 bytes per block and bounds-checked; `in` is a byte[].
 */
JNIEXPORT void JNICALL
Java_dev_branchboot_integrity_NativeSha256_digestArray(JNIEnv *env, jclass cls, jbyteArray in, jint offset, jint length,
                                                       jint blockSize, jbyteArray out) {
    (void) cls;
    uint8_t *data = (*env)->GetPrimitiveArrayCritical(env, in, NULL);
    if (data == NULL) {
        return;
    }
    uint8_t *digests = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (digests != NULL) {
        digest_blocks(data + offset, (size_t) length, (size_t) blockSize, digests);
        (*env)->ReleasePrimitiveArrayCritical(env, out, digests, 0);
    }
    (*env)->ReleasePrimitiveArrayCritical(env, in, data, JNI_ABORT);
}

/* As digestArray for a direct buffer; returns false when the buffer has no address. */
JNIEXPORT jboolean JNICALL
Java_dev_branchboot_integrity_NativeSha256_digestDirect(JNIEnv *env, jclass cls, jobject in, jint offset, jint length,
                                                        jint blockSize, jbyteArray out) {
    (void) cls;
    uint8_t *data = (*env)->GetDirectBufferAddress(env, in);
    if (data == NULL) {
        return JNI_FALSE;
    }
    uint8_t *digests = (*env)->GetPrimitiveArrayCritical(env, out, NULL);
    if (digests == NULL) {
        return JNI_FALSE;
    }
    digest_blocks(data + offset, (size_t) length, (size_t) blockSize, digests);
    (*env)->ReleasePrimitiveArrayCritical(env, out, digests, 0);
    return JNI_TRUE;
}
