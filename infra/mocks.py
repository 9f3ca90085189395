"""The engine and the OpenStack provider, mocked: what ``jiyue infra preview`` and the tests run against.

:class:`RecordingMonitor` is the SDK's ``MockMonitor`` that also records every registration as the
engine receives it (URN, type token, logical name, parent URN, inputs with the engine's camelCase
keys). :class:`PreviewMocks` fills in computed outputs plausibly: ids that look like OpenStack's
(deterministic: a UUID from the stack, type and name), ports' addresses from their fixed IPs, a
server's address from its port, floating IPs from the external network, and a StackReference's
outputs from a callback (the foundation's real outputs, run under the same mocks).

Beside the records, the monitor keeps each resource's options that a diff reads
(:data:`RecordingMonitor.options`, by URN): ``protect``, ``aliases`` resolved to the URNs the
resource was known by before, ``ignore_changes`` and ``replace_on_changes``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

_NS = uuid.UUID("6f1c3a52-8d4e-4b8a-9c55-1e2a0a7b9d10")
STACK = "pulumi:pulumi:Stack"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def mock_id(stack: str, typ: str, name: str) -> str:
    """A deterministic OpenStack-looking id (Keystone ids are 32 hex digits, the rest UUIDs)."""
    u = uuid.uuid5(_NS, f"{stack}\x00{typ}\x00{name}")
    return u.hex if typ.startswith("openstack:identity/") else str(u)


class PreviewMocks(Mocks):
    def __init__(self, stack: str, *, external_cidr: str = "198.51.100.0/24",
                 stack_outputs: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.stack = stack
        self.stack_outputs = stack_outputs or (lambda _name: {})
        self._external = ipaddress.ip_network(external_cidr)
        self._port_address: dict[str, str] = {}
        self._next_public = 10
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, inputs = args.typ, args.inputs
        if typ == STACK_REFERENCE:
            name = inputs.get("name") or args.resource_id or args.name
            return name, {"name": name, "outputs": self.stack_outputs(name), "secretOutputNames": []}
        rid = args.resource_id or mock_id(self.stack, typ, args.name)
        state = dict(inputs)
        if typ == "openstack:networking/port:Port":
            ips = [f.get("ipAddress") for f in inputs.get("fixedIps") or [] if f.get("ipAddress")]
            state["allFixedIps"] = ips
            state["macAddress"] = "fa:16:3e:" + ":".join(hashlib.sha1(rid.encode()).hexdigest()[i:i + 2]
                                                          for i in (0, 2, 4))
            if ips:
                with self._lock:
                    self._port_address[rid] = ips[0]
        elif typ == "openstack:compute/instance:Instance":
            nets = inputs.get("networks") or []
            addr = next((self._port_address.get(n.get("port", "")) for n in nets), None)
            if addr:
                state["accessIpV4"] = addr
                state["networks"] = [{**n, "fixedIpV4": addr} for n in nets]
            state.setdefault("powerState", "active")
        elif typ == "openstack:networking/floatingIp:FloatingIp":
            with self._lock:
                state["address"] = str(self._external.network_address + self._next_public)
                self._next_public += 1
            state["fixedIp"] = self._port_address.get(inputs.get("portId", ""), "")
        elif typ == "openstack:networking/router:Router" and inputs.get("externalNetworkId"):
            state["externalFixedIps"] = [{"ipAddress": str(self._external.network_address + 2),
                                          "subnetId": mock_id(self.stack, "subnet", "external")}]
        elif typ == "openstack:compute/keypair:Keypair":
            state["fingerprint"] = ":".join(hashlib.md5(rid.encode()).hexdigest()[i:i + 2] for i in range(0, 32, 2))
        elif typ == "openstack:blockstorage/volume:Volume":
            state.setdefault("availabilityZone", "nova")
        return rid, state

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        key = "&".join(f"{k}={args.args[k]}" for k in sorted(args.args))
        rid = mock_id(self.stack, args.token, key)
        if args.token.startswith("openstack:identity/"):
            rid = uuid.UUID(rid).hex
        return {**args.args, "id": rid}


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, recording each registration as {urn, type, name, parent, inputs} and,
    as the engine gives them to a stack policy, ``dependencies`` (input -> the URNs its value came
    from) and, for a StackReference, its ``outputs`` (what was read)."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.records: list[dict[str, Any]] = []
        self.options: dict[str, dict[str, Any]] = {}

    def _record(self, urn: str, typ: str, name: str, parent: str, inputs: dict[str, Any],
                dependencies: Any = None, outputs: dict[str, Any] | None = None) -> None:
        record: dict[str, Any] = {"urn": urn, "type": typ, "name": name, "parent": parent or None, "inputs": inputs}
        deps = {k: sorted(v.urns) for k, v in sorted((dependencies or {}).items()) if v.urns}
        if deps:
            record["dependencies"] = deps
        if outputs is not None:
            record["outputs"] = outputs
        self.records.append(record)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK:
            self._record(urn, request.type, request.name, request.parent, {})
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        args = MockResourceArgs(typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
                                resource_id=request.importId, custom=request.custom or False)
        id_, state = self.mocks.new_resource(args)
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, state)
        self._record(urn, request.type, request.name, request.parent, inputs, request.propertyDependencies)
        self.options[urn] = {"protect": bool(request.protect), "aliases": self._aliases(request),
                             "ignore_changes": list(request.ignoreChanges),
                             "replace_on_changes": list(request.replaceOnChanges)}
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj)

    def _aliases(self, request: Any) -> list[str]:
        """The URNs a registration's ``aliases`` name: given as URNs, or as specs (a previous name,
        type or parent) resolved here the way the engine does."""
        urns = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.HasField("urn") or not alias.HasField("spec"):
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return [u for u in dict.fromkeys(urns) if u]

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        response = super().ReadResource(request)
        inputs = rpc.deserialize_properties(request.properties)
        outputs = None
        if request.type == STACK_REFERENCE:
            outputs = {k: v for k, v in rpc.deserialize_properties(response.properties).items() if k == "outputs"}
        self._record(response.urn, request.type, request.name, request.parent,
                     {k: v for k, v in inputs.items() if v is not None}, outputs=outputs)
        return response
