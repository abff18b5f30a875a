"""Stand-ins for the Pulumi engine and the cloud, so the real program runs offline.

`StackMocks` answers resource registrations and lookups with plausible, deterministic values
(ids, ARNs, names, the cluster's endpoint and OIDC issuer, node groups' Auto Scaling groups).
Like the engine under `pulumi:disable-default-providers`, it refuses any AWS or Kubernetes
resource or lookup that doesn't name an explicit provider. `RecordingMonitor` keeps every
registration (with its parent, provider and dependencies) for the offline plan and the tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"

# Inputs the engine auto-names when the program leaves them out (logical name + 7 hex chars).
AUTONAMED = {
    "aws:iam/role:Role": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:ecr/repository:Repository": "name",
    "aws:iam/instanceProfile:InstanceProfile": "name",
    "aws:cloudwatch/eventRule:EventRule": "name",
}
# Physical id prefixes AWS uses for EC2 resources.
EC2_ID_PREFIXES = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "RouteTable": "rtb",
    "RouteTableAssociation": "rtbassoc",
    "DefaultSecurityGroup": "sg",
    "SecurityGroup": "sg",
    "LaunchTemplate": "lt",
}


_LOOP: asyncio.AbstractEventLoop | None = None


def program_event_loop() -> asyncio.AbstractEventLoop:
    """The loop programs under mocks run on, made current for this thread.

    `set_mocks` registers the root stack at once, and that needs a current loop: after an
    `asyncio.run()` in the same thread there is none (it unsets the loop it made). One loop
    serves every run and stays open, because Pulumi's mocks give each thread of the loop's
    default executor a loop of its own, which closing ours would orphan with the executor.
    """
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    asyncio.set_event_loop(_LOOP)
    return _LOOP


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("\0".join(parts).encode()).digest()[:16]))


def _class_of(token: str) -> tuple[str, str, str]:
    """`aws:ec2/vpc:Vpc` -> ("aws", "ec2", "Vpc")."""
    package, module, cls = token.split(":", 2)
    return package, module.split("/", 1)[0], cls


class StackMocks(pulumi.runtime.Mocks):
    """Plausible cloud answers for one region, with explicit providers enforced."""

    def __init__(self, region: str, explicit_provider_packages: Iterable[str]) -> None:
        self.region = region
        self.explicit = frozenset(explicit_provider_packages)

    # --- resources ---------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        package = args.typ.split(":", 1)[0]
        if args.custom and package in self.explicit and not args.provider:
            raise pulumi.RunError(
                f"{args.typ} {args.name!r} uses the default {package} provider; "
                "pass the stack's provider (default providers are disabled)"
            )
        if not args.custom or args.typ.startswith(PROVIDER_TYPE_PREFIX):
            return f"{args.name}-id" if args.custom else "", dict(args.inputs)
        outputs = dict(args.inputs)
        name_key = AUTONAMED.get(args.typ)
        if name_key and not outputs.get(name_key):
            outputs[name_key] = f"{args.name}-{_digest(args.typ, args.name, length=7)}"
        resource_id, computed = self._computed(args.typ, args.name, outputs)
        outputs.update(computed)
        return resource_id, outputs

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT_ID}:{resource}"

    def _computed(
        self, token: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        package, module, cls = _class_of(token)
        if package != "aws":
            return f"{name}-id", {}
        digest = _digest(token, name)
        if module == "ec2" and cls in EC2_ID_PREFIXES:
            rid = f"{EC2_ID_PREFIXES[cls]}-{digest}"
            extra: dict[str, Any] = {"arn": self._arn("ec2", f"{cls.lower()}/{rid}")}
            if cls == "LaunchTemplate":
                extra |= {"latestVersion": 1, "defaultVersion": 1}
            if cls == "Eip":
                extra |= {"allocationId": rid, "publicIp": "198.51.100.10"}
            return rid, extra
        handler = {
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:kms/key:Key": self._kms_key,
            "aws:kms/alias:Alias": self._kms_alias,
            "aws:iam/role:Role": self._iam_role,
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": self._oidc_provider,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:ecr/repository:Repository": self._ecr_repository,
            "aws:eks/cluster:Cluster": self._eks_cluster,
            "aws:eks/nodeGroup:NodeGroup": self._node_group,
            "aws:sns/topic:Topic": self._sns_topic,
            "aws:sqs/queue:Queue": self._sqs_queue,
            "aws:cloudwatch/eventRule:EventRule": self._event_rule,
            "aws:iam/instanceProfile:InstanceProfile": self._instance_profile,
        }.get(token)
        if handler is not None:
            return handler(name, inputs, digest)
        return f"{name}-{digest[:8]}", {"arn": self._arn(module, f"{cls.lower()}/{name}")}

    def _bucket(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        bucket = inputs["bucket"]
        return bucket, {
            "arn": f"arn:{PARTITION}:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            "region": self.region,
        }

    def _kms_key(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        key_id = _uuid("kms", name)
        return key_id, {"keyId": key_id, "arn": self._arn("kms", f"key/{key_id}")}

    def _kms_alias(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        return inputs["name"], {"arn": self._arn("kms", inputs["name"])}

    def _iam_role(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        role = inputs["name"]
        return role, {
            "arn": self._arn("iam", f"role/{role}", regional=False),
            "uniqueId": f"AROA{digest.upper()}",
        }

    def _oidc_provider(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        host = str(inputs["url"]).removeprefix("https://")
        arn = self._arn("iam", f"oidc-provider/{host}", regional=False)
        return arn, {"arn": arn}

    def _log_group(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        return inputs["name"], {"arn": self._arn("logs", f"log-group:{inputs['name']}")}

    def _ecr_repository(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        repo = inputs["name"]
        return repo, {
            "arn": self._arn("ecr", f"repository/{repo}"),
            "registryId": ACCOUNT_ID,
            "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{repo}",
        }

    def _eks_cluster(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        cluster = inputs["name"]
        oidc_id = _digest("oidc", cluster, length=32).upper()
        # Any base64 PEM-shaped value does: nothing offline talks to the API server.
        certificate = base64.b64encode(
            f"-----BEGIN CERTIFICATE-----\n{cluster}\n-----END CERTIFICATE-----\n".encode()
        ).decode()
        return cluster, {
            "arn": self._arn("eks", f"cluster/{cluster}"),
            "endpoint": f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com",
            "certificateAuthority": {"data": certificate},
            "identities": [
                {
                    "oidcs": [
                        {"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"}
                    ]
                }
            ],
            "vpcConfig": {**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{digest}"},
            "status": "ACTIVE",
        }

    def _sns_topic(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        arn = self._arn("sns", inputs.get("name") or f"{name}-{digest[:7]}")
        return arn, {"arn": arn}

    def _sqs_queue(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        queue = inputs.get("name") or f"{name}-{digest[:7]}"
        url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{queue}"
        return url, {"name": queue, "arn": self._arn("sqs", queue), "url": url}

    def _event_rule(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        return inputs["name"], {"arn": self._arn("events", f"rule/{inputs['name']}")}

    def _instance_profile(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        profile = inputs["name"]
        arn = self._arn("iam", f"instance-profile/{profile}", regional=False)
        return profile, {"arn": arn, "uniqueId": f"AIPA{digest.upper()}"}

    def _node_group(self, name: str, inputs: dict[str, Any], digest: str) -> tuple[str, dict]:
        group = inputs["nodeGroupName"]
        group_id = _uuid("nodegroup", group)
        return f"{inputs['clusterName']}:{group}", {
            "arn": self._arn("eks", f"nodegroup/{inputs['clusterName']}/{group}/{group_id}"),
            "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{group_id}"}]}],
            "status": "ACTIVE",
        }

    # --- lookups -----------------------------------------------------------------------------

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        package = args.token.split(":", 1)[0]
        if package in self.explicit and not args.provider:
            raise pulumi.RunError(
                f"lookup {args.token} uses the default {package} provider; pass the stack's "
                "provider or a parent that has it (default providers are disabled)"
            )
        answers = {
            "aws:index/getCallerIdentity:getCallerIdentity": lambda: {
                "accountId": ACCOUNT_ID,
                "arn": self._arn("iam", "user/platform-engineer", regional=False),
                "userId": "AIDAPLATFORMENGINEER",
                "id": ACCOUNT_ID,
            },
            "aws:index/getPartition:getPartition": lambda: {
                "partition": PARTITION,
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": PARTITION,
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda: {
                "names": [f"{self.region}{z}" for z in "abcdef"],
                "zoneIds": [f"use1-az{n}" for n in range(1, 7)],
                "state": "available",
                "id": self.region,
            },
            "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": lambda: {
                "arn": self._arn(
                    "iam",
                    f"oidc-provider/{str(args.args['url']).removeprefix('https://')}",
                    regional=False,
                ),
                "url": args.args["url"],
                "clientIdLists": ["sts.amazonaws.com"],
                "thumbprintLists": [],
                "tags": {},
            },
        }
        if args.token not in answers:
            raise pulumi.RunError(f"no offline answer for lookup {args.token}: add one to mocks")
        return answers[args.token](), []


@dataclass(frozen=True)
class Registration:
    """One resource as `pulumi up` would declare it."""

    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    inputs: dict[str, Any]
    # The (mock) physical id; None for components.
    id: str | None = None
    # URNs the resource had before a rename (its aliases, and those its parents' aliases imply).
    aliases: tuple[str, ...] = ()
    # URNs it waits for: its `depends_on` (a component's children) and the resources whose
    # Outputs its inputs hold, as the engine orders them.
    dependencies: tuple[str, ...] = ()


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping every registration with its parent and provider URNs."""

    def __init__(self, mocks: StackMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the parent's type chain, without the root stack."""
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"

    def previous_urns(self, request: Any, urn: str) -> tuple[str, ...]:
        """The URNs an engine would match this resource's state by: each alias (a spec or a
        URN), under the parent's URN or any of the parent's own previous URNs, as the engine
        makes a child inherit its parent's aliases."""
        parent = request.parent or ""
        with self._lock:
            parents = [parent, *self._aliases.get(parent, ())]
        found = {urn_alias.urn for urn_alias in request.aliases if urn_alias.urn}
        specs: list[tuple[str | None, str, str]] = [(None, request.type, request.name)]
        for alias in request.aliases:
            if alias.HasField("spec"):
                spec = alias.spec
                under = "" if spec.noParent else (spec.parentUrn or None)
                specs.append((under, spec.type or request.type, spec.name or request.name))
        for under, type_, name in specs:
            for candidate in parents if under is None else [under]:
                found.add(self.make_urn(candidate, type_, name))
        found.discard(urn)
        return tuple(sorted(found))

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object) if request.type != STACK_TYPE else {}
        registration = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            # Provider references are "<urn>::<id>"; the plan names the provider by URN.
            provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            custom=bool(request.custom),
            inputs=dict(inputs or {}),
            id=response.id or None,
            aliases=self.previous_urns(request, response.urn),
            dependencies=tuple(sorted(set(request.dependencies))),
        )
        with self._lock:
            self.registrations.append(registration)
            if registration.aliases:
                self._aliases[registration.urn] = registration.aliases
        return response
