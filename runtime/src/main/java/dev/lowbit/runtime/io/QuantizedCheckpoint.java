package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.ChannelMap;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaConfig;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import dev.lowbit.runtime.train.LlamaParameters;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * lowbit's own quantized checkpoint: the Hugging Face folder layout with each block linear stored
 * as {@code <name>.qweight} (I32 [out, words], lowbit.h's packed codes), {@code .scales} and
 * {@code .zeros} ([out, in / group]), everything else in its own dtype, and a quantization_config in
 * config.json ({"quant_method": "lowbit", "bits", "group_size"}). Block linears keep lowbit's
 * interleaved rotary row order for q_proj and k_proj (the fp32 tensors are stored as Hugging Face
 * orders them). Loading runs the model through the fused dequant-GEMM kernels.
 */
public final class QuantizedCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();

    private QuantizedCheckpoint() {}

    /** Whether dir holds a lowbit quantized model. */
    public static boolean isQuantized(Path dir) {
        try {
            return "lowbit"
                    .equals(JSON.readTree(dir.resolve("config.json").toFile())
                            .path("quantization_config")
                            .path("quant_method")
                            .asText());
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Writes a model whose block linears are all quantized with the same bits and group size (and
     * activation bits: quantization_config.activation_bits, 16 when activations stay fp32). The
     * embedding, norms and head are written in the dtype they have (a bf16 checkpoint's stay bf16).
     */
    public static void save(LlamaModel model, Path dir, Map<String, String> metadata) {
        LlamaConfig c = model.config();
        QuantizedTensor first = Linear.quantizedWeight(model.linear(0, Projection.Q));
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "lowbit");
        new TreeMap<>(metadata).forEach(writer::metadata); // sorted: the same bytes on every run (Map.of has no order)
        boolean quantizedHead = !(model.head() instanceof Linear.Dense);
        if (quantizedHead) putLinear(writer, "lm_head", model.head());
        model.weights().named().forEach((name, t) -> {
            Projection linear = Projection.ofWeightName(name);
            if (linear == null) {
                if (t != null && !(quantizedHead && name.equals("lm_head.weight"))) writer.put(name, t);
                return;
            }
            int layer = Integer.parseInt(name.split("\\.")[2]);
            QuantizedTensor q = Linear.quantizedWeight(model.linear(layer, linear));
            if (q.bits() != first.bits() || q.groupSize() != first.groupSize() && q.groupSize() != q.cols())
                throw new LowbitException("all block linears must share bits and group size to be saved together");
            putLinear(writer, name.substring(0, name.length() - ".weight".length()), model.linear(layer, linear));
        });
        writer.write(dir.resolve("model.safetensors"));
        // -1 (per-channel) only when every linear is: a group as wide as q_proj's input is not per-channel for
        // down_proj
        boolean perChannel = true;
        for (int l = 0; l < c.layers(); l++)
            for (Linear linear : model.linears(l).toList()) {
                QuantizedTensor q = Linear.quantizedWeight(linear);
                perChannel &= q.groupSize() == q.cols();
            }
        writeConfig(
                c,
                dir,
                first.bits(),
                perChannel ? -1 : first.groupSize(),
                first.scales().dtype(),
                Linear.activationBits(model.linear(0, Projection.Q)),
                model.qkvBits(),
                quantizedHead ? Linear.quantizedWeight(model.head()).bits() : 16);
    }

    /** config.json of a quantized model: the model's fields plus its quantization_config. */
    public static void writeConfig(
            LlamaConfig c,
            Path dir,
            int bits,
            int group,
            DType scaleType,
            int activationBits,
            int qkvBits,
            int headBits) {
        HfCheckpoint.writeConfig(
                c,
                dir,
                cfg -> cfg.putObject("quantization_config")
                        .put("quant_method", "lowbit")
                        .put("bits", bits)
                        .put("group_size", group)
                        .put("scale_dtype", scaleType.name())
                        .put("activation_bits", activationBits)
                        .put("qkv_bits", qkvBits)
                        .put("head_bits", headBits));
    }

    /**
     * Loads a lowbit quantized folder (model.safetensors, or shards listed in
     * model.safetensors.index.json) without copying: codes, scales, zeros, the embedding and the
     * head are views of the memory-mapped files, alive as long as arena (a tensor the file holds
     * misaligned for its dtype is copied); only the norms are widened to fp32 when stored in half
     * precision. Loading costs mapping the files and checking them.
     */
    public static LlamaModel load(Path dir, Arena arena) {
        LlamaConfig c = HfCheckpoint.readConfig(dir);
        JsonNode qc;
        try {
            qc = JSON.readTree(dir.resolve("config.json").toFile()).path("quantization_config");
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot read config.json (" + e.getMessage() + ")", e);
        }
        ConfigFields f = new ConfigFields(dir.resolve("config.json"), "quantization_config.");
        int bits = f.oneOf(qc, "bits", -1, 2, 3, 4, 6, 8),
                group = f.oneOf(qc, "group_size", 0, -1, 32, 64, 128, 256),
                abits = f.oneOf(qc, "activation_bits", 16, 4, 6, 8, 16);
        int qkvBits = f.oneOf(qc, "qkv_bits", 16, 4, 6, 8, 16), headBits = f.oneOf(qc, "head_bits", 16, 4, 8, 16);
        Map<String, Path> files = HfCheckpoint.weightFiles(dir);
        f.fitsWeights(c, Set.copyOf(files.values()), bits / 8.0 / 2); // the codes alone, room for small embeddings
        Map<Path, SafetensorsFile> open = new HashMap<>();
        TensorLookup all = new TensorLookup() { // across shards: a linear's tensors may lie in different files
                    @Override
                    public Tensor tensor(String name) {
                        Path file = files.get(name);
                        if (file == null)
                            throw new CheckpointException(dir + ": the checkpoint has no tensor '" + name + "'");
                        return open.computeIfAbsent(file, f -> SafetensorsFile.open(f, arena))
                                .tensor(name);
                    }

                    @Override
                    public boolean contains(String name) {
                        return files.containsKey(name);
                    }
                };
        Map<String, Tensor> fp = new LinkedHashMap<>(); // block linears: none, their codes replace them
        Map<String, Linear> linears = new HashMap<>();
        for (LlamaParameters.Slot slot : LlamaParameters.layout(c)) {
            String name = slot.name();
            if (Projection.ofWeightName(name) != null) {
                String base = name.substring(0, name.length() - ".weight".length());
                Path file = files.getOrDefault(base + ".qweight", dir);
                linears.put(name, readLinear(all, base, slot.shape()[1], bits, group, abits, file, arena));
                continue;
            }
            if (headBits != 16 && name.equals("lm_head.weight")) continue; // quantized: read below
            Tensor t = all.tensor(name);
            HfCheckpoint.checkStored(files.get(name), slot, t);
            fp.put(name, slot.shape().length == 1 ? Kernels.widened(arena, t) : aligned(arena, t));
        }
        Linear head = headBits == 16
                ? null
                : readLinear(
                        all,
                        "lm_head",
                        c.dim(),
                        headBits,
                        group,
                        16,
                        files.getOrDefault("lm_head.qweight", dir),
                        arena);
        return new LlamaModel(
                LlamaWeights.ofNamed(c, fp), (layer, p, w) -> linears.get(p.weightName(layer)), qkvBits, head);
    }

    /**
     * Stores one quantized linear under base: {@code base.qweight / .scales / .zeros}, and its QLLM
     * channel map ({@code base.reassembly.ia / ib / sa / sb}) when it has one.
     */
    public static void putLinear(SafetensorsWriter writer, String base, Linear linear) {
        QuantizedTensor q = Linear.quantizedWeight(linear);
        writer.put(base + ".qweight", q.codes())
                .put(base + ".scales", q.scales())
                .put(base + ".zeros", q.zeros());
        if (inner(linear) instanceof Linear.ActQuantized a && a.codeSums() != null)
            writer.put(base + ".code_sums", a.codeSums()); // the integer kernel's, so loading need not read every code
        if (linear instanceof Linear.Reassembled r)
            writer.put(base + ".reassembly.ia", r.map().ia())
                    .put(base + ".reassembly.ib", r.map().ib())
                    .put(base + ".reassembly.sa", r.map().sa())
                    .put(base + ".reassembly.sb", r.map().sb());
    }

    /**
     * Reads the linear putLinear stored under base, with inChannels input features before any
     * reassembly, as a weight-only (abits 16) or activation-quantized layer, used in place where st is
     * mapped in arena, else copied into it.
     */
    public static Linear readLinear(
            TensorLookup st, String base, long inChannels, int bits, int group, int abits, Path file, Arena arena) {
        Tensor codes = aligned(arena, st.tensor(base + ".qweight"));
        Tensor scales = aligned(arena, st.tensor(base + ".scales")), zeros = aligned(arena, st.tensor(base + ".zeros"));
        FiniteValues.check(file, base + ".scales", scales);
        FiniteValues.check(file, base + ".zeros", zeros);
        ChannelMap map = st.contains(base + ".reassembly.ia") ? reassembly(st, base, inChannels, file, arena) : null;
        long k = map != null ? map.outChannels() : inChannels;
        QuantizedTensor q = QuantizedTensor.of(arena, codes, scales, zeros, k, bits, group < 0 ? (int) k : group);
        Linear l = abits == 16
                ? new Linear.Quantized(q)
                : st.contains(base + ".code_sums") && Linear.ActQuantized.integerKernel(bits, abits)
                        ? new Linear.ActQuantized(q, abits, codeSums(st, base, q, file, arena))
                        : new Linear.ActQuantized(q, abits);
        return map != null ? new Linear.Reassembled(map, l) : l;
    }

    /** The integer kernel's stored code sums of q: I32 [rows, groups]. */
    private static Tensor codeSums(TensorLookup st, String base, QuantizedTensor q, Path file, Arena arena) {
        Tensor sums = aligned(arena, st.tensor(base + ".code_sums"));
        if (sums.dtype() != DType.I32 || !Arrays.equals(sums.shape(), new long[] {q.rows(), q.cols() / q.groupSize()}))
            throw new CheckpointException(file + ": " + base + ".code_sums must be I32 [" + q.rows() + ", "
                    + q.cols() / q.groupSize() + "], got " + sums);
        return sums;
    }

    private static Linear inner(Linear l) {
        return l instanceof Linear.Reassembled r ? r.inner() : l;
    }

    /** A linear's stored QLLM channel map (checked like any map built in memory). */
    private static ChannelMap reassembly(TensorLookup st, String base, long inChannels, Path file, Arena arena) {
        Tensor ia = st.tensor(base + ".reassembly.ia"), ib = st.tensor(base + ".reassembly.ib");
        Tensor sa = st.tensor(base + ".reassembly.sa"), sb = st.tensor(base + ".reassembly.sb");
        if (ia.dtype() != DType.I32 || ib.dtype() != DType.I32 || sa.dtype() != DType.F32 || sb.dtype() != DType.F32)
            throw new CheckpointException(
                    file + ": the reassembly map of " + base + " must be I32 indices and F32 factors");
        try {
            return ChannelMap.of(arena, ints(ia), ints(ib), sa.toFloatArray(), sb.toFloatArray(), (int) inChannels);
        } catch (LowbitException e) {
            throw new CheckpointException(
                    file + ": the reassembly map of " + base + " is invalid: " + e.getMessage(), e);
        }
    }

    private static int[] ints(Tensor t) {
        return t.segment().asSlice(0, t.numel() * 4).toArray(ValueLayout.JAVA_INT);
    }

    /**
     * t itself when it lives in arena (mapped there) and its address suits its dtype (as files lowbit
     * writes lay them out), else a copy in arena.
     */
    private static Tensor aligned(Arena arena, Tensor t) {
        int width = t.dtype().isPacked() ? 1 : t.dtype().byteSize();
        if (t.segment().scope().equals(arena.scope()) && t.segment().address() % width == 0) return t;
        Tensor out = Tensor.allocate(arena, t.dtype(), t.shape());
        out.copyFrom(t);
        return out;
    }
}
