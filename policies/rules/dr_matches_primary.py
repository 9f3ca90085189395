"""jiyue-dr-matches-primary: a system's DR counterpart can carry its load, in the mode its RPO asks.

``jiyue-dr-counterpart`` sees that a counterpart exists; this rule judges what it is, against the
city's facts (a system's capacity at the primary site and its row of the DR table, jiyue/dr.py):

- hot or warm: as many standby servers as the primary has instances, of the same flavor, each
  with a data volume of the primary's size, running (a warm one's application is stopped on the
  host, not its server: its database replays the primary's);
- cold: no standby server but one backup host, whose volume holds at least
  the facts' ``backup_volume_gb`` (the system's data times the retention's factor, jiyue/dr.py), and a backup schedule
  (``backupIntervalMinutes`` on its volumes) no longer than the RPO allows;
- every standby volume's ``drMode`` is the mode the DR table gives the system's RPO and RTO: an
  RPO of 0 is synchronous replication (never cold), an RPO below the shortest backup interval is
  replication, never a backup schedule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from ..citations import mlps
from ..core import Context, Resource, RuleMeta

META = RuleMeta(
    name="jiyue-dr-matches-primary",
    description="A hot or warm DR counterpart has the primary's servers, flavor and data volumes; every "
                "counterpart's mode and backup interval follow the system's RPO and RTO.",
    severity="high",
    enforcement="mandatory",
    citation=mlps("8.1.4.9 c)", "应提供重要数据处理系统的热冗余，保证系统的高可用性"),
    requirements=("T3.1",),
    remediation="Declare the standby from the system's own capacity and its DR mode from the city's DR "
                "table (infra/program.py does both); change the system's RPO/RTO, not the standby.",
    kind="stack",
)
SERVER = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
#: a warm standby runs too: its database replays the primary's, its application is stopped on the host
RUNNING = {"hot": "active", "warm": "active"}


def check_stack(resources: list[Resource], ctx: Context) -> Iterator[tuple[str, str | None]]:
    st, city = ctx.stack, ctx.city
    if city is None or st.site != "dr" or not st.department:
        return
    servers: dict[str, list[Resource]] = {}
    volumes: dict[str, list[Resource]] = {}
    for r in resources:
        if r.type in (SERVER, VOLUME):
            sid = ctx.system_of(r)
            if sid:
                (servers if r.type == SERVER else volumes).setdefault(sid, []).append(r)
    for sid in city.systems_of_department.get(st.department, ()):
        s = city.systems[sid]
        if not s.needs_dr or s.zone != st.zone or s.dr_mode is None:
            continue
        mine, vols = servers.get(sid, []), volumes.get(sid, [])
        need = f"RPO {s.rpo_minutes} min, RTO {s.rto_minutes} min: {s.dr_mode}"
        for v in vols:
            meta = v.get("metadata") if isinstance(v.get("metadata"), Mapping) else {}
            mode = meta.get("drMode")
            if mode is not None and mode != s.dr_mode:
                yield f"volume {v.name} of {sid} is declared {mode}, but the city's DR table says {need}", v.urn
            interval = meta.get("backupIntervalMinutes")
            if interval is not None and s.rpo_minutes is not None and int(interval) > max(s.rpo_minutes, 0):
                yield (f"volume {v.name} of {sid} is backed up every {interval} min, more than its RPO of "
                       f"{s.rpo_minutes} min allows to lose"), v.urn
        if s.dr_mode == "cold":
            backup = f"{sid}-backup"
            for srv in mine:
                if srv.get("name") != backup:
                    yield (f"{sid} is cold at the DR site ({need}) but {srv.name} is a standby server; "
                           f"its one server there is its backup host {backup}"), srv.urn
            if not any(srv.get("name") == backup for srv in mine):
                yield f"{sid} is cold at the DR site ({need}) but has no backup host ({backup})", None
            want = s.backup_volume_gb or 0
            for v in vols:
                if v.get("size") is not None and int(v.get("size")) < want:
                    yield (f"backup volume {v.name} of {sid} holds {v.get('size')} GB; its backups need {want} GB "
                           f"(its data, {s.instances} x {s.volume_gb} GB, times the retention's factor)"), v.urn
            if not vols:
                yield f"{sid} is cold at the DR site ({need}) but its backup host has no backup volume", None
            continue
        if mine and len(mine) != s.instances:
            yield (f"{sid} has {len(mine)} standby server(s) at the DR site, the primary has {s.instances}: "
                   f"a {s.dr_mode} standby must carry the primary's load"), None
        for srv in mine:
            flavor = srv.get("flavorName")
            if flavor is not None and flavor != s.flavor:
                yield f"standby {srv.name} of {sid} is {flavor}, the primary runs {s.flavor}", srv.urn
            power = srv.get("powerState")
            if power is not None and power != RUNNING[s.dr_mode]:
                yield (f"standby {srv.name} of {sid} is {power}; a {s.dr_mode} standby is "
                       f"{RUNNING[s.dr_mode]} ({need})"), srv.urn
        data = vols  # boot disks are the servers' block devices, not volumes of their own
        sizes = Counter(int(v.get("size")) for v in data if v.get("size") is not None)
        for size, n in sorted(sizes.items()):
            if size < s.volume_gb:
                yield (f"{n} standby volume(s) of {sid} hold {size} GB, the primary's hold {s.volume_gb} GB"), None
        if mine and len(data) < s.instances:
            yield f"{sid} has {len(data)} standby data volume(s) at the DR site, the primary has {s.instances}", None
