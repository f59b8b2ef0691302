/*
 * JNI entry points of dev.branchboot.qcow2.LibdeflateDecompressor: raw DEFLATE decoding of one
 * compressed cluster with libdeflate, which decodes a whole cluster several times faster than
 * zlib's inflate. Linked statically with libdeflate, so the library needs nothing but libc.
 */
#include <jni.h>
#include <stdint.h>
#include <libdeflate.h>

JNIEXPORT jlong JNICALL
Java_dev_branchboot_qcow2_LibdeflateDecompressor_newDecompressor(JNIEnv *env, jclass cls) {
    (void) env;
    (void) cls;
    return (jlong) (intptr_t) libdeflate_alloc_decompressor();
}

/*
 * Decodes the stream at in[inPos, inPos + inLen) into out[outPos, outPos + outLen). Both buffers
 * are direct. Returns the bytes produced, or a negative libdeflate_result (-1 bad data, -2 short
 * output, -3 output does not fit), or -100 when a buffer has no address.
 */
JNIEXPORT jint JNICALL
Java_dev_branchboot_qcow2_LibdeflateDecompressor_decode(JNIEnv *env, jclass cls, jlong handle, jobject in, jint inPos,
                                                         jint inLen, jobject out, jint outPos, jint outLen) {
    (void) cls;
    unsigned char *src = (*env)->GetDirectBufferAddress(env, in);
    unsigned char *dst = (*env)->GetDirectBufferAddress(env, out);
    if (src == NULL || dst == NULL) {
        return -100;
    }
    size_t produced = 0;
    enum libdeflate_result r = libdeflate_deflate_decompress((struct libdeflate_decompressor *) (intptr_t) handle,
                                                             src + inPos, (size_t) inLen, dst + outPos,
                                                             (size_t) outLen, &produced);
    if (r != LIBDEFLATE_SUCCESS) {
        return -(jint) r;
    }
    return (jint) produced;
}
