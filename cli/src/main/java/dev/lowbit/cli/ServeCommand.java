package dev.lowbit.cli;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.LowbitEngine;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.io.ShardPlan;
import dev.lowbit.runtime.model.KvDtype;
import dev.lowbit.server.OpenAiServer;
import dev.lowbit.server.ServedModel;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code lowbit serve}: the model behind an OpenAI-compatible HTTP API until the process is stopped. */
@Command(
        name = "serve",
        description = "Serve a model over OpenAI's HTTP API (POST /v1/completions, /v1/chat/completions with"
                + " stream: true as server-sent events, GET /v1/models), with GET /health and Prometheus"
                + " GET /metrics; requests are batched together (continuous batching). Stop it with Ctrl-C.")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    SharedOptions.ModelOption model;

    @Mixin
    SharedOptions.DeviceOption device;

    @Option(
            names = "--host",
            description = "address to listen on (default: ${DEFAULT-VALUE}, this machine only; 0.0.0.0 opens it to"
                    + " the network)")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "TCP port, 0 for any free one (default: ${DEFAULT-VALUE})")
    int port = 8080;

    @Option(
            names = "--api-key",
            description = "require \"Authorization: Bearer KEY\" on /v1 requests (default: LOWBIT_API_KEY if set,"
                    + " else no key)")
    String apiKey;

    @Option(names = "--max-batch", description = "most sequences decoded together (default: ${DEFAULT-VALUE})")
    int maxBatch = 8;

    @Option(
            names = "--kv-memory",
            paramLabel = "SIZE",
            description = "memory for the KV cache, e.g. 256MiB or 2GB (default: --max-batch sequences of the whole"
                    + " context)")
    String kvMemory;

    @Option(
            names = "--kv-dtype",
            description = "f16, bf16 or int8: how the KV cache is stored (default: ${DEFAULT-VALUE})")
    String kvDtype = "f16";

    @Option(
            names = "--queue",
            description = "requests that may wait for a batch slot; past it the server answers 503 (default:"
                    + " ${DEFAULT-VALUE})")
    int queue = 64;

    @Override
    public Integer call() throws InterruptedException {
        OptionChecks.within("--port", port, 0, 65535);
        OptionChecks.within("--max-batch", maxBatch, 1, 1024);
        OptionChecks.within("--queue", queue, 0, 1_000_000);
        KvDtype dtype = kvDtype();
        long kvBytes = kvMemory == null ? 0 : ShardPlan.parseSize(kvMemory);
        String key = apiKey != null ? apiKey : System.getenv("LOWBIT_API_KEY");
        if (key != null && key.isBlank()) throw new LowbitException("--api-key is blank: give a key, or leave it out");
        PrintWriter err = spec.commandLine().getErr();
        CompletableFuture<ServedModel> served = new CompletableFuture<>();
        try (OpenAiServer server = OpenAiServer.start(new OpenAiServer.Options(host, port, key), served)) {
            err.printf("lowbit serve: listening on http://%s:%d (loading %s)%n", host, server.port(), model.get());
            err.flush();
            LowbitEngine.Builder engine = LowbitEngine.builder()
                    .model(model.get())
                    .device(device.get())
                    .maxBatch(maxBatch)
                    .kvDtype(dtype)
                    .queueLimit(queue);
            if (kvBytes > 0) engine.kvMemory(kvBytes);
            LowbitEngine loaded;
            try {
                loaded = engine.build();
                served.complete(
                        new ServedModel(loaded, ChatTemplate.of(ModelFiles.pathOf(model.get()), loaded.tokenizer())));
            } catch (RuntimeException e) {
                served.completeExceptionally(e);
                throw e;
            }
            err.printf(
                    "lowbit serve: ready: model '%s', context %d, max batch %d, KV %s%s%n",
                    loaded.modelId(),
                    loaded.contextLength(),
                    maxBatch,
                    kvDtype,
                    key == null ? "" : ", API key required");
            err.flush();
            awaitShutdown(server, loaded);
        }
        return 0;
    }

    /** Blocks until the JVM is asked to stop (Ctrl-C, SIGTERM), then stops listening and frees the model. */
    private static void awaitShutdown(OpenAiServer server, LowbitEngine engine) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            engine.close();
            stopped.countDown();
        }));
        stopped.await();
    }

    private KvDtype kvDtype() {
        return switch (kvDtype) {
            case "f16" -> KvDtype.F16;
            case "bf16" -> KvDtype.BF16;
            case "int8" -> KvDtype.INT8;
            default -> throw new LowbitException("--kv-dtype " + kvDtype + " is not one of f16, bf16, int8");
        };
    }
}
