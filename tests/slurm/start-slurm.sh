#!/usr/bin/env bash
# Configure and start a single-node Slurm on this machine for the profile tests (tests/test_slurm_profile.py).
#
#   sudo tests/slurm/start-slurm.sh        # idempotent: returns at once if it is already up
#   sinfo; sbatch --wrap hostname          # clients find /etc/slurm/slurm.conf, no environment needed
#   sudo tests/slurm/stop-slurm.sh [--purge]   # stops the three daemons; --purge also removes the state directory
#                                              # and the slurm.conf/gres.conf it wrote
#
# Installs nothing: needs Debian's slurm-wlm (slurmctld, slurmd, slurm-client) and munge, and root (slurmd runs jobs
# as the submitting user). One node named after this host with its real CPUs and memory (from `slurmd -C`), two
# partitions on it (cpu: default, gpu) and one fake GPU (EVOCANE_SLURM_FAKE_GPU=0 for none). No accounting (sacct
# does not work: use `squeue` as the status command), no cgroups. Settings: tests/slurm/slurm-env.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=slurm-env.sh
. "$HERE/slurm-env.sh"

die() { echo "start-slurm.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as the submitting user)"
for tool in munged munge unmunge slurmctld slurmd scontrol sinfo sbatch squeue srun; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install slurm-wlm munge"
done

node_idle() {
    local state
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1) || return 1
    [ "$state" = "idle" ] || [ "$state" = "mixed" ] || [ "$state" = "allocated" ]
}

NODE="$(hostname -s)"
if pid_alive "$MUNGED_PID" munged && pid_alive "$SLURMCTLD_PID" slurmctld && pid_alive "$SLURMD_PID" slurmd \
    && node_idle; then
    echo "Slurm already running (node $NODE)."
    exit 0
fi

if [ -e "$SLURM_CONF" ] && ! our_conf; then
    die "$SLURM_CONF exists and was not written by this script; not touching a real Slurm configuration"
fi

# Something half-up (a crashed daemon, a stale pid file): stop what is ours and start clean.
"$HERE/stop-slurm.sh" >/dev/null

umask 022
mkdir -p "$EVOCANE_SLURM_DIR"/{munge,run,log,state,spool} "$(dirname "$SLURM_CONF")"
chmod 0755 "$EVOCANE_SLURM_DIR"
chmod 0700 "$EVOCANE_SLURM_DIR/munge"

# --- munge: own key and socket --------------------------------------------------------------------------------------
if [ ! -s "$MUNGE_KEY" ]; then
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
fi
chmod 0400 "$MUNGE_KEY"
rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
munged --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$MUNGED_PID" \
    --log-file="$LOG_DIR/munged.log" --seed-file="$EVOCANE_SLURM_DIR/munge/munged.seed"
# munged runs as root here; the socket must still be usable by non-root submitters (CI may run pytest as a user).
chmod 0711 "$EVOCANE_SLURM_DIR/munge"
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null || die "munge does not work: $LOG_DIR/munged.log"

# --- slurm.conf for this host ---------------------------------------------------------------------------------------
# `slurmd -C` prints this machine's node line (CPUs, sockets, cores, threads, RealMemory); keep it verbatim apart
# from the name so slurmd does not drain the node for a mismatch.
NODE_HARDWARE="$(slurmd -C | head -n1 | sed -E 's/^NodeName=[^ ]+ //')"
CPUS="$(sed -E 's/.*CPUs=([0-9]+).*/\1/' <<<"$NODE_HARDWARE")"
REAL_MEMORY="$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$NODE_HARDWARE")"
GRES_LINE=""
GRES_TYPES=""
GRES_LINES="AutoDetect=off"
if [ "$EVOCANE_SLURM_FAKE_GPU" = 1 ]; then
    GRES_LINE=" Gres=gpu:1"
    GRES_TYPES="GresTypes=gpu"
    GRES_LINES="$GRES_LINES"$'\n'"Name=gpu File=/dev/null"
fi

cat >"$SLURM_CONF" <<CONF
$CONF_MARKER for $NODE ($CPUS CPUs, $REAL_MEMORY MB). Single-node test cluster.
ClusterName=evocane-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$EVOCANE_SLURMCTLD_PORT
SlurmdPort=$EVOCANE_SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$EVOCANE_SLURM_DIR/state
SlurmdSpoolDir=$EVOCANE_SLURM_DIR/spool
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( REAL_MEMORY / CPUS ))
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
SlurmdTimeout=60
$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 $NODE_HARDWARE$GRES_LINE State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
CONF
{ echo "$CONF_MARKER"; echo "$GRES_LINES"; } >"$GRES_CONF"

# --- daemons --------------------------------------------------------------------------------------------------------
slurmctld -c -i -f "$SLURM_CONF"
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
scontrol ping >/dev/null 2>&1 || die "slurmctld did not come up: $LOG_DIR/slurmctld.log"
slurmd -f "$SLURM_CONF" -N "$NODE"
for _ in $(seq 150); do node_idle && break; sleep 0.2; done
if ! node_idle; then
    scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
    sleep 1
    node_idle || die "node $NODE is $(sinfo -h -n "$NODE" -o %T) — see $LOG_DIR/slurmd.log and slurmctld.log"
fi
echo "Slurm up: node $NODE, $CPUS CPUs, $REAL_MEMORY MB, partitions cpu (default) and gpu," \
    "fake GPUs: $EVOCANE_SLURM_FAKE_GPU."
