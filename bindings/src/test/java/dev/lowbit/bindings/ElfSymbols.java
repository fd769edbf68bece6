package dev.lowbit.bindings;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/** The function symbols a 64-bit little-endian ELF shared library exports (its .dynsym). */
final class ElfSymbols {
    private static final int SHT_DYNSYM = 11;
    private static final int STT_FUNC = 2;
    private static final int STB_GLOBAL = 1;

    private ElfSymbols() {}

    static Set<String> exportedFunctions(Path library) throws IOException {
        ByteBuffer b;
        try (FileChannel ch = FileChannel.open(library)) {
            b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        }
        if (b.getInt(0) != 0x464C457F || b.get(4) != 2 || b.get(5) != 1)
            throw new IOException(library + " is not a 64-bit little-endian ELF file");
        long shoff = b.getLong(0x28);
        int shentsize = Short.toUnsignedInt(b.getShort(0x3A)), shnum = Short.toUnsignedInt(b.getShort(0x3C));
        Set<String> names = new TreeSet<>();
        for (int i = 0; i < shnum; i++) {
            int sh = (int) (shoff + (long) i * shentsize);
            if (b.getInt(sh + 4) != SHT_DYNSYM) continue;
            long symOff = b.getLong(sh + 0x18), symSize = b.getLong(sh + 0x20), entSize = b.getLong(sh + 0x38);
            int strSection = (int) (shoff + (long) b.getInt(sh + 0x28) * shentsize);
            long strOff = b.getLong(strSection + 0x18);
            for (long s = symOff; s < symOff + symSize; s += entSize) {
                int info = Byte.toUnsignedInt(b.get((int) s + 4));
                int shndx = Short.toUnsignedInt(b.getShort((int) s + 6));
                if ((info & 0xF) != STT_FUNC || (info >> 4) != STB_GLOBAL || shndx == 0) continue;
                names.add(cString(b, (int) (strOff + Integer.toUnsignedLong(b.getInt((int) s)))));
            }
        }
        return names;
    }

    private static String cString(ByteBuffer b, int at) {
        StringBuilder sb = new StringBuilder();
        for (int i = at; b.get(i) != 0; i++) sb.append((char) b.get(i));
        return sb.toString();
    }
}
