package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * lowbit's own quantized checkpoint: the Hugging Face folder layout with each block linear stored
 * as {@code <name>.qweight} (I32 [out, words], lowbit.h's packed codes), {@code .scales} and
 * {@code .zeros} ([out, in / group]), everything else fp32, and a quantization_config in
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
     * activation bits: quantization_config.activation_bits, 16 when activations stay fp32).
     */
    public static void save(LlamaModel model, Path dir, Map<String, String> metadata) {
        LlamaConfig c = model.config();
        QuantizedTensor first = Linear.quantizedWeight(model.linear(0, Projection.Q));
        try (Arena arena = Arena.ofConfined()) {
            LlamaParameters fp = LlamaParameters.copyOf(arena, model.weights());
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "lowbit");
            new TreeMap<>(metadata)
                    .forEach(writer::metadata); // sorted: the same bytes on every run (Map.of has no order)
            for (LlamaParameters.Slot slot : fp.slots()) {
                Projection linear = Projection.ofWeightName(slot.name());
                if (linear == null) {
                    writer.put(slot.name(), fp.get(slot.name()));
                    continue;
                }
                int layer = Integer.parseInt(slot.name().split("\\.")[2]);
                QuantizedTensor q = Linear.quantizedWeight(model.linear(layer, linear));
                if (q.bits() != first.bits() || q.groupSize() != first.groupSize() && q.groupSize() != q.cols())
                    throw new LowbitException("all block linears must share bits and group size to be saved together");
                putLinear(
                        writer,
                        slot.name().substring(0, slot.name().length() - ".weight".length()),
                        model.linear(layer, linear));
            }
            writer.write(dir.resolve("model.safetensors"));
        }
        // -1 (per-channel) only when every linear is: a group as wide as q_proj's input is not per-channel for
        // down_proj
        boolean perChannel = true;
        for (int l = 0; l < c.layers(); l++)
            for (Linear linear : model.linears(l).toList()) {
                QuantizedTensor q = Linear.quantizedWeight(linear);
                perChannel &= q.groupSize() == q.cols();
            }
        boolean allPerChannel = perChannel;
        HfCheckpoint.writeConfig(
                c,
                dir,
                cfg -> cfg.putObject("quantization_config")
                        .put("quant_method", "lowbit")
                        .put("bits", first.bits())
                        .put("group_size", allPerChannel ? -1 : first.groupSize())
                        .put("scale_dtype", first.scales().dtype().name())
                        .put("activation_bits", Linear.activationBits(model.linear(0, Projection.Q)))
                        .put("qkv_bits", model.qkvBits()));
    }

    /** Loads a lowbit quantized folder; tensors are copied out of the mapping into arena. */
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
        int qkvBits = f.oneOf(qc, "qkv_bits", 16, 4, 6, 8, 16);
        Path file = dir.resolve("model.safetensors");
        f.fitsWeights(c, List.of(file), bits / 8.0 / 2); // the codes alone, with room for embeddings kept small
        LlamaParameters fp = LlamaParameters.zeros(arena, c);
        try (Arena mapping = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.open(file, mapping);
            for (LlamaParameters.Slot slot : fp.slots())
                if (Projection.ofWeightName(slot.name()) == null && !st.copyInto(slot.name(), fp.get(slot.name())))
                    throw new CheckpointException(file + ": tensor '" + slot.name() + "' must be F32 with "
                            + fp.get(slot.name()).numel() + " values");
            Map<String, Linear> linears = new HashMap<>();
            for (LlamaParameters.Slot slot : fp.slots()) {
                if (Projection.ofWeightName(slot.name()) == null) continue;
                String base = slot.name().substring(0, slot.name().length() - ".weight".length());
                linears.put(slot.name(), readLinear(st, base, slot.shape()[1], bits, group, abits, file, arena));
            }
            return new LlamaModel(fp.weights(), (layer, p, w) -> linears.get(p.weightName(layer)), qkvBits);
        }
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
        if (linear instanceof Linear.Reassembled r)
            writer.put(base + ".reassembly.ia", r.map().ia())
                    .put(base + ".reassembly.ib", r.map().ib())
                    .put(base + ".reassembly.sa", r.map().sa())
                    .put(base + ".reassembly.sb", r.map().sb());
    }

    /**
     * Reads the linear putLinear stored under base, with inChannels input features before any
     * reassembly, as a weight-only (abits 16) or activation-quantized layer; copied into arena.
     */
    public static Linear readLinear(
            SafetensorsFile st, String base, long inChannels, int bits, int group, int abits, Path file, Arena arena) {
        Tensor codes = own(arena, st.tensor(base + ".qweight")), scales = own(arena, st.tensor(base + ".scales"));
        Tensor zeros = own(arena, st.tensor(base + ".zeros"));
        FiniteValues.check(file, base + ".scales", scales);
        FiniteValues.check(file, base + ".zeros", zeros);
        ChannelMap map = st.contains(base + ".reassembly.ia") ? reassembly(st, base, inChannels, file, arena) : null;
        long k = map != null ? map.outChannels() : inChannels;
        QuantizedTensor q = QuantizedTensor.of(arena, codes, scales, zeros, k, bits, group < 0 ? (int) k : group);
        Linear l = abits == 16 ? new Linear.Quantized(q) : new Linear.ActQuantized(q, abits);
        return map != null ? new Linear.Reassembled(map, l) : l;
    }

    /** A linear's stored QLLM channel map (checked like any map built in memory). */
    private static ChannelMap reassembly(SafetensorsFile st, String base, long inChannels, Path file, Arena arena) {
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

    private static Tensor own(Arena arena, Tensor t) {
        Tensor out = Tensor.allocate(arena, t.dtype(), t.shape());
        out.copyFrom(t);
        return out;
    }
}
