package dev.lowbit.methods.quant.dlqat;

import dev.lowbit.methods.quant.gptq.Gptq;
import dev.lowbit.methods.quant.gptq.GptqConfig;
import dev.lowbit.methods.quant.gptq.GptqLayer;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.model.LlamaWeights;
import dev.lowbit.runtime.model.Projection;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * DL-QAT's start from GPTQ instead of min-max RTN: per linear, GPTQ's scales and zeros as the
 * frozen grid and the weights GPTQ rounded (each column as the error feedback left it) as the
 * weights the LoRA update moves, so that before training the codes are GPTQ's.
 */
public final class GptqStart {
    private GptqStart() {}

    public static Map<String, DlQat.Start> of(
            Arena arena, LlamaWeights fp, int[][] calibration, GptqConfig cfg, PrintStream log) {
        if (cfg.actOrder())
            throw new LowbitException("DL-QAT starts from GPTQ with its columns in order; drop act-order");
        Map<String, DlQat.Start> start = new HashMap<>();
        List<Map<Projection, GptqLayer>> layers = new Gptq(cfg, 16, log).layers(fp, calibration);
        for (int l = 0; l < layers.size(); l++)
            for (var e : layers.get(l).entrySet()) {
                GptqLayer q = e.getValue();
                int groups = q.cols() / q.group();
                start.put(
                        e.getKey().weightName(l),
                        new DlQat.Start(
                                Tensor.of(arena, q.reached(), q.rows(), q.cols()),
                                Tensor.of(arena, q.scales(), q.rows(), groups),
                                Tensor.of(arena, q.zeros(), q.rows(), groups)));
            }
        return start;
    }
}
