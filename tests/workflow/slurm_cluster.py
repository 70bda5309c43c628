"""A throwaway one-node SLURM cluster on localhost, for testing the workflow's SLURM path for real.

Starts ``munged``, ``slurmctld`` and ``slurmd`` from Debian's ``munge`` and ``slurm-wlm`` packages
directly (no systemd), each in the foreground as a child process, with every file (key, sockets,
state, spool, logs) under one private folder and ports chosen free. Its ``slurm.conf`` is also
copied to ``/etc/slurm/slurm.conf``, the path compiled into the SLURM tools: the executor plugin
drops ``SLURM_CONF`` from the environment of the ``srun`` it starts inside each job, so that
``srun`` finds its cluster only there. An existing file there that this module did not write is
never replaced (the cluster is then unavailable), and the copy is removed on ``stop()``.
There is no ``slurmdbd``: job states come from ``squeue`` (kept for ``MinJobAge`` seconds after
a job ends), and ``sacct`` answers nothing.

Facts this relies on (SLURM 22.05 as packaged by Debian 12):

- ``NodeName`` must equal ``hostname -s``; the node line is taken from ``slurmd -C``.
- No ``cgroup.conf`` and no cgroup plugins (``CgroupPlugin=disabled`` makes slurmd exit):
  processes are tracked with ``proctrack/linuxproc``, memory by ``jobacct_gather/linux`` polling
  every second, and a step over its ``--mem`` is killed (``JobAcctGatherParams=OverMemoryKill``).
- CPUs are allocated one by one (``CR_CPU_Memory``), so two 1-CPU jobs share a 2-CPU node.
- ``slurmd`` runs as root (it starts jobs as their submitting user), so the cluster needs root.

Usage::

    cluster = SlurmCluster(tmp_path / "slurm")
    cluster.start()              # raises ClusterUnavailable with the reason when it cannot start
    subprocess.run(["sbatch", ...], env=cluster.env)
    cluster.stop()

Run ``python tests/workflow/slurm_cluster.py DIR`` to start one by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# One-node test cluster: see tests/workflow/slurm_cluster.py"
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "srun")


class ClusterUnavailable(RuntimeError):
    """The cluster could not start here; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"({path.name} was not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class SlurmCluster:
    """One-node SLURM cluster (controller and compute node on this host) living in ``root``.

    Attributes:
        root: folder holding every file of the cluster.
        partition: name of the only partition (the default one).
        env: environment for SLURM clients and for snakemake (``SLURM_CONF`` set).
        cpus, memory_mb: what the node offers.
    """

    partition = "debug"

    def __init__(self, root: Path, min_job_age_s: int = 600):
        self.root = Path(root)
        self.min_job_age_s = min_job_age_s
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)
        self.cpus = 0
        self.memory_mb = 0
        self.installed_conf = False

    # -- set-up ---------------------------------------------------------------------------------

    def _check_prerequisites(self) -> None:
        missing = [name for name in DAEMONS + CLIENTS if not Path(self._program(name)).exists()]
        if missing:
            raise ClusterUnavailable(
                f"SLURM/munge programs not found: {', '.join(missing)} "
                "(Debian: apt-get install slurm-wlm munge)"
            )
        if os.geteuid() != 0:
            raise ClusterUnavailable("slurmd must run as root to start jobs; not running as root")

    @staticmethod
    def _program(name: str) -> str:
        """The path of ``name``: on PATH, else in /usr/sbin (daemons, when PATH lacks it)."""
        return shutil.which(name) or str(Path("/usr/sbin", name))

    def _node_line(self) -> str:
        """``NodeName=... CPUs=... RealMemory=...`` of this host, as slurmd sees its hardware."""
        out = subprocess.run([self._program("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("NodeName=")), None)
        if line is None:
            raise ClusterUnavailable(f"slurmd -C printed no node line: {out.stderr.strip()}")
        fields = dict(item.split("=", 1) for item in line.split())
        hostname = socket.gethostname().split(".")[0]
        if fields["NodeName"] != hostname:
            raise ClusterUnavailable(
                f"slurmd -C names the node {fields['NodeName']!r}, hostname -s is {hostname!r}"
            )
        self.cpus = int(fields["CPUs"])
        # Leave room for the daemons and the test itself; slurmd accepts less than it has.
        self.memory_mb = int(fields["RealMemory"]) - 512
        self.node = hostname
        return f"NodeName={hostname} CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN"

    def _write_config(self) -> Path:
        r = self.root
        for sub in ("state", "spool", "log", "munge"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        node_line = self._node_line()
        conf = r / "slurm.conf"
        conf.write_text(
            "\n".join(
                [
                    MARKER,
                    "ClusterName=recontest",
                    f"SlurmctldHost={self.node}",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={r / 'slurmctld.pid'}",
                    f"SlurmdPidFile={r / 'slurmd.pid'}",
                    f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                    "SlurmctldDebug=info",
                    "SlurmdDebug=info",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "MpiDefault=none",
                    "JobAcctGatherType=jobacct_gather/linux",
                    "JobAcctGatherFrequency=task=1",
                    "JobAcctGatherParams=OverMemoryKill",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU_Memory",
                    f"MinJobAge={self.min_job_age_s}",
                    "ReturnToService=2",
                    "KillWait=5",
                    "InactiveLimit=0",
                    "MailProg=/bin/true",
                    node_line,
                    f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        return conf

    def _install_config(self, conf: Path) -> None:
        """Copy ``conf`` to the tools' compiled-in path, unless a real cluster's file is there."""
        if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text(errors="replace").startswith(MARKER):
            raise ClusterUnavailable(
                f"{SYSTEM_CONF} exists and belongs to another SLURM set-up; not replacing it"
            )
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        tmp = SYSTEM_CONF.with_name(f".{SYSTEM_CONF.name}.{os.getpid()}")
        shutil.copyfile(conf, tmp)
        tmp.replace(SYSTEM_CONF)
        self.installed_conf = True

    def _start_munge(self) -> None:
        m = self.root / "munge"
        key = m / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        m.chmod(0o700)
        self._spawn(
            "munged",
            [
                self._program("munged"),
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={m / 'munge.socket'}",
                f"--pid-file={m / 'munged.pid'}",
                f"--seed-file={m / 'munged.seed'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
            ],
        )
        self._wait(
            lambda: (m / "munge.socket").exists(),
            20,
            "munged did not open its socket",
            self.root / "log" / "munged.log",
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.root / "log" / f"{name}.stdout", "wb") as log:  # the child keeps its own handle
            self.processes[name] = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait(self, ready, timeout_s: float, what: str, log: Path) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise ClusterUnavailable(
                        f"{name} exited with status {proc.returncode} while starting; "
                        f"its log ends:\n{_tail(self.root / 'log' / f'{name}.log')}\n"
                        f"{_tail(self.root / 'log' / f'{name}.stdout')}"
                    )
            if ready():
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"{what} within {timeout_s:.0f} s; {log.name} ends:\n{_tail(log)}")

    def _node_state(self) -> str:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True, timeout=20
        )
        return out.stdout.strip()

    def start(self, timeout_s: float = 60) -> SlurmCluster:
        """Start munged, slurmctld and slurmd and wait until the node is idle."""
        self._check_prerequisites()
        conf = self._write_config()
        self.env["SLURM_CONF"] = str(conf)
        try:
            self._install_config(conf)
            self._start_munge()
            self._spawn("slurmctld", [self._program("slurmctld"), "-D", "-i", "-f", str(conf)])
            self._spawn("slurmd", [self._program("slurmd"), "-D", "-f", str(conf)])
            self._wait(
                lambda: self._node_state() == "idle",
                timeout_s,
                "the node did not become idle",
                self.root / "log" / "slurmctld.log",
            )
        except BaseException:
            self.stop()
            raise
        return self

    # -- use and tear-down ------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (running, or ended less than MinJobAge ago)."""
        fmt = "%i|%j|%T|%r|%l|%m|%C"
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-o", fmt],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        keys = ("id", "name", "state", "reason", "time_limit", "min_memory", "cpus")
        return [dict(zip(keys, line.split("|"), strict=True)) for line in out.stdout.splitlines() if line]

    def _active_jobs(self) -> bool:
        try:
            return any(j["state"] in ("PENDING", "RUNNING", "COMPLETING") for j in self.jobs())
        except (subprocess.SubprocessError, OSError):
            return False

    def stop(self) -> None:
        """Cancel every job and stop the daemons (slurmd, slurmctld, then munged)."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env, capture_output=True, timeout=20)
            # Let slurmd kill the jobs' processes before it stops (they would outlive it).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self._active_jobs():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.installed_conf and SYSTEM_CONF.exists():
            if SYSTEM_CONF.read_text(errors="replace").startswith(MARKER):
                SYSTEM_CONF.unlink()
            self.installed_conf = False

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    import sys

    cluster = SlurmCluster(Path(sys.argv[1]).resolve())
    cluster.start()
    print(f"SLURM cluster up: export SLURM_CONF={cluster.env['SLURM_CONF']}  (Ctrl-C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
