# Shared by scripts/slurm/up and scripts/slurm/down: where the one-node cluster keeps its files.
# shellcheck shell=bash

SLURM_DIR=${ASPO_SLURM_DIR:-/var/lib/aspo-slurm}
ETC=$SLURM_DIR/etc
LOGS=$SLURM_DIR/log
RUN=$SLURM_DIR/run
STATE=$SLURM_DIR/state
DB_DIR=$SLURM_DIR/mariadb
DB_PORT=${ASPO_SLURM_DB_PORT:-3307}
DB_SOCKET=$RUN/mariadb/mariadb.sock
PARTITION=${ASPO_SLURM_PARTITION:-main}
CLUSTER=${ASPO_SLURM_CLUSTER:-aspo}
export SLURM_CONF=$ETC/slurm.conf

# name -> pid file; started in this order, stopped in the reverse one
DAEMONS=(munged mariadb slurmdbd slurmctld slurmd)
declare -A PIDFILE=(
  [munged]=$RUN/munge/munged.pid [mariadb]=$RUN/mariadb/mariadb.pid [slurmdbd]=$RUN/slurmdbd.pid
  [slurmctld]=$RUN/slurmctld.pid [slurmd]=$RUN/slurmd.pid
)
declare -A LOGFILE=(
  [munged]=$LOGS/munged.log [mariadb]=$LOGS/mariadb.log [slurmdbd]=$LOGS/slurmdbd.log
  [slurmctld]=$LOGS/slurmctld.log [slurmd]=$LOGS/slurmd.log
)

daemon_pid() {  # the pid of a running daemon, or nothing
  local file=${PIDFILE[$1]} pid
  [[ -s $file ]] || return 1
  pid=$(tr -dc 0-9 <"$file")
  [[ -n $pid && -d /proc/$pid ]] || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}

running() { daemon_pid "$1" >/dev/null; }

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds; false when it never does
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}
