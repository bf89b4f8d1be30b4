#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, to run the workflow's cluster profile
# (profiles/slurm) against a real scheduler: tests/test_slurm.py.
#
#   bash tests/slurm_cluster.sh          install (apt-get, if missing) and start; waits until
#                                        the node is idle. Idempotent: a running cluster is
#                                        left as it is.
#   bash tests/slurm_cluster.sh stop     stop the daemons (state and config stay); refuses
#                                        while jobs are queued or running (stop --force).
#   bash tests/slurm_cluster.sh status   sinfo / daemons.
#
# Needs root (Debian or Ubuntu: slurmctld, slurmd, slurm-client, munge). Works in a container
# without systemd or cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none.
#
# Accounting: no slurmdbd. The SLURM executor plugin of Snakemake asks `sacct` for the
# state of its jobs when `sacct` is installed, and `sacct` without slurmdbd only answers
# "accounting storage is disabled"; so the test runs the profile with
# `--slurm-status-command squeue`, which the plugin keeps as long as MinJobAge (how long
# slurmctld remembers a finished job) is at least 3 x its status-check delay (40 s by
# default): MinJobAge=600 here. See docs/cluster.md.
#
# Everything lives under $STATE (default /var/lib/stisdarks-slurm) except the config,
# written to /etc/slurm/slurm.conf where every SLURM command looks for it (an existing
# slurm.conf not written by this script is never overwritten).
set -euo pipefail

STATE=${STISDARKS_SLURM_STATE:-/var/lib/stisdarks-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by stisdarks tests/slurm_cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { printf 'slurm_cluster: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "needs root (it installs packages and starts daemons)"
}

pid_alive() { # pidfile
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if ((${#missing[@]})); then
        command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get"
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # (the packages' own start scripts are refused where there is no init system:
        # harmless, the daemons are started below)
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

write_config() {
    if [[ -e $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: not touching a real cluster"
    fi
    mkdir -p "$STATE"/{ctld,spool,log,run} /etc/slurm
    # the node as slurmd sees it (CPUs, sockets, cores, threads, RealMemory)
    local node
    node=$(slurmd -C | head -n1)
    [[ $node == NodeName=* ]] || die "slurmd -C gave no node line: $node"
    local host=${node%% *}
    host=${host#NodeName=}
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
$MARK
# A single-node test cluster: every daemon runs as root, state in $STATE.
ClusterName=stisdarks
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# no cgroups in a container: processes tracked through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# finished jobs stay known to slurmctld (squeue --states=all) this long: the Snakemake
# SLURM plugin's squeue status command needs >= 120 s
MinJobAge=600
InactiveLimit=0
KillWait=30
Waittime=0
$node State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if ! cmp -s "$tmp" "$CONF"; then
        install -m 0644 "$tmp" "$CONF"
        log "wrote $CONF"
        CONFIG_CHANGED=1
    fi
    rm -f "$tmp"
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating the munge key"
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    if ! pid_alive /run/munge/munged.pid; then
        log "starting munged"
        runuser -u munge -- /usr/sbin/munged
    fi
    for _ in $(seq 1 30); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "munge does not answer (see /var/log/munge/munged.log)"
}

start_daemons() {
    if [[ ${CONFIG_CHANGED:-0} == 1 ]]; then
        stop_daemons # a changed slurm.conf needs fresh daemons
    fi
    if ! pid_alive "$STATE/run/slurmctld.pid"; then
        log "starting slurmctld"
        /usr/sbin/slurmctld
    fi
    if ! pid_alive "$STATE/run/slurmd.pid"; then
        log "starting slurmd"
        /usr/sbin/slurmd
    fi
}

wait_idle() {
    local state=""
    for _ in $(seq 1 120); do
        state=$(sinfo --noheader --format=%T 2>/dev/null | head -n1 || true)
        case $state in
        idle | mixed | allocated | completing)
            log "node $state: $(sinfo --noheader --format='%P %D %c CPUs %m MB %T')"
            return 0
            ;;
        down* | drain* | fail*)
            # after a restart the node may stay down ("Not responding"): bring it back
            scontrol update NodeName="$(sinfo --noheader --format=%N | head -n1)" State=RESUME \
                >/dev/null 2>&1 || true
            ;;
        esac
        sleep 1
    done
    sinfo -N -l >&2 || true
    die "the node is not idle after 120 s (state '$state'); see $STATE/log/"
}

stop_daemons() {
    local name pidfile pid
    for name in slurmd slurmctld; do
        pidfile=$STATE/run/$name.pid
        if pid_alive "$pidfile"; then
            pid=$(cat "$pidfile")
            log "stopping $name ($pid)"
            kill "$pid"
            for _ in $(seq 1 30); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 1
            done
            if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        fi
        rm -f "$pidfile"
    done
}

stop_munge() {
    local pid
    if pid_alive /run/munge/munged.pid; then
        pid=$(cat /run/munge/munged.pid)
        log "stopping munged ($pid)"
        kill "$pid"
    fi
}

case ${1:-start} in
start)
    need_root
    install_packages
    write_config
    start_munge
    start_daemons
    wait_idle
    ;;
stop)
    need_root
    # a Snakemake run waiting on its jobs loses track of them when slurmctld goes away
    # (the SLURM plugin drops jobs whose state it cannot query) and then waits forever
    if [[ ${2:-} != --force ]] && pid_alive "$STATE/run/slurmctld.pid"; then
        jobs=$(squeue --noheader --states=PENDING,RUNNING,COMPLETING \
            --format='%i %j %k %Z' 2>/dev/null || true)
        [[ -z $jobs ]] || die "jobs are queued or running (wait, or: $0 stop --force):
$jobs"
    fi
    stop_daemons
    stop_munge
    ;;
status)
    for name in slurmctld slurmd; do
        if pid_alive "$STATE/run/$name.pid"; then
            echo "$name: running ($(cat "$STATE/run/$name.pid"))"
        else
            echo "$name: stopped"
        fi
    done
    sinfo 2>/dev/null || true
    ;;
*)
    die "usage: $0 [start|stop [--force]|status]"
    ;;
esac
