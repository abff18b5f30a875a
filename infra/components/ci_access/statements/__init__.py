"""The CI roles' IAM statements, one module per AWS service: `read` (every role), `write` (the
model deploy) and `manage` (the whole `pulumi up`), each scoped to the stack's ARNs."""
