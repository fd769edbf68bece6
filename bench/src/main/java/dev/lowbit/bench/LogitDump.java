package dev.lowbit.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Step 4 of scripts/gpu-check.sh: a model's logits on the first tokens of a text from lowbit on the CPU and
 * on GPU 0, written as little-endian files beside the token ids (tokens.i32, lowbit_cpu.f32, lowbit_gpu.f32,
 * [tokens, vocab] row-major) for scripts/gpu_logits.py to set against Hugging Face's LlamaForCausalLM on the
 * same folder. Prints the CPU-GPU differences as one JSON object.
 * Arguments: MODEL_FOLDER TEXT_FILE TOKENS OUT_FOLDER.
 */
final class LogitDump {
    private LogitDump() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 4) throw new LowbitException("usage: LogitDump MODEL_FOLDER TEXT_FILE TOKENS OUT_FOLDER");
        Path out = Files.createDirectories(Path.of(args[3]));
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.Loaded loaded = ModelFiles.open(args[0], arena);
            BpeTokenizer tokenizer =
                    loaded.tokenizer().orElseThrow(() -> new LowbitException(args[0] + " has no tokenizer.json"));
            int[] all = tokenizer.encode(Files.readString(Path.of(args[1])));
            int[] tokens = Arrays.copyOf(all, Math.min(all.length, Integer.parseInt(args[2])));
            LlamaModel cpu = loaded.model();
            float[] onCpu = cpu.forward(arena, tokens, cpu.newCache(arena)).toFloatArray();
            ObjectMapper json = new ObjectMapper();
            ObjectNode result = json.createObjectNode()
                    .put("model", args[0])
                    .put("tokens", tokens.length)
                    .put("vocab", onCpu.length / tokens.length);
            write(out.resolve("tokens.i32"), tokens);
            write(out.resolve("lowbit_cpu.f32"), onCpu);
            if (!Cuda.available()) {
                result.put("gpu_skipped", "no usable GPU: " + Cuda.unavailableReason());
            } else {
                LlamaModel gpu = cpu.to(arena, Device.cuda(0));
                float[] onGpu = gpu.forward(arena, tokens, gpu.newCache(arena))
                        .to(arena, Device.CPU)
                        .toFloatArray();
                write(out.resolve("lowbit_gpu.f32"), onGpu);
                compare(result, onCpu, onGpu, onCpu.length / tokens.length);
            }
            System.out.println(json.writeValueAsString(result));
        }
    }

    /** Largest absolute difference, the same over the largest |cpu|, and how often the top-1 tokens agree. */
    static void compare(ObjectNode result, float[] cpu, float[] gpu, int vocab) {
        double worst = 0, scale = 0;
        int agree = 0, rows = cpu.length / vocab;
        for (int i = 0; i < cpu.length; i++) {
            worst = Math.max(worst, Math.abs((double) cpu[i] - gpu[i]));
            scale = Math.max(scale, Math.abs(cpu[i]));
        }
        for (int r = 0; r < rows; r++) if (argmax(cpu, r * vocab, vocab) == argmax(gpu, r * vocab, vocab)) agree++;
        result.put("gpu_vs_cpu_max_abs", worst)
                .put("gpu_vs_cpu_max_rel", worst / Math.max(scale, 1e-30))
                .put("gpu_vs_cpu_top1_agreement", (double) agree / rows);
    }

    private static int argmax(float[] v, int from, int len) {
        int best = from;
        for (int i = from + 1; i < from + len; i++) if (v[i] > v[best]) best = i;
        return best - from;
    }

    private static void write(Path file, int[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        Files.write(file, b.array());
    }

    private static void write(Path file, float[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        Files.write(file, b.array());
    }
}
