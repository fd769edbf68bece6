package dev.lowbit.runtime.engine;

/**
 * The scheduler's state: sequences decoding now and waiting, the KV block pool, and the size of
 * the last batched forward (sequences x tokens it ran).
 */
public record EngineStats(
        int running,
        int queued,
        int queueLimit,
        int maxBatch,
        int kvBlocksFree,
        int kvBlocksTotal,
        int lastBatchRows) {}
