package dev.lowbit.cli;

import dev.lowbit.runtime.tensor.Device;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options several commands share, as picocli mixins: one spelling, one description, one default each. */
final class SharedOptions {
    private SharedOptions() {}

    /** {@code --model}. */
    static final class ModelOption {
        @Option(
                names = "--model",
                description =
                        "\"default\", a Hugging Face folder, a llama2.c .bin or a .gguf file (default: ${DEFAULT-VALUE})")
        String model = "default";

        String get() {
            return model;
        }
    }

    /** {@code --data}. */
    static final class DataOption {
        @Option(names = "--data", description = "folder with the novels (default: LOWBIT_DATA, then ../shared/data)")
        Path data;

        /** The folder given, or null for the default. */
        Path get() {
            return data;
        }
    }

    /** {@code --seq-len}; a command passes its own default. */
    static final class SeqLenOption {
        @Option(
                names = "--seq-len",
                description = "tokens per sequence: evaluation windows (they do not overlap), training and "
                        + "calibration sequences (default: ${DEFAULT-VALUE})")
        int seqLen;

        SeqLenOption(int seqLen) {
            this.seqLen = seqLen;
        }

        int get() {
            return seqLen;
        }
    }

    /** {@code --device}. */
    static final class DeviceOption {
        @Option(
                names = "--device",
                description = "cpu, cuda or cuda:N: where the model runs (default: ${DEFAULT-VALUE})")
        String device = "cpu";

        Device get() {
            return Device.parse(device);
        }
    }

    /** {@code --json}. */
    static final class JsonOption {
        @Option(names = "--json", description = "print the result as one JSON object on stdout")
        boolean json;

        boolean get() {
            return json;
        }
    }
}
