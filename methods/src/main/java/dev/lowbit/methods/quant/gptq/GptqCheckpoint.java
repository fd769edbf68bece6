package dev.lowbit.methods.quant.gptq;

import dev.lowbit.methods.quant.ResumeFiles;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SafetensorsWriter;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A GPTQ run's state after its last finished block, so that an interrupted run resumes there: every
 * finished block's {@link GptqLayer}s and the hidden states the next block reads (the quantized
 * blocks' outputs). The settings and the calibration tokens are fingerprinted; a checkpoint written
 * with others is refused.
 */
final class GptqCheckpoint {
    private GptqCheckpoint() {}

    static void save(
            Path file, GptqConfig cfg, int[][] calibration, List<Map<Projection, GptqLayer>> done, Tensor[] hidden) {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsWriter w = new SafetensorsWriter()
                    .metadata("config", cfg.toString())
                    .metadata("calibration", ResumeFiles.fingerprint(calibration))
                    .metadata("next_block", Integer.toString(done.size()));
            for (int s = 0; s < hidden.length; s++) w.put("hidden." + s, hidden[s]);
            for (int l = 0; l < done.size(); l++)
                for (Map.Entry<Projection, GptqLayer> e : done.get(l).entrySet()) {
                    String p = prefix(l, e.getKey());
                    GptqLayer q = e.getValue();
                    w.metadata(p + "loss", Double.toString(q.loss()))
                            .put(p + "codes", ints(arena, q.codes(), q.rows(), q.cols()))
                            .put(p + "scales", Tensor.of(arena, q.scales(), q.rows(), q.cols() / q.group()))
                            .put(p + "zeros", Tensor.of(arena, q.zeros(), q.rows(), q.cols() / q.group()))
                            .put(p + "reached", Tensor.of(arena, q.reached(), q.rows(), q.cols()));
                    if (q.order() != null) w.put(p + "order", ints(arena, q.order(), q.cols()));
                }
            w.write(file);
        }
    }

    /**
     * Loads file into done (emptied first) and hidden, and returns the first unfinished block;
     * shapes gives each projection's [rows, cols].
     */
    static int restore(
            Path file,
            GptqConfig cfg,
            int[][] calibration,
            int layers,
            Map<Projection, long[]> shapes,
            List<Map<Projection, GptqLayer>> done,
            Tensor[] hidden) {
        try (Arena mapping = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, mapping);
            Map<String, String> meta = f.metadata();
            if (!cfg.toString().equals(meta.get("config"))
                    || !ResumeFiles.fingerprint(calibration).equals(meta.get("calibration")))
                throw new LowbitException(file + " was written by a GPTQ run with other settings or calibration data ("
                        + meta.get("config") + "); delete it to start over, or use another output folder");
            int next = Integer.parseInt(meta.getOrDefault("next_block", "-1"));
            if (next < 1 || next >= layers)
                throw new LowbitException(file + ": bad next block " + next + "; delete it to start over");
            for (int s = 0; s < hidden.length; s++) ResumeFiles.copy(f, "hidden." + s, hidden[s]);
            done.clear();
            int bits = cfg.spec().bits();
            for (int l = 0; l < next; l++) {
                Map<Projection, GptqLayer> block = new EnumMap<>(Projection.class);
                for (Projection j : Projection.values()) {
                    String p = prefix(l, j);
                    int rows = (int) shapes.get(j)[0], cols = (int) shapes.get(j)[1];
                    int group = cfg.spec().groupSizeFor(cols);
                    block.put(
                            j,
                            new GptqLayer(
                                    rows,
                                    cols,
                                    bits,
                                    group,
                                    ints(f, p + "codes", (long) rows * cols),
                                    floats(f, p + "scales", (long) rows * (cols / group)),
                                    floats(f, p + "zeros", (long) rows * (cols / group)),
                                    cfg.actOrder() ? ints(f, p + "order", cols) : null,
                                    floats(f, p + "reached", (long) rows * cols),
                                    Double.parseDouble(meta.getOrDefault(p + "loss", "NaN"))));
                }
                done.add(block);
            }
            return next;
        } catch (NumberFormatException e) {
            throw new LowbitException(
                    file + ": unreadable block position (" + e.getMessage() + "); delete it to start over");
        }
    }

    private static String prefix(int layer, Projection p) {
        return "layers." + layer + "." + p.hfName() + ".";
    }

    private static Tensor ints(Arena arena, int[] values, long... shape) {
        Tensor t = Tensor.allocate(arena, DType.I32, shape);
        t.segment().copyFrom(MemorySegment.ofArray(values));
        return t;
    }

    private static Tensor entry(SafetensorsFile f, String name, DType dtype, long numel) {
        if (!f.contains(name))
            throw new LowbitException(f.path() + " has no tensor " + name + "; delete it to start over");
        Tensor t = f.tensor(name);
        if (t.dtype() != dtype || t.numel() != numel)
            throw new LowbitException(f.path() + ": " + name + " does not fit this model; delete it to start over");
        return t;
    }

    private static int[] ints(SafetensorsFile f, String name, long numel) {
        return entry(f, name, DType.I32, numel).segment().toArray(ValueLayout.JAVA_INT_UNALIGNED);
    }

    private static float[] floats(SafetensorsFile f, String name, long numel) {
        return entry(f, name, DType.F32, numel).toFloatArray();
    }
}
