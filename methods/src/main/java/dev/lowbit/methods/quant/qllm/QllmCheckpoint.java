package dev.lowbit.methods.quant.qllm;

import dev.lowbit.methods.quant.ResumeFiles;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.QuantizedCheckpoint;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.io.SafetensorsWriter;
import dev.lowbit.runtime.model.Linear;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.model.Projections;
import dev.lowbit.runtime.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A QLLM run's state after its last finished round, so that an interrupted run resumes there:
 * the finished blocks' quantized linears (with their channel maps) and trained norms, both
 * streams of hidden states the next round starts from (the quantized model's and the fp
 * model's), and the per-site channel counts. The settings and the calibration tokens are
 * fingerprinted; a checkpoint written with others is refused.
 */
final class QllmCheckpoint {
    /** Where a restored run goes on: its first unfinished block and the trainable parameters counted so far. */
    record Position(int nextBlock, long trainable) {}

    private QllmCheckpoint() {}

    static void save(
            Path file,
            QllmConfig cfg,
            int[][] calibration,
            Position at,
            LlamaWeights model,
            List<Projections<Linear>> linears,
            Tensor xq,
            Tensor xfp,
            int[][] added) {
        SafetensorsWriter w = new SafetensorsWriter()
                .metadata("config", cfg.toString())
                .metadata("calibration", ResumeFiles.fingerprint(calibration))
                .metadata("next_block", Integer.toString(at.nextBlock()))
                .metadata("trainable", Long.toString(at.trainable()))
                .metadata(
                        "added", Arrays.stream(added).map(QllmCheckpoint::join).collect(Collectors.joining(";")))
                .put("hidden.quantized", xq)
                .put("hidden.fp", xfp);
        for (int l = 0; l < at.nextBlock(); l++) {
            LlamaWeights.Layer p = model.layers().get(l);
            w.put(layer(l) + "attention_norm", p.attentionNorm()).put(layer(l) + "ffn_norm", p.ffnNorm());
            for (Projection j : Projection.values())
                QuantizedCheckpoint.putLinear(
                        w, layer(l) + j.hfName(), linears.get(l).get(j));
        }
        w.write(file);
    }

    /**
     * Loads file into the run's state (model norms, linears, hidden states, channel counts; the
     * linears' tensors into arena) and returns where it goes on.
     */
    static Position restore(
            Path file,
            QllmConfig cfg,
            int[][] calibration,
            Arena arena,
            LlamaWeights model,
            List<Projections<Linear>> linears,
            Tensor xq,
            Tensor xfp,
            int[][] added) {
        try (Arena mapping = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, mapping);
            Map<String, String> meta = f.metadata();
            if (!cfg.toString().equals(meta.get("config"))
                    || !ResumeFiles.fingerprint(calibration).equals(meta.get("calibration")))
                throw new LowbitException(file + " was written by a QLLM run with other settings or calibration data ("
                        + meta.get("config") + "); delete it to start over, or use another output folder");
            Position at = new Position(
                    Integer.parseInt(meta.getOrDefault("next_block", "-1")),
                    Long.parseLong(meta.getOrDefault("trainable", "-1")));
            if (at.nextBlock() < 1 || at.nextBlock() >= linears.size() || at.trainable() < 0)
                throw new LowbitException(file + ": bad position " + at + "; delete it to start over");
            String[] rows = meta.getOrDefault("added", "").split(";");
            if (rows.length != added.length)
                throw new LowbitException(
                        file + ": channel counts for " + rows.length + " blocks, expected " + added.length);
            for (int l = 0; l < added.length; l++)
                added[l] = Arrays.stream(rows[l].split(","))
                        .mapToInt(Integer::parseInt)
                        .toArray();
            ResumeFiles.copy(f, "hidden.quantized", xq);
            ResumeFiles.copy(f, "hidden.fp", xfp);
            for (int l = 0; l < at.nextBlock(); l++) {
                LlamaWeights.Layer p = model.layers().get(l);
                ResumeFiles.copy(f, layer(l) + "attention_norm", p.attentionNorm());
                ResumeFiles.copy(f, layer(l) + "ffn_norm", p.ffnNorm());
                String prefix = layer(l);
                linears.set(
                        l,
                        p.linears()
                                .map((j, w) -> QuantizedCheckpoint.readLinear(
                                        f,
                                        prefix + j.hfName(),
                                        w.dim(1),
                                        cfg.wbits(),
                                        cfg.group(),
                                        cfg.abits(),
                                        file,
                                        arena)));
            }
            return at;
        } catch (NumberFormatException e) {
            throw new LowbitException(
                    file + ": unreadable position or channel counts (" + e.getMessage() + "); delete it to start over");
        }
    }

    private static String layer(int l) {
        return "layers." + l + ".";
    }

    private static String join(int[] values) {
        return Arrays.stream(values).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }
}
