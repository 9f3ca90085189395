"""What the host checks look at, as functions: gather facts from a testinfra host, judge them.

The judging functions are pure (text in, a reason or None out), so they are tested without a
host; ``test_*.py`` beside this file wire them to testinfra for every host of the inventory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

STRONG_CIPHERS = {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                  "aes256-ctr", "aes192-ctr", "aes128-ctr"}
STRONG_MACS = {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com",
               "hmac-sha2-512", "hmac-sha2-256"}
#: key exchanges CIS names weak (SHA-1 based); anything else OpenSSH offers today is acceptable
WEAK_KEX = {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1"}
# OpenSSH >= 8 defaults, for when only the config file can be read
SSHD_DEFAULTS = {"permitrootlogin": "prohibit-password", "passwordauthentication": "yes",
                 "kbdinteractiveauthentication": "yes", "maxauthtries": "6",
                 "ciphers": "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
                            "aes128-gcm@openssh.com,aes256-gcm@openssh.com",
                 "macs": "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
                         "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
                         "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"}
LOGGERS = ("rsyslogd", "syslog-ng", "systemd-journal", "systemd-journald")
AUDITORS = ("auditd",)
TIME_DAEMONS = ("chronyd", "ntpd", "systemd-timesyncd", "systemd-timesyn", "openntpd", "ntpsec")


# --------------------------------------------------------------------------- sshd


def parse_sshd_t(text: str) -> dict[str, str]:
    """``sshd -T`` output: one lower-case ``key value`` per line."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, _, v = line.strip().partition(" ")
        if k:
            out.setdefault(k.lower(), v.strip())
    return out


def parse_sshd_config(text: str) -> dict[str, str]:
    """The global part of an sshd_config (first value wins, as sshd reads it; Match blocks ignored)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s+|=", line, maxsplit=1)
        key = parts[0].lower()
        if key == "match":
            break
        if len(parts) == 2:
            out.setdefault(key, parts[1].strip())
    if "challengeresponseauthentication" in out:
        out.setdefault("kbdinteractiveauthentication", out["challengeresponseauthentication"])
    return {**SSHD_DEFAULTS, **out}


def root_password_login(s: dict[str, str]) -> str | None:
    v = s.get("permitrootlogin", "").lower()
    return None if v in ("no", "prohibit-password", "without-password", "forced-commands-only") else \
        f"PermitRootLogin is {v or 'unset'}"


def password_auth(s: dict[str, str]) -> str | None:
    bad = [k for k in ("passwordauthentication", "kbdinteractiveauthentication") if s.get(k, "yes").lower() != "no"]
    return None if not bad else ", ".join(f"{k} is {s.get(k, 'yes (default)')}" for k in bad)


def max_auth_tries(s: dict[str, str]) -> str | None:
    try:
        n = int(s.get("maxauthtries", "6"))
    except ValueError:
        return f"MaxAuthTries is {s.get('maxauthtries')!r}"
    return None if n <= 4 else f"MaxAuthTries is {n} (at most 4)"


def weak_crypto(s: dict[str, str]) -> str | None:
    """None when sshd offers only strong ciphers and MACs and no SHA-1 key exchange; else what is weak."""
    def offered(key: str) -> set[str]:
        return {x for x in s.get(key, "").split(",") if x}

    parts = [(label, sorted(bad)) for label, bad in (
        ("ciphers", offered("ciphers") - STRONG_CIPHERS), ("MACs", offered("macs") - STRONG_MACS),
        ("KexAlgorithms", offered("kexalgorithms") & WEAK_KEX)) if bad]
    return None if not parts else "weak " + "; weak ".join(f"{label}: {', '.join(bad)}" for label, bad in parts)


def sshd_settings(host: Any) -> dict[str, str] | None:
    """Effective sshd settings: ``sshd -T`` when possible, else the config file with defaults."""
    for cmd in ("sshd -T", "/usr/sbin/sshd -T"):
        r = host.run(f"{cmd} -C user=root,host=localhost,addr=127.0.0.1 2>/dev/null")
        if r.rc == 0 and r.stdout.strip():
            return parse_sshd_t(r.stdout)
    f = host.file("/etc/ssh/sshd_config")
    if f.exists:
        return parse_sshd_config(f.content_string)
    return None


# --------------------------------------------------------------------------- whose kernel, whose clock


def node_identity() -> tuple[str, str]:
    """This machine's (the controller's) kernel boot id and PID namespace."""
    return (Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip(),
            os.readlink("/proc/self/ns/pid"))


def kernel_identity(host: Any) -> tuple[str, str] | None:
    """The host's kernel boot id and PID namespace, as seen from inside it (None if unreadable)."""
    r = host.run("cat /proc/sys/kernel/random/boot_id && readlink /proc/self/ns/pid")
    words = r.stdout.split()
    return (words[0], words[1]) if r.rc == 0 and len(words) == 2 else None


def shares_node_kernel(host_id: tuple[str, str] | None, node_id: tuple[str, str]) -> bool:
    """True when the host runs on the controller's own kernel (same boot id) from a PID namespace
    of its own: a namespace (container) host of this machine, like every rehearsal-lab host.

    Such a host has no clock of its own: Linux keeps one ``CLOCK_REALTIME`` per kernel (time
    namespaces offset only the monotonic and boot clocks), so its wall clock *is* the node's.
    It also cannot run auditd: the kernel accepts an audit daemon only in its initial PID
    namespace. The controller itself (``local://``, or ssh to this machine) is never such a host.
    """
    return host_id is not None and host_id[0] == node_id[0] and host_id[1] != node_id[1]


# --------------------------------------------------------------------------- processes, ports, firewall


def running(host: Any, names: tuple[str, ...]) -> list[str]:
    r = host.run("ps -eo comm=")
    comms = {c.strip() for c in r.stdout.splitlines()}
    return [n for n in names if n in comms]


def parse_listening(ss_output: str) -> set[tuple[str, int]]:
    """``ss -Htlnu`` (or ``ss -tlnu``): (local address, port) of every listening socket."""
    out: set[tuple[str, int]] = set()
    for line in ss_output.splitlines():
        cols = line.split()
        if len(cols) < 5 or cols[0] in ("Netid", "State"):
            continue
        local = cols[4] if cols[0] in ("tcp", "udp") else cols[3]
        addr, _, port = local.rpartition(":")
        if port.isdigit():
            out.add((addr.strip("[]").split("%")[0], int(port)))
    return out


def undeclared_ports(listening: set[tuple[str, int]], allowed: set[int]) -> list[int]:
    loopback = ("127.", "::1")
    return sorted({p for a, p in listening if not a.startswith(loopback) and p not in allowed})


def default_deny(nft_ruleset: str, iptables_s: str = "") -> str | None:
    """None when an input hook drops by default (nftables) or INPUT's policy is DROP (iptables)."""
    chain_re = re.compile(r"type filter hook input[^;]*;[^}]*?policy (drop|accept)", re.S)
    policies = chain_re.findall(nft_ruleset)
    if "drop" in policies:
        return None
    if re.search(r"^-P INPUT DROP", iptables_s, re.M):
        return None
    if policies:
        return "the nftables input chain's policy is accept"
    return "no input firewall chain with a drop policy (nftables or iptables)"


# --------------------------------------------------------------------------- the DR copy

#: what a DR host holds of its primary's heartbeat (``jiyue dr protect``, migration/dr.py): the
#: synced file, the replayed database, a backup host's latest complete snapshot of each primary
DR_HEARTBEAT = "/var/lib/jiyue-dr/heartbeat/beat"
DR_BACKUPS = "/var/lib/jiyue-dr/backups"
_DR_BEATS = (
    "now=$(date +%s.%N); echo now $now; "
    f"test -r {DR_HEARTBEAT} && echo files $(cat {DR_HEARTBEAT}); "
    "command -v psql >/dev/null && cd / && runuser -u postgres -- psql -XAt -d jiyue_dr "
    "-c 'SELECT extract(epoch FROM beat) FROM heartbeat' 2>/dev/null | sed 's/^/database /'; "
    f"for m in {DR_BACKUPS}/*/latest/manifest.json; do test -r \"$m\" && "
    "echo backup $(basename $(dirname $(dirname \"$m\"))) $(python3 -c "
    "'import json,sys; print(json.load(open(sys.argv[1]))[\"beat\"])' \"$m\"); done; true")


def dr_beats(host: Any) -> dict[str, float]:
    """The primary heartbeats a DR host holds, by where (``files``, ``database``, ``backup <primary>``),
    and the host's ``now``."""
    out: dict[str, float] = {}
    for line in host.run(_DR_BEATS).stdout.splitlines():
        *what, value = line.split()
        try:
            out[" ".join(what)] = float(value)
        except ValueError:
            continue
    return out


def dr_copy_problem(beats: dict[str, float], rpo_minutes: int, *, backup: bool,
                    primaries: tuple[str, ...] = ()) -> str | None:
    """None when the DR host holds a copy whose newest primary heartbeat is within the RPO (a
    backup host: a backup of each of ``primaries``); else why."""
    now = beats.get("now")
    missing = [p for p in primaries if f"backup {p}" not in beats] if backup else []
    if missing and len(missing) < len(primaries):
        return f"no backup of {', '.join(missing)} is on this backup host (`jiyue dr status` says why)"
    held = {k: v for k, v in beats.items() if k != "now" and (k.startswith("backup ") if backup
                                                              else not k.startswith("backup "))}
    if now is None or not held:
        return ("no backup of its primary is on this backup host" if backup else
                "no copy of its primary is on this DR host") + " (`jiyue dr protect` makes it)"
    worst, age = max(((k, now - v) for k, v in held.items()), key=lambda kv: kv[1])
    if age > rpo_minutes * 60:
        return (f"its copy ({worst}) is {age / 60:.1f} min behind its primary, past the RPO of {rpo_minutes} min: "
                "look at `jiyue dr status` (the sync or backup service, the link to the primary)")
    return None
