package dev.lowbit.runtime.engine;

import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.engine.Completion.FinishReason;
import dev.lowbit.runtime.model.BatchState;
import dev.lowbit.runtime.model.KvBlockPool;
import dev.lowbit.runtime.model.LlamaModel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching (Orca's iteration-level scheduling, vLLM's scheduler): between steps it drops
 * cancelled sequences (their blocks back to the pool at once) and admits waiting ones in arrival
 * order while a batch slot and their blocks are free; each step then runs one batched forward of
 * every running sequence: one token of each decoding sequence, and prompt chunks of at most
 * {@link LlamaModel#PROMPT_CHUNK} tokens while the step's token budget lasts, so a long prompt is
 * spread over several steps and the running streams keep going. A sequence reserves blocks for its
 * whole length when admitted, so it never runs out mid-generation (no preemption is needed).
 */
final class Scheduler implements Runnable {
    private final LlamaModel model;
    private final KvBlockPool pool;
    private final BatchState state;
    private final int maxBatch, queueLimit;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private boolean closed;
    private volatile int runningCount, lastBatchRows; // for stats(), read from any thread

    Scheduler(LlamaModel model, KvBlockPool pool, BatchState state, int maxBatch, int queueLimit) {
        this.model = model;
        this.pool = pool;
        this.state = state;
        this.maxBatch = maxBatch;
        this.queueLimit = queueLimit;
    }

    /** Queues s, or throws when the queue is full or the engine closed. */
    void enqueue(Sequence s) {
        lock.lock();
        try {
            if (closed) throw new LowbitException("the engine is closed: build a new one");
            if (waiting.size() >= queueLimit)
                throw new EngineBusyException(
                        "the engine's queue is full (" + queueLimit + " waiting requests): retry later", 1);
            waiting.add(s);
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    void wake() {
        lock.lock();
        try {
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Stops after the current step; every request still queued or running is cancelled. */
    void close() {
        lock.lock();
        try {
            closed = true;
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    EngineStats stats() {
        int queued;
        lock.lock();
        try {
            queued = waiting.size();
        } finally {
            lock.unlock();
        }
        return new EngineStats(
                runningCount, queued, queueLimit, maxBatch, pool.freeBlocks(), pool.totalBlocks(), lastBatchRows);
    }

    @Override
    public void run() {
        try {
            while (admit()) step();
        } finally {
            for (Sequence s : running) s.finish(FinishReason.CANCELLED);
            running.clear();
            List<Sequence> left;
            lock.lock();
            try {
                left = new ArrayList<>(waiting);
                waiting.clear();
            } finally {
                lock.unlock();
            }
            for (Sequence s : left) s.finish(FinishReason.CANCELLED);
            runningCount = 0;
        }
    }

    /** Drops cancelled sequences, admits waiting ones, and waits while nothing runs; false once closed. */
    private boolean admit() {
        List<Sequence> dropped = new ArrayList<>();
        running.removeIf(s -> s.cancelled() && dropped.add(s));
        lock.lock();
        try {
            while (true) {
                if (closed) return false;
                waiting.removeIf(s -> s.cancelled() && dropped.add(s));
                while (running.size() < maxBatch
                        && !waiting.isEmpty()
                        && pool.blocksFor(waiting.peek().positions()) <= pool.freeBlocks()) {
                    Sequence s = waiting.poll();
                    s.admitted(pool.allocate(s.positions()));
                    running.add(s);
                }
                runningCount = running.size();
                if (!running.isEmpty() || !dropped.isEmpty()) break;
                work.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
        for (Sequence s : dropped) s.finish(FinishReason.CANCELLED); // frees its blocks before the next step
        return true;
    }

    private void step() {
        if (running.isEmpty()) return;
        List<LlamaModel.Chunk> chunks = new ArrayList<>();
        List<Sequence> members = new ArrayList<>();
        int budget = state.maxRows();
        for (int pass = 0; pass < 2; pass++) // decoding sequences first, then prompt chunks
        for (Sequence s : running) {
                if (s.prefilling() != (pass == 1) || budget == 0) continue;
                int[] tokens = s.next(budget);
                budget -= tokens.length;
                chunks.add(new LlamaModel.Chunk(s.cache(), tokens));
                members.add(s);
            }
        float[] logits;
        try {
            model.forward(state, chunks);
            logits = state.hostLogits(chunks.size());
        } catch (LowbitException e) {
            for (Sequence s : members) s.fail(e);
            running.removeAll(members);
            runningCount = running.size();
            return;
        }
        int vocab = model.config().vocabSize();
        for (int i = 0; i < members.size(); i++) {
            Sequence s = members.get(i);
            try {
                if (s.ran(chunks.get(i).tokens().length) && s.sample(logits, i * vocab, vocab)) running.remove(s);
            } catch (LowbitException e) {
                s.fail(e);
                running.remove(s);
            } catch (RuntimeException e) { // a sink that threw: that request ends, the others go on
                s.fail(new LowbitException("the request's token sink failed: " + e));
                running.remove(s);
            }
        }
        lastBatchRows = state.maxRows() - budget;
        runningCount = running.size();
    }
}
