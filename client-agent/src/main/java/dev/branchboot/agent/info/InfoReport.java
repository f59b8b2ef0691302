package dev.branchboot.agent.info;

import dev.branchboot.agent.units.ByteSizes;
import dev.branchboot.qcow2.AllocationSummary;
import dev.branchboot.qcow2.ImageInfo;
import dev.branchboot.qcow2.Qcow2Header;
import java.util.LinkedHashMap;
import java.util.Map;

/** Renders {@link ImageInfo} as text for people and as JSON for scripts. */
final class InfoReport {
    private InfoReport() {
    }

    static String toText(ImageInfo info) {
        StringBuilder out = new StringBuilder();
        text(out, info, "");
        return out.toString();
    }

    private static void text(StringBuilder out, ImageInfo info, String indent) {
        line(out, indent, "image", info.name());
        line(out, indent, "file format", info.format());
        line(out, indent, "virtual size", ByteSizes.format(info.virtualSize()) + " (" + info.virtualSize() + " bytes)");
        line(out, indent, "file size", ByteSizes.format(info.fileSize()) + " (" + info.fileSize() + " bytes)");
        Qcow2Header h = info.header();
        if (h != null) {
            line(out, indent, "cluster_size", String.valueOf(h.clusterSize()));
            if (h.backingFileName() != null) {
                line(out, indent, "backing file", h.backingFileName());
                if (h.backingFormat() != null) {
                    line(out, indent, "backing file format", h.backingFormat());
                }
            }
            if (h.snapshotCount() > 0) {
                line(out, indent, "internal snapshots", String.valueOf(h.snapshotCount()));
            }
            out.append(indent).append("Format specific information:\n");
            String inner = indent + "    ";
            line(out, inner, "compat", compat(h));
            line(out, inner, "compression type", h.compressionType().qemuName());
            if (h.version() >= 3) {
                line(out, inner, "lazy refcounts", String.valueOf(h.lazyRefcounts()));
            }
            line(out, inner, "refcount bits", String.valueOf(1 << h.refcountOrder()));
            if (h.version() >= 3) {
                line(out, inner, "corrupt", String.valueOf(h.corrupt()));
                line(out, inner, "extended l2", String.valueOf(h.extendedL2()));
            }
            line(out, inner, "dirty", String.valueOf(h.dirty()));
            AllocationSummary a = info.allocation();
            out.append(indent).append("Allocation (this layer):\n");
            line(out, inner, "data", ByteSizes.format(a.dataBytes()));
            line(out, inner, "compressed", ByteSizes.format(a.compressedBytes()) + " in " + a.compressedClusters()
                    + (a.compressedClusters() == 1 ? " cluster" : " clusters") + ", stored in " + ByteSizes.format(a.compressedStoredBytes()));
            line(out, inner, "zero", ByteSizes.format(a.zeroBytes()));
            line(out, inner, "unallocated", ByteSizes.format(a.unallocatedBytes())
                    + (info.backing() != null ? " (read from the backing file)" : " (reads as zeros)"));
        }
        if (info.backing() != null) {
            out.append(indent).append("Backing image:\n");
            text(out, info.backing(), indent + "    ");
        }
    }

    private static void line(StringBuilder out, String indent, String key, String value) {
        out.append(indent).append(key).append(": ").append(value).append('\n');
    }

    private static String compat(Qcow2Header h) {
        return h.version() == 2 ? "0.10" : "1.1";
    }

    static Map<String, Object> toJson(ImageInfo info) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("virtual-size", info.virtualSize());
        json.put("filename", info.name());
        Qcow2Header h = info.header();
        if (h != null) {
            json.put("cluster-size", h.clusterSize());
        }
        json.put("format", info.format());
        json.put("file-length", info.fileSize());
        if (h != null) {
            json.put("dirty-flag", h.dirty());
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("compat", compat(h));
            data.put("compression-type", h.compressionType().qemuName());
            if (h.version() >= 3) {
                // qemu reports these only for version 3 images, which are the only ones that have them.
                data.put("lazy-refcounts", h.lazyRefcounts());
            }
            data.put("refcount-bits", 1 << h.refcountOrder());
            if (h.version() >= 3) {
                data.put("corrupt", h.corrupt());
                data.put("extended-l2", h.extendedL2());
            }
            Map<String, Object> specific = new LinkedHashMap<>();
            specific.put("type", "qcow2");
            specific.put("data", data);
            json.put("format-specific", specific);
            if (h.backingFileName() != null) {
                json.put("backing-filename", h.backingFileName());
                json.put("full-backing-filename", info.backing() != null ? info.backing().name() : h.backingFileName());
                if (h.backingFormat() != null) {
                    json.put("backing-filename-format", h.backingFormat());
                }
            }
            json.put("snapshot-count", h.snapshotCount());
            AllocationSummary a = info.allocation();
            Map<String, Object> allocation = new LinkedHashMap<>();
            allocation.put("data-bytes", a.dataBytes());
            allocation.put("compressed-bytes", a.compressedBytes());
            allocation.put("compressed-clusters", a.compressedClusters());
            allocation.put("compressed-stored-bytes", a.compressedStoredBytes());
            allocation.put("zero-bytes", a.zeroBytes());
            allocation.put("unallocated-bytes", a.unallocatedBytes());
            json.put("allocation", allocation);
        }
        if (info.backing() != null) {
            json.put("backing-image", toJson(info.backing()));
        }
        return json;
    }
}
