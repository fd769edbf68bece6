package dev.lowbit.methods.pretrain;

import dev.lowbit.runtime.LowbitException;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A reader for the subset of R's XDR serialization format (versions 2 and 3) that data packages
 * use: character, integer, double and logical vectors, lists and pairlists with their names,
 * symbols and references. Enough to read the lazy-load databases of r-cran-janeaustenr.
 */
final class RSerialization {
    /** A list (generic vector or pairlist) with its names ("" where unnamed). */
    record RList(List<Object> values, List<String> names) {
        Object get(String name) {
            int i = names.indexOf(name);
            if (i < 0) throw new LowbitException("R list has no element '" + name + "' (has " + names + ")");
            return values.get(i);
        }
    }

    private static final int NILSXP = 0,
            SYMSXP = 1,
            LISTSXP = 2,
            CHARSXP = 9,
            LGLSXP = 10,
            INTSXP = 13,
            REALSXP = 14,
            STRSXP = 16,
            VECSXP = 19,
            REFSXP = 255,
            NILVALUE = 254;

    private final DataInputStream in;
    private final List<Object> refs = new ArrayList<>();

    private RSerialization(InputStream in) {
        this.in = new DataInputStream(in);
    }

    static Object read(byte[] data) {
        try {
            RSerialization r = new RSerialization(new ByteArrayInputStream(data));
            if (r.in.readUnsignedByte() != 'X' || r.in.readUnsignedByte() != '\n')
                throw new LowbitException("not R XDR serialization data");
            int version = r.in.readInt();
            r.in.readInt(); // writer's R version
            r.in.readInt(); // minimal reader version
            if (version == 3) r.in.readNBytes(r.in.readInt()); // native encoding name
            else if (version != 2)
                throw new LowbitException("R serialization version " + version + " is not supported");
            return r.item();
        } catch (IOException e) {
            throw new LowbitException("truncated R serialization data: " + e.getMessage());
        }
    }

    private Object item() throws IOException {
        int flags = in.readInt();
        int type = flags & 0xFF;
        boolean hasAttr = (flags & (1 << 9)) != 0, hasTag = (flags & (1 << 10)) != 0;
        switch (type) {
            case NILVALUE, 242, 241, 253, 252, 251, 247 -> { // nil and the special environments / values
                return null;
            }
            case REFSXP -> {
                int index = flags >>> 8;
                if (index == 0) index = in.readInt();
                return refs.get(index - 1);
            }
            case SYMSXP -> {
                Object name = item(); // its CHARSXP
                refs.add(name);
                return name;
            }
            case LISTSXP -> {
                List<Object> values = new ArrayList<>();
                List<String> names = new ArrayList<>();
                int f = flags;
                while (true) {
                    if ((f & (1 << 9)) != 0) item(); // attributes of the cell
                    names.add((f & (1 << 10)) != 0 ? String.valueOf(item()) : "");
                    values.add(item());
                    f = in.readInt();
                    if ((f & 0xFF) == NILVALUE) break;
                    if ((f & 0xFF) != LISTSXP)
                        throw new LowbitException("malformed pairlist (type " + (f & 0xFF) + ")");
                }
                return new RList(values, names);
            }
            case CHARSXP -> {
                int len = in.readInt();
                return len < 0 ? null : new String(in.readNBytes(len), StandardCharsets.UTF_8);
            }
            case STRSXP, VECSXP, INTSXP, LGLSXP, REALSXP -> {
                int n = in.readInt();
                Object value;
                if (type == STRSXP || type == VECSXP) {
                    List<Object> list = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) list.add(item());
                    value = list;
                } else if (type == REALSXP) {
                    double[] d = new double[n];
                    for (int i = 0; i < n; i++) d[i] = in.readDouble();
                    value = d;
                } else {
                    int[] v = new int[n];
                    for (int i = 0; i < n; i++) v[i] = in.readInt();
                    value = v;
                }
                if (hasAttr) {
                    Object attrs = item();
                    if (type == VECSXP && attrs instanceof RList a && a.names().contains("names")) {
                        List<String> names = new ArrayList<>();
                        for (Object o : (List<?>) a.get("names")) names.add(String.valueOf(o));
                        @SuppressWarnings("unchecked")
                        List<Object> list = (List<Object>) value;
                        return new RList(list, names);
                    }
                }
                return value;
            }
            default ->
                throw new LowbitException("R object type " + type + " is not supported" + (hasTag ? " (tagged)" : ""));
        }
    }
}
