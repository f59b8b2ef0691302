#!/usr/bin/python3
"""CPU time of processes, for the CPU-per-boot benchmarks (bench/agent-cpu.sh, bench/branch-cpu.sh).

Usage: cpu-per-boot.py PID [PID...]   prints utime + stime in seconds, summed over the processes
                                      and their threads since each started (from /proc/PID/stat),
                                      and, with --hwm, the largest peak RSS (VmHWM) in MiB
"""
import os
import sys


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command: state is fields[0]; utime and stime are the 14th and 15th of the whole line
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    args = sys.argv[1:]
    hwm = "--hwm" in args
    pids = [a for a in args if a != "--hwm"]
    total = sum(cpu_seconds(p) for p in pids)
    if hwm:
        print(f"{total:.2f} {max(hwm_mib(p) for p in pids):.0f}")
    else:
        print(f"{total:.2f}")


if __name__ == "__main__":
    main()
