package dev.lowbit.methods.quant.qllm;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.tensor.QuantSpec;

/**
 * QLLM's settings. Weights: wbits, per-channel (group -1) or group-wise, asymmetric min-max.
 * Activations: abits per token, dynamic, asymmetric (16 keeps them fp32), and with quantizeQkv the
 * attention's queries, keys and values per token and head too. reassembly: channel disassembly
 * and assembly at the three sites with the per-layer threshold search over searchTokens
 * calibration tokens. errorCorrection: LoRA of rank r (B A scaled by loraScale = alpha / r) on all
 * seven linears, trained on blocksPerRound consecutive blocks at a time for steps AdamW steps of
 * batch sequences with linearly decaying lr, against the full-precision blocks' outputs (MSE), then
 * merged; with trainNorms the blocks' RMSNorm weights train too. Calibration: samples sequences of
 * seqLen tokens from the training text, drawn with seed.
 */
public record QllmConfig(int wbits, int abits, int group, boolean reassembly, boolean errorCorrection, int rank, float loraScale,
                         int blocksPerRound, int samples, int seqLen, int steps, int batch, float lr, boolean trainNorms,
                         boolean quantizeQkv, int searchTokens, long seed) {
    public QllmConfig {
        QuantSpec.of(wbits, group);
        if (abits != 16 && (abits < 2 || abits > 8)) throw new LowbitException("--abits " + abits + " is not supported: use 4, 6, 8 or 16");
        if (rank <= 0) throw new LowbitException("the LoRA rank must be positive, got " + rank);
        if (blocksPerRound <= 0) throw new LowbitException("blocks per round must be positive, got " + blocksPerRound);
        if (batch <= 0 || samples <= 0 || samples % batch != 0)
            throw new LowbitException(samples + " calibration samples do not split into batches of " + batch + "; choose a batch that divides them");
        if (seqLen <= 1) throw new LowbitException("calibration sequences need at least 2 tokens, got " + seqLen);
        if (steps < 0 || !(lr > 0)) throw new LowbitException("steps must be >= 0 and lr > 0, got " + steps + " and " + lr);
        if (searchTokens <= 0) throw new LowbitException("the threshold search needs tokens, got " + searchTokens);
    }

    /** The official code's choices (rank 4, alpha / r = 0.25, rounds of 4 blocks, norms trained), scaled to a small model's calibration. */
    public static QllmConfig defaults(int wbits, int abits) {
        return new QllmConfig(wbits, abits, QuantSpec.PER_CHANNEL, true, true, 4, 0.25f, 4, 64, 128, 200, 8, 5e-3f, true, true, 2048, 1);
    }

    /** 16 when the attention's queries, keys and values stay fp32. */
    public int qkvBits() {
        return quantizeQkv && abits < 16 ? abits : 16;
    }

    public QuantSpec weightSpec() {
        return QuantSpec.of(wbits, group);
    }
}
