"""The host checks' metadata, the same shape as the pack's rules (name, severity, citation, fix)."""

from __future__ import annotations

from ..citations import Citation, mlps
from ..core import RuleMeta


def _host(name: str, description: str, severity: str, citation: Citation, remediation: str) -> RuleMeta:
    return RuleMeta(name=name, description=description, severity=severity,  # type: ignore[arg-type]
                    enforcement="mandatory", citation=citation, requirements=("G8", "T4.3"),
                    remediation=remediation, kind="resource")


HOST_RULES: dict[str, RuleMeta] = {m.name: m for m in (
    RuleMeta(name="jiyue-host-dr-copy-current", description="A DR host holds its primary's copy (a standby, "
             "or a cold system's backups), no older than the system's RPO; not applicable elsewhere.",
             severity="high", enforcement="mandatory",
             citation=mlps("8.1.4.9 b)", "应提供异地实时备份功能，利用通信网络将重要数据实时备份至备份场地"),
             requirements=("T3.1",), remediation="Protect the system (`jiyue dr protect --system S`); if it is "
             "protected, `jiyue dr status` says what keeps its copy behind (the DR host, its sync or backup "
             "service, the link to the primary).", kind="resource"),
    _host("jiyue-host-sshd-no-root-password", "sshd refuses root logins by password (CIS 5.2.x PermitRootLogin).",
          "high", mlps("8.1.4.1 a)", "应对登录的用户进行身份标识和鉴别，身份标识具有唯一性"),
          "Set 'PermitRootLogin no' (or prohibit-password) in /etc/ssh/sshd_config and reload sshd."),
    _host("jiyue-host-sshd-no-password-auth", "sshd accepts keys only: no password or keyboard-interactive "
          "authentication.", "high",
          mlps("8.1.4.1 d)", "应采用口令、密码技术、生物技术等两种或两种以上组合的鉴别技术，"
                             "且其中一种鉴别技术至少应使用密码技术来实现"),
          "Set 'PasswordAuthentication no' and 'KbdInteractiveAuthentication no'; reload sshd."),
    _host("jiyue-host-sshd-max-auth-tries", "sshd allows at most 4 authentication attempts per connection.",
          "medium", mlps("8.1.4.1 b)", "应具有登录失败处理功能，应配置并启用结束会话、限制非法登录次数和当登录连接超时"
                              "自动退出等相关措施"),
          "Set 'MaxAuthTries 4' in /etc/ssh/sshd_config; reload sshd."),
    _host("jiyue-host-sshd-strong-ciphers", "sshd offers only strong ciphers and MACs (AEAD/CTR ciphers, "
          "SHA-2 MACs) and no SHA-1 key exchange.", "medium",
          mlps("8.1.2.2 b)", "应采用密码技术保证通信过程中数据的保密性"),
          "In a drop-in read before the others (e.g. /etc/ssh/sshd_config.d/50-cis.conf; sshd keeps the first "
          "value it reads) set Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
          "aes256-ctr,aes192-ctr,aes128-ctr, MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com and "
          "KexAlgorithms without diffie-hellman-*-sha1; check with `sshd -t`, then reload sshd."),
    _host("jiyue-host-logging", "A system logger runs (rsyslogd, syslog-ng or systemd-journald).", "medium",
          mlps("8.1.4.3 a)", "应启用安全审计功能，审计覆盖到每个用户，对重要的用户行为和重要安全事件进行审计"),
          "Install and enable rsyslog (or journald with forwarding to the city's log platform)."),
    _host("jiyue-host-audit", "The audit daemon runs (auditd).", "medium",
          mlps("8.1.4.3 b)", "审计记录应包括事件的日期和时间、用户、事件类型、事件是否成功及其他与审计相关的信息"),
          "Install auditd and enable it at boot; load the city's audit rules. A namespace (container) host, "
          "such as every rehearsal-lab host, cannot run auditd: the kernel accepts an audit daemon only in its "
          "initial PID namespace. Its audit trail is the node's: audit it on the node, or waive the rule for "
          "that host (justification, approver, expiry); the check keeps failing until then."),
    _host("jiyue-host-time-sync", "Time is synchronised (chronyd, ntpd, systemd-timesyncd or openntpd runs); "
          "not applicable to a host with no clock of its own.",
          "medium", mlps("8.1.5.4 d)", "应对分散在各个设备上的审计数据进行收集汇总和集中分析 (one clock for all "
                                       "devices: their records line up)"),
          "Install chrony and point it at the zone's shared NTP servers. Not applicable (reported as n/a, no "
          "finding) to a namespace host on the controller's own kernel (same boot id, its own PID namespace), "
          "such as every rehearsal-lab host: Linux keeps one wall clock per kernel, so the host's clock is the "
          "node's, and CIS skips time synchronisation where the host's clock is provided and configured by its "
          "physical host. Judge the node instead (target local://). Never start chronyd or ntpd in such a host: "
          "it would set the node's clock."),
    _host("jiyue-host-listening-ports", "The host listens on no port beyond the system's declared services.",
          "high", mlps("8.1.4.4 b)", "应关闭不需要的系统服务、默认共享和高危端口"),
          "Stop or uninstall the undeclared service, or declare it in the registry (services) and review."),
    _host("jiyue-host-firewall-default-deny", "The host firewall drops incoming traffic by default (nftables "
          "input hook with policy drop, or iptables INPUT policy DROP).", "high",
          mlps("8.1.3.2 a)", "默认情况下除允许通信外受控接口拒绝所有通信"),
          "Load the city's nftables ruleset: table inet filter, chain input { policy drop; } plus the "
          "declared services."),
)}
