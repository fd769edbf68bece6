package dev.lowbit.methods.quant.awq;

import dev.lowbit.methods.quant.ResumeFiles;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SafetensorsWriter;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

/**
 * An AWQ run's state after its last finished block, so that an interrupted run resumes there: the
 * finished blocks' scaled (and clipped) fp32 weights and norms, and the hidden states the next block
 * reads. The settings and the calibration tokens are fingerprinted; a checkpoint written with others
 * is refused.
 */
final class AwqCheckpoint {
    private AwqCheckpoint() {}

    static void save(
            Path file, AwqConfig cfg, int[][] calibration, LlamaWeights model, int nextBlock, Tensor[] hidden) {
        SafetensorsWriter w = new SafetensorsWriter()
                .metadata("config", cfg.toString())
                .metadata("calibration", ResumeFiles.fingerprint(calibration))
                .metadata("next_block", Integer.toString(nextBlock));
        for (int s = 0; s < hidden.length; s++) w.put("hidden." + s, hidden[s]);
        for (int l = 0; l < nextBlock; l++) {
            LlamaWeights.Layer p = model.layers().get(l);
            w.put(layer(l) + "attention_norm", p.attentionNorm()).put(layer(l) + "ffn_norm", p.ffnNorm());
            for (Projection j : Projection.values())
                w.put(layer(l) + j.hfName(), p.linears().get(j));
        }
        w.write(file);
    }

    /** Loads file into model's finished blocks and hidden, and returns the first unfinished block. */
    static int restore(Path file, AwqConfig cfg, int[][] calibration, LlamaWeights model, Tensor[] hidden) {
        try (Arena mapping = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, mapping);
            Map<String, String> meta = f.metadata();
            if (!cfg.toString().equals(meta.get("config"))
                    || !ResumeFiles.fingerprint(calibration).equals(meta.get("calibration")))
                throw new LowbitException(file + " was written by an AWQ run with other settings or calibration data ("
                        + meta.get("config") + "); delete it to start over, or use another output folder");
            int next = Integer.parseInt(meta.getOrDefault("next_block", "-1"));
            if (next < 1 || next >= model.layers().size())
                throw new LowbitException(file + ": bad next block " + next + "; delete it to start over");
            for (int s = 0; s < hidden.length; s++) ResumeFiles.copy(f, "hidden." + s, hidden[s]);
            for (int l = 0; l < next; l++) {
                LlamaWeights.Layer p = model.layers().get(l);
                ResumeFiles.copy(f, layer(l) + "attention_norm", p.attentionNorm());
                ResumeFiles.copy(f, layer(l) + "ffn_norm", p.ffnNorm());
                for (Projection j : Projection.values())
                    ResumeFiles.copy(f, layer(l) + j.hfName(), p.linears().get(j));
            }
            return next;
        } catch (NumberFormatException e) {
            throw new LowbitException(
                    file + ": unreadable block position (" + e.getMessage() + "); delete it to start over");
        }
    }

    private static String layer(int l) {
        return "layers." + l + ".";
    }
}
