package dev.lowbit.runtime.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lowbit.runtime.LowbitException;
import dev.lowbit.runtime.io.SafetensorsStreamWriter.Entry;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How Hugging Face's {@code save_pretrained} splits a state dict into safetensors shards
 * (huggingface_hub's split_torch_state_dict_into_shards): tensors in state-dict order fill a shard
 * until the next one would pass the maximum; a tensor larger than the maximum gets a shard of its
 * own. Inside a file the safetensors library orders tensors by name.
 */
public record ShardPlan(List<List<Entry>> shards) {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(B|[KMGT]I?B)?");

    public ShardPlan {
        shards = shards.stream().map(List::copyOf).toList();
    }

    public static ShardPlan split(List<Entry> stateDict, long maxShardBytes) {
        if (maxShardBytes <= 0)
            throw new LowbitException("the maximum shard size must be positive, got " + maxShardBytes);
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0;
        for (Entry e : stateDict) {
            if (e.bytes() > maxShardBytes) {
                shards.add(List.of(e));
                continue;
            }
            if (currentBytes + e.bytes() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += e.bytes();
        }
        if (!current.isEmpty()) shards.add(current);
        return new ShardPlan(shards.stream()
                .map(s -> s.stream().sorted(Comparator.comparing(Entry::name)).toList())
                .toList());
    }

    /** model.safetensors for one shard, else model-0000i-of-0000n.safetensors (i from 1). */
    public String fileName(int shard) {
        if (shards.size() == 1) return "model.safetensors";
        return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", shard + 1, shards.size());
    }

    /** model.safetensors.index.json: metadata.total_size and the weight_map from tensor name to file, by name. */
    public ObjectNode index() {
        ObjectNode index = new ObjectMapper().createObjectNode();
        index.putObject("metadata").put("total_size", totalBytes());
        Map<String, String> sorted = new TreeMap<>();
        for (int i = 0; i < shards.size(); i++) for (Entry e : shards.get(i)) sorted.put(e.name(), fileName(i));
        ObjectNode map = index.putObject("weight_map");
        sorted.forEach(map::put);
        return index;
    }

    /** Bytes of tensor data, the index's metadata.total_size. */
    public long totalBytes() {
        return shards.stream().flatMap(List::stream).mapToLong(Entry::bytes).sum();
    }

    /** A size as save_pretrained's max_shard_size takes it: bytes, or KB/MB/GB/TB (powers of 10) or KiB/MiB/GiB/TiB. */
    public static long parseSize(String text) {
        Matcher m = SIZE.matcher(text.trim().toUpperCase(Locale.ROOT));
        if (!m.matches())
            throw new LowbitException(
                    "bad size '" + text + "': give bytes or a number with KB, MB, GB, KiB, MiB or GiB");
        String unit = m.group(2) == null ? "B" : m.group(2);
        int power = "BKMGT".indexOf(unit.charAt(0));
        long base = unit.contains("I") ? 1024 : 1000, scale = 1;
        for (int i = 0; i < power; i++) scale *= base;
        try {
            long size = Math.multiplyExact(Long.parseLong(m.group(1)), scale);
            if (size <= 0) throw new LowbitException("bad size '" + text + "': must be positive");
            return size;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new LowbitException("bad size '" + text + "': too large");
        }
    }
}
