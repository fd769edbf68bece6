package dev.lowbit.cli;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.ModelShape;
import dev.lowbit.runtime.io.ShardPlan;
import dev.lowbit.runtime.io.SyntheticCheckpoint;
import dev.lowbit.runtime.tensor.DType;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit synth}: a Hugging Face LLaMA folder of random weights in a real model's shape. */
@Command(
        name = "synth",
        mixinStandardHelpOptions = true,
        versionProvider = LowbitCli.Version.class,
        description =
                "Write a Hugging Face LLaMA folder (config.json, safetensors shards) of seeded random weights in a given "
                        + "shape, streamed to disk; no tokenizer (generate then takes token ids).")
final class SynthCommand implements Callable<Integer> {
    private static final long PROGRESS_EVERY_NANOS = 2_000_000_000L;

    @Spec
    CommandSpec spec;

    @Option(
            names = "--shape",
            required = true,
            description = "tinyllama-1.1b, llama-7b, llama-13b, llama3-8b, or DIMS like "
                    + "dim=256,hidden=688,layers=2,heads=8,kv_heads=4,vocab=512[,ctx=2048,rope_theta=10000,eps=1e-5]")
    String shape;

    @Option(names = "--dtype", description = "bf16, f16 or f32 (default: ${DEFAULT-VALUE})")
    String dtype = "bf16";

    @Option(names = "--out", required = true, description = "the folder to write (new or empty)")
    Path out;

    @Option(
            names = "--seed",
            description = "random seed; the same seed gives the same bytes (default: ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(
            names = "--max-shard-size",
            description = "largest shard, as save_pretrained takes it: 5GB, 500MB, 2GiB, bytes "
                    + "(default: ${DEFAULT-VALUE})")
    String maxShardSize = "5GB";

    @Override
    public Integer call() {
        ModelShape parsed = ModelShape.parse(shape);
        DType type = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "fp16", "float16" -> DType.F16;
            case "f32", "fp32", "float32" -> DType.F32;
            default -> throw new LowbitException("unknown --dtype '" + dtype + "': give bf16, f16 or f32");
        };
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        long[] lastReport = {start};
        SyntheticCheckpoint.Written w = SyntheticCheckpoint.write(
                parsed, type, out, seed, ShardPlan.parseSize(maxShardSize), (written, total) -> {
                    long now = System.nanoTime();
                    if (now - lastReport[0] < PROGRESS_EVERY_NANOS) return;
                    lastReport[0] = now;
                    err.printf(
                            Locale.ROOT,
                            "synth: %.2f / %.2f GB (%d%%), %.0f MB/s%n",
                            written / 1e9,
                            total / 1e9,
                            100 * written / total,
                            written / 1e6 / ((now - start) / 1e9));
                    err.flush();
                });
        double seconds = (System.nanoTime() - start) / 1e9;
        spec.commandLine()
                .getOut()
                .printf(
                        Locale.ROOT,
                        "wrote %s: %s, %d parameters, %d files, %.2f GB in %.1f s (%.0f MB/s)%n",
                        w.dir(),
                        parsed.name(),
                        parsed.config().parameterCount(),
                        w.files().size(),
                        w.totalBytes() / 1e9,
                        seconds,
                        w.totalBytes() / 1e6 / seconds);
        return 0;
    }
}
