package dev.lowbit.bench;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.kernels.Kernels;
import dev.lowbit.runtime.kernels.cuda.Cuda;
import dev.lowbit.runtime.tensor.DType;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tensor.QuantSpec;
import dev.lowbit.runtime.tensor.QuantizedActivations;
import dev.lowbit.runtime.tensor.QuantizedTensor;
import dev.lowbit.runtime.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The GPU half of the matmul suite, on GPU 0: lowbit's CUDA dequant-GEMM (W4 g128, fp16
 * activations) and W4A8 integer GEMM beside cuBLAS GemmEx on fp16 and bf16 weights (the dense
 * baseline), on the CPU suite's weights and inputs; each call is timed to completion (the device is
 * synchronized after it). Before timing, each output is checked against the CPU's fp32 product.
 * {@code cudaMarlin} is the same product by the Marlin small-M kernel on repacked weights ({@link MarlinWeights};
 * above m = 16 it runs the tensor-core kernel, as cudaDequantGemm does). The bench command leaves this class
 * out, with the reason, where no GPU can be used; {@code main --short} is the minutes-long mode of
 * scripts/gpu-check.sh ({@link CudaMatMulShort}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
        value = 1,
        jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class CudaMatMulBench {
    static final Device GPU = Device.cuda(0);

    /** {@code --short [--shapes NxK,...] [--m 1,16,256] [--samples 7] [--calls 20] [--out FILE]}: see {@link CudaMatMulShort}. */
    public static void main(String[] args) throws IOException {
        if (args.length == 0 || !args[0].equals("--short"))
            throw new LowbitException(
                    "CudaMatMulBench runs under JMH (./lowbit bench); its main only has the --short mode");
        CudaMatMulShort.run(args);
    }

    @State(Scope.Benchmark)
    public static class GpuProblem {
        @Param({"4096x4096", "11008x4096", "4096x11008", "8192x16384"})
        public String shape;

        @Param({"1", "8", "16", "64", "256"})
        public int m;

        final MatMulBench.Problem cpu = new MatMulBench.Problem();
        Arena arena;
        Tensor x, xF16, xBf16, y;
        QuantizedTensor weights;
        MarlinWeights marlin;
        Tensor codeSums;
        QuantizedActivations activations;
        Tensor denseF16, denseBf16;

        @Setup(Level.Trial)
        public void setup() {
            if (!Cuda.available()) throw new IllegalStateException("no usable GPU: " + Cuda.unavailableReason());
            cpu.shape = shape;
            cpu.m = m;
            cpu.setup();
            arena = Arena.ofShared();
            x = cpu.x.to(arena, GPU);
            xF16 = cpu.x.convertedTo(arena, DType.F16).to(arena, GPU);
            xBf16 = cpu.x.convertedTo(arena, DType.BF16).to(arena, GPU);
            y = Tensor.allocate(arena, GPU, DType.F32, m, cpu.n);
            weights = Kernels.quantize(arena, cpu.dense, QuantSpec.of(4, 128)).to(arena, GPU);
            codeSums = Kernels.weightCodeSums(arena, weights);
            activations = Kernels.quantizeActivations(arena, x, 8);
            denseF16 = cpu.dense.convertedTo(arena, DType.F16).to(arena, GPU);
            denseBf16 = cpu.dense.convertedTo(arena, DType.BF16).to(arena, GPU);
            marlin = MarlinWeights.repack(arena, weights);
            check("lowbit CUDA dequant-GEMM", () -> dequantGemm(this), MatMulBench.tolerance(4));
            check("lowbit CUDA Marlin", () -> marlin(this), MatMulBench.tolerance(4));
            check("lowbit CUDA W4A8", () -> w4a8(this), MatMulBench.tolerance(4));
            check("cuBLAS fp16", () -> cublas(this, xF16, denseF16), 0.01);
            check("cuBLAS bf16", () -> cublas(this, xBf16, denseBf16), 0.02);
        }

        /** Runs call, waits for the GPU, and checks y against the fp32 product. */
        void check(String contender, Runnable call, double relTol) {
            call.run();
            Cuda.synchronize(GPU);
            cpu.check(contender, y.to(arena, Device.CPU).segment(), relTol);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (arena != null) arena.close();
            cpu.tearDown();
        }
    }

    static void dequantGemm(GpuProblem p) {
        Kernels.dequantGemm(p.xF16, p.weights, null, p.y);
    }

    static void marlin(GpuProblem p) {
        MarlinWeights.select(MarlinWeights.MARLIN);
        p.marlin.gemm(p.xF16, p.y);
    }

    static void w4a8(GpuProblem p) {
        Kernels.quantizeActivations(p.x, p.activations);
        Kernels.intGemm(p.activations, p.weights, p.codeSums, null, p.y);
    }

    static void cublas(GpuProblem p, Tensor x, Tensor dense) {
        Kernels.matmul(x, dense.transpose(), p.y, 1f, 0f);
    }

    /** One tiny lowbit kernel (per-token quantization of 1 x 64) and a device synchronize: launch plus round trip. */
    @State(Scope.Benchmark)
    public static class Tiny {
        Arena arena;
        Tensor x;
        QuantizedActivations out;

        @Setup(Level.Trial)
        public void setup() {
            if (!Cuda.available()) throw new IllegalStateException("no usable GPU: " + Cuda.unavailableReason());
            arena = Arena.ofShared();
            x = Tensor.of(arena, new float[64], 1, 64).to(arena, GPU);
            out = Kernels.quantizeActivations(arena, x, 8);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Tensor cudaLaunch(Tiny t) {
        Kernels.quantizeActivations(t.x, t.out);
        Cuda.synchronize(GPU);
        return t.out.codes();
    }

    @Benchmark
    public Tensor cudaDequantGemm(GpuProblem p) {
        dequantGemm(p);
        Cuda.synchronize(GPU);
        return p.y;
    }

    /** The Marlin small-M kernel (m <= 16) on the repacked weights. */
    @Benchmark
    public Tensor cudaMarlin(GpuProblem p) {
        marlin(p);
        Cuda.synchronize(GPU);
        return p.y;
    }

    /** Per-token int8 quantization of x on the GPU, then the integer GEMM (both timed). */
    @Benchmark
    public Tensor cudaW4A8(GpuProblem p) {
        w4a8(p);
        Cuda.synchronize(GPU);
        return p.y;
    }

    /** The dense GPU baseline: cuBLAS GemmEx, fp16 in, fp32 accumulation and out. */
    @Benchmark
    public Tensor cublasFp16(GpuProblem p) {
        cublas(p, p.xF16, p.denseF16);
        Cuda.synchronize(GPU);
        return p.y;
    }

    /** The same in bf16. */
    @Benchmark
    public Tensor cublasBf16(GpuProblem p) {
        cublas(p, p.xBf16, p.denseBf16);
        Cuda.synchronize(GPU);
        return p.y;
    }
}
