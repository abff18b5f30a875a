"""The program's parts: one Pulumi component per concern, wired in infra/__main__.py."""
