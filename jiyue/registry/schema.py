"""The city registry's schema: one city context file, one file per department.

Every model forbids unknown fields, so a typo in the registry is an error and not a silently
ignored key. Fields added to a model are optional (data resources, filing records, ...), so
that existing registries stay valid.

Requirement ids (T1.1, T3.5, ...) refer to docs/requirements.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from netaddr import AddrFormatError, IPAddress, IPNetwork
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PastDate,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1

# --------------------------------------------------------------------------- building blocks

Ident = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", min_length=2, max_length=40),
    Field(description="A stable ASCII id: lower case letters, digits and single hyphens."),
]


DeptId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", min_length=2, max_length=24),
    Field(description="A department id: lower-case ASCII, digits, single hyphens; at most 24 characters "
                      "(it becomes part of OpenStack and network-namespace names)."),
]


def _cidr(value: str) -> str:
    try:
        net = IPNetwork(value)
    except (AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an IPv4 network in CIDR form such as 10.1.0.0/16") from exc
    if net.version != 4:
        raise ValueError(f"{value!r} is not IPv4; the plan is IPv4 only")
    if net.network != net.ip:
        raise ValueError(f"{value!r} has host bits set; did you mean {net.cidr}?")
    return str(net.cidr)


def _ip(value: str) -> str:
    try:
        addr = IPAddress(value)
    except (AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an IPv4 address such as 192.168.1.10") from exc
    if addr.version != 4:
        raise ValueError(f"{value!r} is not IPv4")
    return str(addr)


Cidr = Annotated[str, AfterValidator(_cidr), Field(description="An IPv4 network, e.g. 10.1.0.0/16")]
IPv4 = Annotated[str, AfterValidator(_ip), Field(description="An IPv4 address")]
# Every number has an upper bound far above any real city's, and floats are finite, so that a
# slip of a few digits (a quota of 10^32 vCPUs, `data_gb: .inf`) is refused, never planned.
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[int, Field(gt=0)]
WAN_MAX = 10_000_000  # 万元 (10,000 yuan): 100 billion yuan
MINUTES_MAX = 525_600  # a year


def _printable(value: str) -> str:
    """Text a workbook or a web page can hold: XML 1.0's characters, no control characters."""
    bad = sorted({f"U+{ord(c):04X}" for c in value
                  if not (c in "\t\n\r" or " " <= c <= "\ud7ff" and c != "\x7f" or "\ue000" <= c <= "\ufffd"
                          or c >= "\U00010000")})
    if bad:
        raise ValueError(f"contains the control character(s) {', '.join(bad)}: write the text without them")
    return value


#: text the catalog publishes (in a workbook, on a web page): no control characters
Text = Annotated[str, AfterValidator(_printable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Names(Strict):
    zh: Text = Field(min_length=1, description="Chinese name, as the department uses it")
    en: Text = Field(min_length=1, description="English name")


# --------------------------------------------------------------------------- enumerations


class Zone(StrEnum):
    """The two physically separate government networks (T3.3, T3.4)."""

    intranet = "intranet"  # 电子政务内网: classified and internal work, no Internet at all
    extranet = "extranet"  # 电子政务外网: internal and public-facing work, one egress


class Site(StrEnum):
    primary = "primary"  # 市政府数据中心
    dr = "dr"  # 同城容灾备份中心


class Tier(StrEnum):
    city = "city"
    district = "district"
    street = "street"


class Classification(StrEnum):
    classified = "classified"  # 涉密
    internal = "internal"  # 内部
    public = "public"  # 公开


class Frequency(StrEnum):
    continuous = "continuous"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    yearly = "yearly"
    rarely = "rarely"


class Scope(StrEnum):
    """Scope of use (T1.1 使用范围)."""

    division = "division"  # one division of the department
    department = "department"
    cross_department = "cross-department"
    city = "city"  # the whole city government
    public = "public"  # citizens and enterprises


class FundingSource(StrEnum):
    """Funding source (T1.1 资金来源); the plan's scope covers all four (纳入范畴)."""

    fiscal = "fiscal"  # 财政资金
    co_built = "co-built"  # 政企合作
    service_purchase = "service-purchase"  # 购买服务
    self_raised = "self-raised"  # 自筹, still needs government money to run


class OmStatus(StrEnum):
    active = "active"
    minimal = "minimal"
    stopped = "stopped"


class PrivateNetworkDisposition(StrEnum):
    """What T3.6 says happens to a business private network (专网)."""

    merge_intranet = "merge-intranet"
    merge_extranet = "merge-extranet"
    national = "national"  # nationally planned: follows the national plan, kept


class HostRole(StrEnum):
    web = "web"
    app = "app"
    db = "db"
    files = "files"
    mixed = "mixed"


class Service(StrEnum):
    """Services a legacy host runs that the migration knows how to move."""

    nginx = "nginx"
    postgresql = "postgresql"
    files = "files"
    ssh = "ssh"


class SharedPlatform(StrEnum):
    """Platforms the city builds once (T4.5, T6–T9); no department builds its own."""

    sharing_exchange = "sharing-exchange"  # T6 共享交换平台
    sharing_portal = "sharing-portal"  # T8 共享门户
    open_data = "open-data"  # T7 开放网站
    gov_service = "gov-service"  # T9 一网通办
    collab_office = "collab-office"  # T4.5 协同办公
    gov_website = "gov-website"  # T4.5 政府网站集约化


# --------------------------------------------------------------------------- city context


class SiteSpec(Strict):
    names: Names
    location: str = Field(description="Where the site is, e.g. its district")


class ZoneSpec(Strict):
    names: Names
    internet: bool = Field(
        description="Whether the zone may reach the Internet (only through the central egress)"
    )


class ZoneSupernets(Strict):
    primary: Cidr
    dr: Cidr


class Addressing(Strict):
    supernets: dict[Zone, ZoneSupernets] = Field(
        description="Per zone and site, the range every segment of that zone and site comes from"
    )
    management: ZoneSupernets = Field(
        description="Per site, the management and bastion range (SSH and database admin come only from here)"
    )
    segment_prefix: int = Field(
        default=24, ge=16, le=28, description="Prefix length of one department segment"
    )
    legacy_map: Cidr = Field(
        default="100.64.0.0/10",
        description="During migration each department's legacy LANs are reached through a 1:1 "
                    "NAT (NETMAP) at the department's edge into its own block of this range, "
                    "because legacy LANs of different departments overlap (docs/adr/0001-ip-plan.md)",
    )
    legacy_map_prefix: int = Field(default=20, ge=12, le=28, description="Size of one department's block")
    reserved_segments: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="Segments at the start of every supernet kept for the zone's shared networks",
    )

    @model_validator(mode="after")
    def _zones_complete(self) -> Addressing:
        missing = [z.value for z in Zone if z not in self.supernets]
        if missing:
            raise ValueError(f"supernets: missing zone(s) {', '.join(missing)}")
        return self


class Flavor(Strict):
    vcpus: Positive = Field(le=512)
    ram_gb: Positive = Field(le=16_384)
    disk_gb: Positive = Field(default=20, le=100_000)


class Image(Strict):
    os: str
    version: str
    name: str = Field(description="The Glance image name in the data center")


class VolumeClass(Strict):
    encrypted: bool = False
    replicated: bool = Field(default=False, description="Replicated to the DR site by the storage")
    description: str = ""


class Egress(Strict):
    """The one controlled Internet egress (T3.5), on the extranet of one site."""

    site: Site = Site.primary
    external_network: str = Field(description="Name of the provider network toward the Internet")
    external_cidr: Cidr
    firewall: str = Field(default="fwaas-v2", pattern=r"^(fwaas-v2|security-groups)$")
    allowed_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=lambda: [80, 443])


class DrPolicy(Strict):
    """How an RTO turns into a DR mode (T3.1): at or under hot_max_rto_minutes runs hot, ..."""

    hot_max_rto_minutes: Positive = Field(default=30, le=MINUTES_MAX)
    warm_max_rto_minutes: Positive = Field(default=240, le=MINUTES_MAX)


def _web_address(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest.split("/")[0] or " " in value:
        raise ValueError(f"{value!r} is not a web address such as https://data.example.gov.cn/")
    return value


WebAddress = Annotated[str, AfterValidator(_web_address), Field(description="An http or https address")]


class OpenDataSite(Strict):
    """The city's open-data site (T7): where the open catalog is published and harvested from."""

    site: WebAddress = Field(description="The site's address; a data set's page is <site>dataset/<code>")
    licence: WebAddress = Field(description="The licence the open resources are published under")

    @field_validator("site")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class City(Strict):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION,
                                description="Registry schema version")
    id: Ident
    names: Names
    sites: dict[Site, SiteSpec]
    zones: dict[Zone, ZoneSpec]
    addressing: Addressing
    flavors: dict[Ident, Flavor]
    images: dict[Ident, Image]
    volume_classes: dict[Ident, VolumeClass]
    egress: Egress
    dr_policy: DrPolicy = DrPolicy()
    platform_department: DeptId = Field(
        description="The department (tenant) that runs the city's shared platforms (T4.5, T6–T9)"
    )
    pilot_departments: list[DeptId] = Field(
        default_factory=list, description="Departments of the migration pilot (T4.2)"
    )
    open_data: OpenDataSite | None = Field(default=None, description="The open-data site (T7), for the open "
                                                                     "catalog (jiyue catalog export --format dcat)")

    @model_validator(mode="after")
    def _complete(self) -> City:
        for label, have, want in (("sites", self.sites, Site), ("zones", self.zones, Zone)):
            missing = [m.value for m in want if m not in have]
            if missing:
                raise ValueError(f"{label}: missing {', '.join(missing)}")
        return self


# --------------------------------------------------------------------------- data catalog and filing (T5–T8, G6)


class Library(StrEnum):
    """The resource attribute (资源属性): which kind of catalog a data resource is listed in (T5).
    It is the code's 类 (:mod:`jiyue.catalog.codes`)."""

    base = "base"  # 基础信息资源: population, legal persons, geography, credit, e-licences
    thematic = "thematic"  # 主题信息资源
    department = "department"  # 部门信息资源


class BaseLibrary(StrEnum):
    """The five base libraries (基础信息资源库): the subject of a base resource, the code's 项 in
    this order (01 to 05)."""

    population = "population"  # 人口
    legal_persons = "legal-persons"  # 法人单位
    geography = "geography"  # 自然资源和空间地理
    credit = "credit"  # 社会信用
    licences = "licences"  # 电子证照


class Theme(StrEnum):
    """The thematic areas (主题信息资源): the subject of a thematic resource, the code's 项 in this
    order (01 to 12)."""

    public_service = "public-service"  # 公共服务
    health = "health"  # 健康保障
    social_security = "social-security"  # 社会保障
    food_drug = "food-drug"  # 食品药品安全
    work_safety = "work-safety"  # 安全生产
    prices = "prices"  # 价格监管
    energy = "energy"  # 能源安全
    credit_system = "credit-system"  # 信用体系
    urban_construction = "urban-construction"  # 城乡建设
    community = "community"  # 社区治理
    environment = "environment"  # 生态环保
    emergency = "emergency"  # 应急维稳


class UpdateFrequency(StrEnum):
    """The update cycle (更新周期)."""

    realtime = "realtime"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"
    irregular = "irregular"


class DataFormat(StrEnum):
    """The resource format (信息资源格式)."""

    database = "database"
    file = "file"
    api = "api"
    spatial = "spatial"
    document = "document"


class SharingType(StrEnum):
    """The three sharing types of the national rules (无条件共享 / 有条件共享 / 不予共享)."""

    unconditional = "unconditional"
    conditional = "conditional"
    not_shared = "not-shared"


class SharingMethod(StrEnum):
    """How a shared resource reaches its users through the sharing platform (共享方式, T6)."""

    api = "api"  # 接口调用
    exchange = "exchange"  # 库表交换
    file = "file"  # 文件下载
    query = "query"  # 在线查询


class OpenType(StrEnum):
    """The open attribute (开放属性): whether the open-data site (T7) publishes the resource."""

    unconditional = "unconditional"  # 无条件开放
    conditional = "conditional"  # 有条件开放
    not_open = "not-open"  # 不予开放


class ItemType(StrEnum):
    """The data type of an information item (信息项), after GB/T 21063.3's types."""

    string = "string"  # 字符型 C
    number = "number"  # 数值型 N
    integer = "integer"  # 整型 I
    float = "float"  # 浮点型 F
    double = "double"  # 双精度型 B
    currency = "currency"  # 货币型 Y
    date = "date"  # 日期型 D
    datetime = "datetime"  # 日期时间型 T
    boolean = "boolean"  # 逻辑型 L
    text = "text"  # 备注型 M
    binary = "binary"  # 通用型 G (images, files)


class FundingKind(StrEnum):
    construction = "construction"  # 建设经费
    om = "om"  # 运维经费


def _typed_item(value: object) -> object:
    if isinstance(value, str):
        raise PydanticCustomError(
            "item_untyped", "item '{name}' has no data type",
            {"name": value, "hint": f"write it as {{name: {value}, type: string}} with its type, one of: "
                                    + ", ".join(t.value for t in ItemType)})
    return value


class DataItem(Strict):
    """One information item (信息项) of a resource: its name and data type."""

    name: Text = Field(min_length=1, description="The item's name, as the catalog lists it")
    type: ItemType = Field(description="The item's data type (数据类型)")


TypedItem = Annotated[DataItem, BeforeValidator(_typed_item)]


class DataResource(Strict):
    """One entry of the government information-resource catalog (政务信息资源目录, T5), with the
    core metadata of the national format (GB/T 21063.3; see docs/catalog.md).

    ``id`` is the catalog key: one key is one resource city-wide, with one code. When several
    departments hold it, one is its authoritative provider and the others say ``copy_of`` it.
    The fields a department files (abstract, sharing, publication date) are optional, so that an
    incomplete filing is a *filing gap* reported by ``jiyue filing check``, not a broken registry.
    """

    id: Ident
    name: Text = Field(min_length=1, description="Name of the resource (信息资源名称)")
    abstract: Text = Field(default="", description="What the resource holds (信息资源摘要); missing = not filed")
    fields: list[TypedItem] = Field(default_factory=list, description="The information items (信息项)")
    library: Library
    subject: str | None = Field(
        default=None, description="For a base resource its base library, for a thematic one its theme "
                                  "(the code's 项); none for a department resource")
    subclass: int = Field(default=0, ge=0, le=99, description="The code's 细目, when the department divides "
                                                              "its catalog further (0: not divided)")
    update_frequency: UpdateFrequency
    format: DataFormat
    sharing: SharingType | None = Field(default=None, description="Sharing type; missing = not filed")
    conditions: Text = Field(default="", description="For conditional sharing: the conditions")
    sharing_method: SharingMethod | None = Field(
        default=None, description="How a shared resource is shared (共享方式); required when it is shared")
    legal_basis: Text = Field(default="", description="For not-shared: the law or rule that says so")
    open: OpenType = Field(default=OpenType.not_open, description="The open attribute (开放属性, T7)")
    published: PastDate | None = Field(default=None, description="Publication date in the catalog (发布日期); "
                                                                 "missing = not filed")
    related: list[Ident] = Field(default_factory=list, description="Keys of related resources (关联资源)")
    classified: bool = Field(default=False, description="The catalog entry itself is classified (涉密)")
    copy_of: DeptId | None = Field(
        default=None, description="This system holds a copy of another department's resource: that department")


class DataNeed(Strict):
    """Data a system consumes from another department (the requirement list, T8)."""

    resource: Ident = Field(description="Catalog key of the resource needed")
    provider: Annotated[
        str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=24)
    ] | None = Field(default=None, description="The department expected to provide it")
    purpose: Text = Field(default="", description="What the data is needed for")


class Filing(Strict):
    """The filing record (备案) a project needs before it gets money (G6). Missing fields are gaps."""

    project_id: str | None = None
    funding_kind: FundingKind | None = None
    amount_wan: NonNegative | None = Field(default=None, le=WAN_MAX)
    approval_number: str | None = None
    date: PastDate | None = None


# --------------------------------------------------------------------------- departments


class Quotas(Strict):
    vcpus: Positive = Field(le=1_000_000)
    ram_gb: Positive = Field(le=10_000_000)
    volume_gb: Positive = Field(le=10_000_000)
    instances: Positive = Field(le=100_000)


class PrivateNetwork(Strict):
    """A business private network (专网) the department uses today (T3.3, T3.6)."""

    id: Ident
    names: Names
    cidr: Cidr
    carrier: str
    disposition: PrivateNetworkDisposition
    annual_cost_wan: NonNegative = Field(default=0, le=WAN_MAX)


class LeasedLine(Strict):
    """A self-leased Internet line (T3.5): every one is cancelled."""

    id: Ident
    provider: str
    bandwidth_mbps: Positive = Field(le=1_000_000)
    annual_cost_wan: NonNegative = Field(le=WAN_MAX)
    purpose: str = ""


class LegacyLan(Strict):
    """A LAN in the department's own machine room, where its legacy hosts live today."""

    id: Ident
    cidr: Cidr
    location: str = ""


class Approval(Strict):
    department: str = Field(min_length=1, description="Approving department (审批部门)")
    date: PastDate = Field(description="Approval date (审批时间)")
    number: str = ""


class Funds(Strict):
    """Money, in 10,000 yuan (万元), as the plan's forms count it (T1.1)."""

    construction_wan: NonNegative = Field(le=WAN_MAX, description="Construction funds (建设经费)")
    om_wan_per_year: NonNegative = Field(le=WAN_MAX, description="O&M funds per year (运维经费)")
    source: FundingSource = Field(description="Funding source (资金来源)")


class Owner(Strict):
    division: str = Field(min_length=1, description="The division that owns the system")
    contact_role: str = Field(default="", description="A role, never a person's name")


class Om(Strict):
    status: OmStatus
    last_update: PastDate = Field(description="Date of the last update or patch of the system")


class DrNeed(Strict):
    rpo_minutes: int = Field(ge=0, le=MINUTES_MAX)
    rto_minutes: Positive = Field(le=MINUTES_MAX)


class Retirement(Strict):
    """The decision to retire a zombie (T1.2, T2.1), recorded once the audit's evidence is reviewed
    (and spot-checked, T1.3). A retired system gets nothing in the data center: no stack builds it,
    no wave migrates it; its legacy hosts are decommissioned (data archived with a manifest)."""

    decided: PastDate = Field(description="The date of the decision")
    approved_by: str = Field(min_length=1, description="Who approved it (a person or an office)")
    evidence: str = Field(min_length=1, description="Why: the audit's score and evidence, or where they are filed")


class LegacyHost(Strict):
    name: Ident
    lan: Ident = Field(description="Id of the department's legacy LAN the host sits on")
    address: IPv4
    os: str
    role: HostRole
    services: list[Service] = Field(min_length=1)
    data_paths: list[Annotated[str, StringConstraints(pattern=r"^/")]] = Field(default_factory=list)
    databases: list[Ident] = Field(default_factory=list)
    data_gb: NonNegative = Field(default=0, le=10_000_000)


class ConsolidationMode(StrEnum):
    union = "union"
    authoritative = "authoritative"
    distinct = "distinct"


class Consolidation(Strict):
    """How the trees that several legacy hosts hold under one data path become one target's
    (T2.2, T4.3). Without it the trees must be identical: the precheck compares them and refuses
    when they differ, before anything is copied.

    - ``union``: every host's files; refused where two hosts hold one file with different contents.
    - ``authoritative``: ``source``'s tree wins where the copies differ; refused where another host
      holds a file the source lacks (it would be lost).
    - ``distinct``: each host's tree to a path of its own on the target (``targets``: host -> path).
    """

    mode: ConsolidationMode
    source: Ident | None = Field(default=None, description="authoritative: the host whose tree wins")
    targets: dict[Ident, Annotated[str, StringConstraints(pattern=r"^/")]] = Field(
        default_factory=dict, description="distinct: each host's path on the target")

    @model_validator(mode="after")
    def _fits_mode(self) -> Consolidation:
        if self.mode is ConsolidationMode.authoritative and self.source is None:
            raise ValueError("mode authoritative needs `source: <host>`, the host whose tree wins")
        if self.mode is not ConsolidationMode.authoritative and self.source is not None:
            raise ValueError(f"`source` is for mode authoritative, not {self.mode.value}")
        if self.mode is ConsolidationMode.distinct:
            if not self.targets:
                raise ValueError("mode distinct needs `targets: {<host>: <path on the target>}` for every host")
            if len(set(self.targets.values())) != len(self.targets):
                raise ValueError("mode distinct: two hosts are given the same target path")
        elif self.targets:
            raise ValueError(f"`targets` is for mode distinct, not {self.mode.value}")
        return self


class Capacity(Strict):
    """What the system gets in the data center."""

    flavor: Ident
    image: Ident
    instances: Positive = Field(default=1, le=1_000)
    volume_gb: Positive = Field(default=50, le=1_000_000)
    volume_class: Ident = "standard"
    ha: bool = Field(default=False, description="Spread instances with an anti-affinity group")


class System(Strict):
    id: Ident
    names: Names
    # ---- the audit fields of T1.1 (the count follows from the list)
    function: str = Field(min_length=1, description="What the system does (功能)")
    scope_of_use: Scope
    users: int = Field(ge=0, le=2_000_000_000, description="Registered users")
    frequency_of_use: Frequency
    approval: Approval
    funds: Funds
    # ---- ownership and state
    owner: Owner
    om: Om
    classification: Classification
    zone: Zone
    public_facing: bool = False
    platform: SharedPlatform | None = Field(
        default=None, description="Set when the system is one of the city's shared platforms"
    )
    replaceable_by: Ident | None = Field(
        default=None, description="Id of a system whose function covers this one (T1.2)"
    )
    depends_on: list[Ident] = Field(default_factory=list)
    retirement: Retirement | None = Field(
        default=None, description="Set when the system is retired (T1.2, T2.1): it is not built or migrated")
    dr: DrNeed | None = None
    legacy_hosts: list[LegacyHost] = Field(default_factory=list)
    consolidation: dict[Annotated[str, StringConstraints(pattern=r"^/")], Consolidation] = Field(
        default_factory=dict, description="Per data path held by several legacy hosts: how their trees combine")
    capacity: Capacity
    # ---- catalog and filing (T5–T8, G6); None means "not filed", [] means "filed: none"
    data_resources: list[DataResource] | None = Field(
        default=None, description="The system's resource catalog (资源目录); omitted = not filed")
    data_needs: list[DataNeed] | None = Field(
        default=None, description="The requirement list (需求清单); omitted = not filed")
    filing: Filing | None = Field(default=None, description="The filing record (备案); omitted = not filed")

    @field_validator("consolidation")
    @classmethod
    def _consolidation_names_its_hosts(cls, value: dict[str, Consolidation], info: ValidationInfo
                                       ) -> dict[str, Consolidation]:
        hosts = info.data.get("legacy_hosts") or []
        for path, rule in value.items():
            holders = [h.name for h in hosts if path in h.data_paths]
            if len(holders) < 2:
                raise ValueError(f"{path}: {len(holders)} legacy host(s) hold it; consolidation is for a path "
                                 "that several hosts hold")
            named = ([rule.source] if rule.source else []) + list(rule.targets)
            strangers = [n for n in named if n not in holders]
            if strangers:
                raise ValueError(f"{path}: {', '.join(strangers)} is not one of the hosts holding it "
                                 f"({', '.join(holders)})")
            if rule.mode is ConsolidationMode.distinct and set(rule.targets) != set(holders):
                raise ValueError(f"{path}: mode distinct needs a target path for each of {', '.join(holders)}")
        return value


class Department(Strict):
    id: DeptId
    names: Names
    tier: Tier
    parent: DeptId | None = Field(default=None, description="Parent department, for subordinate units")
    district: str | None = Field(default=None, description="The district, for district and street tiers")
    credit_code: str | None = Field(
        default=None, description="统一社会信用代码 (GB 32100-2015): the department's unified social credit code, "
                                  "its provider code (信息资源提供方代码) in the catalog")
    quotas: Quotas
    private_networks: list[PrivateNetwork] = Field(default_factory=list)
    leased_lines: list[LeasedLine] = Field(default_factory=list)
    legacy_lans: list[LegacyLan] = Field(default_factory=list)
    systems: list[System] = Field(default_factory=list)
