"""Check the SLURM jobs of a workflow run (used by .ci/slurm).

    python3 .ci/slurm_jobs.py SNAKEMAKE_LOG JOBCOMP_LOG SQUEUE_OUT

SNAKEMAKE_LOG: the run's output; JOBCOMP_LOG: SLURM's jobcomp/filetxt log; SQUEUE_OUT: the output
of `squeue -h --states=all -o '%i %T'`. Prints the SLURM job ids and, per rule, what the jobs got
from SLURM; exits 1 unless every job submitted ended COMPLETED (in the jobcomp log, and in squeue
for the jobs it still lists) with the CPUs (the rule's threads) and memory (mem_mb) Snakemake
asked for.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) "
                       r"\(log: .*?/rule_(\w+)/")
UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}


def megabytes(value: str) -> float | None:
    """SLURM's memory in a Tres field (8000M, 4G) in MB."""
    m = re.fullmatch(r"([\d.]+)([KMGT])", value)
    return float(m[1]) * UNITS[m[2]] if m else None


def submitted(log: str) -> list[tuple[str, str, int, int]]:
    """(SLURM job id, rule, threads, mem_mb) of every submission, in order."""
    asked: dict[str, tuple[int, int]] = {}  # Snakemake job id -> threads, mem_mb
    jobid, threads, mem = None, 1, 0
    out = []
    for line in log.splitlines():
        if re.match(r"(local)?rule \w+:", line):
            jobid, threads, mem = None, 1, 0
        elif m := re.match(r"\s+jobid: (\d+)$", line):
            jobid = m[1]
        elif m := re.match(r"\s+threads: (\d+)$", line):
            threads = int(m[1])
        elif (m := re.search(r"\bmem_mb=(\d+)", line)) and line.lstrip().startswith("resources:"):
            mem = int(m[1])
            if jobid is not None:
                asked[jobid] = (threads, mem)
        elif m := SUBMITTED.search(line):
            out.append((m[2], m[3], *asked.get(m[1], (0, 0))))
    return out


def main(argv: list[str]) -> int:
    log, jobcomp, queue = (Path(a).read_text() for a in argv)
    jobs = submitted(log)
    if not jobs:
        print("no job was submitted to SLURM")
        return 1
    print(f"{len(jobs)} jobs submitted with SLURM job ids: {' '.join(j[0] for j in jobs)}")
    finished = {}
    for line in jobcomp.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" in fields:
            finished[fields["JobId"]] = fields
    listed = dict(line.split()[:2] for line in queue.splitlines() if len(line.split()) >= 2)
    problems, got = [], Counter()
    for slurm_id, rule, threads, mem in jobs:
        fields = finished.get(slurm_id, {})
        state, queued = fields.get("JobState", "none"), listed.get(slurm_id)
        tres = dict(t.split("=", 1) for t in fields.get("Tres", "").split(",") if "=" in t)
        cpu, mem_got = tres.get("cpu", "?"), tres.get("mem", "?")
        got[f"{rule} cpu={cpu} mem={mem_got}"] += 1
        if state != "COMPLETED" or queued not in (None, "COMPLETED"):
            problems.append(f"job {slurm_id} ({rule}): jobcomp {state}, "
                            f"squeue {queued or 'no longer lists it'}")
        if cpu != str(threads) or megabytes(mem_got) != mem:
            problems.append(f"job {slurm_id} ({rule}): asked cpu={threads} mem={mem}M, "
                            f"got cpu={cpu} mem={mem_got}")
    print("per rule, jobs × what SLURM gave: "
          + "; ".join(f"{k} ×{n}" for k, n in sorted(got.items())))
    on_queue = sum(j[0] in listed for j in jobs)
    if problems:
        print("\n".join(problems))
        return 1
    print(f"all {len(jobs)} jobs COMPLETED in the jobcomp log ({on_queue} still listed by squeue, "
          "all COMPLETED), each with the CPUs and memory Snakemake asked for")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
