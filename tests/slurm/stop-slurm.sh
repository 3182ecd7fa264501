#!/usr/bin/env bash
# Stop the single-node Slurm started by tests/slurm/start-slurm.sh: cancels its jobs, then stops slurmd, slurmctld
# and munged by the pids in their pid files (only those processes). Idempotent. --purge also removes the state dir
# and the /etc/slurm/slurm.conf + gres.conf that start-slurm.sh wrote (never a configuration it did not write).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=slurm-env.sh
. "$HERE/slurm-env.sh"

stop_daemon() {
    local pidfile=$1 name=$2 pid
    if pid_alive "$pidfile" "$name"; then
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        echo "stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}

if pid_alive "$SLURMCTLD_PID" slurmctld; then
    # Every job on this private cluster is ours (tests); cancel them so no slurmstepd outlives slurmd.
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    [ -z "$jobs" ] || scancel $jobs 2>/dev/null || true
fi
stop_daemon "$SLURMD_PID" slurmd
stop_daemon "$SLURMCTLD_PID" slurmctld
stop_daemon "$MUNGED_PID" munged

if [ "${1:-}" = "--purge" ]; then
    if [ -d "$EVOCANE_SLURM_DIR/munge" ]; then
        rm -rf "$EVOCANE_SLURM_DIR"
        echo "removed $EVOCANE_SLURM_DIR"
    fi
    if our_conf; then
        rm -f "$SLURM_CONF" "$GRES_CONF"
        echo "removed $SLURM_CONF $GRES_CONF"
    fi
fi
