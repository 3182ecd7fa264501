# Shared settings for start-slurm.sh / stop-slurm.sh (sourced, not executed).
# The configuration goes to Slurm's default location, /etc/slurm/slurm.conf (+ gres.conf): the slurm executor's
# jobstep plugin strips SLURM_* variables (SLURM_CONF included) before its srun inside the job, so a config anywhere
# else is not found there. start-slurm.sh refuses to overwrite a slurm.conf it did not write. Everything else lives
# under one state directory: its own munged (own key and socket, not /etc/munge), slurmctld and slurmd state, logs
# and pid files. Non-default ports keep it clear of a system Slurm.
EVOCANE_SLURM_DIR="${EVOCANE_SLURM_DIR:-/tmp/evocane-slurm}"
EVOCANE_SLURMCTLD_PORT="${EVOCANE_SLURMCTLD_PORT:-16817}"
EVOCANE_SLURMD_PORT="${EVOCANE_SLURMD_PORT:-16818}"
# 1: the node announces one fake GPU (gres.conf File=/dev/null), so Slurm accepts and schedules --gpus=1 on a
# GPU-less machine and the slurm-gpu profile's GPU submissions run for real (the job gets no CUDA device).
# Slurm's gpu plugin ignores count-only GPUs (no File=), hence the /dev/null device. 0: no GPU.
EVOCANE_SLURM_FAKE_GPU="${EVOCANE_SLURM_FAKE_GPU:-1}"

SLURM_CONF=/etc/slurm/slurm.conf
GRES_CONF=/etc/slurm/gres.conf
CONF_MARKER="# Written by tests/slurm/start-slurm.sh"
MUNGE_SOCKET="$EVOCANE_SLURM_DIR/munge/munge.socket"
MUNGE_KEY="$EVOCANE_SLURM_DIR/munge/munge.key"
RUN_DIR="$EVOCANE_SLURM_DIR/run"
LOG_DIR="$EVOCANE_SLURM_DIR/log"
MUNGED_PID="$RUN_DIR/munged.pid"
SLURMCTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"
export SLURM_CONF

# pid_alive PIDFILE NAME: the pid in PIDFILE is running and its command name is NAME (guards against reused pids).
pid_alive() {
    local pidfile=$1 name=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]
}

# our_conf: /etc/slurm/slurm.conf exists and was written by start-slurm.sh.
our_conf() {
    [ -f "$SLURM_CONF" ] && head -n1 "$SLURM_CONF" | grep -qF "$CONF_MARKER"
}
