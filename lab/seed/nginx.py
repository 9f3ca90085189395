"""nginx sites: content and server blocks per data path, and their traffic (real requests now,
older requests from the department's LAN in the rotated log)."""

from __future__ import annotations

import datetime as dt
import posixpath
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from jiyue.registry.schema import LegacyHost, System
from lab.lab import Lab
from lab.seed.base import (
    ACTIVITY_DAYS,
    DAY,
    SeedError,
    binary_blob,
    epoch,
    lan_client,
    past_mtime,
    run_python,
    seeded_rng,
    service_on,
    sh,
    share_of,
    zh_text,
)
from lab.seed.tree import Entry, extract, tree_summary


def _site_entries(system: System, site: str, budget: int, seed: int) -> list[Entry]:
    """index.html, HTML pages, PNG and PDF files, an uploads directory, dated <= last update."""
    rng = seeded_rng(seed, system.id, "site", site)
    last = system.om.last_update
    pages: list[Entry] = []
    binaries: list[Entry] = []
    used = 0
    n = 0
    while used < budget or n < 6:
        n += 1
        if n % 3:
            title = zh_text(rng, 4)
            body = "".join(f"<p>{zh_text(rng, rng.randint(8, 40))}</p>\n" for _ in range(rng.randint(3, 30)))
            html = (f"<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title>"
                    f"</head>\n<body><h1>{title}</h1>\n{body}</body></html>\n").encode()
            pages.append(Entry(f"page-{n:04d}.html", html, 0o644, mtime=past_mtime(rng, last)))
            used += len(html)
        else:
            kind = rng.choice(("png", "pdf"))
            size = int(min(2 ** rng.uniform(12, 17), max(budget - used, 4096)))
            data = binary_blob(rng, kind, size)
            folder = "assets" if kind == "png" else "files"
            binaries.append(Entry(f"{folder}/{kind}-{n:04d}.{kind}", data, 0o644, mtime=past_mtime(rng, last)))
            used += len(data)
    links = "\n".join(f'<li><a href="{e.rel}">{e.rel}</a></li>' for e in pages + binaries)
    index = (
        f"<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{system.names.zh}</title></head>\n<body>\n<h1>{system.names.zh}</h1>\n"
        f"<p>{system.names.en} ({system.id}) &mdash; {system.function}</p>\n<ul>\n{links}\n</ul>\n</body></html>\n"
    ).encode()
    stamp = epoch(last, 3600)
    dirs = [Entry("", None, 0o755, mtime=stamp), Entry("assets", None, 0o755, mtime=stamp),
            Entry("files", None, 0o755, mtime=stamp),
            Entry("uploads", None, 0o755, "www-data", "www-data", mtime=stamp)]
    robots = Entry("robots.txt", b"User-agent: *\nDisallow: /uploads/\n", 0o644, mtime=stamp)
    return [*dirs, Entry("index.html", index, 0o644, mtime=stamp), robots, *pages, *binaries]


#: where a site's certificate and key live on a legacy host (a public site answers on 443 too)
TLS_DIR = "/etc/ssl/jiyue"


def _nginx_conf(site: str, root: str, default: bool, tls: bool = False) -> str:
    listen = "listen 80 default_server;" if default else "listen 80;"
    if tls:
        listen += (f"\n    listen 443 ssl{' default_server' if default else ''};"
                   f"\n    ssl_certificate {TLS_DIR}/{site}.crt;\n    ssl_certificate_key {TLS_DIR}/{site}.key;")
    return (
        f"# {site}: seeded by the jiyue rehearsal lab\n"
        f"server {{\n    {listen}\n    server_name {site};\n    root {root};\n    index index.html;\n"
        f"    charset utf-8;\n    location / {{\n        try_files $uri $uri/ =404;\n    }}\n}}\n"
    )


def _tls_files(lab: Lab, host: str, site: str) -> None:
    """A self-signed certificate for a public site, its key readable by root alone."""
    sh(lab, host, f"mkdir -p {TLS_DIR} && chmod 0755 {TLS_DIR}\n"
                  f"openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN={site} "
                  f"-keyout {TLS_DIR}/{site}.key -out {TLS_DIR}/{site}.crt 2>/dev/null\n"
                  f"chmod 0600 {TLS_DIR}/{site}.key && chmod 0644 {TLS_DIR}/{site}.crt")


def seed_nginx(lab: Lab, host: str, system: System, paths: Sequence[str], budget: int,
               seed: int) -> list[dict[str, Any]]:
    """Sites with content and server blocks; nginx enabled, started and checked."""
    sites: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, path in enumerate(paths):
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", posixpath.basename(path.rstrip("/")) or "site")
        while name in names:
            name += "-2"
        names.add(name)
        entries = _site_entries(system, name, share_of(budget, len(paths)), seed)
        extract(lab, host, path, entries)
        tls = system.public_facing and i == 0
        if tls:
            _tls_files(lab, host, name)
        conf = _nginx_conf(name, path, default=i == 0, tls=tls)
        sh(lab, host, f"cat > /etc/nginx/sites-available/{name}\n"
                      f"ln -sfn ../sites-available/{name} /etc/nginx/sites-enabled/{name}", conf.encode())
        sites.append({"server_name": name, "default": i == 0, "config": f"/etc/nginx/sites-available/{name}",
                      "tls": tls,
                      **tree_summary(path, entries),
                      "sizes": {e.rel: len(e.data) for e in entries if e.data is not None}})
    sh(lab, host, "rm -f /etc/nginx/sites-enabled/default\nnginx -t -q")
    service_on(lab, host, "nginx", reload=True)
    for site in sites:
        body = run_python(lab, host, _FETCH, {"host": site["server_name"], "path": "/"})
        if system.names.zh not in body:
            raise SeedError(f"{host}: nginx does not serve the index of {site['path']}: {body[:200]!r}")
    return sites


_FETCH = """
import json, sys, urllib.request
a = json.loads(sys.argv[1])
req = urllib.request.Request("http://127.0.0.1" + a["path"], headers={"Host": a["host"]})
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
"""


_REQUESTS = """
import json, sys, urllib.error, urllib.request
n = 0
for site, path, agent in json.loads(sys.argv[1]):
    req = urllib.request.Request("http://127.0.0.1" + path, headers={"Host": site, "User-Agent": agent})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    except urllib.error.HTTPError:
        pass
    n += 1
print(n)
"""


_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0",
)


def _access_lines(rng: random.Random, sites: Sequence[dict[str, Any]], client_of: Callable[[random.Random], str],
                  times: Sequence[int]) -> str:
    lines = []
    for t in sorted(times):
        site = rng.choice(sites)
        files = site["sha256_files"]
        rel = rng.choice(["", "index.html", *sorted(files)[:40]])
        status, size = (200, site["sizes"][rel or "index.html"]) if rng.random() > 0.03 else (404, 153)
        stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'{client_of(rng)} - - [{stamp}] "GET /{rel} HTTP/1.1" {status} {size} "-" '
                     f'"{rng.choice(_AGENTS)}"\n')
    return "".join(lines)


def web_history(lab: Lab, host: str, sites: Sequence[dict[str, Any]], legacy: LegacyHost, times: Sequence[int],
                seed: int) -> int:
    """Older requests from the LAN in ``/var/log/nginx/access.log.1`` (as logrotate leaves it)."""
    rng = seeded_rng(seed, legacy.name, "access")
    text = _access_lines(rng, sites, lambda r: lan_client(r, legacy.address), times)
    newest = max(times) if times else int(time.time()) - ACTIVITY_DAYS * DAY
    sh(lab, host, "cat > /var/log/nginx/access.log.1\nchown www-data:adm /var/log/nginx/access.log.1\n"
                  f"chmod 0640 /var/log/nginx/access.log.1\ntouch -d @{newest} /var/log/nginx/access.log.1",
       text.encode())
    return len(times)


def web_requests(lab: Lab, host: str, sites: Sequence[dict[str, Any]], count: int, seed: int) -> int:
    """Real requests to the host's own nginx, which logs them in ``access.log``."""
    rng = seeded_rng(seed, host, "requests", time.time_ns())
    reqs = []
    for _ in range(count):
        site = rng.choice(sites)
        rel = rng.choice(["", *sorted(site["sha256_files"])[:40], "missing.html"])
        reqs.append([site["server_name"], "/" + rel, rng.choice(_AGENTS)])
    return int(run_python(lab, host, _REQUESTS, reqs).strip() or 0)
