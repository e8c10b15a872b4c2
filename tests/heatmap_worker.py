"""Run ``attnlab heatmap`` on file after file in one process, under a cap on its address space.

The fuzz tests in test_loading.py start this script once and send it one JSON line per case,
``{"file": ..., "out": ...}``; it answers one JSON line: the exit code, everything written to
file descriptor 2 (Python's and C libraries' output alike), whether an image was written, the
process's peak resident memory so far and the seconds the case took. After a warm-up (imports, one drawing, one load of
each kind) the address space is capped at its size then plus ``--headroom`` MiB, so that a file
which makes the loader try to allocate much more fails with a MemoryError instead of taking
the machine's memory. A Python exception that escapes ``main`` is reported as ``"escaped"``.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import traceback


def address_space() -> int:
    """Bytes of virtual memory that this process maps now (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def warm_up(folder: str) -> None:
    import numpy as np
    import torch

    from attnlab._loading import load_weights
    from attnlab.cli import main

    torch.set_num_threads(1)  # no thread pools started later, under the cap
    np.save(os.path.join(folder, "w.npy"), np.eye(3))
    np.savez(os.path.join(folder, "w.npz"), w=np.eye(3))
    torch.save(torch.eye(3), os.path.join(folder, "w.pt"))
    torch.save(
        torch.eye(3), os.path.join(folder, "legacy.pt"), _use_new_zipfile_serialization=False
    )
    for name in ("w.npz", "w.pt", "legacy.pt"):
        load_weights(os.path.join(folder, name))
    main(["heatmap", os.path.join(folder, "w.npy"), "--out", os.path.join(folder, "w.png")])


def run(case: dict, capture: int) -> dict:
    from attnlab.cli import main

    os.ftruncate(capture, 0)
    os.lseek(capture, 0, os.SEEK_SET)
    start = time.perf_counter()
    saved = os.dup(2)
    os.dup2(capture, 2)
    try:
        code = main(["heatmap", case["file"], "--out", case["out"], *case.get("args", [])])
    except BaseException:
        code = "escaped"
        sys.stderr.write(traceback.format_exc())
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
    os.lseek(capture, 0, os.SEEK_SET)
    stderr = os.read(capture, 1 << 20).decode("utf-8", "replace")
    return {
        "code": code,
        "stderr": stderr,
        "image": os.path.exists(case["out"]) and os.path.getsize(case["out"]) > 0,
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--headroom", type=int, default=1024, help="MiB above the warm size")
    options = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    with tempfile.TemporaryDirectory() as folder:
        warm_up(folder)
        limit = address_space() + options.headroom * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        capture = os.open(os.path.join(folder, "stderr"), os.O_RDWR | os.O_CREAT)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"ready": True, "peak_kib": peak, "limit": limit}), flush=True)
        for line in sys.stdin:
            print(json.dumps(run(json.loads(line), capture)), flush=True)


if __name__ == "__main__":
    main()
