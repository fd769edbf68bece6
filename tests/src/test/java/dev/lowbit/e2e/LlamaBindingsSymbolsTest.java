package dev.lowbit.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lowbit.bindings.llama.llama_h;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Every function dev.lowbit.bindings.llama names is exported by the llama.cpp libraries bench/fetch-ggml.sh unpacks. */
class LlamaBindingsSymbolsTest {
    @Test
    void everyBoundFunctionIsExported() throws IOException {
        Path dir = LlamaCppGgufTest.ROOT.resolve("bench/target/peers/ggml");
        assumeTrue(Files.isDirectory(dir), "no llama.cpp libraries in " + dir + " (bench/fetch-ggml.sh needs npm)");
        List<String> missing = new ArrayList<>();
        try (Arena arena = Arena.ofConfined();
                var files = Files.list(dir)) {
            SymbolLookup all = name -> Optional.empty();
            for (Path lib : files.filter(
                            f -> f.getFileName().toString().matches("lib(ggml-base|ggml\\.v.*|llama\\.v.*)\\.so"))
                    .toList()) all = all.or(SymbolLookup.libraryLookup(lib, arena));
            for (Class<?> c : llama_h.class.getDeclaredClasses())
                if (all.find(c.getSimpleName()).isEmpty()) missing.add(c.getSimpleName());
            assertTrue(llama_h.class.getDeclaredClasses().length >= 20, "the bindings' functions were found");
        }
        assertTrue(missing.isEmpty(), "not exported by llama.cpp: " + missing);
    }
}
