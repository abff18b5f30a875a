"""The project's CrossGuard policy pack: `pulumi preview --policy-pack infra/policy`."""
