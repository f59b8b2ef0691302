package dev.branchboot.qcow2;

/**
 * What {@code info} reports about one layer of an image chain.
 *
 * @param name            the image's path or URL
 * @param format          "qcow2" or "raw"
 * @param virtualSize     the virtual size in bytes
 * @param fileSize        the length of the image file in bytes
 * @param header          the QCOW2 header, {@code null} for raw images
 * @param allocation      how this layer stores its bytes, {@code null} for raw images
 * @param backing         the backing layer, {@code null} when there is none
 */
public record ImageInfo(String name, String format, long virtualSize, long fileSize, Qcow2Header header,
                        AllocationSummary allocation, ImageInfo backing) {
}
