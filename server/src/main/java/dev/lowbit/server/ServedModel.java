package dev.lowbit.server;

import dev.lowbit.runtime.chat.ChatTemplate;
import dev.lowbit.runtime.engine.InferenceEngine;

/** What the server serves once loading is done: the engine and the model's chat template. */
public record ServedModel(InferenceEngine engine, ChatTemplate template) {}
