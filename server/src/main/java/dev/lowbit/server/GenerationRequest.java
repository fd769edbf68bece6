package dev.lowbit.server;

import dev.lowbit.runtime.engine.SamplingParams;

/** A checked request of either endpoint: the prompt's token ids, how to sample, and how to answer. */
record GenerationRequest(int[] prompt, SamplingParams params, boolean stream, boolean includeUsage) {}
