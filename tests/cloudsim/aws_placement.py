"""Placement groups for the AWS proxy: moto 5.2 has no handler for them (it answers an HTML 500 page).

A test double, not an emulator: a table of groups per region, answering
CreatePlacementGroup, DescribePlacementGroups (by name and by `tag:` filters)
and DeletePlacementGroup in the EC2 API reference's response shapes, so that
real botocore parses them:
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreatePlacementGroup.html,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribePlacementGroups.html,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeletePlacementGroup.html
(the `placementGroup` / `placementGroupSet` items carry groupName, strategy,
state, groupId and tagSet). Errors are the documented codes
InvalidPlacementGroup.Duplicate and InvalidPlacementGroup.Unknown
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from typing import Mapping
from xml.sax.saxutils import escape

from cloudsim.aws_wire import Call, error_response

ACTIONS = frozenset({"CreatePlacementGroup", "DescribePlacementGroups", "DeletePlacementGroup"})
_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


@dataclass(frozen=True)
class Group:
    name: str
    group_id: str
    strategy: str
    tags: tuple[tuple[str, str], ...]

    def xml(self, element: str) -> str:
        tags = "".join(f"<item><key>{escape(k)}</key><value>{escape(v)}</value></item>" for k, v in self.tags)
        return (f"<{element}><groupName>{escape(self.name)}</groupName><strategy>{escape(self.strategy)}</strategy>"
                f"<state>available</state><groupId>{self.group_id}</groupId><tagSet>{tags}</tagSet></{element}>")


def _indexed(params: Mapping[str, str], pattern: str) -> list[re.Match[str]]:
    """The matches of `pattern` among the query's parameter names (`Filter.1.Name`, `GroupName.2`, ...)."""
    return [m for m in (re.fullmatch(pattern, k) for k in params) if m]


class PlacementGroups:
    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], Group] = {}  # (region, name) -> group
        self._lock = threading.Lock()

    def names(self, region: str | None = None) -> list[str]:
        with self._lock:
            return sorted(name for (where, name) in self._groups if region in (None, where))

    def answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        params = dict(call.params)
        name = params.get("GroupName", "")
        with self._lock:
            if call.action == "CreatePlacementGroup":
                if (call.region, name) in self._groups:
                    return error_response("ec2", "InvalidPlacementGroup.Duplicate", f"The Placement Group '{name}' already exists.", 400)
                tags = tuple((params[f"TagSpecification.1.Tag.{m.group(1)}.Key"], params.get(f"TagSpecification.1.Tag.{m.group(1)}.Value", ""))
                             for m in _indexed(params, r"TagSpecification\.1\.Tag\.(\d+)\.Key"))
                group = Group(name, f"pg-{uuid.uuid4().hex[:17]}", params.get("Strategy", "cluster"), tags)
                self._groups[(call.region, name)] = group
                return _ok("CreatePlacementGroupResponse", group.xml("placementGroup"))
            if call.action == "DeletePlacementGroup":
                if self._groups.pop((call.region, name), None) is None:
                    return error_response("ec2", "InvalidPlacementGroup.Unknown", f"The Placement Group '{name}' is unknown.", 400)
                return _ok("DeletePlacementGroupResponse", "<return>true</return>")
            found = [g for (where, _), g in self._groups.items() if where == call.region and _matches(g, params)]
            return _ok("DescribePlacementGroupsResponse", "<placementGroupSet>" + "".join(g.xml("item") for g in found) + "</placementGroupSet>")


def _matches(group: Group, params: dict[str, str]) -> bool:
    names = [params[m.group(0)] for m in _indexed(params, r"GroupName\.\d+")]
    if names and group.name not in names:
        return False
    tags = dict(group.tags)
    for m in _indexed(params, r"Filter\.(\d+)\.Name"):
        key = params[m.group(0)]
        values = [params[v.group(0)] for v in _indexed(params, rf"Filter\.{m.group(1)}\.Value\.\d+")]
        if key.startswith("tag:") and tags.get(key[4:]) not in values:
            return False
        if key == "group-name" and group.name not in values:
            return False
    return True


def _ok(element: str, inner: str) -> tuple[int, dict[str, str], bytes]:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{element} xmlns="{_XMLNS}"><requestId>{uuid.uuid4()}</requestId>{inner}</{element}>'
    return 200, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode()
