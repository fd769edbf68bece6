package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.ModelFiles;
import dev.lowbit.runtime.model.BatchState;
import dev.lowbit.runtime.model.KvBlockPool;
import dev.lowbit.runtime.model.KvDtype;
import dev.lowbit.runtime.model.LlamaModel;
import dev.lowbit.runtime.tensor.Device;
import dev.lowbit.runtime.tokenizer.BpeTokenizer;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Optional;

/**
 * lowbit's {@link InferenceEngine}: one model, a paged KV block pool and one scheduler thread
 * running continuous batching ({@link Scheduler}). Built with {@link #builder()}.
 */
public final class LowbitEngine implements InferenceEngine {
    private final String modelId;
    private final LlamaModel model;
    private final Optional<BpeTokenizer> tokenizer;
    private final Arena arena; // the pool, the batch buffers, and the model where the engine loaded it
    private final Scheduler scheduler;
    private final Thread thread;

    private LowbitEngine(Builder b, Arena arena, LlamaModel model, Optional<BpeTokenizer> tokenizer, String modelId) {
        this.arena = arena;
        this.model = model;
        this.tokenizer = tokenizer;
        this.modelId = modelId;
        int context = model.config().maxSeqLen();
        long kvMemory = b.kvMemory > 0
                ? b.kvMemory
                : b.maxBatch
                        * (long) (context + KvBlockPool.BLOCK_SIZE - 1)
                        / KvBlockPool.BLOCK_SIZE
                        * KvBlockPool.bytesPerBlock(model.config(), b.kvDtype);
        KvBlockPool pool = new KvBlockPool(arena, model.config(), model.device(), b.kvDtype, kvMemory);
        int stepTokens = Math.max(b.maxBatch, Math.min(LlamaModel.PROMPT_CHUNK, context));
        BatchState state = model.newBatchState(arena, stepTokens, b.maxBatch);
        this.scheduler = new Scheduler(model, pool, state, b.maxBatch, b.queueLimit);
        this.thread = new Thread(scheduler, "lowbit-engine-" + modelId);
        thread.setDaemon(true);
        thread.start();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String modelId() {
        return modelId;
    }

    @Override
    public int contextLength() {
        return model.config().maxSeqLen();
    }

    @Override
    public Optional<BpeTokenizer> tokenizer() {
        return tokenizer;
    }

    public LlamaModel model() {
        return model;
    }

    @Override
    public Submission submit(int[] prompt, SamplingParams params, TokenSink sink) {
        if (prompt == null || prompt.length == 0) throw new LowbitException("the prompt needs at least one token");
        if (params == null || sink == null) throw new LowbitException("submit needs sampling params and a token sink");
        int vocab = model.config().vocabSize();
        for (int i = 0; i < prompt.length; i++)
            if (prompt[i] < 0 || prompt[i] >= vocab)
                throw new LowbitException(
                        "prompt token " + prompt[i] + " at " + i + " is outside the vocabulary [0, " + vocab + ")");
        if ((long) prompt.length + params.maxTokens() > contextLength())
            throw new LowbitException("the prompt of " + prompt.length + " tokens plus max_tokens " + params.maxTokens()
                    + " exceeds the context of " + contextLength() + ": shorten the prompt or lower max_tokens");
        if (!params.stop().isEmpty() && tokenizer.isEmpty())
            throw new LowbitException("this model has no tokenizer, so stop strings cannot match: give stop token ids");
        Sequence s = new Sequence(prompt, params, sink, tokenizer, scheduler::wake);
        EngineStats st = scheduler.stats();
        int needed = (s.positions() + KvBlockPool.BLOCK_SIZE - 1) / KvBlockPool.BLOCK_SIZE;
        if (needed > st.kvBlocksTotal())
            throw new LowbitException("the request needs " + needed + " KV blocks but the pool has "
                    + st.kvBlocksTotal() + ": lower max_tokens or give the engine more KV memory");
        scheduler.enqueue(s);
        return s;
    }

    @Override
    public EngineStats stats() {
        return scheduler.stats();
    }

    @Override
    public void close() {
        scheduler.close();
        if (Thread.currentThread() == thread) return; // a sink closing the engine: the thread ends after this step
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return; // the arena stays open rather than freed under a running step
        }
        if (arena.scope().isAlive()) arena.close();
    }

    /** Settings of a {@link LowbitEngine}; model is required. */
    public static final class Builder {
        private String modelName;
        private LlamaModel model;
        private Optional<BpeTokenizer> tokenizer = Optional.empty();
        private String modelId;
        private Device device = Device.CPU;
        private int maxBatch = 8;
        private long kvMemory;
        private KvDtype kvDtype = KvDtype.F16;
        private int queueLimit = 64;

        private Builder() {}

        /** A model as ModelFiles opens it: "default", a Hugging Face or lowbit-quantized folder, a llama2.c .bin. */
        public Builder model(String nameOrPath) {
            this.modelName = nameOrPath;
            this.model = null;
            return this;
        }

        public Builder model(Path path) {
            return model(path.toString());
        }

        /** An already loaded model (its weights stay the caller's) and its tokenizer, if any. */
        public Builder model(LlamaModel model, Optional<BpeTokenizer> tokenizer) {
            this.model = model;
            this.tokenizer = tokenizer;
            this.modelName = null;
            return this;
        }

        /** The name clients address the model by; by default the model folder's (or file's) name. */
        public Builder modelId(String id) {
            this.modelId = id;
            return this;
        }

        public Builder device(Device device) {
            this.device = device;
            return this;
        }

        /** The most sequences decoded together in one step (default 8). */
        public Builder maxBatch(int n) {
            if (n < 1) throw new LowbitException("max batch must be at least 1, got " + n);
            this.maxBatch = n;
            return this;
        }

        /** Bytes for the KV block pool (default: maxBatch sequences of the whole context). */
        public Builder kvMemory(long bytes) {
            if (bytes < 1) throw new LowbitException("KV memory must be positive, got " + bytes);
            this.kvMemory = bytes;
            return this;
        }

        public Builder kvDtype(KvDtype dtype) {
            this.kvDtype = dtype;
            return this;
        }

        /** The most requests waiting for a batch slot or KV blocks; past it submit throws {@link EngineBusyException} (default 64). */
        public Builder queueLimit(int n) {
            if (n < 0) throw new LowbitException("queue limit must be >= 0, got " + n);
            this.queueLimit = n;
            return this;
        }

        /** Loads the model (when given by name) and starts the scheduler thread. */
        public LowbitEngine build() {
            if (model == null && modelName == null)
                throw new LowbitException("the engine needs a model: call model(...) before build()");
            Arena arena = Arena.ofShared();
            try {
                LlamaModel m = model;
                Optional<BpeTokenizer> tok = tokenizer;
                String id = modelId;
                if (m == null) {
                    ModelFiles.Loaded loaded = ModelFiles.open(modelName, arena);
                    m = loaded.model();
                    tok = loaded.tokenizer();
                    if (id == null) {
                        Path name = ModelFiles.pathOf(modelName).getFileName();
                        id = modelName.equals("default") || name == null ? modelName : name.toString();
                    }
                }
                return new LowbitEngine(this, arena, m.to(arena, device), tok, id == null ? "model" : id);
            } catch (RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        }
    }
}
