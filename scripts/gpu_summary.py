"""Step 5 of scripts/gpu-check.sh: gathers the steps' results into one summary.json.

usage: gpu_summary.py --work DIR --out FILE --dry-run 0|1 --seconds N
DIR holds steps.tsv (name, status, exit, seconds[, reason]), junit/ (the JUnit console's XML report),
bench.json (CudaMatMulBench --short), lowbit-logits.json (LogitDump) and hf-logits.json (gpu_logits.py);
2-native.log lies beside FILE. What is missing is reported as missing, never guessed.
"""
import argparse
import glob
import json
import os
import re
import xml.etree.ElementTree as ET

HBM_BYTES_PER_S = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12}  # nominal, for the bandwidth fraction
LOGIT_REL_TOL = 1e-3


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"missing": f"{os.path.basename(path)}: {e}"}


def steps(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            s = {"step": f[0], "status": f[1], "exit": f[2], "seconds": int(f[3])}
            if len(f) > 4:
                s["reason"] = f[4]
            out.append(s)
    return out


def junit(folder):
    tests = []
    for report in glob.glob(os.path.join(folder, "*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):
            status = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    status = "failed"
                elif child.tag == "skipped":
                    status = "skipped"
            tests.append({"test": case.get("classname", "") + "." + case.get("name", ""), "status": status,
                          "seconds": float(case.get("time", 0))})
    counts = {s: sum(t["status"] == s for t in tests) for s in ("passed", "failed", "skipped")}
    return {"counts": counts, "tests": tests} if tests else {"missing": "no JUnit XML report (see 2-junit.log)"}


def native(log):
    if not os.path.exists(log):
        return {"missing": "2-native.log"}
    text = open(log).read()
    return {"failed_checks": re.findall(r"^FAIL .*$", text, re.M),
            "all_checks_passed": "all checks passed" in text,
            "sanitizer_errors": re.findall(r"^========= (?:ERROR SUMMARY: [1-9].*|Invalid .*|Race reported .*)$", text, re.M)[:20]}


def targets(bench):
    """The issue's targets on an H200: M <= 16 on 8192x28672 >= 3x cuBLAS fp16 and >= 70% of HBM; M = 256 >= 0.9x."""
    gpu = bench.get("gpu", "")
    hbm = next((v for k, v in HBM_BYTES_PER_S.items() if k in gpu), None)
    out = []
    for r in bench.get("results", []):
        for kernel in ("lowbit_cuda_core", "lowbit_marlin", "lowbit_tensor_core"):
            speed = r.get(f"speedup_{kernel}_vs_cublas_fp16")
            if speed is None:
                continue
            row = {"shape": r["shape"], "m": r["m"], "kernel": kernel, "speedup_vs_cublas_fp16": speed}
            gbs = r.get(kernel, {}).get("weight_gb_per_s")
            if hbm and gbs:
                row["hbm_fraction"] = gbs * 1e9 / hbm
            if r["shape"] == "8192x28672":
                if r["m"] <= 16:
                    row["meets_target"] = speed >= 3 and row.get("hbm_fraction", 0) >= 0.7
                elif r["m"] == 256:
                    row["meets_target"] = speed >= 0.9
            out.append(row)
    return out


def winners(bench):
    """Per shape and m <= 16, the faster small-M kernel."""
    out = []
    for r in bench.get("results", []):
        a, b = r.get("lowbit_cuda_core", {}).get("median_ms"), r.get("lowbit_marlin", {}).get("median_ms")
        if a and b:
            out.append({"shape": r["shape"], "m": r["m"], "faster": "marlin" if b < a else "cuda-core",
                        "marlin_over_cuda_core": a / b})
    return out


def logits(lowbit, hf):
    verdict = {}
    if "gpu_vs_cpu_max_rel" in lowbit:
        verdict["lowbit_gpu_vs_cpu"] = "passed" if lowbit["gpu_vs_cpu_max_rel"] <= LOGIT_REL_TOL else "failed"
    for name in ("hf_vs_lowbit_cpu", "hf_vs_lowbit_gpu"):
        if "max_rel" in hf.get(name, {}):
            verdict[name] = "passed" if hf[name]["max_rel"] <= LOGIT_REL_TOL else "failed"
    return {"lowbit": lowbit, "hugging_face": hf, "relative_tolerance": LOGIT_REL_TOL, "verdict": verdict}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dry-run", type=int, default=0)
    p.add_argument("--seconds", type=int, default=0)
    a = p.parse_args()
    bench = load(os.path.join(a.work, "bench.json"))
    summary = {
        "mode": "dry run on the host emulation (not a GPU)" if a.dry_run else "GPU",
        "seconds": a.seconds,
        "steps": steps(os.path.join(a.work, "steps.tsv")),
        "native_test": native(os.path.join(os.path.dirname(os.path.abspath(a.out)), "2-native.log")),
        "junit_gpu": junit(os.path.join(a.work, "junit")),
        "bench": bench,
        "small_m_winner": winners(bench),
        "targets": targets(bench),
        "logits": logits(load(os.path.join(a.work, "lowbit-logits.json")), load(os.path.join(a.work, "hf-logits.json"))),
    }
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({s["step"]: s["status"] for s in summary["steps"]}))


if __name__ == "__main__":
    main()
