"""The catalog in the national layout: the columns of the 《政务信息资源目录编制指南（试行）》 with
their Chinese names and values, as JSON, CSV and xlsx (the workbook departments file), and read
back from JSON and xlsx.

One row per resource: the core metadata first (:data:`NATIONAL`), then the columns the city's
catalog adds so that a row reads back into the same resource (:data:`CITY`: the key, the
provider's department, system and network, the 细目, the copies, the related resources' keys).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from ..registry.schema import (
    BaseLibrary,
    DataFormat,
    ItemType,
    Library,
    OpenType,
    SharingMethod,
    SharingType,
    Theme,
    UpdateFrequency,
)
from . import Catalog, Holding, Item, Need, Resource, derive

LIBRARY = {Library.base: "基础信息资源", Library.thematic: "主题信息资源", Library.department: "部门信息资源"}
SUBJECT = {
    BaseLibrary.population: "人口", BaseLibrary.legal_persons: "法人单位", BaseLibrary.geography: "自然资源和空间地理",
    BaseLibrary.credit: "社会信用", BaseLibrary.licences: "电子证照",
    Theme.public_service: "公共服务", Theme.health: "健康保障", Theme.social_security: "社会保障",
    Theme.food_drug: "食品药品安全", Theme.work_safety: "安全生产", Theme.prices: "价格监管", Theme.energy: "能源安全",
    Theme.credit_system: "信用体系", Theme.urban_construction: "城乡建设", Theme.community: "社区治理",
    Theme.environment: "生态环保", Theme.emergency: "应急维稳",
}
FORMAT = {DataFormat.database: "数据库", DataFormat.file: "电子文件", DataFormat.api: "服务接口",
          DataFormat.spatial: "图形图像", DataFormat.document: "电子文档"}
ITEM_TYPE = {ItemType.string: "字符型", ItemType.number: "数值型", ItemType.integer: "整型", ItemType.float: "浮点型",
             ItemType.double: "双精度型", ItemType.currency: "货币型", ItemType.date: "日期型",
             ItemType.datetime: "日期时间型", ItemType.boolean: "逻辑型", ItemType.text: "备注型",
             ItemType.binary: "通用型"}
SHARING = {SharingType.unconditional: "无条件共享", SharingType.conditional: "有条件共享",
           SharingType.not_shared: "不予共享"}
METHOD = {SharingMethod.api: "接口调用", SharingMethod.exchange: "库表交换", SharingMethod.file: "文件下载",
          SharingMethod.query: "在线查询"}
OPEN = {OpenType.unconditional: "无条件开放", OpenType.conditional: "有条件开放", OpenType.not_open: "不予开放"}
FREQUENCY = {UpdateFrequency.realtime: "实时", UpdateFrequency.daily: "每日", UpdateFrequency.weekly: "每周",
             UpdateFrequency.monthly: "每月", UpdateFrequency.quarterly: "每季度", UpdateFrequency.yearly: "每年",
             UpdateFrequency.irregular: "不定期"}
CLASSIFIED = {True: "涉密", False: "非涉密"}

#: the core metadata, in the guide's order and with its names
NATIONAL = ("信息资源分类", "信息资源名称", "信息资源代码", "信息资源提供方", "信息资源提供方代码", "信息资源摘要",
            "信息资源格式", "信息项名称", "数据类型", "共享类型", "共享条件", "共享方式", "不予共享依据", "开放属性",
            "更新周期", "发布日期", "关联资源代码", "涉密属性")
#: what the city's catalog adds so that a row reads back into its resource
CITY = ("资源键", "提供方部门", "提供方系统", "提供方网络", "细目", "副本", "关联资源键")
COLUMNS = NATIONAL + CITY
NEED_COLUMNS = ("需求方", "需求方系统", "需求方网络", "资源键", "信息资源代码", "期望提供方", "用途")
ITEM_COLUMNS = ("资源键", "信息资源代码", "信息项名称", "数据类型")


class LayoutError(ValueError):
    """A file in the national layout that does not read back: which row, which column, what."""


def _back(table: dict[Any, str], what: str) -> Callable[[str], str]:
    reverse = {label: key.value if hasattr(key, "value") else key for key, label in table.items()}

    def parse(label: str) -> str:
        if label not in reverse:
            raise LayoutError(f"{what}: {label!r} is not one of {', '.join(reverse)}")
        return reverse[label]

    return parse


def label(table: dict[Any, str], value: str | None) -> str:
    if value is None:
        return ""
    return next(label for key, label in table.items() if getattr(key, "value", key) == value)


def classification(r: Resource) -> str:
    """信息资源分类: the resource attribute and its base library or theme, or the provider."""
    lib = label(LIBRARY, r.library)
    return f"{lib}/{label(SUBJECT, r.subject) if r.subject else r.provider_name}"


def _holding(h: Holding) -> dict[str, str]:
    return {"部门": h.department, "系统": h.system, "网络": h.zone}


def row(catalog: Catalog, r: Resource) -> dict[str, Any]:
    """A resource as the national layout has it; lists stay lists (JSON nests them)."""
    return {
        "信息资源分类": classification(r), "信息资源名称": r.name, "信息资源代码": r.code or "",
        "信息资源提供方": r.provider_name, "信息资源提供方代码": r.provider_code or "", "信息资源摘要": r.abstract,
        "信息资源格式": label(FORMAT, r.format),
        "信息项名称": [i.name for i in r.items], "数据类型": [label(ITEM_TYPE, i.type) for i in r.items],
        "共享类型": label(SHARING, r.sharing), "共享条件": r.conditions, "共享方式": label(METHOD, r.sharing_method),
        "不予共享依据": r.legal_basis, "开放属性": label(OPEN, r.open),
        "更新周期": label(FREQUENCY, r.update_frequency),
        "发布日期": r.published or "", "关联资源代码": catalog.related_codes(r), "涉密属性": CLASSIFIED[r.classified],
        "资源键": r.key, "提供方部门": r.provider.department, "提供方系统": r.provider.system,
        "提供方网络": r.provider.zone, "细目": r.subclass, "副本": [_holding(h) for h in r.copies],
        "关联资源键": list(r.related),
    }


def need_row(catalog: Catalog, n: Need) -> dict[str, Any]:
    codes = catalog.codes()
    return {"需求方": n.department, "需求方系统": n.system, "需求方网络": n.zone, "资源键": n.key,
            "信息资源代码": codes.get(n.key) or "", "期望提供方": n.provider or "", "用途": n.purpose}


def resource_from_row(values: dict[str, Any]) -> Resource:
    """A resource back from its row (lists as lists; the xlsx and CSV readers split them first)."""
    lib_label, _, rest = str(values["信息资源分类"]).partition("/")
    library = _back(LIBRARY, "信息资源分类")(lib_label)
    names, types = list(values["信息项名称"]), list(values["数据类型"])
    if len(names) != len(types):
        raise LayoutError(f"{values['资源键']}: {len(names)} 信息项名称 but {len(types)} 数据类型")
    item_type = _back(ITEM_TYPE, "数据类型")
    provider = Holding(department=values["提供方部门"], system=values["提供方系统"], zone=values["提供方网络"])
    return Resource(
        key=values["资源键"], code=values["信息资源代码"] or None, name=values["信息资源名称"],
        abstract=values["信息资源摘要"], library=library,
        subject=_back(SUBJECT, "信息资源分类")(rest) if library != Library.department.value else None,
        subclass=int(values["细目"]), provider=provider, provider_name=values["信息资源提供方"],
        provider_code=values["信息资源提供方代码"] or None,
        format=_back(FORMAT, "信息资源格式")(values["信息资源格式"]),
        items=[Item(name=n, type=item_type(t)) for n, t in zip(names, types, strict=True)],
        update_frequency=_back(FREQUENCY, "更新周期")(values["更新周期"]),
        sharing=_back(SHARING, "共享类型")(values["共享类型"]) if values["共享类型"] else None,
        conditions=values["共享条件"], sharing_method=_back(METHOD, "共享方式")(values["共享方式"])
        if values["共享方式"] else None,
        legal_basis=values["不予共享依据"], open=_back(OPEN, "开放属性")(values["开放属性"]),
        published=values["发布日期"] or None, related=list(values["关联资源键"]),
        classified=_back(CLASSIFIED, "涉密属性")(values["涉密属性"]) is True,
        copies=[Holding(department=c["部门"], system=c["系统"], zone=c["网络"]) for c in values["副本"]],
    )


def need_from_row(values: dict[str, Any]) -> Need:
    return Need(key=values["资源键"], department=values["需求方"], system=values["需求方系统"],
                zone=values["需求方网络"], provider=values["期望提供方"] or None, purpose=values["用途"])


# --------------------------------------------------------------------------- JSON


def to_json(catalog: Catalog) -> dict[str, Any]:
    """The catalog as JSON: the resources and the requirement list in the national layout, with
    the cross-checks and the sharing matrix the city derives from them."""
    return {
        "city": catalog.city, "city_name": catalog.city_name,
        "信息资源目录": [row(catalog, r) for r in catalog.resources],
        "需求清单": [need_row(catalog, n) for n in catalog.needs],
        "sharing_matrix": [link.model_dump() for link in catalog.sharing_matrix],
        "open_data": catalog.open_data,
        "findings": [f.model_dump() for f in catalog.findings],
    }


def from_json(data: dict[str, Any]) -> Catalog:
    """A catalog back from its JSON export (the resources and needs; the rest is derived)."""
    return derive(data["city"], data["city_name"], [resource_from_row(r) for r in data["信息资源目录"]],
                  [need_from_row(n) for n in data["需求清单"]])


# --------------------------------------------------------------------------- CSV and xlsx cells

SEP = "；"  # the full-width semicolon: lists inside one cell, as Chinese spreadsheets write them


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return SEP.join(f"{v['部门']}/{v['系统']}/{v['网络']}" if isinstance(v, dict) else str(v) for v in value)
    return value


def _uncell(column: str, value: Any) -> Any:
    text = "" if value is None else str(value)
    if column in ("信息项名称", "数据类型", "关联资源代码", "关联资源键"):
        return text.split(SEP) if text else []
    if column == "副本":
        return [dict(zip(("部门", "系统", "网络"), part.split("/"), strict=True)) for part in text.split(SEP)] \
            if text else []
    return text


def to_csv(catalog: Catalog) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in catalog.resources:
        values = row(catalog, r)
        w.writerow([_cell(values[c]) for c in COLUMNS])
    return buf.getvalue()


def to_xlsx(catalog: Catalog) -> bytes:
    """The workbook departments file: the resources, their items one per row, the requirement
    list, the sharing matrix (provider rows, consumer columns, counts) and the cross-checks."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    bold, head = Font(bold=True), PatternFill("solid", fgColor="DDE7F0")

    def sheet(title: str, columns: tuple[str, ...] | list[str], rows: list[list[Any]], first: bool = False) -> Any:
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        ws.append(list(columns))
        for cell in ws[1]:
            cell.font, cell.fill = bold, head
        for values in rows:
            ws.append(values)
            for cell in ws[ws.max_row]:
                if cell.data_type == "f":  # text that starts with "=" is text here, never a formula
                    cell.data_type = "s"
        ws.freeze_panes = "B2"
        for col in ws.columns:
            width = max(len(str(c.value or "")) for c in col[:200])
            ws.column_dimensions[col[0].column_letter].width = min(max(8, width * 1.6), 60)
        return ws

    sheet("信息资源目录", COLUMNS, [[_cell(row(catalog, r)[c]) for c in COLUMNS] for r in catalog.resources],
          first=True)
    sheet("信息项", ITEM_COLUMNS, [[r.key, r.code or "", i.name, label(ITEM_TYPE, i.type)]
                                  for r in catalog.resources for i in r.items])
    sheet("需求清单", NEED_COLUMNS, [[need_row(catalog, n)[c] for c in NEED_COLUMNS] for n in catalog.needs])
    consumers = catalog.consumers()
    cells = {(link.provider, link.consumer): link for link in catalog.sharing_matrix}
    ws = sheet("共享矩阵", ["提供方 \\ 需求方", *consumers],
               [[p, *(len(cells[(p, c)].keys) if (p, c) in cells else None for c in consumers)]
                for p in catalog.providers()])
    for line in ws.iter_rows(min_row=2, min_col=2):
        for cell in line:
            cell.alignment = Alignment(horizontal="center")
    sheet("交叉核对", ["检查", "资源键", "部门", "说明"],
          [[f.check, f.key, SEP.join(f.departments), f.message] for f in catalog.findings])
    wb.properties.identifier, wb.properties.title = catalog.city, catalog.city_name
    wb.properties.subject = "政务信息资源目录"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def from_xlsx(data: bytes) -> Catalog:
    """A catalog back from its workbook: the resources (their items from the 信息项 sheet, which
    is what a department edits) and the requirement list."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True)

    def rows(title: str) -> list[dict[str, Any]]:
        if title not in wb.sheetnames:
            raise LayoutError(f"the workbook has no sheet {title!r}")
        it = wb[title].iter_rows(values_only=True)
        header = [str(h) for h in next(it)]
        return [dict(zip(header, values, strict=True)) for values in it if any(v is not None for v in values)]

    items: dict[str, list[tuple[str, str]]] = {}
    for it in rows("信息项"):
        items.setdefault(str(it["资源键"]), []).append((str(it["信息项名称"]), str(it["数据类型"])))
    resources = []
    for values in rows("信息资源目录"):
        parsed = {c: _uncell(c, values.get(c)) for c in COLUMNS}
        mine = items.get(parsed["资源键"], [])
        parsed["信息项名称"], parsed["数据类型"] = [n for n, _ in mine], [t for _, t in mine]
        resources.append(resource_from_row(parsed))
    needs = [need_from_row({c: _uncell(c, v.get(c)) for c in NEED_COLUMNS}) for v in rows("需求清单")]
    return derive(wb.properties.identifier or "", wb.properties.title or "", resources, needs)
