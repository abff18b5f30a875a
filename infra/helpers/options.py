"""Reading a component's resource options for the children that must honour them too."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


def dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """The resources `opts.depends_on` names. Pulumi orders a component's children by their own
    options only, so the component hands these on to the children that must wait."""
    depends_on = opts.depends_on if opts else None
    if depends_on is None:
        return []
    resources = [depends_on] if isinstance(depends_on, pulumi.Resource) else depends_on
    if not isinstance(resources, Sequence):
        raise TypeError("depends_on must list resources, not an Output of them")
    found = [r for r in resources if isinstance(r, pulumi.Resource)]
    if len(found) != len(resources):
        raise TypeError("depends_on must list resources, not Outputs of them")
    return found


def renamed(opts: pulumi.ResourceOptions | None, old_type: str) -> pulumi.ResourceOptions:
    """`opts` with an alias to the component's former type token: stacks keep its state."""
    alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old_type)])
    return pulumi.ResourceOptions.merge(opts, alias)
