package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Exports a 4-bit lowbit model in the GPTQ checkpoint format the Python stack loads (AutoGPTQ's
 * "gptq" v1 layout, desc_act false): per linear {@code qweight} int32 [in / 8, out] (eight codes
 * per word along the input dimension), {@code qzeros} int32 [groups, out / 8] holding zero - 1,
 * {@code scales} fp16 [groups, out], {@code g_idx} int32 [in]; q_proj and k_proj rows go back to
 * Hugging Face's rotate-half order. Scales are rounded to fp16, so the exported weights match
 * lowbit's to within that rounding. A zero point of 0 cannot be stored in this format (zero - 1
 * wraps) and is refused. A layer whose input is gathered into another column order first (GPTQ's
 * act-order: a {@link Linear.Reassembled} whose map only permutes) is written in the input's own
 * order with {@code g_idx} naming each input's group, and {@code desc_act} true.
 */
public final class GptqExport {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    private GptqExport() {}

    public static void save(LlamaModel model, Path dir) {
        LlamaConfig c = model.config();
        QuantizedTensor first = Linear.quantizedWeight(model.linear(0, Projection.Q));
        if (first.bits() != 4)
            throw new LowbitException("the GPTQ export is for 4-bit models, this one is " + first.bits() + "-bit");
        int group = first.groupSize();
        boolean descAct = false;
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters fp = LlamaParameters.copyOf(arena, model.weights());
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            for (LlamaParameters.Slot slot : fp.slots()) {
                Projection linear = Projection.ofWeightName(slot.name());
                if (linear == null) {
                    writer.put(slot.name(), fp.get(slot.name()));
                    continue;
                }
                int layer = Integer.parseInt(slot.name().split("\\.")[2]);
                Linear l = model.linear(layer, linear);
                QuantizedTensor q = Linear.quantizedWeight(l);
                int[] position = positions(l, slot.name());
                descAct |= position != null;
                if (q.bits() != 4 || q.groupSize() != group)
                    throw new LowbitException(
                            "all block linears must be 4-bit with group " + group + " for the GPTQ export");
                int heads = linear == Projection.Q ? c.heads() : linear == Projection.K ? c.kvHeads() : 0;
                String base = slot.name().substring(0, slot.name().length() - ".weight".length());
                pack(arena, q, position, heads, c.headDim(), base, writer);
            }
            writer.write(dir.resolve("model.safetensors"));
        }
        ObjectNode qc = new ObjectMapper()
                .createObjectNode()
                .put("quant_method", "gptq")
                .put("bits", 4)
                .put("group_size", group)
                .put("desc_act", descAct)
                .put("sym", false)
                .put("checkpoint_format", "gptq");
        HfCheckpoint.writeConfig(c, dir, cfg -> cfg.set("quantization_config", qc.deepCopy()));
        try {
            byte[] json = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(qc);
            AtomicFiles.write(dir.resolve("quantize_config.json"), ch -> ch.write(ByteBuffer.wrap(json)));
        } catch (IOException e) {
            throw new CheckpointException("cannot serialise quantize_config.json", e);
        }
    }

    /** Hugging Face row r of a q/k projection is lowbit's interleaved row; other weights keep their rows. */
    static long lowbitRow(long hfRow, int heads, int headDim) {
        if (heads == 0) return hfRow;
        long h = hfRow / headDim, i = hfRow % headDim, half = headDim / 2;
        return h * headDim + (i < half ? 2 * i : 2 * (i - half) + 1);
    }

    /**
     * For a layer behind a pure permutation (input j of the codes is input order[j]), the code
     * column of each input (the inverse permutation); null for a plain layer. Other channel maps
     * (QLLM's reassembly) have no GPTQ form.
     */
    static int[] positions(Linear l, String name) {
        if (!(l instanceof Linear.Reassembled r)) return null;
        ChannelMap m = r.map();
        int k = m.inChannels();
        int[] ia = m.ia().segment().asSlice(0, 4L * m.outChannels()).toArray(I32);
        float[] sa = m.sa().toFloatArray(), sb = m.sb().toFloatArray();
        int[] position = new int[k];
        Arrays.fill(position, -1);
        boolean permutation = m.outChannels() == k;
        for (int j = 0; permutation && j < ia.length; j++) {
            permutation = sa[j] == 1f && sb[j] == 0f && position[ia[j]] < 0;
            position[ia[j]] = j;
        }
        if (!permutation)
            throw new LowbitException(name + " has a channel reassembly (QLLM), which the GPTQ format cannot hold");
        return position;
    }

    private static void pack(
            Arena arena,
            QuantizedTensor q,
            int[] position,
            int heads,
            int headDim,
            String base,
            SafetensorsWriter writer) {
        long n = q.rows(), k = q.cols();
        int g = q.groupSize();
        long groups = k / g;
        if (k % 8 != 0 || n % 8 != 0)
            throw new LowbitException(base + ": GPTQ needs both dimensions divisible by 8, got [" + n + ", " + k + "]");
        Tensor qweight = Tensor.allocate(arena, DType.I32, k / 8, n),
                qzeros = Tensor.allocate(arena, DType.I32, groups, n / 8);
        Tensor scales = Tensor.allocate(arena, DType.F16, groups, n), gIdx = Tensor.allocate(arena, DType.I32, k);
        MemorySegment qw = qweight.segment(), qz = qzeros.segment(), gi = gIdx.segment();
        for (long col = 0; col < n; col++) {
            long row = lowbitRow(col, heads, headDim);
            for (long i = 0; i < k / 8; i++) {
                int word = 0;
                for (int t = 0; t < 8; t++) {
                    long in = 8 * i + t;
                    word |= q.code(row, position != null ? position[(int) in] : in) << (4 * t);
                }
                qw.setAtIndex(I32, i * n + col, word);
            }
            for (long gr = 0; gr < groups; gr++) {
                int zero = (int) q.zeros().getFloat(row, gr);
                if (zero == 0)
                    throw new LowbitException(
                            base
                                    + ": zero point 0 (a group without negative weights) cannot be stored in GPTQ's zero - 1 form");
                scales.setFloat(q.scales().getFloat(row, gr), gr, col);
                long at = gr * (n / 8) + col / 8;
                qz.setAtIndex(I32, at, qz.getAtIndex(I32, at) | ((zero - 1) & 0xF) << (4 * (col % 8)));
            }
        }
        for (long j = 0; j < k; j++) gi.setAtIndex(I32, j, (int) ((position != null ? position[(int) j] : j) / g));
        writer.put(base + ".qweight", qweight)
                .put(base + ".qzeros", qzeros)
                .put(base + ".scales", scales)
                .put(base + ".g_idx", gIdx);
    }
}
