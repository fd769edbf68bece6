"""Step 4 of scripts/gpu-check.sh: Hugging Face transformers' LlamaForCausalLM, a reference no one here
wrote, on the tokens bench's LogitDump wrote, against lowbit's CPU and GPU logits of the same model folder.

usage: gpu_logits.py MODEL_FOLDER LOGIT_FOLDER OUT_JSON
LOGIT_FOLDER holds tokens.i32, lowbit_cpu.f32 and (where a GPU ran) lowbit_gpu.f32: little-endian,
[tokens, vocab] row-major. Where torch or transformers is missing (not on this machine's image) the
comparison is skipped, saying so; the exit status is 0 then, and 1 only when the comparison itself fails.
"""
import json
import os
import sys


def log_softmax(z, np):
    shifted = z - z.max(1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


def compare(reference, logits, np):
    d = np.abs(logits - reference)
    log_p, log_q = log_softmax(reference, np), log_softmax(logits, np)
    return {
        "max_abs": float(d.max()),
        "max_rel": float(d.max() / max(np.abs(reference).max(), 1e-30)),
        "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
        "mean_kl_hf_to_lowbit": float((np.exp(log_p) * (log_p - log_q)).sum(1).mean()),
    }


def main(model, folder, out):
    result = {"model": model, "reference": "transformers LlamaForCausalLM"}
    try:
        import numpy as np
        import torch
        import transformers
    except ImportError as e:
        result["skipped"] = f"{e.name} is not installed here; the Hugging Face comparison runs where it is (the GPU machine)"
        return result
    result["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    tokens = np.fromfile(os.path.join(folder, "tokens.i32"), dtype="<i4").astype(np.int64)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 products, as lowbit's reference
    hf = transformers.LlamaForCausalLM.from_pretrained(model, torch_dtype=torch.float32, attn_implementation="eager")
    hf = hf.to(device).eval()
    with torch.no_grad():
        reference = hf(torch.from_numpy(tokens)[None].to(device)).logits[0].float().cpu().numpy()
    result.update(tokens=int(tokens.size), vocab=int(reference.shape[1]), device=device)
    for name in ("lowbit_cpu", "lowbit_gpu"):
        path = os.path.join(folder, name + ".f32")
        if not os.path.exists(path):
            result["hf_vs_" + name] = {"skipped": f"{name}.f32 was not written (see 4-logits.log)"}
            continue
        logits = np.fromfile(path, dtype="<f4").reshape(reference.shape)
        result["hf_vs_" + name] = compare(reference, logits, np)
    return result


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    r = main(*sys.argv[1:])
    with open(sys.argv[3], "w") as f:
        json.dump(r, f, indent=2)
    print(json.dumps(r, indent=2))
