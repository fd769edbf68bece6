package dev.lowbit.methods.quant;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsFile;
import dev.lowbit.runtime.tensor.Tensor;
import java.util.Arrays;

/** What the resume checkpoints of QLLM, GPTQ and AWQ share: the calibration's fingerprint and checked reads. */
public final class ResumeFiles {
    private ResumeFiles() {}

    /** A short fingerprint of the calibration tokens: a checkpoint written on others is refused. */
    public static String fingerprint(int[][] calibration) {
        return Integer.toHexString(Arrays.deepHashCode(calibration));
    }

    /** Copies the checkpoint's F32 tensor name into to, or says that the file does not fit and what to do. */
    public static void copy(SafetensorsFile f, String name, Tensor to) {
        if (!f.contains(name))
            throw new LowbitException(f.path() + " has no tensor " + name + "; delete it to start over");
        if (!f.copyInto(name, to))
            throw new LowbitException(f.path() + ": " + name + " does not fit this model; delete it to start over");
    }
}
